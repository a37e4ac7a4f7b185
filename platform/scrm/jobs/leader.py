"""Exactly one scheduling process: the leader holds a lock, standbys poll for it.

* PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) on a connection of its own that
  stays open while the process lives. When the leader dies — even by SIGKILL — the server ends
  its session and releases the lock; a standby's next try takes it.
* SQLite (one machine): ``flock`` on a file beside the database; the kernel releases it when the
  process dies.

Caveats (docs/deployment.md): a session lock does not pass through PgBouncer in transaction
pooling mode; a network partition keeps the lock until TCP keepalive notices.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)
LOCK_KEY = 727_001  # the scheduler's advisory lock key; advisory locks are per database


class LeaderLock:
    held: bool = False

    def try_acquire(self) -> bool:
        raise NotImplementedError

    def still_held(self) -> bool:
        return self.held

    def release(self) -> None:
        raise NotImplementedError


class AdvisoryLock(LeaderLock):
    def __init__(self, url: str):
        self.engine = sa.create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        self.conn: sa.Connection | None = None

    def try_acquire(self) -> bool:
        try:
            if self.conn is None:
                self.conn = self.engine.connect()
                self.conn.exec_driver_sql("SET application_name = 'scrm-scheduler'")
            self.held = bool(self.conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}).scalar())
        except sa.exc.DBAPIError as exc:
            log.warning("leader lock: %s", exc)
            self._drop()
        return self.held

    def still_held(self) -> bool:
        """The lock lives as long as the session: check the session is alive."""
        if not self.held or self.conn is None:
            return False
        try:
            self.conn.exec_driver_sql("SELECT 1")
        except sa.exc.DBAPIError:
            log.warning("leader lock: the lock's connection is gone; standing down")
            self._drop()
        return self.held

    def _drop(self) -> None:
        self.held = False
        if self.conn is not None:
            try:
                self.conn.invalidate()
                self.conn.close()
            except Exception:  # already broken
                pass
            self.conn = None

    def release(self) -> None:
        if self.conn is not None and self.held:
            try:
                self.conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
            except sa.exc.DBAPIError:
                pass
        self._drop()
        self.engine.dispose()


class FileLock(LeaderLock):
    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def try_acquire(self) -> bool:
        if self.held:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd, self.held = fd, True
        return True

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
        self.fd, self.held = None, False


def lock_for(url: str, instance: Path) -> LeaderLock:
    """The lock that suits the database at ``url``."""
    if url.startswith("postgresql"):
        return AdvisoryLock(url)
    database = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
    if database and ":memory:" not in database:
        return FileLock(Path(database + ".scheduler.lock"))
    return FileLock(instance / "scheduler.lock")
