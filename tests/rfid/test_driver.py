"""The gateway's LLRP driver (sllurp state machine on asyncio) against the simulated reader."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from edge.sources.rfid import Backoff, LLRPReader, ReaderSettings, RfidSource, TagRead
from firmware_sim.llrp_reader import LLRPReaderSim, SimSettings


def settings(port: int, name: str = "r1", **kw: object) -> ReaderSettings:
    base: dict[str, object] = {
        "keepalive_s": 0.1,
        "backoff_initial_s": 0.02,
        "backoff_max_s": 0.2,
        "setup_timeout_s": 3.0,
    }
    base.update(kw)
    return ReaderSettings(name, "127.0.0.1", port, **base)  # type: ignore[arg-type]


@asynccontextmanager
async def running(reader: LLRPReader) -> AsyncIterator[LLRPReader]:
    task = asyncio.create_task(reader.run())
    try:
        yield reader
    finally:
        await reader.close()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_driver_inventories_every_tag_with_gtin_serial_antenna_and_zone(
    sim: LLRPReaderSim,
) -> None:
    reads: list[TagRead] = []
    async with running(LLRPReader(settings(sim.port), reads.append)) as reader:
        present = sim.present()
        await reader.wait_for(lambda r: len({x.epc for x in reads}) >= 0.98 * len(present))
    truth = {epc.hex().upper(): t for epc, t in present.items()}
    for read in reads:
        tag = truth[read.epc]
        assert (read.gtin, read.serial) == (tag.gtin, str(tag.serial))
        assert read.antenna in {s.antenna for s in tag.sightings}
        assert read.zone == ("backroom" if read.antenna == 4 else "floor")
        assert read.rssi is not None and -90 < read.rssi < -20
        assert read.at.tzinfo is not None
    assert reader.stats.sessions == 1 and reader.stats.not_sgtin == 0


async def test_a_dropped_connection_reconnects_and_backoff_resets(sim: LLRPReaderSim) -> None:
    async with running(LLRPReader(settings(sim.port), lambda r: None)) as reader:
        await reader.wait_for(lambda r: r.inventorying)
        sim.drop()
        await reader.wait_for(lambda r: r.stats.sessions == 2)
        assert reader.stats.disconnects == 1
        assert reader.backoff.attempt == 0  # reset once the new session reached inventorying


async def test_a_half_open_reader_trips_the_keepalive_watchdog(sim: LLRPReaderSim) -> None:
    reads: list[TagRead] = []
    # dual target (Impinj search mode 2): tags answer again on the new session; in S2 single
    # target they would stay quiet, their inventoried flags still B
    async with running(LLRPReader(settings(sim.port, search_mode=2), reads.append)) as reader:
        await reader.wait_for(lambda r: r.inventorying)
        sim.go_silent()
        await reader.wait_for(lambda r: r.stats.watchdog_trips == 1)
        await reader.wait_for(lambda r: r.stats.sessions == 2)
        n = len(reads)
        await reader.wait_for(lambda r: len(reads) > n)  # reading again on the new session
    assert sim.stats.accepted == 2


async def test_a_corrupt_frame_header_forces_a_reconnect(sim: LLRPReaderSim) -> None:
    async with running(LLRPReader(settings(sim.port), lambda r: None)) as reader:
        await reader.wait_for(lambda r: r.inventorying)
        sim.corrupt("header")
        await reader.wait_for(lambda r: r.stats.bad_frames == 1 and r.stats.sessions == 2)


async def test_a_corrupt_report_is_skipped_and_reading_goes_on(sim: LLRPReaderSim) -> None:
    reads: list[TagRead] = []
    async with running(LLRPReader(settings(sim.port, search_mode=2), reads.append)) as reader:
        await reader.wait_for(lambda r: r.inventorying)
        sim.corrupt("param")
        n = len(reads)
        await reader.wait_for(
            lambda r: r.stats.bad_frames == 2 and len(reads) > n + 5
        )
        assert reader.stats.sessions == 1


async def test_non_sgtin_epcs_are_counted_and_skipped(sim: LLRPReaderSim) -> None:
    reads: list[TagRead] = []
    async with running(LLRPReader(settings(sim.port), reads.append)) as reader:
        await reader.wait_for(lambda r: r.inventorying)
        sim.corrupt("epc")
        await reader.wait_for(lambda r: r.stats.not_sgtin == 2 and r.stats.corrupt_epcs == 1)
    assert all(r.epc.startswith("30") for r in reads)


async def test_a_busy_reader_refuses_and_the_driver_retries_until_free() -> None:
    async with LLRPReaderSim(SimSettings(tags=50, rate=2000)) as sim:
        from tests.rfid.conftest import SllurpPeer

        squatter = await SllurpPeer.connect(sim.port)
        await squatter.recv()
        async with running(LLRPReader(settings(sim.port), lambda r: None)) as reader:
            await reader.wait_for(lambda r: r.stats.refused >= 2)
            assert not reader.inventorying
            await squatter.close()
            await reader.wait_for(lambda r: r.inventorying)


async def test_unreachable_reader_backs_off_exponentially() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    reader = LLRPReader(
        settings(port, backoff_initial_s=0.001, backoff_max_s=0.004), lambda r: None
    )
    async with running(reader):
        await reader.wait_for(lambda r: r.backoff.attempt >= 4)
    assert reader.stats.connects == 0 and "ConnectionRefused" in (reader.stats.last_error or "")


def test_backoff_doubles_up_to_its_ceiling_and_resets() -> None:
    b = Backoff(initial=1.0, maximum=8.0, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(6)]
    ceilings = [1, 2, 4, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    b.reset()
    assert b.next_delay() <= 1.0


async def test_several_readers_feed_one_queue() -> None:
    async with (
        LLRPReaderSim(SimSettings(tags=60, rate=3000, seed=1)) as a,
        LLRPReaderSim(SimSettings(tags=80, rate=3000, seed=2)) as b,
    ):
        queue: asyncio.Queue[TagRead] = asyncio.Queue()
        source = RfidSource([settings(a.port, "front"), settings(b.port, "back")], queue.put_nowait)
        task = asyncio.create_task(source.run())
        seen: dict[str, set[str]] = {"front": set(), "back": set()}
        try:
            async with asyncio.timeout(10):
                while len(seen["front"]) < 55 or len(seen["back"]) < 70:
                    read = await queue.get()
                    seen[read.reader].add(read.epc)
        finally:
            await source.close()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        assert all(s.sessions == 1 for s in source.stats().values())


def test_settings_refuse_a_report_setting_that_never_reports() -> None:
    with pytest.raises(ValueError, match="never reports"):
        ReaderSettings("r", "h", report_every_n_tags=0)
