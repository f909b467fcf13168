"""What time it is in the shop, for every part of the gateway that stamps or judges time.

One injectable seam (`Clock`): the shelf poller stamps the weight events it makes with it, the
POS webhook checks a till's `at` against it, the door judges a tag's passing by it, and the
reconciler's pipeline holds its observations until it is sure no earlier one is still on its way
(edge/fusion/pipeline.py). A shop's gateway runs on the wall clock (`WALL_CLOCK`); a simulated
shop that trades faster than life (`shelfsync sim store --speed 60`) gives its gateway its own
clock in a `[clock]` section, so every part of the gateway agrees with the simulators on the
shop's time:

    [clock]                                 # only for a simulated shop
    start = "2026-11-26T09:00:00Z"          # the shop's time ...
    wall = "2026-11-26T19:00:00Z"           # ... when this machine's clock said this
    speed = 60                              # shop seconds per wall second

`speed` also tells how late, in the shop's time, an observation may reach the gateway: a
till's request or a scale's reading a fraction of a real second late is `speed` times that late
in a shop that runs `speed` times faster.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol

from shared.contract import ContractError, parse_instant
from shared.toml_tables import check_keys


class Clock(Protocol):
    """The shop's time. `now()` is it now; `at(posix)` is it at a moment of this machine's own
    clock (`time.time()`), for readings timed by that; `speed` is shop seconds per real second."""

    @property
    def speed(self) -> float: ...

    def now(self) -> datetime: ...

    def at(self, posix: float) -> datetime: ...


@dataclass(frozen=True, slots=True)
class WallClock:
    """A real shop: the machine's clock (kept true by NTP, as the tills' and readers' are)."""

    speed: float = 1.0

    def now(self) -> datetime:
        return datetime.now(UTC)

    def at(self, posix: float) -> datetime:
        return datetime.fromtimestamp(posix, UTC)


WALL_CLOCK: Final = WallClock()


@dataclass(frozen=True, slots=True)
class ShopClock:
    """A simulated shop's clock: `start` when the machine's clock said `wall` (POSIX seconds),
    running `speed` times faster since."""

    start: datetime
    wall: float
    speed: float = 1.0

    def now(self) -> datetime:
        return self.at(time.time())

    def at(self, posix: float) -> datetime:
        return self.start + timedelta(seconds=(posix - self.wall) * self.speed)


class ClockConfigError(ValueError):
    """The [clock] section is malformed; the message names the key."""


def parse_clock_section(section: object) -> ShopClock:
    """[clock] → the simulated shop's clock; ClockConfigError names what is wrong."""
    if not isinstance(section, Mapping):
        raise ClockConfigError(f"[clock] must be a table, got {section!r}")
    check_keys(section, {"start", "wall", "speed"}, "[clock]", required=("start", "wall"),
               error=ClockConfigError)
    try:
        start = parse_instant(section.get("start"), "[clock] start")
        wall = parse_instant(section.get("wall"), "[clock] wall")
    except ContractError as e:
        raise ClockConfigError(f"{e.field}: {e.problem}") from None
    speed = section.get("speed", 1)
    if not isinstance(speed, int | float) or isinstance(speed, bool) or not 0 < speed <= 3600:
        raise ClockConfigError(f"[clock] speed must be a number in (0, 3600], got {speed!r}")
    return ShopClock(start, wall.timestamp(), float(speed))


@dataclass(slots=True)
class ManualClock:
    """A clock that moves only when told (tests, replays): `now()` is `time`, and `at(posix)` maps
    this machine's clock as if `time` were now."""

    time: datetime
    speed: float = 1.0

    def now(self) -> datetime:
        return self.time

    def at(self, posix: float) -> datetime:
        return datetime.fromtimestamp(posix, UTC)

    def advance(self, by: timedelta) -> datetime:
        self.time += by
        return self.time
