"""Purging a deactivated field for good: its values archived, its column (or value table)
dropped and the field out of the definition, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext

from ..data.tables import build_all, index_name
from ..db import db
from ..errors import Detail, NotFound, ValidationFailed
from ..i18n import _
from ..meta import store
from ..meta.documents import Document
from ..meta.model import EntityDef
from ..meta.problems import has_errors
from .common import one_transaction
from .impact import problems_failure

if TYPE_CHECKING:
    from .service import DefinitionService


@dataclass
class PurgeResult:
    field: str
    archive_table: str
    archived_values: int
    statements: list[str]
    revision: int


def purge_field(
    service: DefinitionService, entity_name: str, field_name: str, user_id: int | None = None, dry_run: bool = False
) -> PurgeResult:
    """The work of :meth:`DefinitionService.purge_field` (documented there)."""
    current = store.get("entity", entity_name, store.PUBLISHED)
    if current is None:
        raise NotFound(_("There is no entity {name!r}.").format(name=entity_name))
    entity = EntityDef.from_doc(current.body, current.version)
    f = next((x for x in entity.fields if x.name == field_name or x.id == field_name), None)
    if f is None:
        raise NotFound(_("{entity} has no field {field!r}.").format(entity=entity_name, field=field_name))
    if f.active:
        raise ValidationFailed(
            _(
                "Deactivate the field first (remove it from the definition and publish); "
                "only deactivated fields can be purged."
            ),
            [Detail(f"fields.{f.name}", _("The field is active."))],
            "field_active",
        )
    body = {**current.body, "fields": [x for x in current.body["fields"] if x.get("id") != f.id]}
    candidate = service.published_set().replaced(Document("entity", entity_name, body))
    previous = service.previous_bodies()
    previous.pop(("entity", entity_name))  # else normalising would keep the field, deactivated
    _normalised, problems = service.checker.check_set(candidate, previous)
    if has_errors(problems):
        raise problems_failure(problems, _("Other definitions still use this field; nothing was purged."))
    return one_transaction(lambda: _purge(service, entity, f, body, user_id), dry_run)


def _purge(service: DefinitionService, entity: EntityDef, f, body: dict, user_id: int | None) -> PurgeResult:
    _metadata, tables = build_all([entity], service.field_types)
    et = tables[entity.name]
    conn = db.session.connection()
    ftype = service.field_types[f.type]
    archive = index_name("scrm_archive", entity.table, [f.column])
    statements: list[str] = []

    def capture(_conn, _cursor, statement, _params, _context, _many):
        statements.append(statement.strip())

    sa.event.listen(conn, "before_cursor_execute", capture)
    try:
        archive_table = sa.Table(
            archive,
            sa.MetaData(),
            sa.Column("record_id", sa.BigInteger, nullable=False),
            sa.Column("value", sa.JSON),
            sa.Column("purged_at", sa.String(40)),
        )
        archive_table.create(conn, checkfirst=True)
        moment = datetime.now(UTC).isoformat()
        if ftype.multi:
            link = et.links[f.id]
            rows = conn.execute(sa.select(link.c.record_id, link.c.value)).all()
            grouped: dict[int, list] = {}
            for rid, value in rows:
                grouped.setdefault(rid, []).append(value)
            values = [{"record_id": rid, "value": v, "purged_at": moment} for rid, v in grouped.items()]
        else:
            col = sa.column(f.column, ftype.storage_type(f))
            rows = conn.execute(sa.select(et.main.c.id, col).select_from(et.main).where(col.is_not(None))).all()
            values = [
                {"record_id": rid, "value": ftype.to_json(ftype.from_db(v, f), f), "purged_at": moment}
                for rid, v in rows
            ]
        for start in range(0, len(values), 2000):
            conn.execute(archive_table.insert(), values[start : start + 2000])
        op = Operations(MigrationContext.configure(conn))
        if ftype.multi:
            et.links[f.id].drop(conn)
        else:
            for index in sa.inspect(conn).get_indexes(entity.table):
                if f.column in index["column_names"]:
                    op.drop_index(index["name"], table_name=entity.table)
            op.drop_column(entity.table, f.column)
        row = store.add_version(
            "entity",
            entity.name,
            body,
            store.DRAFT,
            source="api",
            user_id=user_id,
            comment=_("Purged field {field}").format(field=f.name),
        )
        store.mark_published(row)
        revision = store.bump_revision()
    finally:
        sa.event.remove(conn, "before_cursor_execute", capture)
    return PurgeResult(
        f.name,
        archive,
        len(values),
        [s for s in statements if s.split(None, 1)[0].upper() in ("CREATE", "DROP", "ALTER")],
        revision,
    )
