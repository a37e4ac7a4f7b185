"""One message to one employee over one channel, as rules and workflows hand it over."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class Message:
    channel: str  # inapp | email | sms | a plugin's channel
    recipient: dict  # the employee record (name, login, email, mobile …)
    subject: str
    body: str
    template: str | None = None  # a provider's registered template (SMS)
    params: dict[str, Any] = field(default_factory=dict)
    link: str | None = None
    severity: str = "medium"
    rule: str | None = None
    firing_id: int | None = None

    def user_id(self) -> int | None:
        """The user account of the recipient (employee ``login`` = user name)."""
        from ..db import run
        from ..security.users import User  # (the notify layer sits beside security)

        login = self.recipient.get("login")
        if not login:
            return None
        row = run(sa.select(User.id).where(User.username == login)).first()
        return row[0] if row else None

    def address(self) -> str | None:
        """Where the channel sends it: the e-mail address or the mobile number."""
        key = {"email": "email", "sms": "mobile"}.get(self.channel)
        value = self.recipient.get(key) if key else None
        return str(value) if value else None
