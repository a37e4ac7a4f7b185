"""Impact analysis: what a change does to the other definitions, and the 422 errors that refuse
it naming them (``dependants``, :class:`UsedElsewhere`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import Detail, NotFound, ValidationFailed
from ..i18n import _
from ..meta import store
from ..meta.documents import Document
from ..meta.problems import Problem, problem

if TYPE_CHECKING:
    from .service import DefinitionService


def problems_failure(
    problems: list[Problem], message: str | None = None, target: tuple[str, str] | None = None
) -> ValidationFailed:
    """Problems as a 422: paths are JSON paths in the target document, else prefixed kind/name."""
    details = [
        Detail(p.path if (p.kind, p.name) == target else _where(p), p.message, p.code)
        for p in problems
        if p.severity == "error"
    ]
    return ValidationFailed(
        message or _("The definition has {n} problem(s); nothing was changed.").format(n=len(details)),
        details,
        "invalid_definition",
    )


def dependants(problems: list[Problem], errors_only: bool = True) -> list[str]:
    """The definitions (``kind/name``) the errors (or all) among ``problems`` are in, in order."""
    return list(
        dict.fromkeys(f"{p.kind}/{p.name}" for p in problems if p.kind and (p.severity == "error" or not errors_only))
    )


class UsedElsewhere(ValidationFailed):
    """A change refused because other definitions use what it removes or renames; the body
    lists them (``dependants``) besides each broken place (``details``)."""

    def __init__(self, message: str, details: list[Detail], users: list[str]):
        super().__init__(message, details, "used_by_other_definitions")
        self.dependants = users

    def body(self) -> dict:
        out = super().body()
        out["error"]["dependants"] = self.dependants
        return out


def dependants_failure(problems: list[Problem]) -> UsedElsewhere:
    users = dependants(problems)
    message = _(
        "Other definitions use what this change removes or renames: {users}. Change them first; nothing was changed."
    ).format(users=", ".join(users))
    return UsedElsewhere(message, problems_failure(problems).details, users)


def _where(p: Problem) -> str:
    prefix = f"{p.kind}/{p.name}" if p.kind and p.name else (p.file or "")
    return f"{prefix}:{p.path}" if prefix else p.path


def impact(service: DefinitionService, kind: str, name: str, body: dict) -> list[Problem]:
    """The work of :meth:`DefinitionService.impact` (documented there)."""
    candidate = service.published_set().replaced(Document(kind, name, body))
    previous = service._previous_for(kind, name)
    _normalised, before = service.checker.check_set(service.published_set(), previous)
    _normalised, after = service.checker.check_set(candidate, previous)
    known = {(p.kind, p.name, p.path, p.code) for p in before}
    return [p for p in after if (p.kind, p.name) != (kind, name) and (p.kind, p.name, p.path, p.code) not in known]


def field_impact(
    service: DefinitionService, entity: str, field_name: str, new_name: str | None = None
) -> list[Problem]:
    """The work of :meth:`DefinitionService.field_impact` (documented there)."""
    current = store.get("entity", entity, store.PUBLISHED)
    if current is None:
        raise NotFound(_("There is no entity {name!r}.").format(name=entity))
    fields = current.body.get("fields", [])
    if not any(f.get("name") == field_name and f.get("active", True) for f in fields):
        raise NotFound(_("{entity} has no field {field!r}.").format(entity=entity, field=field_name))
    without = {**current.body, "fields": [f for f in fields if f.get("name") != field_name]}
    users = service.impact("entity", entity, without)
    if new_name is None:
        _clean, own = service.check_draft("entity", entity, without)  # its own conditions, title …
        return [p for p in own if p.severity == "error"] + users
    renamed = [{**f, "name": new_name} if f.get("name") == field_name else f for f in fields]
    _clean, own = service.check_draft("entity", entity, {**current.body, "fields": renamed})
    still = [problem("W-DEF-005", p.path, kind=p.kind, name=p.name, detail=p.message) for p in users]
    return [p for p in own if p.severity == "error"] + still
