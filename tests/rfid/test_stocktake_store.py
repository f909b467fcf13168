"""A whole store counted while it trades: 10,000 tagged items on 4 antennas, a realistic air rate,
shoppers buying during the count, and the result held against the world's ground truth, both
as counts and as the ledger's balances after the count deltas and the sales are booked."""

from __future__ import annotations

import itertools

from cloud.db.ledger import Move, replay
from edge.rfid.driver import ReaderSettings
from edge.rfid.stocktake import Stocktake, StocktakeConfig, run_stocktake
from firmware_sim.llrp.air import sgtin96, world_for_tags
from firmware_sim.llrp.reader import LLRPReaderSim, SimSettings
from firmware_sim.world import Delivery, Return, Sale, Theft, WorldConfig
from shared.contract import new_delta_id

AIR_RATE = 500  # tags/s: a fixed reader in a shop (research §6: 200-1,100)
# Air seconds per wall second at most, to keep the test short. At 40 the gateway's decoding fell
# behind the reader on a loaded machine (20,000 reads a wall second) and the count ended early.
TIME_SCALE = 10


async def test_10000_item_store_counted_while_trading_matches_the_truth() -> None:
    world = world_for_tags(10_000, seed=21, config=WorldConfig(shoppers_per_hour=900))
    settings = SimSettings(
        antennas=4, rate=AIR_RATE, seed=21, tags=None, world_speed=1.0, time_scale=TIME_SCALE
    )
    async with LLRPReaderSim(settings, world) as sim:
        assert len(sim.present()) >= 10_000  # every tagged unit of the world is in the field
        expected = {
            (g, z): world.on_hand(g, z) for g in world.products for z in ("floor", "backroom")
        }
        live: list[Stocktake] = []
        report = await run_stocktake(
            ReaderSettings("store", "127.0.0.1", sim.port),
            StocktakeConfig(seconds=180, quiet_s=15, expected=expected),
            on_started=live.append,
            clock=sim.clock,  # timed in air seconds, however busy the machine is
        )
        air_seconds = sim.stats.air_seconds
        events = list(sim.world_log)
        present_now = sim.present()

    # POS: the sales (item-level, with the units' EPCs) reach the stocktake with their times
    take = live[0]
    epc_of = {u.uid: sgtin96(u.gtin, u.serial, 7).hex().upper() for u in world.units.values()}
    sales = [(wall, e) for wall, e in events if isinstance(e, Sale)]
    for wall, sale in sales:
        take.sold(wall, epcs=[epc_of[uid] for uid in sale.uids])
    counted = take.report(report.ended_at)

    # the truth at the end of the count: what is on hand now, with anything that happened after
    # the count ended undone
    truth: dict[str, int] = {}
    for tag in present_now.values():
        truth[tag.gtin] = truth.get(tag.gtin, 0) + 1
    for wall, e in events:
        if wall <= report.ended_at:
            continue
        if isinstance(e, Sale | Theft):
            for uid in e.uids:
                truth[world.units[uid].gtin] = truth.get(world.units[uid].gtin, 0) + 1
        elif isinstance(e, Delivery | Return):
            for uid in e.uids:
                truth[world.units[uid].gtin] -= 1

    per_sku: dict[str, int] = {}
    for c in counted.counts:
        per_sku[c.sku] = per_sku.get(c.sku, 0) + c.qty
    found, total = sum(per_sku.values()), sum(truth.values())
    assert sales, "shoppers bought while the count ran"
    assert air_seconds <= 180, f"{air_seconds:.0f} s of air time"
    assert found >= 0.995 * total, f"found {found} of {total}"
    for sku, n in per_sku.items():
        assert n <= truth.get(sku, 0), f"{sku}: counted {n}, only {truth.get(sku, 0)} on hand"
    assert counted.sold_during == sum(len(s.uids) for w, s in sales if w <= report.ended_at)
    print(
        f"\n10k store: {found}/{total} found ({found / total:.2%}) in {air_seconds:.0f} s air time "
        f"at {AIR_RATE} tags/s; {counted.sold_during} units sold during the count"
    )

    # The ledger: the counts (absolute, at the end of the count) and every sale, delivery and
    # return booked at the time it happened; afterwards each SKU's balance is the world's.
    seq = itertools.count(1)
    moves: dict[str, list[Move]] = {}
    for d in counted.count_deltas(lambda: next(seq)):
        moves.setdefault(d.sku, []).append(Move(d.id, "count", d.qty, d.zone.value, d.occurred_at))
    for wall, e in events:
        if isinstance(e, Sale):
            for line in e.lines:
                moves.setdefault(line.gtin, []).append(
                    Move(new_delta_id(), "sale", -line.qty, "floor", wall)
                )
        elif isinstance(e, Delivery | Return):
            for uid in e.uids:
                gtin = world.units[uid].gtin
                moves.setdefault(gtin, []).append(
                    Move(new_delta_id(), "receipt", 1, "backroom", wall)
                )
    for gtin in world.products:
        assert replay(moves.get(gtin, [])).on_hand == world.on_hand(gtin), gtin
