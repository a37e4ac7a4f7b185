"""A small world for testing the condition back-ends against each other, without the web app.

Three entities (managers, customers with computed fields, trades), their tables on a real
database, an in-memory copy of the rows for the Python back-end, and helpers that evaluate a
condition both ways. Used by the property test and the truth tables.
"""

from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from scrm.conditions import Environment, Predicate, Preparer, Source, compile_sql
from scrm.data.tables import build_all
from scrm.db import configure_engine
from scrm.fields import FieldTypes
from scrm.meta.model import EntityDef
from scrm.plugins.builtins import BUILTIN_FIELD_TYPES

TZ = "Asia/Shanghai"
PG_URL = os.environ.get("SCRM_TEST_DATABASE_URL")

MANAGER = {
    "kind": "entity",
    "name": "mgr",
    "fields": [
        {"name": "name", "type": "string"},
        {"name": "level", "type": "integer"},
        {"name": "region", "type": "enum", "options": ["north", "south", "east"]},
    ],
}
CUSTOMER = {
    "kind": "entity",
    "name": "cust",
    "fields": [
        {"name": "name", "type": "string"},
        {"name": "tier", "type": "enum", "options": ["mass", "hnw", "uhnw"]},
        {"name": "assets", "type": "money"},
        {"name": "prev_assets", "type": "money"},
        {"name": "ratio", "type": "percent"},
        {"name": "visits", "type": "integer"},
        {"name": "birth", "type": "date"},
        {"name": "opened", "type": "datetime"},
        {"name": "vip", "type": "bool"},
        {"name": "tags", "type": "tags", "options": ["A", "B", "C"]},
        {"name": "manager", "type": "ref", "target": "mgr"},
        {
            "name": "net",
            "type": "money",
            "computed": {"calc": "sub", "args": [{"field": "assets"}, {"field": "prev_assets"}]},
        },
        {
            "name": "age",
            "type": "integer",
            "computed": {"calc": "years_between", "args": [{"field": "birth"}, {"date": "today"}]},
        },
        {
            "name": "share",
            "type": "decimal",
            "scale": 3,
            "computed": {"calc": "div", "args": [{"field": "prev_assets"}, {"field": "assets"}]},
        },
    ],
    "relations": [{"name": "trades", "kind": "has_many", "target": "trade", "via": "cust"}],
    "conditions": {
        "rich": {"field": "assets", "op": "gte", "value": "500"},
        "falling": {
            "expr": {"calc": "pct_change", "args": [{"field": "prev_assets"}, {"field": "assets"}]},
            "op": "lte",
            "value": "-0.30",
        },
    },
}
TRADE = {
    "kind": "entity",
    "name": "trade",
    "fields": [
        {"name": "cust", "type": "ref", "target": "cust"},
        {"name": "amount", "type": "money"},
        {"name": "qty", "type": "integer"},
        {"name": "side", "type": "enum", "options": ["buy", "sell"]},
        {"name": "traded_at", "type": "datetime"},
        {"name": "trade_date", "type": "date"},
        {"name": "note", "type": "string"},
    ],
}
PARAMS = {"floor": "decimal", "tiers": "string", "since": "date"}


def field_types() -> FieldTypes:
    return FieldTypes([cls() for cls in BUILTIN_FIELD_TYPES])


@dataclass
class World:
    """Entities, tables and an engine; ``rows`` mirrors what was inserted."""

    engine: sa.engine.Engine
    dialect: str
    entities: dict[str, EntityDef]
    tables: dict
    types: FieldTypes
    rows: dict[str, dict[int, dict]] = field(default_factory=dict)
    deleted: dict[str, set[int]] = field(default_factory=dict)

    # -- data -------------------------------------------------------------------------------
    def load(self, rows: dict[str, list[dict]], deleted: dict[str, set[int]] | None = None) -> None:
        """Replace all rows: ``rows[entity]`` are mappings by field name (``tags`` a set)."""
        self.rows = {name: {r["id"]: r for r in items} for name, items in rows.items()}
        self.deleted = {name: set(ids) for name, ids in (deleted or {}).items()}
        stamp = datetime(2020, 1, 1, tzinfo=UTC)
        with self.engine.begin() as conn:
            for name in ("trade", "cust", "mgr"):
                et = self.tables[name]
                for link in et.links.values():
                    conn.execute(link.delete())
                conn.execute(et.main.delete())
            for name in ("mgr", "cust", "trade"):
                entity, et = self.entities[name], self.tables[name]
                main_rows, link_rows = [], {}
                for r in rows.get(name, []):
                    values = {"id": r["id"], "version": 1, "created_at": stamp, "updated_at": stamp}
                    values["deleted_at"] = stamp if r["id"] in self.deleted.get(name, ()) else None
                    for f in entity.active_fields:
                        if f.computed:
                            continue
                        if f.type == "tags":
                            for v in r.get(f.name) or ():
                                link_rows.setdefault(f.id, []).append({"record_id": r["id"], "value": v})
                        else:
                            values[f.column] = r.get(f.name)
                    main_rows.append(values)
                if main_rows:
                    conn.execute(et.main.insert(), main_rows)
                for fid, items in link_rows.items():
                    conn.execute(et.links[fid].insert(), items)

    # -- the Python back-end's data source ------------------------------------------------------
    def get(self, entity: str, record_id: int):
        if record_id in self.deleted.get(entity, ()):
            return None
        return self.rows.get(entity, {}).get(record_id)

    def children(self, entity: str, via: str, parent_id: int):
        gone = self.deleted.get(entity, ())
        return [r for i, r in self.rows.get(entity, {}).items() if r.get(via) == parent_id and i not in gone]

    # -- evaluation ---------------------------------------------------------------------------
    def prepare(self, cond: dict, entity: str = "cust"):
        source = Source(
            params=PARAMS,
            metrics={
                "outflow": {
                    "agg": "sum",
                    "rel": "trades",
                    "of": "amount",
                    "where": {"field": "side", "op": "eq", "value": "sell"},
                }
            },
        )
        return Preparer(self.types, self.entities.get, "dashboard", source=source).condition(
            cond, self.entities[entity]
        )

    def env(self, now: datetime, params: dict | None = None, **kwargs) -> Environment:
        return Environment.at(now, TZ, params=params or {}, data=self, **kwargs)

    def python_ids(self, node, env: Environment, entity: str = "cust") -> set[int]:
        predicate = Predicate(node)
        gone = self.deleted.get(entity, ())
        return {i for i, r in self.rows.get(entity, {}).items() if i not in gone and predicate(r, env)}

    def sql_ids(self, node, env: Environment, *, batch: bool = True, compiler=None, entity: str = "cust") -> set[int]:
        main = self.tables[entity].main
        if compiler is None:
            compiled = compile_sql(node, self.entities[entity], self.tables, env, self.dialect, batch=batch)
        else:
            compiled = compiler(node, self.entities[entity], self.tables, env, self.dialect)
        stmt = compiled.apply(sa.select(main.c.id).where(main.c.deleted_at.is_(None)))
        with self.engine.connect() as conn:
            return {row[0] for row in conn.execute(stmt)}

    def sql_text(self, node, env: Environment, entity: str = "cust") -> str:
        main = self.tables[entity].main
        compiled = compile_sql(node, self.entities[entity], self.tables, env, self.dialect)
        stmt = compiled.apply(sa.select(main.c.id))
        return str(stmt.compile(self.engine, compile_kwargs={"literal_binds": False}))


@contextmanager
def world(backend: str, tmp_path) -> Any:
    """A world on a fresh SQLite file or a fresh PostgreSQL database."""
    types = field_types()
    entities = {d["name"]: EntityDef.from_doc(d, 1) for d in (MANAGER, CUSTOMER, TRADE)}
    metadata, tables = build_all(list(entities.values()), types)
    created = None
    if backend == "sqlite":
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'world.db'}", poolclass=sa.pool.NullPool)
        configure_engine(engine)
    else:
        base = sa.engine.make_url(
            os.environ["SCRM_TEST_DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
        )
        created = f"scrm_world_{uuid.uuid4().hex[:10]}"
        server = sa.create_engine(
            base.set(database="postgres"), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
        with server.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{created}"')
        engine = sa.create_engine(base.set(database=created), poolclass=sa.pool.NullPool)
    try:
        metadata.create_all(engine)
        yield World(engine, engine.dialect.name, entities, tables, types)
    finally:
        engine.dispose()
        if created:
            with server.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{created}" WITH (FORCE)')
