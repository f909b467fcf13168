"""Event time: the gateway's pipeline reconciles on the observations' own time, so a simulated
shop trading at 60 times real time gets the same deltas as one trading at real time.

One seeded trading day (tests/reconcile/trading.py: the world through the load cells and the
real detector, the tills, the handhelds' picks and refills, the door's antennas) is delivered to the pipeline twice,
as a gateway would receive it: each observation a little after its own time — a till's request a
fraction of a second, a scale's event once it has settled, a door read once the tag has passed —
in real seconds, which are 60 of the shop's at 60x; and the pipeline woken once a real second,
as its run loop is. The deltas must be the same, to the last id, time and piece of evidence.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from edge.clock import ManualClock
from edge.fusion.domain import (
    BinChange,
    BinInfo,
    BinLevel,
    EntryRead,
    ExitRead,
    Observation,
    OddWeight,
    OrderLine,
    PosLine,
    RefillScan,
    ZoneCount,
)
from edge.fusion.pipeline import Pipeline
from edge.fusion.reconciler import Reconciler
from firmware_sim.world import StoreWorld, WorldConfig
from shared.contract import Kind, StockDelta
from tests.reconcile.trading import START, observation_stream

SEED = 1
HOURS = 16.0  # from midnight: the opening hours 9-16 of the first day
# How long after its own time an observation reaches the gateway, in real seconds.
ARRIVES = {PosLine: (0.05, 0.6), OrderLine: (0.05, 0.6), RefillScan: (0.05, 0.6), BinChange: (1.0, 2.5), OddWeight: (1.0, 2.5),
           BinLevel: (0.0, 0.2), ZoneCount: (0.0, 0.2), ExitRead: (3.0, 3.5), EntryRead: (3.0, 3.5)}


def planogram() -> dict[str, BinInfo]:
    world = StoreWorld(store="sh-0001", seed=SEED, start=START, config=WorldConfig.trading())
    return {b.id: BinInfo(b.id, b.gtin, world.products[b.gtin].unit_grams, b.refill_at, b.capacity)
            for b in world.bins.values()}


@pytest.fixture(scope="module")
def stream() -> list[Observation]:
    return observation_stream(HOURS, SEED, portal=0.97)


async def deliver(stream: Sequence[Observation], speed: float) -> tuple[list[StockDelta], Pipeline]:
    """The stream reaches a pipeline on a shop clock running `speed` times real time."""
    rng = random.Random(f"arrivals:{speed}")
    got: list[StockDelta] = []

    async def append(deltas: Sequence[StockDelta]) -> None:
        got.extend(deltas)

    clock = ManualClock(START, speed=speed)
    bins = planogram()
    pipeline = Pipeline(bins, append, clock=clock, reconciler=Reconciler(bins, portal=True))
    # Real seconds after START's moment at which each observation arrives.
    arrivals = sorted(((o.at - START).total_seconds() / speed + rng.uniform(*ARRIVES[type(o)]), i, o)
                      for i, o in enumerate(stream))
    wall, k = 0.0, 0
    end = HOURS * 3600 / speed + 40 * 60 / speed  # the stream, then the last window closes
    while wall < end:
        wall += 1.0  # the run loop wakes once a real second
        clock.time = START + timedelta(seconds=wall * speed)
        while k < len(arrivals) and arrivals[k][0] <= wall:
            pipeline.feed(arrivals[k][2])
            k += 1
        pipeline.advance()
        await pipeline.flush()
    return got, pipeline


async def test_a_shop_trading_at_60x_gets_the_same_deltas_as_at_real_time(stream: list[Observation]) -> None:
    real, at_1x = await deliver(stream, 1.0)
    fast, at_60x = await deliver(stream, 60.0)
    assert at_1x.late == 0 and at_60x.late == 0  # every observation came within the lateness allowed
    kinds = {d.kind for d in real}
    assert len(real) >= 20 and {Kind.SHRINK, Kind.MOVE} <= kinds, (len(real), kinds)
    assert [d.to_json() for d in fast] == [d.to_json() for d in real]


def test_observations_are_handed_over_in_their_own_time_order(stream: list[Observation]) -> None:
    """However they interleaved on the way, the reconciler sees them by time, with its ticks
    between them on the shop's clock."""
    seen: list[tuple[str, datetime]] = []
    bins = planogram()

    class Spy(Reconciler):
        def observe(self, obs: Observation) -> list:  # type: ignore[type-arg]
            seen.append(("observe", obs.at))
            return super().observe(obs)

        def tick(self, now: datetime) -> list:  # type: ignore[type-arg]
            seen.append(("tick", now))
            return super().tick(now)

    async def append(deltas: Sequence[StockDelta]) -> None:
        return None

    clock = ManualClock(START)
    pipeline = Pipeline(bins, append, clock=clock, reconciler=Spy(bins, portal=True))
    some = list(stream[:3000])
    random.Random(7).shuffle(some)  # arriving in any order, all before their time has passed
    for o in some:
        pipeline.feed(o)
    assert pipeline.waiting == len(some)
    pipeline.advance(max(o.at for o in some) + timedelta(minutes=1))
    assert pipeline.waiting == 0 and pipeline.late == 0
    assert [at for _, at in seen] == sorted(at for _, at in seen)
    assert sum(kind == "observe" for kind, _ in seen) == len(some)
    ticks = [at for kind, at in seen if kind == "tick"]
    assert all(b - a == timedelta(seconds=10) for a, b in itertools.pairwise(ticks))
