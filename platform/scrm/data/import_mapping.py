"""Mapping the columns of an imported file to fields, and checking a mapping before it runs.

Columns are matched to the fields the user may write by name or label in either language
(compared as :func:`~scrm.data.import_files.header_key` does); the key that matches a row to a
stored record is one of the entity's unique fields or one of its unique keys over several fields
(an account and a date), written ``account+snapshot_date``; a plan lists what stops a start
(errors) and what the user should know (warnings).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from ..i18n import _, text
from ..meta.model import EntityDef, FieldDef
from .import_files import column_letter, header_key
from .records import RecordService
from .validation import generated

MODES = ("all", "skip")
LONG_TRANSACTION = 5_000  # rows above which all-or-nothing gets a warning


@dataclass
class MappingPlan:
    """A mapping with what is wrong with it (errors stop the start, warnings do not)."""

    targets: list[str | None]
    key: str | None
    mode: str
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def importable(svc: RecordService, entity: EntityDef) -> list[FieldDef]:
    """The fields an import may fill: those the user writes on the form (the system also fills
    read-only ones); computed fields and JSON never."""
    out = []
    for f in entity.active_fields:
        if f.computed or f.type == "json" or (f.readonly and not svc.system):
            continue
        if svc.permissions.system or svc.permissions.field(entity, f).write:
            out.append(f)
    return out


KEY_JOIN = "+"


@dataclass(frozen=True)
class ImportKey:
    """What matches a row to a stored record: one unique field, or the fields of a unique key."""

    fields: tuple[FieldDef, ...]

    @property
    def name(self) -> str:
        return KEY_JOIN.join(f.name for f in self.fields)

    @property
    def label(self) -> str:
        return " + ".join(text(f.label) for f in self.fields)


def import_keys(svc: RecordService, entity: EntityDef) -> list[ImportKey]:
    """The keys a row may be matched by: the entity's unique fields, then its unique keys over
    several fields (without a ``where``: those hold for every record), all of whose fields the
    user may fill."""
    allowed = {f.name: f for f in importable(svc, entity)}
    keys = [ImportKey((f,)) for f in allowed.values() if f.unique]
    for constraint in entity.doc.get("constraints") or ():
        names = constraint.get("fields") or []
        if constraint.get("type") != "unique" or constraint.get("where") or len(names) < 2:
            continue
        fields = tuple(entity.field(n) for n in names)
        if all(f is not None and f.name in allowed for f in fields):
            keys.append(ImportKey(fields))
    return keys


def find_key(svc: RecordService, entity: EntityDef, name: str | None) -> ImportKey | None:
    """The key written ``name`` (``account+snapshot_date``), if the entity has it."""
    return next((k for k in import_keys(svc, entity) if k.name == name), None)


def key_fields(svc: RecordService, entity: EntityDef) -> list[FieldDef]:
    """The single fields a row may be matched by: the entity's unique fields the user may fill."""
    return [k.fields[0] for k in import_keys(svc, entity) if len(k.fields) == 1]


def auto_map(entity: EntityDef, header: list[str], targets: list[FieldDef]) -> list[str | None]:
    """Each column's field by name or label (either language), case, width and spaces
    ignored; a field already taken by an earlier column is left for the user to decide."""
    names: dict[str, str] = {}
    for exact in (True, False):
        for f in targets:
            labels = [n for n in (f.label.values() if isinstance(f.label, dict) else [f.label]) if isinstance(n, str)]
            for name in (f.name, *f.previous_names, *labels) if exact else _label_parts(labels):
                if header_key(name):
                    names.setdefault(header_key(name), f.name)
    taken: set[str] = set()
    out: list[str | None] = []
    for column in header:
        chosen = names.get(header_key(column))
        out.append(chosen if chosen and chosen not in taken else None)
        taken.add(chosen or "")
    return out


def _label_parts(labels: list[str]) -> list[str]:
    """What a column may be called short of the full label: each half of “姓名/名称”, and the
    label without its unit in brackets (“投资经验(年)”)."""
    out = []
    for label in labels:
        plain = unicodedata.normalize("NFKC", label)
        out += [part for part in re.split(r"[/|]", plain) if part.strip()]
        out.append(re.sub(r"\([^)]*\)\s*$", "", plain))
    return out


def default_key(svc: RecordService, entity: EntityDef, targets: list[str | None]) -> str | None:
    """The first key whose fields the columns all fill: a unique field before a unique key of
    several fields (the entity schema has no import-key setting; an importer names its own)."""
    return next((k.name for k in import_keys(svc, entity) if all(f.name in targets for f in k.fields)), None)


def plan_mapping(
    svc: RecordService, entity: EntityDef, header: list[str], targets, key, mode, rows: int = 0
) -> MappingPlan:
    """Check a mapping before a start: fields that exist and may be filled, each by one column,
    the key among the unique fields and filled by a column, every required field filled, the
    writes the rows need allowed; and warn about a long all-or-nothing run."""
    targets = [(t or None) if isinstance(t, str) else None for t in (targets or [])][: len(header)]
    targets += [None] * (len(header) - len(targets))
    plan = MappingPlan(targets, key or None, mode if mode in MODES else "all")
    allowed = {f.name: f for f in importable(svc, entity)}
    by_field: dict[str, list[int]] = {}
    for index, name in enumerate(targets):
        if name is None:
            continue
        if name not in allowed:
            plan.errors.append(
                _("Column {column} ({header}): {field} cannot be imported.").format(
                    column=column_letter(index), header=header[index], field=name
                )
            )
            continue
        by_field.setdefault(name, []).append(index)
    for name, indexes in by_field.items():
        if len(indexes) > 1:
            plan.errors.append(
                _("Columns {columns} all go to {field}; choose one.").format(
                    columns=", ".join(column_letter(i) for i in indexes), field=text(allowed[name].label)
                )
            )
    if not by_field:
        plan.errors.append(_("Choose a field for at least one column."))
    _check_key(svc, entity, plan, by_field)
    _check_required(svc, entity, plan, by_field, allowed)
    _check_actions(svc, entity, plan)
    if plan.mode == "all" and rows > LONG_TRANSACTION:
        plan.warnings.append(
            _("All or nothing saves the {rows} rows in one transaction: other users' changes wait until it "
              "ends. Skip bad rows saves in chunks and keeps them going.").format(rows=f"{rows:,}")
        )  # fmt: skip
    return plan


def _check_actions(svc: RecordService, entity: EntityDef, plan: MappingPlan) -> None:
    label = text(entity.plural_label)
    create, update = svc.permissions.can(entity, "create"), svc.permissions.can(entity, "update")
    if not create and plan.key is None:
        plan.errors.append(_("You may not create {entity}: choose a key to update existing ones.").format(entity=label))
    elif not create:
        plan.warnings.append(_("You may not create {entity}: rows that match none will fail.").format(entity=label))
    elif plan.key is not None and not update:
        plan.warnings.append(_("You may not change {entity}: rows that match one will fail.").format(entity=label))


def _check_key(svc: RecordService, entity: EntityDef, plan: MappingPlan, by_field: dict) -> None:
    if plan.key is None:
        return
    key = find_key(svc, entity, plan.key)
    if key is None:
        plan.errors.append(_("{field} cannot be the key: it is not a unique field.").format(field=plan.key))
        return
    for f in key.fields:
        if f.name not in by_field:
            plan.errors.append(_("The key {field} must come from a column of the file.").format(field=text(f.label)))


def _check_required(svc, entity: EntityDef, plan: MappingPlan, by_field: dict, allowed: dict) -> None:
    scope = entity.doc.get("options", {}).get("scope") or {}
    claimed = {
        n
        for key in ("owner", "org")
        for n in ([scope[key]] if isinstance(scope.get(key), str) else scope.get(key) or [])
    }
    missing = [
        f for f in entity.active_fields
        if f.required and not f.has_default and not f.computed and not generated(f) and f.name not in by_field
        and f.name not in claimed
    ]  # fmt: skip
    for f in missing:
        if f.name not in allowed:
            plan.errors.append(_("{field} is required but you may not fill it.").format(field=text(f.label)))
        elif plan.key is None:
            plan.errors.append(_("{field} is required; choose the column that holds it.").format(field=text(f.label)))
        else:
            plan.warnings.append(
                _("No column goes to {field}: rows that create a new record will fail, rows that update one are fine.")
                .format(field=text(f.label))
            )  # fmt: skip
