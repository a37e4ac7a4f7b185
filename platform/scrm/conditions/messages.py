"""The problems a condition can have: stable codes, English templates (translated through the
catalogue) and the exception that carries them. The definition checker lists these codes with
its own (``scrm.meta.problems``), so a condition's problem reads the same in the API, the CLI
and the designer."""

from __future__ import annotations

from ..i18n import N_, _

CODES: dict[str, str] = {
    "E-COND-001": N_("{ref!r} is not a field of {entity!r}."),
    "E-COND-002": N_("The operator {op!r} cannot be used with a field of type {type!r}."),
    "E-COND-003": N_("The value does not fit the field {field!r}: {detail}"),
    "E-COND-004": N_("{construct} cannot be used in {context}."),
    "E-COND-005": N_("A list of values may not contain null."),
    "E-COND-006": N_("The condition is too deep or too large (at most {depth} levels and {nodes} nodes)."),
    "E-COND-007": N_("There is no {what} named {ref!r}."),
    "E-COND-008": N_("{ref!r} refers to itself ({chain})."),
    "E-COND-009": N_("A value of type {left!r} cannot be compared with a value of type {right!r}."),
    "E-COND-010": N_("The function {fn!r} {needs}."),
    "E-COND-011": N_("{rel!r} is not a has-many relation of {entity!r}."),
    "E-COND-012": N_("The aggregate {agg!r} {needs}."),
    "E-COND-013": N_("The condition is malformed: {detail}."),
    "E-COND-015": N_(
        "The field {field!r} is encrypted: it can only be compared for equality with fixed values, or tested for "
        "emptiness."
    ),
    "E-COND-016": N_(
        "The database could not compute the plugin function {fn}, so the condition could not be applied; "
        "please tell IT."
    ),
    "W-COND-014": N_(
        "The window over {rel!r} has no start and {entity!r} is a large table: every evaluation reads its whole "
        "history. Add a from, e.g. now-30d."
    ),
}

# What a context is called in messages ("… cannot be used in check constraints").
CONTEXT_NAMES = {
    "filter": N_("list filters"),
    "lookup": N_("lookup filters"),
    "check": N_("check constraints"),
    "form": N_("form rules"),
    "guard": N_("workflow guards"),
    "alert": N_("alert rules"),
    "event": N_("event-triggered alert rules"),
    "dashboard": N_("dashboards"),
    "computed": N_("computed fields"),
    "stored": N_("stored computed fields"),
    "permission": N_("permission filters"),
    "named": N_("named conditions"),
}


class ConditionError(Exception):
    """A condition that cannot be prepared or evaluated. ``path`` is the JSON path inside the
    condition (``$.all[1].value``); ``params`` fill the code's template."""

    def __init__(self, code: str, path: str = "$", **params):
        self.code = code
        self.path = path
        self.params = params
        super().__init__(self.message)

    @property
    def message(self) -> str:
        template = CODES[self.code]
        try:
            return _(template).format(**self.params)
        except (KeyError, ValueError, IndexError):
            return template.format(**self.params)

    @property
    def warning(self) -> bool:
        return self.code.startswith("W-")

    def at(self, prefix: str) -> ConditionError:
        """The same problem, its path placed under ``prefix`` (``filter`` + ``$.all[0]``)."""
        return ConditionError(self.code, prefix + self.path[1:], **self.params)
