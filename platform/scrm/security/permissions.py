"""What a user may do: the role definitions compiled into one decision object per user.

A role grants, per entity, actions (create, read, update, delete, export, import, transition),
a record scope (own, team, branch, all) and per-field access. A user with several roles gets the
most generous combination: the union of actions, the widest scope, the best field access.

Field access has four parts: how the value shows (hidden, masked, plain), whether a masked
value may be revealed with a reason, whether it may be written, and how it exports (never,
masked, plain). Role documents spell it with a word or an object::

    "fields": {"id_number": "reveal", "notes": "read", "bank_card_no": {"view": "masked", "write": false}}

========  ======  ======  =====================  ======
word      view    reveal  write                  export
========  ======  ======  =====================  ======
hidden    hidden  no      no                     never
masked    masked  no      as the entity allows   masked
reveal    masked  yes     as the entity allows   masked
read      plain   —       no                     plain
write     plain   —       as the entity allows   plain
========  ======  ======  =====================  ======

A role's ``exports`` sets how many rows its holders may export without an approval
(``rows``; none said: every export needs one) and whether they approve other users' exports
(``approve``). An export that also carries C2-sensitive data in full always needs an approval.

A field a role does not mention follows ``"*"`` when given; otherwise it shows plain, except
the personal data the domain reference calls C2-sensitive (fields masked as ID numbers, phone
numbers, e-mail and postal addresses, bank cards, account numbers, and free text that may
contain them) and class C3, which show masked: sensitive data is masked unless a role says
otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import Detail, Forbidden
from ..i18n import _, text
from ..meta.model import EntityDef, FieldDef
from .users import ADMIN_ROLE

ACTIONS = ("create", "read", "update", "delete", "export", "import", "transition")
SCOPES = ("own", "team", "branch", "all")
VIEWS = ("hidden", "masked", "plain")
EXPORTS = ("never", "masked", "plain")


@dataclass(frozen=True)
class FieldAccess:
    view: str = "plain"
    reveal: bool = False
    write: bool = False
    export: str = "plain"

    @property
    def readable(self) -> bool:
        """The user sees the real value (filters, sorts and searches may use it)."""
        return self.view == "plain"

    def merge(self, other: FieldAccess) -> FieldAccess:
        return FieldAccess(
            VIEWS[max(VIEWS.index(self.view), VIEWS.index(other.view))],
            self.reveal or other.reveal,
            self.write or other.write,
            EXPORTS[max(EXPORTS.index(self.export), EXPORTS.index(other.export))],
        )


HIDDEN = FieldAccess("hidden", False, False, "never")
WORDS = {
    "hidden": HIDDEN,
    "masked": FieldAccess("masked", False, True, "masked"),
    "reveal": FieldAccess("masked", True, True, "masked"),
    "read": FieldAccess("plain", False, False, "plain"),
    "write": FieldAccess("plain", False, True, "plain"),
}


def field_access(spec: Any) -> FieldAccess:
    """A role's word or object for one field (the metaschema has already checked its shape)."""
    if isinstance(spec, str):
        return WORDS.get(spec, HIDDEN)
    if isinstance(spec, dict):
        view = spec.get("view", "masked")
        default_export = {"hidden": "never", "masked": "masked", "plain": "plain"}[view]
        return FieldAccess(
            view, bool(spec.get("reveal")), bool(spec.get("write", False)), spec.get("export", default_export)
        )
    return HIDDEN


SENSITIVE_MASKS = frozenset(
    {"id_number", "mobile", "landline", "email", "address", "bank_card", "account_no", "keep_last_4", "free_text"}
)


def sensitive(f: FieldDef) -> bool:
    """Masked unless a role says otherwise: C2-sensitive fields (by their masking rule) and C3."""
    return f.get("mask") in SENSITIVE_MASKS or f.get("sensitivity") == "C3"


@dataclass(frozen=True)
class EntityGrant:
    """One entity as the user's roles grant it."""

    entity: str
    actions: frozenset[str] = frozenset()
    scope: str = "own"
    fields: dict[str, FieldAccess] = field(default_factory=dict)  # by field name, and "*"
    transitions: frozenset[str] | None = None  # None: every transition of the workflow
    filters: tuple[dict, ...] = ()  # extra conditions (any may hold); empty: none
    unfiltered: bool = True
    parts: tuple[EntityGrant, ...] = ()  # the roles' grants this one combines

    def can(self, action: str) -> bool:
        return action in self.actions

    def access(self, f: FieldDef) -> FieldAccess:
        if self.parts:
            out = self.parts[0].access(f)
            for part in self.parts[1:]:
                out = out.merge(part.access(f))
            return out
        writes = bool(self.actions & {"create", "update"})
        spec = self.fields.get(f.name) or self.fields.get("*")
        if spec is None:
            spec = WORDS["masked"] if sensitive(f) else WORDS["write"]
        if spec.write and not writes:
            spec = FieldAccess(spec.view, spec.reveal, False, spec.export)
        return spec


@dataclass(frozen=True)
class ExportPolicy:
    """How a user's roles let them export: rows without an approval (None: any number) and
    whether they approve other users' exports."""

    rows: int | None = 0
    approve: bool = False

    def merge(self, other: ExportPolicy) -> ExportPolicy:
        rows = None if self.rows is None or other.rows is None else max(self.rows, other.rows)
        return ExportPolicy(rows, self.approve or other.approve)


UNLIMITED_EXPORTS = ExportPolicy(None, True)


NO_GRANT = EntityGrant("", frozenset(), "own", {"*": HIDDEN})


def _grant(entity: str, perm: dict) -> EntityGrant:
    return EntityGrant(
        entity,
        frozenset(perm.get("actions", ())),
        perm.get("scope", "own"),
        {name: field_access(spec) for name, spec in perm.get("fields", {}).items()},
        frozenset(perm["transitions"]) if "transitions" in perm else None,
        (perm["filter"],) if "filter" in perm else (),
        "filter" not in perm,
    )


def _merge(a: EntityGrant, b: EntityGrant) -> EntityGrant:
    if a.transitions is None or b.transitions is None:
        transitions = None
    else:
        transitions = a.transitions | b.transitions
    return EntityGrant(
        a.entity or b.entity,
        a.actions | b.actions,
        SCOPES[max(SCOPES.index(a.scope), SCOPES.index(b.scope))],
        {},
        transitions,
        () if a.unfiltered or b.unfiltered else a.filters + b.filters,
        a.unfiltered or b.unfiltered,
        (*(a.parts or (a,)), *(b.parts or (b,))),
    )


def _role_grants(doc: dict) -> dict[str, EntityGrant]:
    if doc.get("name") == ADMIN_ROLE or doc.get("admin"):
        return {"*": EntityGrant("*", frozenset(ACTIONS), "all", {"*": WORDS["write"]})}
    return {name: _grant(name, perm) for name, perm in doc.get("permissions", {}).items()}


class Permissions:
    """The decisions for one set of roles over one published snapshot."""

    def __init__(self, snapshot, roles: tuple[str, ...] | list[str], *, system: bool = False):
        self.snapshot = snapshot
        self.roles = tuple(sorted(roles))
        self.system = system
        self._grants: dict[str, EntityGrant] = {}
        self._fields: dict[tuple[str, str], FieldAccess] = {}

    @classmethod
    def everything(cls, snapshot) -> Permissions:
        """The system (CLI, jobs, imports): every action on every record and field."""
        return cls(snapshot, (), system=True)

    def grant(self, entity: str) -> EntityGrant:
        if self.system:
            return EntityGrant(entity, frozenset(ACTIONS), "all", {"*": WORDS["write"]})
        if entity not in self._grants:
            self._grants[entity] = self.snapshot.cached(("grant", self.roles, entity), lambda: self._compile(entity))
        return self._grants[entity]

    def _compile(self, entity: str) -> EntityGrant:
        combined = None
        for role in self.roles:
            doc = self.snapshot.documents.get(("role", role))
            if doc is None:
                continue
            grants = self.snapshot.cached(("role-grants", role), lambda doc=doc: _role_grants(doc))
            grant = grants.get(entity) or grants.get("*")
            if grant is None:
                continue
            combined = grant if combined is None else _merge(combined, grant)
        return combined or NO_GRANT

    # -- decisions ------------------------------------------------------------------------
    def can(self, entity: EntityDef | str, action: str) -> bool:
        name = entity if isinstance(entity, str) else entity.name
        return self.grant(name).can(action)

    def require(self, entity: EntityDef, action: str) -> None:
        if not self.can(entity, action):
            raise Forbidden(
                _("You may not {action} {entity}.").format(
                    action=action_label(action), entity=text(entity.plural_label)
                ),
                code="forbidden_action",
            )

    def exports(self) -> ExportPolicy:
        """The export limits of the user's roles, the most generous of them."""
        if self.system:
            return UNLIMITED_EXPORTS
        return self.snapshot.cached(("exports", self.roles), self._compile_exports)

    def _compile_exports(self) -> ExportPolicy:
        combined = ExportPolicy()
        for role in self.roles:
            doc = self.snapshot.documents.get(("role", role))
            if doc is None:
                continue
            if doc.get("name") == ADMIN_ROLE or doc.get("admin"):
                return UNLIMITED_EXPORTS
            spec = doc.get("exports") or {}
            combined = combined.merge(ExportPolicy(spec.get("rows", 0), bool(spec.get("approve"))))
        return combined

    def scope(self, entity: EntityDef | str) -> str:
        name = entity if isinstance(entity, str) else entity.name
        return self.grant(name).scope

    def field(self, entity: EntityDef, f: FieldDef) -> FieldAccess:
        key = (entity.name, f.name)
        access = self._fields.get(key)
        if access is None:
            access = self.grant(entity.name).access(f)
            if f.computed or f.get("readonly"):
                access = FieldAccess(access.view, access.reveal, False, access.export)
            self._fields[key] = access
        return access

    def visible(self, entity: EntityDef, f: FieldDef) -> bool:
        return self.field(entity, f).view != "hidden"

    def readable(self, entity: EntityDef, f: FieldDef) -> bool:
        return self.field(entity, f).readable

    def forbid_read(self, entity: EntityDef, f: FieldDef) -> Forbidden:
        return Forbidden(
            _("You may not read {field} in full.").format(field=text(f.label) or f.name),
            [Detail(f.name, _("You do not have read access to this field."), "forbidden_field")],
            "forbidden_field",
        )

    def forbid_field(self, entity: EntityDef, f: FieldDef) -> Forbidden:
        return Forbidden(
            _("You may not change {field}.").format(field=text(f.label) or f.name),
            [Detail(f.name, _("You do not have write access to this field."), "forbidden_field")],
            "forbidden_field",
        )


def action_label(action: str) -> str:
    return {
        "create": _("create"),
        "read": _("read"),
        "update": _("change"),
        "delete": _("delete"),
        "export": _("export"),
        "import": _("import"),
        "transition": _("move"),
    }.get(action, action)
