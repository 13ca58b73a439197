"""The simulator's time: a protocol of its own, so it runs on any clock it is handed.

The engine asks only ``now()``; ``Simulator.advance()`` (simulated time, in tests) also
moves the clock with ``set()``. Any object with these methods will do: the app's clocks
(crm_core.clock's SystemClock and ManualClock) satisfy them structurally, so the app keeps
passing its own clock and the simulator and the engine share one notion of "now".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SettableClock(Clock, Protocol):
    """A clock that moves only when told to: what ``Simulator.advance()`` needs."""

    def set(self, when: datetime) -> None: ...


class SystemClock:
    """Wall-clock time: the simulator running for real (``live``)."""

    def now(self) -> datetime:
        return datetime.now(UTC)
