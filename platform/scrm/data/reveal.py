"""Reveal with a reason: a role that may (``reveal``) sees a record's masked values in full for
a few minutes, after giving a reason; the grant and the reason go to the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ..db import db, writing
from ..errors import Detail, Forbidden, ValidationFailed
from ..i18n import _, text
from ..security import audit


class RevealMixin:
    def reveal(self, entity_name: str, record_id: int, fields: Any, reason: Any, minutes: int) -> dict:
        with writing():
            return self._reveal(entity_name, record_id, fields, reason, minutes)

    def _reveal(self, entity_name: str, record_id: int, fields: Any, reason: Any, minutes: int) -> dict:
        """Show masked values in full for ``minutes``: only fields the user's roles may reveal,
        only with a reason; the grant and the reason go to the audit log."""
        entity = self.entity(entity_name)
        record = self.load(entity_name, record_id)
        if not isinstance(reason, str) or len(reason.strip()) < 4:
            raise ValidationFailed(
                _("Say why you need to see the full value."),
                [Detail("reason", _("Give a reason (at least 4 characters)."))],
            )
        names = fields if isinstance(fields, list) and fields else None
        revealable = [
            f for f in entity.active_fields
            if self.permissions.field(entity, f).view == "masked" and self.permissions.field(entity, f).reveal
        ]  # fmt: skip
        if names is not None:
            unknown = [n for n in names if not isinstance(n, str) or entity.field(n) is None]
            if unknown:
                raise ValidationFailed(_("Unknown fields."), [Detail("fields", str(unknown[0]))])
            refused = [entity.field(n) for n in names if entity.field(n) not in revealable]
            if refused:
                raise Forbidden(
                    _("You may not reveal {field}.").format(field=text(refused[0].label)),
                    [Detail(refused[0].name, _("Your role shows this field masked only."), "forbidden_field")],
                    "forbidden_field",
                )
            chosen = [entity.field(n) for n in names]
        else:
            chosen = revealable
        if not chosen:
            raise Forbidden(_("Nothing on this record can be revealed for you."), code="nothing_to_reveal")
        moment = datetime.now(UTC)
        expires = moment + timedelta(minutes=minutes)
        db.session.execute(
            sa.insert(audit.RevealGrant.__table__).values(
                user_id=self.user_id, entity=entity.name, record_id=record_id,
                fields=",".join(f.name for f in chosen), reason=reason.strip()[:2000],
                created_at=audit.stamp(moment), expires_at=audit.stamp(expires),
            )
        )  # fmt: skip
        audit.append(
            "reveal", self.actor(), entity=entity.name, record_id=record_id, fields=[f.name for f in chosen],
            reason=reason.strip()[:2000], detail={"minutes": minutes},
        )  # fmt: skip
        db.session.commit()
        return {"values": {f.name: record.get(f.name) for f in chosen}, "expires_at": expires}
