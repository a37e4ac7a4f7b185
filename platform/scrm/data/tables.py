"""SQLAlchemy Core tables built from entity definitions.

One real table per entity with typed columns and the system columns; one link table per
multi-valued field (tags, multi_enum). Field columns are nullable in the database: "required"
is enforced by validation, so adding a field never fails on a populated table and a
deactivated field can keep its data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import sqlalchemy as sa

from ..fields import FieldTypes
from ..fields.sqltypes import UTCDateTime
from ..meta.model import EntityDef, FieldDef
from ..security.crypto import BIDX_LENGTH, EncryptedText, context_of

ID_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LINK_VALUE_LENGTH = 64


@dataclass
class EntityTables:
    entity: EntityDef
    main: sa.Table
    links: dict[str, sa.Table] = field(default_factory=dict)  # field id -> link table

    def column(self, f: FieldDef) -> sa.Column:
        return self.main.c[f.column]

    def all_tables(self) -> list[sa.Table]:
        return [self.main, *self.links.values()]


def index_name(prefix: str, table: str, columns: list[str]) -> str:
    name = f"{prefix}_{table}_{'_'.join(columns)}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name[:54]}_{digest}"


def link_table_name(entity: EntityDef, f: FieldDef) -> str:
    name = f"{entity.table}__{f.column}"
    return name if len(name) <= 63 else index_name("lk", entity.table, [f.column])


def system_columns() -> list[sa.Column]:
    return [
        sa.Column("id", ID_TYPE, primary_key=True, autoincrement=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.BigInteger, nullable=True),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("updated_by", sa.BigInteger, nullable=True),
        sa.Column("deleted_at", UTCDateTime, nullable=True),
    ]


def field_column(
    entity: EntityDef, f: FieldDef, field_types: FieldTypes, tables_by_entity: dict[str, str]
) -> sa.Column:
    ftype = field_types[f.type]
    args = []
    if f.type == "ref" and f.target in tables_by_entity:
        ondelete = "SET NULL" if f.get("on_delete") == "set_null" else "RESTRICT"
        args.append(
            sa.ForeignKey(
                f"{tables_by_entity[f.target]}.id", ondelete=ondelete, name=index_name("fk", entity.table, [f.column])
            )
        )
    if sealed(f, field_types):
        return sa.Column(f.column, EncryptedText(context_of(entity.name, f.id)), nullable=True)
    return sa.Column(f.column, ftype.column_type(f), *args, nullable=True)


def sealed(f: FieldDef, field_types: FieldTypes) -> bool:
    """Stored encrypted, with a blind index column next to it."""
    ftype = field_types.get(f.type)
    return f.encrypted and ftype is not None and ftype.encryptable


def equality_column(table: sa.Table, f: FieldDef) -> sa.Column:
    """The column equality is tested on: the blind index of an encrypted field, else the field's."""
    return table.c[f.index_column] if f.encrypted and f.index_column in table.c else table.c[f.column]


def field_indexes(entity: EntityDef, table: sa.Table, field_types: FieldTypes) -> list[sa.Index]:
    """Indexes that follow from metadata: declared, unique (among live rows), references, composites.

    A composite ending in a descending field (``["asset_tier", "-total_assets"]``) is a sort
    index and ends with ``id`` descending too, the tie-break of a list sorted that way.

    A reference gets its own index only when no composite index already starts with it: the
    composite serves the same lookups, and every extra index slows down writing large tables."""
    out: dict[str, sa.Index] = {}
    live = table.c.deleted_at.is_(None)
    composites: dict[str, sa.Index] = {}
    for spec in entity.doc.get("indexes", []):
        cols, names = [], []
        for raw in spec["fields"]:
            bare = raw.lstrip("-")
            f = entity.field(bare)
            column = (f.index_column if f.encrypted else f.column) if f else bare
            if column not in table.c:
                break
            cols.append(table.c[column].desc() if raw.startswith("-") else table.c[column])
            names.append(column)
        else:
            if spec["fields"][-1].startswith("-") and not spec.get("unique") and names[-1] != "id":
                # a sort index: lists break ties by id in the last key's direction, so the index
                # serves the whole ORDER BY and a page stops after LIMIT rows, sorting nothing
                cols.append(table.c.id.desc())
                names.append("id")
            name = spec.get("name") or index_name("uq" if spec.get("unique") else "ix", entity.table, names)
            if spec.get("unique"):
                composites[name] = sa.Index(name, *cols, unique=True, sqlite_where=live, postgresql_where=live)
            else:
                composites[name] = sa.Index(name, *cols)
    for c in entity.doc.get("constraints", []):
        if c["type"] == "unique" and len(c["fields"]) > 0 and "where" not in c:
            fields = [entity.field(n) for n in c["fields"]]
            if all(fields):
                name = index_name("uq", entity.table, [f.column for f in fields])
                composites[name] = sa.Index(
                    name,
                    *[equality_column(table, f) for f in fields],
                    unique=True,
                    sqlite_where=live,
                    postgresql_where=live,
                )
    leading = {_first_column(ix) for ix in composites.values()}
    for f in entity.active_fields:
        ftype = field_types.get(f.type)
        if ftype is None or ftype.multi or f.computed:
            continue
        col = equality_column(table, f)
        if f.encrypted and not (f.unique or f.indexed):
            name = index_name("ix", entity.table, [col.name])
            out[name] = sa.Index(name, col)  # exact search by ID number or phone reads this
            continue
        if f.unique:
            name = index_name("uq", entity.table, [f.column])
            out[name] = sa.Index(name, col, unique=True, sqlite_where=live, postgresql_where=live)
        elif f.indexed or (f.type == "ref" and f.column not in leading):
            name = index_name("ix", entity.table, [f.column])
            out[name] = sa.Index(name, col)
    out.update(composites)
    return list(out.values())


def _first_column(index: sa.Index) -> str:
    expression = index.expressions[0]
    element = getattr(expression, "element", expression)  # a DESC column wraps the column
    return getattr(element, "name", "")


def build_tables(
    entity: EntityDef, field_types: FieldTypes, metadata: sa.MetaData, tables_by_entity: dict[str, str]
) -> EntityTables:
    columns = system_columns()
    for f in entity.fields:
        ftype = field_types.get(f.type)
        if ftype is None or ftype.multi or (f.computed and not f.get("stored")):
            continue
        columns.append(field_column(entity, f, field_types, tables_by_entity))
        if sealed(f, field_types):
            columns.append(sa.Column(f.index_column, sa.String(BIDX_LENGTH), nullable=True))
    main = sa.Table(
        entity.table, metadata, *columns, sa.Index(index_name("ix", entity.table, ["updated_at"]), "updated_at")
    )
    field_indexes(entity, main, field_types)  # indexes on bound columns attach to the table
    links = {}
    for f in entity.fields:
        ftype = field_types.get(f.type)
        if ftype is not None and ftype.multi:
            links[f.id] = link_table(entity, f, main, metadata)
    return EntityTables(entity, main, links)


def link_table(entity: EntityDef, f: FieldDef, main: sa.Table, metadata: sa.MetaData) -> sa.Table:
    name = link_table_name(entity, f)
    return sa.Table(
        name,
        metadata,
        sa.Column("record_id", ID_TYPE, sa.ForeignKey(f"{main.name}.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("value", sa.String(LINK_VALUE_LENGTH), primary_key=True),
        sa.Index(index_name("ix", name, ["value"]), "value"),
    )


def build_all(entities: list[EntityDef], field_types: FieldTypes) -> tuple[sa.MetaData, dict[str, EntityTables]]:
    metadata = sa.MetaData()
    tables_by_entity = {e.name: e.table for e in entities}
    return metadata, {e.name: build_tables(e, field_types, metadata, tables_by_entity) for e in entities}


def physical_names(entity: EntityDef, field_types: FieldTypes) -> list[str]:
    """The database objects an entity owns: its tables and their indexes (names must be unique)."""
    metadata = sa.MetaData()
    targets = {f.target: f"crm_{f.target}" for f in entity.fields if f.type == "ref" and f.target}
    et = build_tables(entity, field_types, metadata, {**targets, entity.name: entity.table})
    names = []
    for table in et.all_tables():
        names.append(table.name)
        names += [ix.name for ix in table.indexes]
    return names
