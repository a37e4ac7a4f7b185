"""The exceptions every layer raises, and the one JSON error shape (DESIGN.md §10).

Services raise these; the web layer turns them into responses with :func:`error_body`,
the CLI into one line on stderr. Nothing else ever reaches a user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Detail:
    """One problem at one place: a field name, a JSON path or a query parameter."""

    path: str
    message: str
    code: str | None = None

    def as_dict(self) -> dict[str, str]:
        out = {"path": self.path, "message": self.message}
        if self.code:
            out["code"] = self.code
        return out


@dataclass
class ScrmError(Exception):
    """Base of every error a user may see: a stable code, a sentence, details."""

    message: str
    details: list[Detail] = field(default_factory=list)
    code: str = "bad_request"
    status: int = 400

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.details)


class BadRequest(ScrmError):
    def __init__(self, message: str, details: list[Detail] | None = None, code: str = "bad_request"):
        super().__init__(message, details or [], code, 400)


class Unauthorized(ScrmError):
    def __init__(self, message: str, code: str = "unauthorized"):
        super().__init__(message, [], code, 401)


class Forbidden(ScrmError):
    def __init__(self, message: str, details: list[Detail] | None = None, code: str = "forbidden"):
        super().__init__(message, details or [], code, 403)


class NotFound(ScrmError):
    def __init__(self, message: str, code: str = "not_found"):
        super().__init__(message, [], code, 404)


class ValidationFailed(ScrmError):
    """Input that does not fit: each detail names the field or JSON path."""

    def __init__(self, message: str, details: list[Detail], code: str = "validation_failed"):
        super().__init__(message, details, code, 422)

    def by_path(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for d in self.details:
            out.setdefault(d.path, []).append(d.message)
        return out


class Conflict(ScrmError):
    """A stale write: ``current`` carries the record as the other writer left it."""

    def __init__(
        self,
        message: str,
        current: dict[str, Any] | None = None,
        code: str = "conflict",
        details: list[Detail] | None = None,
    ):
        super().__init__(message, details or [], code, 409)
        self.current = current

    def body(self) -> dict[str, Any]:
        out = super().body()
        if self.current is not None:
            out["error"]["current"] = self.current
        return out


def error_body(code: str, message: str, details: list[Detail] | list[dict] | None = None) -> dict:
    """The only shape of an error response: ``{"error": {code, message, details}}``."""
    rendered = [d.as_dict() if isinstance(d, Detail) else dict(d) for d in details or []]
    return {"error": {"code": code, "message": message, "details": rendered}}
