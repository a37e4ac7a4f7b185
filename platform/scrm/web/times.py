"""Instants as the pages show them: in the deployment's time zone (``SCRM_TIMEZONE``)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import current_app


def local_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["SCRM_TIMEZONE"])


def local_time(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M", empty: str = "—") -> str:
    """An instant (aware, or naive UTC as the system tables store them) in local time."""
    if moment is None:
        return empty
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(local_zone()).strftime(fmt)
