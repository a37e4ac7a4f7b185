"""An alert or tagging rule as the runtime reads its published document (``docs/alerts.md``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from .. import durations

DEFAULT_KEY = ("rule", "record", "run_date")
SEVERITIES = ("info", "low", "medium", "high", "critical")


@dataclass(frozen=True)
class Schedule:
    cron: str | None = None
    every: durations.Duration | None = None
    tz: str | None = None
    calendar: str | None = None
    events: tuple[str, ...] = ()
    catch_up: bool = True


@dataclass(frozen=True)
class Trigger:
    """Evaluate when records of ``entity`` are written: the written record itself (same entity),
    the record ``record`` points at, or every record with ``params`` bound from the written one."""

    on: str
    entity: str
    fields: tuple[str, ...] = ()
    when: Any = None
    record: str | None = None
    params: dict[str, str] = field(default_factory=dict)

    def matches(self, created: bool, changed: set[str]) -> bool:
        if self.on == "record_created":
            return created
        if self.on == "record_changed" and created:
            return False
        return created or not self.fields or bool(changed.intersection(self.fields))


@dataclass(frozen=True)
class Rule:
    name: str
    version: int
    doc: dict

    @property
    def entity(self) -> str:
        return self.doc["entity"]

    @property
    def enabled(self) -> bool:
        return self.doc.get("enabled", True)

    @property
    def severity(self) -> str:
        return self.doc.get("severity", "medium")

    @property
    def label(self):
        return self.doc.get("label") or self.name

    @property
    def metrics(self) -> dict[str, Any]:
        return self.doc.get("metrics") or {}

    @property
    def actions(self) -> list[dict]:
        return self.doc["actions"]

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.doc.get("params") or {})

    @property
    def schedule(self) -> Schedule | None:
        raw = self.doc.get("schedule")
        if not raw:
            return None
        return Schedule(
            cron=raw.get("cron"),
            every=durations.parse(raw["every"]) if raw.get("every") else None,
            tz=raw.get("tz"),
            calendar=raw.get("calendar"),
            events=(raw["also_on"]["event"],) if raw.get("also_on") else (),
            catch_up=raw.get("misfire", "catch_up") == "catch_up",
        )

    @property
    def trigger(self) -> Trigger | None:
        raw = self.doc.get("trigger")
        if not raw:
            return None
        return Trigger(
            on=raw["on"],
            entity=raw.get("entity", self.entity),
            fields=tuple(raw.get("fields", ())),
            when=raw.get("when"),
            record=raw.get("record"),
            params=dict(raw.get("params") or {}),
        )

    @property
    def key(self) -> tuple:
        return tuple(
            (next(iter(k.items())) if isinstance(k, dict) else k)
            for k in self.doc.get("dedupe", {}).get("key", DEFAULT_KEY)
        )

    @property
    def cooldown(self) -> durations.Duration | None:
        raw = self.doc.get("dedupe", {}).get("cooldown")
        return durations.parse(raw) if raw else None

    @property
    def key_fields(self) -> list[str]:
        """Fields of the record the dedupe key reads."""
        return [k[1] for k in self.key if isinstance(k, tuple) and k[0] == "field"]

    def tag_actions(self) -> list[dict]:
        return [a for a in self.actions if a["do"] == "tag" and a.get("add")]

    def held_tags(self) -> list[str]:
        """Tags this rule holds while its condition holds (removed when it stops, or when
        ``untag`` holds): added without an expiry unless ``remove_when`` says ``never``."""
        out = []
        for action in self.tag_actions():
            default = "never" if action.get("expires") else "unmatched"
            if action.get("remove_when", default) == "unmatched":
                out += action["add"]
        return out

    @property
    def holds_tags(self) -> bool:
        """A tagging rule fires when a record gains its tags (its other actions go with that),
        not on every run while the record keeps them."""
        return bool(self.held_tags())

    def period_key(self, moment: datetime, values: dict[str, Any], params: dict[str, Any]) -> str:
        """The dedupe key of one firing, less rule and record (the unique index adds those)."""
        parts = []
        day = moment.date()
        for k in self.key:
            if isinstance(k, tuple):
                source = values if k[0] == "field" else params
                parts.append(f"{k[1]}={_text(source.get(k[1]))}")
            elif k == "run_date":
                parts.append(day.isoformat())
            elif k == "period":
                parts.append(moment.strftime("%Y-%m-%dT%H:%M"))
            elif k == "week":
                year, week, _ = day.isocalendar()
                parts.append(f"{year}-W{week:02d}")
            elif k == "month":
                parts.append(day.strftime("%Y-%m"))
            elif k == "year":
                parts.append(str(day.year))
        return "|".join(parts)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def rules_of(snapshot) -> dict[str, Rule]:
    """The published rules of a snapshot, by name (built once per revision)."""

    def build() -> dict[str, Rule]:
        return {
            name: Rule(name, snapshot.versions[("alert", name)], body)
            for name, body in snapshot.documents_of("alert").items()
        }

    return snapshot.cached(("alert-rules",), build)
