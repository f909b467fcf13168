"""The simulated shelves follow the store world: every pick, put-back and restock moves weight."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from firmware_sim.weight_shelf import ShelfSim, WorldFeed
from firmware_sim.world import Pick, PutBack, Restock, StoreWorld, WorldConfig

START = datetime(2026, 11, 26, 9, tzinfo=UTC)


def test_bin_loads_track_the_world_through_a_simulated_day() -> None:
    now = [START.timestamp()]
    sim = ShelfSim("dini-dgt4x", seed=7, start=START, clock=lambda: now[0])
    feed = WorldFeed(sim, bins=8, seed=7)
    moved = 0
    for _ in range(8 * 60):  # eight hours in one-minute ticks
        now[0] += 60
        before = {b: s.count for b, s in sim.bins.items()}
        feed.tick(60)
        moved += sum(before[b] != s.count for b, s in sim.bins.items())
    assert moved > 20
    for bin_id, b in sim.bins.items():
        units = feed.world.bin_units(bin_id)
        assert b.count == len(units)
        # Without the per-unit spread, the scheduled load would be count x unit weight.
        nominal = sum(feed.world.products[u.gtin].unit_grams for u in units)
        assert b.cell.target_g == pytest.approx(nominal, rel=0.02, abs=1.0)


def test_the_shelves_see_the_same_world_as_every_other_simulator() -> None:
    now = [START.timestamp()]
    sim = ShelfSim("laumas-tlu", seed=3, start=START, clock=lambda: now[0])
    feed = WorldFeed(sim, bins=6, seed=3)
    twin = StoreWorld(seed=3, start=START, config=WorldConfig(bins=6))
    now[0] += 3 * 3600
    feed.tick(3 * 3600)
    events = twin.advance(datetime.fromtimestamp(now[0], UTC))
    assert any(isinstance(e, Pick | PutBack | Restock) for e in events)
    assert {b: len(twin.bin_units(b)) for b in twin.bins} == {
        b: s.count for b, s in sim.bins.items()
    }
    assert [s.device_id for s in sim.bins.values()] == list(range(1, 7))
