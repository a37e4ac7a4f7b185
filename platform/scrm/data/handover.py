"""Handing over a departing (or moving) employee's book: every active share that names them
ends yesterday and a copy naming the successor starts today, and every record they own passes
to the successor — all in one transaction, through the record service (validation, the
entity's rules, history and the audit log apply to each write), within the acting user's scope.

Which link entity and fields are "shares" and which references are "owners" comes from the
entity's ``options.scope`` (see :mod:`scrm.security.scopes`). A new share continues the
one it replaces, in the same workflow state (the hand-over is itself the approval, audited).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ..db import db, writing
from ..errors import BadRequest, Detail, NotFound
from ..i18n import _
from ..security import audit
from .hooks import carrying_states


class HandOverMixin:
    def hand_over(self, entity_name: str, from_employee: Any, to_employee: Any, values: Any = None) -> dict:
        """``values``: extra field values for the new share records (a change reason, who approved)."""
        with writing(), carrying_states():
            return self._hand_over(entity_name, from_employee, to_employee, values)

    def _hand_over(self, entity_name: str, from_employee: Any, to_employee: Any, values: Any) -> dict:
        entity = self.entity(entity_name)
        spec = entity.doc.get("options", {}).get("scope") or {}
        shares = spec.get("shares")
        owners = spec.get("owner") or []
        owners = [owners] if isinstance(owners, str) else list(owners)
        if not shares and not owners:
            raise BadRequest(_("{entity} has no owners or shares to hand over.").format(entity=entity.name))
        for key, value in (("from", from_employee), ("to", to_employee)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise BadRequest(
                    _("Give the employees by id."), [Detail(key, _("Expected an id."))], "invalid_employee"
                )
        if from_employee == to_employee:
            raise BadRequest(_("Hand over to someone else."), [Detail("to", _("The same employee."))], "same_employee")
        if values is not None and not isinstance(values, dict):
            raise BadRequest(
                _("values must be an object of field values."), [Detail("values", _("Expected an object."))]
            )
        link = self.snapshot.entity(shares["entity"]) if shares else None
        staff = self.snapshot.entity(link.field(shares["employee"]).target) if link is not None else None
        for value in (from_employee, to_employee):
            if staff is not None and not self._exists(staff.name, value):
                raise NotFound(_("There is no employee #{id}.").format(id=value))
        today = self.environment().now.astimezone(self.environment().tz).date()
        counts = {"shares_ended": 0, "shares_created": 0, "owners_changed": 0}
        self._batch = True
        try:
            if shares:
                self._hand_over_shares(shares, from_employee, to_employee, values or {}, today, counts)
            for name in owners:
                condition = {"field": name, "op": "eq", "value": from_employee}
                for record in self._all(entity.name, condition):
                    self.update(entity.name, record["id"], {name: to_employee}, record["version"])
                    counts["owners_changed"] += 1
            audit.append(
                "hand_over", self.actor(), entity=entity.name, row_count=sum(counts.values()),
                detail={"from": from_employee, "to": to_employee, **counts},
            )  # fmt: skip
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        finally:
            self._batch = False
        return counts

    def _hand_over_shares(self, shares: dict, old: int, new: int, values: dict, today, counts: dict) -> None:
        link = self.snapshot.entity(shares["entity"])
        active = [{"field": shares["employee"], "op": "eq", "value": old}]
        if shares.get("to"):
            active.append({"any": [{"field": shares["to"], "op": "is_null"},
                                   {"field": shares["to"], "op": "gte", "value": str(today)}]})  # fmt: skip
        if shares.get("where"):
            active.append(shares["where"])
        copied = [
            f.name for f in link.active_fields
            if not f.computed and not f.readonly and f.name not in (shares["employee"], shares.get("from"), shares.get("to"))
        ]  # fmt: skip
        for row in self._all(link.name, {"all": active}):
            start = shares.get("from") and row.get(shares["from"])
            if shares.get("to"):
                end = max(today - timedelta(days=1), start) if start else today - timedelta(days=1)
                self.update(link.name, row["id"], {shares["to"]: end.isoformat()}, row["version"])
                counts["shares_ended"] += 1
            data = {name: row.get(name) for name in copied if row.get(name) is not None}
            data.update({shares["employee"]: new, **values})
            if shares.get("from"):
                data[shares["from"]] = today.isoformat()
            if shares.get("to"):
                data[shares["to"]] = row.get(shares["to"]).isoformat() if row.get(shares["to"]) else None
            self.create(link.name, {k: _json(v) for k, v in data.items()})
            counts["shares_created"] += 1

    def _all(self, entity_name: str, condition: dict) -> list[dict]:
        """Every matching record in the user's scope, with real values (writes need them)."""
        out, after = [], None
        while True:
            page = self.list(entity_name, filter=condition, limit=200, after=after, sort="id")
            out += [self.load(entity_name, r["id"]) for r in page.items]
            if not page.next:
                return out
            after = page.next


def _json(value):
    """Stored values back to input the service validates (dates and decimals as text)."""
    if hasattr(value, "isoformat"):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, list | str | int | bool | dict) or value is None:
        return value
    return str(value)
