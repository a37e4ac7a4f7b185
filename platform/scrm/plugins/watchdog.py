"""Deadlines for plugin hooks: a hook that runs past its time is stopped where it stands.

One daemon thread per process keeps the deadlines of the hooks running now. When one passes, it
raises :class:`HookTimeout` in the thread that runs the hook (``PyThreadState_SetAsyncExc``), and
again every half second until the hook has returned, in case the plugin swallowed it. Python
delivers such an exception at the next bytecode: a hook busy in Python code stops at once, a hook
blocked in a system call (a network read without a timeout, a ``sleep``) stops when that call
returns. The caller (``Plugins._isolated``) then undoes the hook's writes to its savepoint.

``HookTimeout`` is an ``Exception`` on purpose: the database layer treats anything else (like
``KeyboardInterrupt``) as a lost connection, which would take the caller's transaction with it.
"""

from __future__ import annotations

import ctypes
import heapq
import itertools
import queue
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

REPEAT_SECONDS = 0.5  # how often a deadline that passed is raised again while the hook runs on
MAX_RAISES = 20  # and how many times at most (a hook that swallows them all runs to its end)


class HookTimeout(Exception):
    """Raised inside a plugin hook that ran past its deadline."""


def _raise_in(thread_id: int, exc_type: type | None) -> None:
    """Raise ``exc_type`` in another thread at its next bytecode (``None`` takes it back)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc_type) if exc_type else None
    )


@dataclass
class Deadline:
    thread_id: int
    seconds: float
    fired: bool = False  # the deadline passed while the hook ran
    raised: int = 0
    done: bool = field(default=False, repr=False)
    due: float = field(default=0.0, repr=False)
    frame: Any = field(default=None, repr=False)  # the guarding call's frame: no stop once it is gone

    def running(self) -> bool:
        """Whether the thread is still inside the guarding call. The stop is raised only then:
        should the call have left without saying it was done (a stop delivered on its way out),
        a late stop must not land in whatever the thread does next."""
        if self.frame is None:
            return True
        current = sys._current_frames().get(self.thread_id)
        while current is not None:
            if current is self.frame:
                return True
            current = current.f_back
        return False


class Watchdog:
    """The thread that raises the stops. The threads it watches never take a lock of its: a stop
    delivered while one held it would keep it forever. They hand it their deadlines through a
    queue and mark them done with a plain attribute."""

    def __init__(self):
        self._queue: queue.SimpleQueue[Deadline] = queue.SimpleQueue()
        self._heap: list[tuple[float, int, Deadline]] = []  # the watchdog thread's own
        self._order = itertools.count()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    def deadline(self, seconds: float) -> Guard:
        """Guard a ``with`` block: past ``seconds`` (none if 0), :class:`HookTimeout` is raised
        inside it. ``guard.fired`` tells afterwards whether it was."""
        return Guard(self, Deadline(threading.get_ident(), seconds))

    def _add(self, deadline: Deadline) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._starting:  # (before any deadline of this thread is queued: no stop yet)
                if self._thread is None or not self._thread.is_alive():
                    self._thread = threading.Thread(target=self._run, name="scrm-plugin-watchdog", daemon=True)
                    self._thread.start()
        deadline.due = time.monotonic() + deadline.seconds
        self._queue.put(deadline)

    def _finish(self, deadline: Deadline) -> None:
        for _ in range(3):  # (a stop delivered on the way in is swallowed: it is the one we end)
            try:
                deadline.done = True
                if deadline.fired:  # raised but not yet delivered: it must not escape later
                    _raise_in(deadline.thread_id, None)
                return
            except HookTimeout:
                continue

    def _run(self) -> None:
        while True:
            while self._heap and self._heap[0][2].done:
                heapq.heappop(self._heap)
            wait = self._heap[0][0] - time.monotonic() if self._heap else None
            if wait is None or wait > 0:
                try:
                    deadline = self._queue.get(timeout=wait)
                except queue.Empty:
                    continue
                heapq.heappush(self._heap, (deadline.due, next(self._order), deadline))
                continue
            due, _, deadline = heapq.heappop(self._heap)
            if deadline.done or not deadline.running():
                continue
            deadline.fired = True
            deadline.raised += 1
            _raise_in(deadline.thread_id, HookTimeout)
            if deadline.raised < MAX_RAISES:
                heapq.heappush(self._heap, (due + REPEAT_SECONDS, next(self._order), deadline))


class Guard:
    def __init__(self, watchdog: Watchdog, deadline: Deadline):
        self._watchdog, self.deadline = watchdog, deadline

    @property
    def fired(self) -> bool:
        return self.deadline.fired

    def __enter__(self) -> Guard:
        if self.deadline.seconds > 0:
            self._watchdog._add(self.deadline)
        return self

    def __exit__(self, *exc) -> None:
        if self.deadline.seconds > 0:
            self._watchdog._finish(self.deadline)


watchdog = Watchdog()


def call_with_deadline(seconds: float, function, /, *args, **kwargs):
    """``function(*args, **kwargs)``, stopped past ``seconds`` (0: no limit): then, and when it
    swallowed the stop and ran to its end, raises :class:`HookTimeout` saying so."""
    guard = watchdog.deadline(seconds)
    guard.deadline.frame = sys._getframe()
    try:
        with guard:
            result = function(*args, **kwargs)
    except HookTimeout:
        if not guard.fired:
            raise  # an enclosing call's deadline: that call is the one to stop
        raise HookTimeout(f"timed out after {seconds:g} s and was stopped") from None
    if guard.fired:
        raise HookTimeout(f"ran past its {seconds:g} s deadline")
    return result
