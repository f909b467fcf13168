"""The door's two antennas tell a unit carried out from one carried in (edge/rfid/door.py), and
the reconciler takes a unit carried in for what it is: not stock leaving."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from edge.fusion.domain import BinChange, BinInfo, EntryRead, ExitRead, PosLine
from edge.fusion.reconciler import Reconciler
from edge.rfid.devices import DeviceConfigError, parse_rfid_section
from edge.rfid.door import Crossing, Door
from edge.rfid.driver import DOOR_IN, DOOR_OUT
from firmware_sim.world import catalog
from shared.contract import Kind, StockDelta

T0 = datetime(2026, 11, 26, 15, tzinfo=UTC)
DOG = catalog()[6].gtin


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def passage(door: Door, epc: str, reads: list[tuple[float, str, int]]) -> None:
    for at, zone, rssi in reads:
        door.read(epc, DOG, zone, s(at), rssi)


# A tag carried out: strongest under the inner antenna first, then under the outer; the antennas
# overlap, so each also hears it faintly while it is under the other.
OUT = [(0.1, DOOR_IN, -60), (0.5, DOOR_IN, -48), (0.9, DOOR_OUT, -66), (1.0, DOOR_IN, -55),
       (1.6, DOOR_OUT, -47), (2.0, DOOR_OUT, -58)]
IN = [(at, DOOR_OUT if zone == DOOR_IN else DOOR_IN, rssi) for at, zone, rssi in OUT]


@pytest.mark.parametrize(("reads", "crossing"), [
    (OUT, Crossing("E1", DOG, s(1.6), leaving=True)),  # dated when it passed the outer antenna
    (IN, Crossing("E1", DOG, s(1.6), leaving=False)),  # ... the inner one
    # read in bursts, the order of first reads misleading: the peaks still tell
    ([(0.0, DOOR_OUT, -70), (0.2, DOOR_IN, -45), (0.4, DOOR_IN, -50), (0.9, DOOR_OUT, -44)],
     Crossing("E1", DOG, s(0.9), leaving=True)),
    # no RSSI reported: the first read on each antenna
    ([(0.0, DOOR_IN, None), (1.0, DOOR_OUT, None), (1.5, DOOR_IN, None)], Crossing("E1", DOG, s(1.0), True)),
])
def test_the_order_of_the_two_antennas_peaks_tells_the_way(reads: list, crossing: Crossing) -> None:  # type: ignore[type-arg]
    door = Door()
    passage(door, "E1", reads)
    assert door.judge(s(2.5)) == []  # read within the last 3 s: still passing
    assert door.judge(s(6.0)) == [crossing]
    assert door.passing == 0 and door.judge(s(60)) == []


def test_a_tag_one_antenna_read_did_not_cross_and_is_not_judged() -> None:
    """A unit on a display by the door, a shopper who turned back: no direction, never leaving."""
    door = Door()
    passage(door, "E1", [(0.0, DOOR_IN, -50), (1.0, DOOR_IN, -49)])
    passage(door, "E2", [(0.0, DOOR_OUT, -50)])
    door.read("E3", DOG, "floor", s(0.5), -40)  # not the door's antenna
    assert door.judge(s(10)) == [] and door.unjudged == 2


def test_a_unit_carried_in_and_out_again_later_is_two_crossings() -> None:
    door = Door()
    passage(door, "E1", IN)
    passage(door, "E1", [(at + 600, zone, rssi) for at, zone, rssi in OUT])
    assert [(c.at, c.leaving) for c in door.judge(s(700))] == [(s(1.6), False), (s(601.6), True)]


def test_a_door_has_one_antenna_or_a_pair() -> None:
    ok = {"reader": [{"host": "10.0.0.5", "zones": {"1": "floor", "4": "door_in", "5": "door_out"}}]}
    assert parse_rfid_section(ok).portal
    with pytest.raises(DeviceConfigError, match=r'one antenna \("exit"\) or two'):
        parse_rfid_section({"reader": [{"host": "10.0.0.5", "zones": {"1": "floor", "4": "door_in"}}]})


# --- the reconciler --------------------------------------------------------------------------

BINS = {"A1-2": BinInfo("A1-2", DOG, 400.0)}


def test_a_unit_carried_in_is_not_shrink_and_may_leave_again_paid_or_not() -> None:
    """A customer's return carried in is no theft; the same unit sold again later leaves paid;
    taken again without paying, it is shrink — it is not deduplicated with its first exit."""
    r = Reconciler(BINS, portal=True)
    out = r.run([BinChange(s(0), "A1-2", -1, 9, -400.0), PosLine(s(300), "T1", 0, "sale", DOG, 1),
                 ExitRead(s(310), DOG, "E1")])  # sold and gone
    out += r.tick(s(400))
    out += r.run([EntryRead(s(3600), DOG, "E1")])  # brought back in: a return
    out += r.tick(s(3700))
    assert [(d.kind, d.qty) for d in out if isinstance(d, StockDelta)] == [(Kind.SALE, -1)]
    out = r.run([BinChange(s(5000), "A1-2", -1, 8, -400.0), ExitRead(s(5300), DOG, "E1")])  # stolen
    out += r.tick(s(5400))
    assert [(d.kind, d.qty) for d in out if isinstance(d, StockDelta)] == [(Kind.SHRINK, -1)]
