"""The per-process cache of published definitions, revalidated against the global revision.

Each request asks :meth:`Registry.current` once, with the revision its session-user statement
read (or one tiny query reads ``scrm_revision``); when
another worker has published since, the published definitions are reloaded and the tables
rebuilt. A :class:`Snapshot` is immutable, so requests in flight keep a consistent view.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import sqlalchemy as sa

from .data.tables import EntityTables, build_all
from .fields import FieldTypes
from .meta import store
from .meta.model import EntityDef, FormDef

CACHE_SIZE = 1024
CACHE_LOCK = threading.Lock()


@dataclass(eq=False)
class Snapshot:
    revision: int
    field_types: FieldTypes
    documents: dict[tuple[str, str], dict]
    versions: dict[tuple[str, str], int]
    entities: dict[str, EntityDef]
    forms: dict[str, FormDef]
    metadata: sa.MetaData
    tables: dict[str, EntityTables]
    cache: OrderedDict = field(default_factory=OrderedDict)  # derived objects (schemas, statements, …)

    @classmethod
    def build(cls, revision: int, rows: list[tuple[str, str, int, dict]], field_types: FieldTypes) -> Snapshot:
        documents = {(k, n): body for k, n, _v, body in rows}
        versions = {(k, n): v for k, n, v, _b in rows}
        entities = {n: EntityDef.from_doc(b, v) for k, n, v, b in rows if k == "entity"}
        forms = {n: FormDef(b, v) for k, n, v, b in rows if k == "form"}
        metadata, tables = build_all(list(entities.values()), field_types)
        return cls(revision, field_types, documents, versions, entities, forms, metadata, tables)

    def entity(self, name: str) -> EntityDef | None:
        return self.entities.get(name)

    def form_for(self, entity: EntityDef) -> FormDef | None:
        chosen = entity.doc.get("form")
        if chosen and chosen in self.forms and self.forms[chosen].entity == entity.name:
            return self.forms[chosen]
        candidates = sorted((f for f in self.forms.values() if f.entity == entity.name), key=lambda f: f.name)
        return candidates[0] if candidates else None

    def documents_of(self, kind: str) -> dict[str, dict]:
        return {n: b for (k, n), b in self.documents.items() if k == kind}

    def cached(self, key, factory):
        """A value derived from this snapshot, built once; the least recently used go past
        :data:`CACHE_SIZE` entries (column choices make many statement variants)."""
        try:
            value = self.cache[key]
        except KeyError:
            value = factory()
            with CACHE_LOCK:
                self.cache[key] = value
                if len(self.cache) > CACHE_SIZE:
                    self.cache.popitem(last=False)
            return value
        try:
            self.cache.move_to_end(key)
        except KeyError:  # evicted meanwhile by another thread
            pass
        return value


class Registry:
    def __init__(self, field_types: FieldTypes):
        self.field_types = field_types
        self._snapshot: Snapshot | None = None
        self._lock = threading.Lock()

    def current(self, revision: int | None = None) -> Snapshot:
        """The snapshot of the global revision: ``revision`` when the caller has just read it
        (in the same transaction), else read now."""
        if revision is None:
            revision = store.current_revision()
        snap = self._snapshot
        if snap is not None and snap.revision == revision:
            return snap
        with self._lock:
            snap = self._snapshot
            if snap is None or snap.revision != revision:
                rows = [(r.kind, r.name, r.version, r.body) for r in store.published()]
                snap = self._snapshot = Snapshot.build(revision, rows, self.field_types)
        return snap

    def invalidate(self) -> None:
        self._snapshot = None
