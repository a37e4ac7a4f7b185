"""Problems found in definitions: a stable code, a place (definition/file + JSON path), one sentence.

Every code the checker can emit is listed in :data:`CODES` with its English message template;
``docs/checks.md`` documents each one (a test keeps the two in step). Messages are translated
through the gettext catalogue, so the CLI and the designer speak the user's language.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..conditions.messages import CODES as CONDITION_CODES
from ..i18n import N_, _

ERROR = "error"
WARNING = "warning"

# code -> English message template (placeholders filled with keyword arguments)
CODES: dict[str, str] = {
    # files and documents
    "E-FILE-001": N_("The file is not valid JSON: {detail}."),
    "E-FILE-002": 'The document must be a JSON object with a "kind".',
    "E-FILE-003": N_("Unknown definition kind {found!r}; expected one of {expected}."),
    "E-DEF-001": N_("The {what} {which!r} is defined more than once (also in {other})."),
    "W-DEF-002": N_("The file name suggests {expected!r} but the document is named {found!r}."),
    "E-DEF-003": N_("The definition must be a JSON object."),
    "W-DEF-005": N_("Uses the renamed item by its old name, which keeps working: {detail}"),
    "E-DEF-004": N_("The document's {key} must be {expected!r}, as in its address."),
    # phase A: structure (JSON Schema)
    "E-SCHEMA-001": N_("The property {prop!r} is required here."),
    "E-SCHEMA-002": N_("The property {prop!r} is not allowed here."),
    "E-SCHEMA-003": N_("Expected {expected}, found {found}."),
    "E-SCHEMA-004": N_("{value} is not one of the allowed values: {allowed}."),
    "E-SCHEMA-005": N_("The value {value} {rule}."),
    "E-SCHEMA-006": N_("The value is too short or has too few items (at least {limit})."),
    "E-SCHEMA-007": N_("The value is too long or has too many items (at most {limit})."),
    "E-SCHEMA-008": N_("The number {value} is out of range ({rule})."),
    "E-SCHEMA-009": N_("{rule}"),
    "E-SCHEMA-010": N_("The list contains the same item twice."),
    "E-SCHEMA-011": N_("The value is not valid here: {detail}."),
    # phase B: entities
    "E-ENTITY-001": N_("The field name {field!r} is used twice."),
    "E-ENTITY-002": N_("The field id {id!r} is used twice."),
    "E-ENTITY-003": N_("The column {column!r} is used by two fields."),
    "E-ENTITY-004": N_("{field!r} is a reserved name (system columns: {reserved})."),
    "E-ENTITY-005": N_("The title field {field!r} is not a field of this entity."),
    "E-ENTITY-006": N_("The field {field!r} does not exist or cannot be searched (text fields only)."),
    "E-ENTITY-007": N_("The list column {field!r} is not a field of this entity."),
    "E-ENTITY-008": N_("Cannot sort by {field!r}: it is unknown or not sortable."),
    "E-ENTITY-009": N_("The reference target {target!r} is not a defined entity."),
    "E-ENTITY-010": N_("The relation target {target!r} is not a defined entity."),
    "E-ENTITY-011": N_(
        "The relation {relation!r} needs {via!r} to be a reference field on {target!r} pointing to {entity!r}."
    ),
    "E-ENTITY-012": N_("The default value is not valid for this field: {detail}"),
    "E-ENTITY-013": N_("The minimum {min} is greater than the maximum {max}."),
    "E-ENTITY-014": N_("The pattern is not a valid regular expression: {detail}."),
    "E-ENTITY-015": N_("The option {value!r} is listed twice."),
    "E-ENTITY-016": N_("{field!r} is not a field of this entity."),
    "E-ENTITY-017": N_("The name {what!r} is used both by a field and a relation, or by two relations."),
    "E-ENTITY-018": N_("The table {table!r} is also used by the entity {other!r}."),
    "E-ENTITY-019": N_("Required references form a cycle ({cycle}): no first record could ever be saved."),
    "E-ENTITY-020": N_("The field {field!r} is a reference or a multi-valued field and cannot be used here."),
    "E-ENTITY-021": N_("The scale {scale} is greater than the precision {precision}."),
    "E-ENTITY-022": N_("The entity name {what!r} is reserved."),
    "E-ENTITY-023": N_("The field {field!r} cannot change its id or column once published (was {old!r})."),
    "E-ENTITY-024": N_("The table name {table!r} is longer than 56 characters: shorten the entity name or set table."),
    "E-ENTITY-025": N_("The database object {physical!r} of this entity is also used by {other!r}."),
    "E-ENTITY-026": N_("The field {field!r} must be a reference field."),
    "E-ENTITY-027": N_("The field {field!r} must be a date field of the link entity."),
    "E-ENTITY-028": N_("The login field {field!r} must be a text field of this entity."),
    "E-ENTITY-029": N_("The field {field!r} must be a reference to {target!r}."),
    "E-ENTITY-030": N_("The field {field!r} ({type}) cannot be encrypted: only text fields that are not computed can."),
    "E-ENTITY-031": N_("The board groups by {field!r}, which is not a single choice (enum) field of this entity."),
    "W-ENTITY-001": N_("The field {field!r} was removed from the document; it is kept deactivated with its data."),
    "W-ENTITY-002": N_("The field {field!r} is deactivated; it is hidden everywhere but its data is kept."),
    # phase B: forms
    "E-FORM-001": N_("The form's entity {entity!r} is not a defined entity."),
    "E-FORM-002": N_("{field!r} is not a field of {entity!r}."),
    "E-FORM-003": N_("The widget {widget!r} cannot show a field of type {type!r} (use one of {allowed})."),
    "E-FORM-004": N_("The field {field!r} is placed twice in the layout."),
    "E-FORM-005": N_("{relation!r} is not a has_many relation of {entity!r}."),
    "E-FORM-006": N_("The layout id {id!r} is used twice."),
    "E-FORM-007": N_("A tab can only be placed inside tabs, and tabs only at the top of the layout."),
    "W-FORM-001": N_("The field {field!r} is deactivated and will not be shown."),
    # conditions
    **CONDITION_CODES,  # owned by scrm.conditions.messages
    # roles
    "E-ROLE-001": N_("{entity!r} is not a defined entity."),
    "E-ROLE-002": N_("{field!r} is not a field of {entity!r}."),
    "W-ROLE-001": N_("The field {field!r} is deactivated; the role's setting for it has no effect."),
    # references between kinds (workflow, alert, dashboard)
    "E-REF-001": N_("{entity!r} is not a defined entity."),
    "E-REF-002": N_("{field!r} is not a field of {entity!r}."),
    "E-REF-003": N_("The state {state!r} is not declared in states."),
    "E-REF-004": N_("The dataset {dataset!r} is not declared in datasets."),
    # dashboards
    "E-DASH-001": N_("A measure {detail}."),
    "E-DASH-002": N_("{column!r} is not a column of this widget (groups: {groups}; measures: {measures})."),
    "E-DASH-003": N_("{filter!r} is not a filter of type org declared in filters."),
    "E-DASH-004": N_("Two widgets have the id {id!r}."),
    "E-DASH-005": N_("A {type} widget needs {needs}."),
    "E-DASH-006": N_("The group {field!r} {needs}."),
    "W-ROLE-002": N_("The home page shows {ref!r}, which is not a published dashboard widget."),
    # alerts
    "E-ALERT-001": N_("The message template is not valid: {detail}."),
    "E-ALERT-002": N_("The schedule is not valid: {detail}."),
    "E-ALERT-003": N_("{value!r} is not an option of {field!r} on {entity!r}."),
    "E-ALERT-004": N_("The recipient path {ref!r} must end at a reference to {target!r}."),
    "E-ALERT-005": N_(
        "Tags need a tag link entity {link!r} (a reference to the record, a reference to tag, source, applied_at, valid_until, evidence, removed_at)."
    ),
    "E-ALERT-006": N_("The trigger path {ref!r} must end at a reference to {entity!r}."),
    "W-ALERT-001": N_(
        "Unknown calendar {calendar!r} (built in: {known}); unless a plugin adds it, the rule runs every day."
    ),
    # workflows
    "E-WF-001": N_("Two transitions are named {name!r}; transition names must be unique."),
    "E-WF-002": N_("{name!r} is not a transition of this workflow."),
    "E-WF-003": N_("{calendar!r} is not declared in calendars."),
    "E-WF-004": N_("{value!r} is not an option of {field!r}."),
    "E-WF-005": N_("The working interval must end after it starts ({start}–{end})."),
    "W-WF-001": N_(
        "Unknown holiday calendar {calendar!r} (built in: {known}); unless a plugin adds it, no day is a holiday."
    ),
    "W-WF-002": N_("The state {state!r} cannot be reached from the initial state."),
}


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    path: str = "$"
    kind: str | None = None
    name: str | None = None
    file: str | None = None

    @property
    def severity(self) -> str:
        return WARNING if self.code.startswith("W-") else ERROR

    @property
    def where(self) -> str:
        if self.file:
            return self.file
        if self.kind and self.name:
            return f"{self.kind}/{self.name}"
        return self.name or self.kind or "-"

    def line(self) -> str:
        return f"{self.where}: {self.path}: {self.code} {self.message}"

    def as_dict(self) -> dict:
        return {
            "code": self.code,
            "severity": self.severity,
            "path": self.path,
            "message": self.message,
            "kind": self.kind,
            "name": self.name,
            "file": self.file,
        }


def problem(code: str, path: str = "$", *, kind=None, name=None, file=None, **params) -> Problem:
    """Build a problem with the translated message for ``code``."""
    template = CODES[code]
    try:
        message = _(template).format(**params)
    except (KeyError, ValueError, IndexError):  # a translation with a broken placeholder
        message = template.format(**params)
    return Problem(code, message, path, kind, name, file)


def has_errors(problems) -> bool:
    return any(p.severity == ERROR for p in problems)
