"""Typed, read-only views of definition documents used by the runtime.

Documents stay the source of truth (plain dicts, stored as JSON); these classes give the rest
of the code names instead of dictionary lookups. They are built once per published revision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

# Columns every entity table has; field names may not use them.
SYSTEM_COLUMNS = ("id", "version", "created_at", "created_by", "updated_at", "updated_by", "deleted_at")
RESERVED_NAMES = frozenset(SYSTEM_COLUMNS) | {"tenant_id"}
SYSTEM_SORTABLE = ("id", "created_at", "updated_at")


@dataclass(frozen=True)
class Option:
    value: str
    label: Any
    color: str | None = None
    active: bool = True


class FieldDef:
    """One field of an entity: a stable id, a mutable name and a fixed physical column.

    Read-only by convention; the hot attributes are plain attributes (lists read them
    thousands of times per page)."""

    __slots__ = ("entity", "spec", "id", "name", "type", "column", "__dict__")

    def __init__(self, entity: str, spec: dict):
        self.entity = entity
        self.spec = spec
        self.name = spec["name"]
        self.type = spec["type"]
        self.id = spec.get("id", self.name)
        self.column = spec.get("column", self.name)

    @property
    def label(self) -> Any:
        return self.spec.get("label") or self.name

    @property
    def required(self) -> bool:
        return bool(self.spec.get("required"))

    @property
    def unique(self) -> bool:
        return bool(self.spec.get("unique"))

    @property
    def indexed(self) -> bool:
        return bool(self.spec.get("indexed"))

    @property
    def readonly(self) -> bool:
        return bool(self.spec.get("readonly")) or self.computed

    @property
    def encrypted(self) -> bool:
        """Stored sealed with a blind index (the checker allows it on text-like types only)."""
        return self.spec.get("pii") == "encrypt"

    @property
    def index_column(self) -> str:
        """The blind index column of an encrypted field."""
        return f"{self.column}__bidx"

    @property
    def active(self) -> bool:
        return self.spec.get("active", True)

    @property
    def computed(self) -> bool:
        return "computed" in self.spec

    @property
    def has_default(self) -> bool:
        return "default" in self.spec

    @property
    def default(self) -> Any:
        return self.spec.get("default")

    @property
    def target(self) -> str | None:
        return self.spec.get("target")

    @property
    def previous_names(self) -> tuple[str, ...]:
        return tuple(self.spec.get("previous_names", ()))

    @cached_property
    def options(self) -> tuple[Option, ...]:
        out = []
        for o in self.spec.get("options", ()):
            if isinstance(o, str):
                out.append(Option(o, o))
            else:
                out.append(Option(o["value"], o.get("label", o["value"]), o.get("color"), o.get("active", True)))
        return tuple(out)

    @cached_property
    def option_map(self) -> dict[str, Option]:
        return {o.value: o for o in self.options}

    def get(self, key: str, default: Any = None) -> Any:
        return self.spec.get(key, default)

    def __repr__(self) -> str:
        return f"<FieldDef {self.entity}.{self.name}:{self.type}>"


@dataclass(frozen=True)
class RelationDef:
    name: str
    kind: str
    target: str
    via: str | None
    label: Any
    sort: str | None = None


@dataclass(frozen=True, eq=False)
class EntityDef:
    """A published entity: its fields by name and id, its table, list defaults and relations."""

    doc: dict
    version: int = 0
    fields: tuple[FieldDef, ...] = field(default=())

    @classmethod
    def from_doc(cls, doc: dict, version: int = 0) -> EntityDef:
        name = doc["name"]
        return cls(doc, version, tuple(FieldDef(name, f) for f in doc.get("fields", ())))

    @property
    def name(self) -> str:
        return self.doc["name"]

    @property
    def label(self) -> Any:
        return self.doc.get("label") or self.name

    @property
    def plural_label(self) -> Any:
        return self.doc.get("plural_label") or self.label

    @property
    def table(self) -> str:
        return self.doc.get("table") or default_table(self.name)

    @property
    def icon(self) -> str:
        return self.doc.get("icon", "table")

    @property
    def soft_delete(self) -> bool:
        return self.doc.get("options", {}).get("soft_delete", True)

    @cached_property
    def active_fields(self) -> tuple[FieldDef, ...]:
        return tuple(f for f in self.fields if f.active)

    @cached_property
    def by_name(self) -> dict[str, FieldDef]:
        """Active fields by name, plus previous names as aliases (renames keep old references working)."""
        out: dict[str, FieldDef] = {}
        for f in self.active_fields:
            for old in f.previous_names:
                out.setdefault(old, f)
        for f in self.active_fields:
            out[f.name] = f
        return out

    @cached_property
    def by_id(self) -> dict[str, FieldDef]:
        return {f.id: f for f in self.fields}

    def field(self, name: str) -> FieldDef | None:
        return self.by_name.get(name)

    @property
    def title_field(self) -> FieldDef | None:
        name = self.doc.get("title_field")
        if name and name in self.by_name:
            return self.by_name[name]
        for f in self.active_fields:
            if f.type in ("string", "text"):
                return f
        return None

    @cached_property
    def search_fields(self) -> tuple[FieldDef, ...]:
        names = self.doc.get("search_fields")
        if names is None:
            t = self.title_field
            return (t,) if t else ()
        return tuple(self.by_name[n] for n in names if n in self.by_name)

    @cached_property
    def relations(self) -> tuple[RelationDef, ...]:
        return tuple(
            RelationDef(r["name"], r["kind"], r["target"], r.get("via"), r.get("label") or r["name"], r.get("sort"))
            for r in self.doc.get("relations", ())
        )

    def relation(self, name: str) -> RelationDef | None:
        return next((r for r in self.relations if r.name == name), None)

    @property
    def list_spec(self) -> dict:
        return self.doc.get("list", {})

    @property
    def nav(self) -> dict:
        return self.doc.get("nav", {})

    def __repr__(self) -> str:
        return f"<EntityDef {self.name} v{self.version}>"


@dataclass(frozen=True, eq=False)
class FormDef:
    doc: dict
    version: int = 0

    @property
    def name(self) -> str:
        return self.doc["name"]

    @property
    def entity(self) -> str:
        return self.doc["entity"]

    @property
    def layout(self) -> dict:
        return self.doc["layout"]

    @property
    def label(self) -> Any:
        return self.doc.get("label") or self.name


_SYSTEM_TYPES = {
    "id": "integer",
    "version": "integer",
    "created_by": "integer",
    "updated_by": "integer",
    "created_at": "datetime",
    "updated_at": "datetime",
    "deleted_at": "datetime",
}


def system_field(entity: EntityDef, name: str) -> FieldDef | None:
    """System columns are addressable by name in conditions and sorts (read-only)."""
    if name not in SYSTEM_COLUMNS:
        return None
    return FieldDef(
        entity.name,
        {"id": f"_{name}", "name": name, "column": name, "type": _SYSTEM_TYPES[name], "label": name, "readonly": True},
    )


def default_table(entity_name: str) -> str:
    return f"crm_{entity_name}"
