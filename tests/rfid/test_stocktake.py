"""Stocktakes: the pure counting core on tables, and a real count over LLRP with the simulator."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from edge.rfid.driver import ReaderSettings, TagRead
from edge.rfid.stocktake import Progress, Stocktake, StocktakeConfig, run_stocktake
from firmware_sim.llrp import frames as fr
from firmware_sim.llrp.reader import LLRPReaderSim, SimSettings
from firmware_sim.world import catalog
from shared.contract import Kind, Source

T0 = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)
A, B = catalog()[0].gtin, catalog()[1].gtin


def read(epc: str, gtin: str, zone: str = "floor", s: float = 1.0, rssi: int = -60) -> TagRead:
    return TagRead(
        "r1",
        epc,
        gtin,
        epc[-4:],
        1 if zone == "floor" else 4,
        zone,
        rssi,
        T0 + timedelta(seconds=s),
    )


def test_counts_unique_tags_per_sku_and_zone() -> None:
    take = Stocktake(T0)
    for r in [read("E1", A), read("E1", A, s=2), read("E2", A), read("E3", B, "backroom")]:
        take.add(r)
    report = take.report(T0 + timedelta(seconds=10))
    assert [(c.sku, c.zone, c.qty) for c in report.counts] == [(A, "floor", 2), (B, "backroom", 1)]
    assert (report.unique_tags, report.reads, report.seconds) == (3, 4, 10.0)


def test_a_tag_seen_in_two_zones_counts_where_it_is_strongest() -> None:
    take = Stocktake(T0)
    take.add(read("E1", A, "floor", rssi=-70))
    take.add(read("E1", A, "backroom", rssi=-50))
    assert [(c.zone, c.qty) for c in take.report(T0).counts] == [("backroom", 1)]


def test_a_unit_read_then_sold_within_the_window_is_not_on_hand() -> None:
    take = Stocktake(T0)
    take.add(read("E1", A, s=1))
    take.add(read("E2", A, s=1))
    take.sold(T0 + timedelta(seconds=5), epcs=["e1"])
    report = take.report(T0 + timedelta(seconds=10))
    assert [(c.sku, c.qty) for c in report.counts] == [(A, 1)] and report.sold_during == 1


def test_a_sale_without_epcs_takes_back_only_units_read_before_it() -> None:
    take = Stocktake(T0)
    take.add(read("E1", A, s=1))
    take.add(read("E2", A, s=8))
    take.sold(T0 + timedelta(seconds=5), gtin=A, qty=1)  # read before the sale: out
    take.sold(T0 + timedelta(seconds=6), gtin=B, qty=1)  # never read: nothing to take back
    assert [(c.sku, c.qty) for c in take.report(T0 + timedelta(seconds=10)).counts] == [(A, 1)]


def test_every_expected_sku_gets_a_count_zero_included_and_becomes_count_deltas() -> None:
    config = StocktakeConfig(expected={(A, "floor"): 3, (B, "floor"): 2})
    take = Stocktake(T0, config)
    take.add(read("E1", A))
    report = take.report(T0 + timedelta(seconds=30))
    assert [(c.sku, c.qty, c.expected) for c in report.counts] == [(A, 1, 3), (B, 0, 2)]
    seq = itertools.count(1)
    deltas = report.count_deltas(lambda: next(seq))
    assert [(d.sku, d.kind, d.qty, d.zone.value, d.source) for d in deltas] == [
        (A, Kind.COUNT, 1, "floor", Source.RFID),
        (B, Kind.COUNT, 0, "floor", Source.RFID),
    ]
    assert all(d.occurred_at == T0 + timedelta(seconds=30) for d in deltas)


def test_zone_scope_ignores_reads_elsewhere() -> None:
    take = Stocktake(T0, StocktakeConfig(zone="backroom"))
    assert not take.add(read("E1", A, "floor"))
    assert take.add(read("E2", B, "backroom"))
    assert [(c.sku, c.zone) for c in take.report(T0).counts] == [(B, "backroom")]


def test_done_when_quiet_or_past_the_deadline() -> None:
    take = Stocktake(T0, StocktakeConfig(seconds=60, quiet_s=5))
    take.add(read("E1", A, s=3))
    assert not take.done(T0 + timedelta(seconds=7))
    assert take.done(T0 + timedelta(seconds=8.5))
    busy = Stocktake(T0, StocktakeConfig(seconds=2, quiet_s=5))
    assert busy.done(T0 + timedelta(seconds=2))


@pytest.mark.parametrize(
    ("vendor", "asked"),
    [
        # Impinj: session 2, its search mode 5 (single target, every tag re-armed to A at start)
        ("impinj", (2, fr.SearchMode.SINGLE_TARGET_RESET, None)),
        # standard LLRP: target A in session 1, whose flags go back to A by themselves
        ("generic", (1, fr.SearchMode.READER_SELECTED, fr.InventoryState.A)),
    ],
)
async def test_stocktake_of_3000_tags_over_llrp_finds_at_least_99_5_percent(
    vendor: str, asked: tuple[int, fr.SearchMode, fr.InventoryState | None]
) -> None:
    """On an Impinj reader and on one that speaks standard LLRP only (Zebra, ThingMagic...)."""
    # Timed by the reader's clock in air time (`air_time_only`): a loaded machine that stalls this
    # process (the simulated reader with it) for longer than quiet_s does not end the count early.
    settings = SimSettings(tags=3000, rate=8000, seed=11, vendor=vendor, air_time_only=True)
    async with LLRPReaderSim(settings) as sim:
        present = sim.present()
        progress: list[Progress] = []
        report = await run_stocktake(
            ReaderSettings("shop", "127.0.0.1", sim.port),
            StocktakeConfig(seconds=20, quiet_s=0.5),
            progress.append,
            clock=sim.clock,
            progress_every_s=0.2,
        )
        [add] = [f for f in sim.received if f.type == fr.MsgType.ADD_ROSPEC]
        [inventory] = fr.decode_rospec(next(fr.iter_params(add.body))).ai_specs[0].inventory
        assert (inventory.session, inventory.search_mode, inventory.target) == asked
    truth: dict[tuple[str, str], int] = {}
    for tag in present.values():
        truth[(tag.gtin, tag.zone)] = truth.get((tag.gtin, tag.zone), 0) + 1
    found = sum(c.qty for c in report.counts)
    assert len(present) == 3000
    assert found >= 0.995 * len(present), f"found {found} of {len(present)}"
    for c in report.counts:
        assert c.qty <= truth[(c.sku, c.zone)], "never counts a unit that is not there"
    assert progress and progress[-1].unique_tags >= progress[0].unique_tags


@pytest.mark.parametrize("vendor", ["impinj", "generic"])
async def test_stocktake_command_prints_json_counts(vendor: str) -> None:
    async with LLRPReaderSim(SimSettings(tags=200, rate=5000, seed=5, vendor=vendor)) as sim:
        proc = await _run_cli(
            [
                "--reader",
                f"127.0.0.1:{sim.port}",
                "--seconds",
                "30",
                # On its own wall clock, in its own process: the reader simulated in this one falls
                # silent while a loaded machine stalls it, which a short quiet period takes for the
                # end of the count. 200 tags are found in well under a second of air time.
                "--quiet",
                "2",
                "--json",
                "--zone",
                "backroom",
            ]
        )
        backroom = len(sim.present("backroom"))
    assert proc[0] == 0, proc[2]
    out = json.loads(proc[1])
    assert set(out) == {"unique_tags", "reads", "seconds", "counts"}
    assert {c["zone"] for c in out["counts"]} == {"backroom"}
    assert sum(c["qty"] for c in out["counts"]) >= 0.98 * backroom
    assert "tags" in proc[2]  # live progress on stderr


async def _run_cli(args: list[str]) -> tuple[int, str, str]:
    import asyncio

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys; from edge.rfid.stocktake import main; sys.exit(main(sys.argv[1:]))",
        *args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode(), err.decode()


def test_stocktake_command_help_has_an_example() -> None:
    from edge.rfid.stocktake import main

    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
