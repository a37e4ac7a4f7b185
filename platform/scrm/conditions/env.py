"""What a condition is evaluated against, besides the row: the moment (captured once), the time
zone, the user, parameter values, the outer record, the previous values and where related data
comes from."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

DEFAULT_TZ = "Asia/Shanghai"


@dataclass(frozen=True)
class UserContext:
    """``ctx`` operands: ``user.id``, ``user.roles``, ``user.org_units`` … and ``tenant.tz``."""

    id: int | None = None
    roles: tuple[str, ...] = ()
    org_units: tuple[int, ...] = ()
    employee: int | None = None

    def value(self, key: str, tz: str) -> Any:
        return {
            "user.id": self.id,
            "user.roles": set(self.roles),
            "user.org_units": set(self.org_units),
            "user.org_unit": self.org_units[0] if self.org_units else None,
            "user.branches": set(self.org_units),
            "user.team": self.org_units[0] if self.org_units else None,
            "user.employee": self.employee,
            "tenant.tz": tz,
        }.get(key)


class DataSource(Protocol):
    """Where the Python back-end finds related data: referenced records and child rows."""

    def get(self, entity: str, record_id: int) -> Mapping[str, Any] | None: ...

    def children(self, entity: str, via_column: str, parent_id: int) -> list[Mapping[str, Any]]: ...


@dataclass
class Environment:
    now: datetime
    tz: ZoneInfo
    user: UserContext | Callable[[], UserContext] | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    record: Mapping[str, Any] | None = None  # the outer record ({"record": path}) of lookup filters
    old: Mapping[str, Any] | None = None  # the values before the change, in change contexts
    data: DataSource | None = None  # Python back-end: references and child rows
    # SQL delegation of aggregates on saved records: (agg, record values, env) -> value
    aggregate: Callable[[Any, Mapping[str, Any], Environment], Any] | None = None
    cache: dict = field(default_factory=dict)  # relative times resolved once per evaluation
    blind: Callable[[str], str] | None = None  # keyed blind index of encrypted fields' values (SQL)

    @classmethod
    def at(cls, now: datetime | None = None, tz: str = DEFAULT_TZ, **kwargs) -> Environment:
        moment = (now or datetime.now(UTC)).astimezone(UTC)
        return cls(now=moment, tz=ZoneInfo(tz), **kwargs)

    @property
    def tz_name(self) -> str:
        return self.tz.key

    def ctx(self, key: str) -> Any:
        user = self.user() if callable(self.user) else self.user  # resolved only when a condition reads ctx
        return (user or UserContext()).value(key, self.tz_name)
