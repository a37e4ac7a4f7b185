"""Configuration from environment variables (DESIGN.md §10); every one is optional.

=========================  =====================================================
``SCRM_DATABASE_URL``      default ``sqlite:///instance/scrm.db`` (relative to SCRM_HOME)
``SCRM_HOME``              folder with schemas/, workflows/, plugins/, templates/
``SCRM_SECRET_KEY``        session signing key (default: generated once into instance/)
``SCRM_ENCRYPTION_KEY``    key for encrypted fields (used by the security layer)
``SCRM_TIMEZONE``          default ``Asia/Shanghai``
``SCRM_LOCALE``            default ``zh_CN``; ``en`` available
``SCRM_PLUGINS_DISABLED``  comma-separated plugin names to leave off
``SCRM_PLUGIN_TIMEOUT``    seconds a plugin's hook, action or data source may run in a request
                           before it is stopped and its writes undone; default 10, 0 for no limit
``SCRM_PLUGIN_JOB_TIMEOUT`` the same outside requests (imports, scheduled jobs, the CLI); default 300
``SCRM_AUDIT_HOT_DAYS``    audit entries kept in the database before ``scrm audit archive``
                           moves them to a file; default 180 (the legal minimum for logs)
``SCRM_REVEAL_MINUTES``    how long a reveal-with-reason shows a masked value; default 10
``SCRM_EXPORT_MAX_ROWS``   the most rows one export may hold, approved or not; default 100000
``SCRM_EXPORT_HOURS``      how long an exported file can be downloaded; default 72
``SCRM_EXPORT_DOWNLOADS``  how many times an exported file can be downloaded; default 3
``SCRM_IMPORT_MAX_MB``     the largest file one import may upload, in megabytes; default 20
``SCRM_IMPORT_MAX_ROWS``   the most data rows one imported file may hold; default 100000
``SCRM_SMTP_HOST``         the mail server of the e-mail channel (unset: e-mail is not sent)
``SCRM_SMTP_PORT``         default 25; ``SCRM_SMTP_USER`` / ``SCRM_SMTP_PASSWORD`` to log in
``SCRM_SMTP_STARTTLS``     ``1`` to upgrade the connection with STARTTLS
``SCRM_SMTP_FROM``         the sender address; default ``scrm@localhost``
``SCRM_SMS_GATEWAY_URL``   the HTTP JSON gateway of the SMS channel (unset: SMS is not sent);
                           ``scrm sms-simulator`` is a local one
``SCRM_SMS_TOKEN``         bearer token for the gateway; ``SCRM_SMS_SIGN`` the registered signature
``SCRM_SCHEDULER``         ``auto`` (default: ``scrm run`` schedules when it wins the leader lock)
                           or ``off``
``SCRM_SCHEDULER_RECONCILE`` seconds between the leader's checks for published rule changes
                           and overdue runs; default 15
``SCRM_ATTACHMENT_MAX_MB`` largest file attached to a comment, in MB; default 10 (a request
                           carries at most 16 MB)
``SCRM_SCHEDULER_SWEEP``   seconds between the leader's sweeps of SLA escalations and delayed
                           workflow steps; default 20
``SCRM_DASHBOARD_CACHE_SECONDS`` how long a dashboard widget's result is reused for the same
                           viewer, parameters and definition revision; default 60, 0 turns it off
``SCRM_RULE_TIMEOUT``      seconds an alert rule's evaluating statements may run before they are
                           stopped and the run fails with nothing applied; default 1800, 0 for none
``SCRM_DASHBOARD_TIMEOUT`` the same for one dashboard widget's query; default 30
``SCRM_PG_JIT``            ``off`` (default) or ``on``: PostgreSQL's JIT compilation for SCRM's
                           connections (it cost the nightly rules 1–2 s per large statement)
=========================  =====================================================
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import BadRequest

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATABASE_URL = "sqlite:///instance/scrm.db"


def load_config(env: dict | None = None, overrides: dict | None = None) -> dict:
    env = dict(os.environ if env is None else env)
    env.update({k: v for k, v in (overrides or {}).items() if k.startswith("SCRM_") and v is not None})
    home = Path(env.get("SCRM_HOME") or REPO_ROOT).resolve()
    instance = home / "instance"
    url = database_url(env.get("SCRM_DATABASE_URL") or DEFAULT_DATABASE_URL, home)
    tz = env.get("SCRM_TIMEZONE") or "Asia/Shanghai"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadRequest(f"SCRM_TIMEZONE={tz!r} is not a known time zone") from None
    numbers = {}
    for key, default, low, high in (
        ("SCRM_AUDIT_HOT_DAYS", 180, 1, 36_500),
        ("SCRM_REVEAL_MINUTES", 10, 1, 240),
        ("SCRM_EXPORT_MAX_ROWS", 100_000, 1, 10_000_000),
        ("SCRM_EXPORT_HOURS", 72, 1, 24 * 90),
        ("SCRM_EXPORT_DOWNLOADS", 3, 1, 100),
        ("SCRM_IMPORT_MAX_MB", 20, 1, 1024),
        ("SCRM_IMPORT_MAX_ROWS", 100_000, 1, 10_000_000),
        ("SCRM_SMTP_PORT", 25, 1, 65_535),
        ("SCRM_SCHEDULER_RECONCILE", 15, 1, 3600),
        ("SCRM_SCHEDULER_SWEEP", 20, 1, 3600),
        ("SCRM_ATTACHMENT_MAX_MB", 10, 1, 15),
        ("SCRM_DASHBOARD_CACHE_SECONDS", 60, 0, 3600),
        ("SCRM_PLUGIN_TIMEOUT", 10, 0, 3600),
        ("SCRM_PLUGIN_JOB_TIMEOUT", 300, 0, 86_400),
        ("SCRM_RULE_TIMEOUT", 1800, 0, 86_400),
        ("SCRM_DASHBOARD_TIMEOUT", 30, 0, 3600),
    ):
        raw = env.get(key) or str(default)
        if not (raw.isascii() and raw.isdigit() and low <= int(raw) <= high):
            raise BadRequest(f"{key}={raw!r} must be a whole number from {low} to {high}")
        numbers[key] = int(raw)
    jit = (env.get("SCRM_PG_JIT") or "off").lower()
    if jit not in ("on", "off"):
        raise BadRequest(f"SCRM_PG_JIT={jit!r} must be on or off")
    locale = env.get("SCRM_LOCALE") or "zh_CN"
    if locale not in ("zh_CN", "en"):
        raise BadRequest(f"SCRM_LOCALE={locale!r} is not supported (zh_CN or en)")
    config = {
        "SCRM_HOME": home,
        "SCRM_INSTANCE": instance,
        "SCRM_DATABASE_URL": url,
        "SCRM_TIMEZONE": tz,
        "SCRM_LOCALE": locale,
        "SCRM_ENCRYPTION_KEY": env.get("SCRM_ENCRYPTION_KEY"),
        **numbers,
        "SCRM_SMTP_HOST": env.get("SCRM_SMTP_HOST") or None,
        "SCRM_SMTP_USER": env.get("SCRM_SMTP_USER") or None,
        "SCRM_SMTP_PASSWORD": env.get("SCRM_SMTP_PASSWORD") or None,
        "SCRM_SMTP_STARTTLS": (env.get("SCRM_SMTP_STARTTLS") or "0") in ("1", "true", "yes"),
        "SCRM_SMTP_FROM": env.get("SCRM_SMTP_FROM") or "scrm@localhost",
        "SCRM_SMS_GATEWAY_URL": env.get("SCRM_SMS_GATEWAY_URL") or None,
        "SCRM_SMS_TOKEN": env.get("SCRM_SMS_TOKEN") or None,
        "SCRM_SMS_SIGN": env.get("SCRM_SMS_SIGN") or "SCRM",
        "SCRM_SCHEDULER": (env.get("SCRM_SCHEDULER") or "auto").lower(),
        "SCRM_PG_JIT": jit == "on",
        "SCRM_PLUGINS_DISABLED": {p.strip() for p in (env.get("SCRM_PLUGINS_DISABLED") or "").split(",") if p.strip()},
        "SECRET_KEY": env.get("SCRM_SECRET_KEY") or None,
        "SQLALCHEMY_DATABASE_URI": url,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "MAX_CONTENT_LENGTH": 16 * 1024 * 1024,
        "WTF_CSRF_CHECK_DEFAULT": False,
        "WTF_CSRF_TIME_LIMIT": None,
        "JSON_SORT_KEYS": False,
    }
    for key, value in (overrides or {}).items():
        if not key.startswith("SCRM_") or key not in config:
            config[key] = value
    return config


def database_url(url: str, home: Path) -> str:
    """Normalise the URL: psycopg 3 for PostgreSQL; relative SQLite paths under ``home``."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////") and ":memory:" not in url:
        path = (home / url[len("sqlite:///") :]).resolve()
        return f"sqlite:///{path}"
    return url


def secret_key(instance: Path) -> str:
    """A stable secret shared by every worker of one installation, created on first use."""
    return instance_secret(instance, "secret_key", lambda: secrets.token_hex(32))


def instance_secret(instance: Path, name: str, make) -> str:
    """A value generated once into ``instance/name`` (readable by the owner only) and read back
    by every later start and every worker."""
    path = instance / name
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)
    return value
