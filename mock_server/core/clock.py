"""The fake's only source of time.

Nothing else in the package reads the wall clock or sleeps: lifecycle, expiry, retention, rate limits,
webhook retries and latency injection all go through a ``Clock``. A clock is real time plus an offset
(``advance`` moves it forward, ``set`` jumps) and can be frozen, in which case time only moves when
told, and ``sleep`` advances the clock instead of waiting (simulated latency).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

# 2025-06-06T15:59:22Z, the first recorded real exchange: a stable epoch for frozen clocks.
DEFAULT_FROZEN_START = 1749225562.0
# The clock stays within what datetime can render (ISO expiry, HTTP dates) with a margin for retention
# and link expiry: year 9000. Beyond it ``set``/``advance`` refuse instead of breaking every later answer.
MAX_TIME = 221845392000.0


def check_time(timestamp: float) -> float:
    value = float(timestamp)
    if not 0.0 <= value <= MAX_TIME:  # also rejects NaN
        raise ValueError(f"clock time must be between 0 and {MAX_TIME:.0f} (year 9000), not {timestamp!r}")
    return value


class Clock:
    """The fake's time: real time plus an offset, or frozen (see the module docstring). Thread-safe;
    ``subscribe`` callbacks run after every jump (the scheduler wakes up)."""

    def __init__(self, *, frozen: bool = False, start: float | None = None) -> None:
        self._initial = (frozen, start)
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._frozen_at: float | None = None
        self._offset = 0.0
        if frozen:
            self._frozen_at = DEFAULT_FROZEN_START if start is None else float(start)
        elif start is not None:
            self._offset = float(start) - time.time()

    def reset(self) -> None:
        """Back to how this clock was created (frozen at its start, or real time plus its offset)."""
        frozen, start = self._initial
        with self._lock:
            self._frozen_at = None
            self._offset = 0.0
            if frozen:
                self._frozen_at = DEFAULT_FROZEN_START if start is None else float(start)
            elif start is not None:
                self._offset = float(start) - time.time()
        self._notify()

    # -- reading
    def now(self) -> float:
        """The fake's time (epoch seconds)."""
        frozen = self._frozen_at
        return frozen if frozen is not None else time.time() + self._offset

    @property
    def frozen(self) -> bool:
        return self._frozen_at is not None

    # -- moving
    def advance(self, seconds: float) -> float:
        """Move time forward (tasks finish, links expire, webhook retries fall due); returns the new time."""
        if not seconds >= 0:  # also rejects NaN
            raise ValueError("the clock only moves forward: seconds must be >= 0")
        check_time(self.now() + seconds)
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at += seconds
            else:
                self._offset += seconds
        self._notify()
        return self.now()

    def set(self, timestamp: float) -> float:
        """Jump to ``timestamp`` (epoch seconds, up to year 9000)."""
        timestamp = check_time(timestamp)
        with self._lock:
            if self._frozen_at is not None:
                self._frozen_at = float(timestamp)
            else:
                self._offset = float(timestamp) - time.time()
        self._notify()
        return self.now()

    def freeze(self, at: float | None = None) -> float:
        """Stop time (at ``at`` or now): it then moves only by ``advance``/``set`` (the plugin's default)."""
        if at is not None:
            at = check_time(at)
        with self._lock:
            self._frozen_at = self.now() if at is None else float(at)
        self._notify()
        return self.now()

    def unfreeze(self) -> float:
        """Let time run again from where it stands."""
        with self._lock:
            if self._frozen_at is not None:
                self._offset = self._frozen_at - time.time()
                self._frozen_at = None
        self._notify()
        return self.now()

    # -- waiting (latency injection)
    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self.frozen:
            self.advance(seconds)
        else:
            time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self.frozen:
            self.advance(seconds)
        else:
            await asyncio.sleep(seconds)

    def real_seconds_until(self, timestamp: float) -> float | None:
        """How long a real waiter should wait for ``timestamp``; None if only an advance can get there."""
        delta = timestamp - self.now()
        if delta <= 0:
            return 0.0
        return None if self.frozen else delta

    # -- listeners (the scheduler wakes up when time jumps)
    def subscribe(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

    def _notify(self) -> None:
        for cb in list(self._listeners):
            cb()

    def snapshot(self) -> dict[str, float | bool]:
        return {"now": self.now(), "frozen": self.frozen}
