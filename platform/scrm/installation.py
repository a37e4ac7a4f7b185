"""Creating and upgrading an installation: system tables, shipped definitions, the first admin."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import sqlalchemy as sa

from .db import db, write_intent
from .definitions import SyncReport
from .meta import store
from .runtime import runtime
from .security.users import ADMIN_ROLE, User, create_user, generate_password


@dataclass
class InitReport:
    created_tables: list[str] = field(default_factory=list)
    sync: SyncReport | None = None
    admin_password: str | None = None
    admin_created: bool = False


def system_metadata() -> sa.MetaData:
    """The metadata holding every system table (importing the modules registers them)."""
    from . import data as _data  # noqa: F401
    from .alerts import store as _alert_store  # noqa: F401  (registers scrm_alert_*)
    from .data import attachments as _attachments  # noqa: F401  (registers scrm_attachment)
    from .data import exporting as _exporting  # noqa: F401  (registers scrm_export)
    from .data import history as _history  # noqa: F401  (registers scrm_change)
    from .data import importing as _importing  # noqa: F401  (registers scrm_import)
    from .data import saved_views as _saved_views  # noqa: F401  (registers scrm_saved_view)
    from .jobs import scheduler as _scheduler  # noqa: F401  (registers scrm_scheduler_node)
    from .notify import inbox as _inbox  # noqa: F401  (registers scrm_notification)
    from .notify import outbox as _outbox  # noqa: F401  (registers scrm_outbox)
    from .security import audit as _audit  # noqa: F401  (registers scrm_audit*)
    from .workflows import store as _workflow_store  # noqa: F401  (registers scrm_workflow_*, scrm_sla_clock)

    return db.metadata


def ensure_system_schema() -> list[str]:
    """Create missing system tables and add columns later releases introduced (never drops)."""
    from alembic.operations import Operations
    from alembic.runtime.migration import MigrationContext

    from .data.migrate import add_column
    from .security import audit

    metadata = system_metadata()
    created: list[str] = []
    with write_intent():
        conn = db.session.connection()
        inspector = sa.inspect(conn)
        for table in metadata.sorted_tables:
            if not inspector.has_table(table.name):
                table.create(conn)
                created.append(table.name)
                continue
            existing = {c["name"] for c in inspector.get_columns(table.name)}
            op = Operations(MigrationContext.configure(conn))
            for column in table.columns:
                if column.name not in existing:
                    add_column(conn, op, table.name, sa.Column(column.name, column.type, nullable=True))
        audit.protect(conn)
        store.ensure_revision_row()
        db.session.commit()
    return created


def initialise(*, force_sync: bool = False) -> InitReport:
    """Idempotent: creates or upgrades the database and syncs the shipped definitions."""
    report = InitReport()
    report.created_tables = ensure_system_schema()
    with write_intent():
        report.sync = runtime().definitions.sync(force=force_sync)
        if db.session.execute(sa.select(sa.func.count()).select_from(User)).scalar_one() == 0:
            password = os.environ.get("SCRM_ADMIN_PASSWORD") or generate_password()
            create_user("admin", password, [ADMIN_ROLE], display_name="Administrator")
            report.admin_created = True
            report.admin_password = None if os.environ.get("SCRM_ADMIN_PASSWORD") else password
    return report
