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
import threading
import time
from dataclasses import dataclass, field

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


class Watchdog:
    def __init__(self):
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def deadline(self, seconds: float) -> Guard:
        """Guard a ``with`` block: past ``seconds`` (none if 0), :class:`HookTimeout` is raised
        inside it. ``guard.fired`` tells afterwards whether it was."""
        return Guard(self, Deadline(threading.get_ident(), seconds))

    def _add(self, deadline: Deadline) -> None:
        with self._cond:
            self._start()
            entry = (time.monotonic() + deadline.seconds, next(self._order), deadline)
            heapq.heappush(self._heap, entry)
            if self._heap[0] is entry:  # (later than the one it waits for: no need to wake it)
                self._cond.notify()

    def _finish(self, deadline: Deadline) -> None:
        for _ in range(3):  # (an exception delivered on the way in is swallowed: it is the one we stop)
            try:
                with self._cond:
                    deadline.done = True
                    if deadline.fired:  # raised but not yet delivered: it must not escape later
                        _raise_in(deadline.thread_id, None)
                return
            except HookTimeout:
                continue

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="scrm-plugin-watchdog", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._cond.wait()
                    continue
                due, _, deadline = self._heap[0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
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
