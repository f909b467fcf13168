"""The shop's door: which way each tagged unit crossed it. Pure: reads in, crossings out.

Two antennas over the door, one inside it (zone `door_in`) and one outside (zone `door_out`),
each read a unit as it is carried under them. A tag answers many times while it passes; its
strongest read on an antenna (the peak RSSI) marks when it was nearest that antenna, and the
order of the two peaks tells leaving (inside first, then outside) from entering (outside first:
a customer bringing a return, staff carrying a transfer in). This is the two-antenna direction
rule of RFID portals (GS1 EPC/RFID in retail: "read point" pairs at a door; Impinj's
Speedway/xSpan "transition zones"); a reader that reports direction itself (xArray's Direction
mode) is not needed.

- A crossing is judged once the tag has not been read for `passed` (it has gone by both), and is
  dated at its peak on the antenna it reached last: the moment it left, or came in.
- A tag read by one antenna only did not cross (a unit displayed by the door, a shopper turning
  back, a passer-by outside): it is not judged (`unjudged` counts them), never taken for leaving.
- With a single antenna over the door (zone `exit`, edge/rfid/devices.py) nothing tells the way:
  every unit read there is taken as leaving, so one carried in is taken for one carried out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from edge.rfid.driver import DOOR_IN, DOOR_OUT

NO_RSSI: Final = -128  # dBm, below any read


@dataclass(frozen=True, slots=True)
class Crossing:
    """A unit carried through the door: out (`leaving`) or in."""

    epc: str
    gtin: str
    at: datetime
    leaving: bool


@dataclass(slots=True)
class _Passing:
    gtin: str
    last: datetime
    peak: dict[str, tuple[int, datetime]] = field(default_factory=dict)  # zone -> (rssi, when)


class Door:
    """Every tag passing the door, until it has passed. Feed it the reads of the door's two
    antennas (`read`), and ask now and then what has crossed (`judge`)."""

    def __init__(self, passed: timedelta = timedelta(seconds=3)) -> None:
        self.passed = passed
        self.unjudged = 0  # tags one antenna read and the other did not: no direction
        self._passing: dict[str, _Passing] = {}
        self._passed: list[tuple[str, _Passing]] = []  # passages ended by the same tag's next one

    def read(self, epc: str, gtin: str, zone: str, at: datetime, rssi: int | None) -> None:
        """One read of a tag by the inner or the outer antenna (other zones are not the door's)."""
        if zone not in (DOOR_IN, DOOR_OUT):
            return
        p = self._passing.get(epc)
        if p is not None and at - p.last > self.passed:  # back again before it was judged
            self._passed.append((epc, p))
            p = None
        if p is None:
            p = self._passing[epc] = _Passing(gtin, at)
        p.last = max(p.last, at)
        strength = NO_RSSI if rssi is None else rssi
        best = p.peak.get(zone)
        # The strongest read is the nearest; of equally strong reads, the first.
        if best is None or strength > best[0] or (strength == best[0] and at < best[1]):
            p.peak[zone] = (strength, at)

    def judge(self, now: datetime) -> list[Crossing]:
        """Crossings of the tags not read for `passed`, oldest first."""
        out: list[Crossing] = []
        done, self._passed = self._passed, []
        for epc, p in list(self._passing.items()):
            if now - p.last > self.passed:
                del self._passing[epc]
                done.append((epc, p))
        for epc, p in done:
            if len(p.peak) < 2:
                self.unjudged += 1
                continue
            inside, outside = p.peak[DOOR_IN][1], p.peak[DOOR_OUT][1]
            leaving = inside <= outside
            out.append(Crossing(epc, p.gtin, outside if leaving else inside, leaving))
        return sorted(out, key=lambda c: c.at)

    @property
    def passing(self) -> int:
        """Tags read at the door and not judged yet."""
        return len(self._passing)
