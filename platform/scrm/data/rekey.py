"""Re-encrypting stored values with the current key (``scrm keys rotate``).

Every encrypted field of every entity is read in id order, a batch at a time; each value is
opened with whichever configured key sealed it (or taken as it is, when it was stored before
the field was encrypted), sealed again with the current key, and its blind index recomputed.
The change history's copies of those fields are re-sealed too. Each batch is one transaction,
so a rotation that stops half-way can simply run again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from ..db import db
from ..security.crypto import Keyring, context_of
from .history import Change

BATCH = 2_000


@dataclass
class RotationReport:
    values: dict[str, int] = field(default_factory=dict)  # "entity.field" -> values re-sealed
    history: int = 0


def rotate(snapshot, ring: Keyring, progress: Callable[[str], None] | None = None) -> RotationReport:
    report = RotationReport()
    for name in sorted(snapshot.entities):
        entity = snapshot.entity(name)
        table = snapshot.tables[name].main
        sealed = [f for f in entity.fields if f.encrypted and f.index_column in table.c]
        if not sealed:
            continue
        raw = sa.table(table.name, sa.column("id"), *(sa.column(f.column, sa.Text()) for f in sealed))
        last = 0
        while True:
            rows = db.session.execute(
                sa.select(raw.c.id, *(raw.c[f.column] for f in sealed))
                .where(raw.c.id > last)
                .order_by(raw.c.id)
                .limit(BATCH)
            ).all()
            if not rows:
                break
            updates = []
            for row in rows:
                values = {}
                for i, f in enumerate(sealed, start=1):
                    stored = row[i]
                    if stored is None:
                        continue
                    plain = ring.open(stored, context_of(name, f.id))
                    values[f.column] = ring.seal(plain, context_of(name, f.id))
                    values[f.index_column] = ring.blind(plain)
                    key = f"{name}.{f.name}"
                    report.values[key] = report.values.get(key, 0) + 1
                if values:
                    updates.append((row[0], values))
            for record_id, values in updates:
                db.session.execute(sa.update(table).where(table.c.id == record_id).values(values))
            db.session.commit()
            last = rows[-1][0]
            if progress:
                progress(f"{name}: {last}")
        report.history += _history(name, sealed, ring)
    return report


def _history(entity: str, sealed, ring: Keyring) -> int:
    changes = Change.__table__
    ids = {f.id: f for f in sealed}
    rows = db.session.execute(
        sa.select(changes.c.id, changes.c.field_id, changes.c.old_value, changes.c.new_value).where(
            changes.c.entity == entity, changes.c.field_id.in_(list(ids))
        )
    ).all()
    count = 0
    for change_id, field_id, old, new in rows:
        context = context_of(entity, field_id)
        resealed = [ring.seal(ring.open(v, context), context) if isinstance(v, str) and v else v for v in (old, new)]
        db.session.execute(
            sa.update(changes).where(changes.c.id == change_id).values(old_value=resealed[0], new_value=resealed[1])
        )
        count += 1
    db.session.commit()
    return count
