"""The gateway's LLRP driver (sllurp state machine on asyncio) against the simulated reader."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from edge.rfid.driver import Backoff, LLRPReader, ReaderSettings, RfidSource, TagRead
from firmware_sim.llrp import frames as fr
from firmware_sim.llrp.frames import MsgType
from firmware_sim.llrp.reader import LLRPReaderSim, SimSettings
from tests.rfid.conftest import probe_port


def settings(port: int, name: str = "r1", **kw: object) -> ReaderSettings:
    # The keepalive stays at its default (10 s: the watchdog trips after 25 s of silence) unless a
    # test is about it. With the reader simulated in this process, a loaded machine that stalls
    # the process silences the reader too, and a sub-second watchdog would trip on that.
    base: dict[str, object] = {
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


async def test_the_driver_acknowledges_the_readers_keepalives(sim: LLRPReaderSim) -> None:
    async with running(LLRPReader(settings(sim.port, keepalive_s=0.1), lambda r: None)) as reader:
        await reader.wait_for(lambda r: r.inventorying)
        await sim.wait_until(lambda s: s.stats.keepalive_acks >= 3)  # more than it lets go unacked
    assert sim.stats.keepalive_drops == 0


async def test_a_half_open_reader_trips_the_keepalive_watchdog(sim: LLRPReaderSim) -> None:
    reads: list[TagRead] = []
    # dual target (Impinj search mode 2): tags answer again on the new session; in S2 single
    # target they would stay quiet, their inventoried flags still B
    async with running(LLRPReader(settings(sim.port, search_mode=2, keepalive_s=0.1), reads.append)) as reader:
        await reader.wait_for(lambda r: r.inventorying)
        # Counted from here: a machine stalled for more than 0.25 s before the reader went silent
        # trips the watchdog too (and the driver reconnects, as it should).
        trips, sessions = reader.stats.watchdog_trips, reader.stats.sessions
        sim.go_silent()
        await reader.wait_for(lambda r: r.stats.watchdog_trips > trips)
        await reader.wait_for(lambda r: r.stats.sessions > sessions)
        n = len(reads)
        await reader.wait_for(lambda r: len(reads) > n)  # reading again on the new session
    # every reconnection was the watchdog's, each one a connection the reader accepted
    assert sim.stats.accepted == reader.stats.sessions == reader.stats.watchdog_trips + 1


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


async def test_a_port_probe_just_before_does_not_get_the_driver_refused(sim: LLRPReaderSim) -> None:
    probe_port(sim.port)
    async with running(LLRPReader(settings(sim.port), lambda r: None)) as reader:
        await reader.wait_for(lambda r: r.inventorying)
    assert reader.stats.refused == 0 and reader.stats.connects == 1
    assert sim.stats.refused == 0


def received(sim: LLRPReaderSim, kind: MsgType) -> list[fr.Frame]:
    return [f for f in sim.received if f.type == kind]


def added_rospec(sim: LLRPReaderSim) -> fr.ROSpec:
    [add] = received(sim, MsgType.ADD_ROSPEC)
    [param] = fr.iter_params(add.body)
    return fr.decode_rospec(param)


async def test_a_reader_that_is_not_an_impinj_inventories_without_vendor_extensions(
    generic: LLRPReaderSim,
) -> None:
    """Zebra, ThingMagic, Alien, CAEN...: the driver reads the capabilities first and keeps
    Impinj's extensions for Impinj readers: no CUSTOM_MESSAGE, no custom parameter in the ROSpec,
    even with a search mode configured."""
    reads: list[TagRead] = []
    async with running(
        LLRPReader(settings(generic.port, search_mode=2), reads.append)
    ) as reader:
        await reader.wait_for(lambda r: r.inventorying and len(reads) >= 50)
    assert received(generic, MsgType.CUSTOM_MESSAGE) == []
    assert added_rospec(generic).custom == ()
    kinds = [f.type for f in generic.received]
    assert kinds.index(MsgType.GET_READER_CAPABILITIES) < kinds.index(MsgType.ADD_ROSPEC)
    assert (reader.stats.manufacturer, reader.stats.impinj_extensions) == (32473, False)
    assert reader.stats.sessions == 1 and reader.stats.refused == 0


async def test_session_and_single_target_reach_a_generic_reader_in_singulation_control(
    generic: LLRPReaderSim,
) -> None:
    """Standard LLRP (1.0.1 §15.2.1.2.1.3): the session in C1G2SingulationControl, the target as
    its C1G2TagInventoryStateAwareSingulationAction, on every antenna's configuration."""
    async with running(
        LLRPReader(settings(generic.port, session=3, search_mode=1), lambda r: None)
    ) as reader:
        await reader.wait_for(lambda r: r.inventorying)
    [ai] = added_rospec(generic).ai_specs
    [inventory] = ai.inventory
    assert inventory.session == 3 and inventory.state_aware
    assert inventory.targets == dict.fromkeys((1, 2, 3, 4), fr.InventoryState.A)
    assert inventory.search_mode == fr.SearchMode.READER_SELECTED  # no Impinj search mode


async def test_an_impinj_reader_gets_its_extensions_once_its_capabilities_are_read(
    sim: LLRPReaderSim,
) -> None:
    async with running(LLRPReader(settings(sim.port, search_mode=2), lambda r: None)) as reader:
        await reader.wait_for(lambda r: r.inventorying)
    kinds = [f.type for f in sim.received]
    [custom] = received(sim, MsgType.CUSTOM_MESSAGE)
    assert (custom.body[:5]) == bytes.fromhex("0000651a15")  # vendor 25882, subtype 21
    assert (
        kinds.index(MsgType.GET_READER_CAPABILITIES)
        < kinds.index(MsgType.CUSTOM_MESSAGE)
        < kinds.index(MsgType.ADD_ROSPEC)
    )
    [ai] = added_rospec(sim).ai_specs
    assert ai.inventory[0].search_mode == fr.SearchMode.DUAL_TARGET
    assert not ai.inventory[0].state_aware
    assert (reader.stats.manufacturer, reader.stats.impinj_extensions) == (25882, True)


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
