"""The shelf driver against the simulator over Modbus TCP and RTU on a pty pair, both maps."""

from __future__ import annotations

import asyncio

import pytest

from edge.fusion.domain import BinAvailability, UnexplainedWeight, WeightEvent
from edge.shelf.poller import ShelfUnavailable, make_client, read_bin, send_command
from tests.shelf.helpers import DEAD_LOAD_G, UNIT_G, Bus, Watcher, start_bus


async def test_every_bin_reads_its_load(shelf_bus: Bus) -> None:
    client = make_client(shelf_bus.bus)
    assert await client.connect()
    try:
        for b in shelf_bus.bins:
            r = await read_bin(client, b)
            assert r.gross_g == pytest.approx(DEAD_LOAD_G + 5 * UNIT_G, abs=20)
            assert r.net_g == pytest.approx(r.gross_g)
    finally:
        client.close()


async def test_a_pick_becomes_one_exact_weight_event(shelf_bus: Bus) -> None:
    async with Watcher(shelf_bus) as w:
        await w.settled()
        shelf_bus.sim.set_count("A1-1", 3, hand_s=0.5)
        event = await w.next(WeightEvent)
        assert isinstance(event, WeightEvent)
        assert (event.bin, event.delta_count, event.count) == ("A1-1", -2, 3)
        assert event.delta_g == pytest.approx(-2 * UNIT_G, abs=15)
        assert w.poller.states["A1-2"].detector.count == 5
        snap = {b.bin: b for b in w.poller.snapshot()}
        assert (snap["A1-1"].count, snap["A1-2"].count) == (3, 5)
        assert snap["A1-1"].grams == pytest.approx(3 * UNIT_G, abs=15)
        assert snap["A1-1"].available and snap["A1-2"].available


async def test_a_misplaced_item_is_unexplained_weight(tcp_bus: Bus) -> None:
    async with Watcher(tcp_bus) as w:
        await w.settled()
        tcp_bus.sim.put_foreign("A1-2", 185.0, hand_s=0.4)
        obs = await w.next(UnexplainedWeight)
        assert isinstance(obs, UnexplainedWeight)
        assert obs.bin == "A1-2" and obs.delta_g == pytest.approx(185, abs=10)


@pytest.mark.parametrize("transport", ["tcp", "rtu"])
async def test_the_tare_command_zeroes_net_weight(transport: str) -> None:
    bus, modem = await start_bus("dini-dgt4x", transport)
    client = make_client(bus.bus)
    try:
        assert await client.connect()
        b = bus.bins[0]
        await send_command(client, b, "tare")
        r = await read_bin(client, b)
        assert r.net_g == pytest.approx(0, abs=15)
        assert r.gross_g == pytest.approx(DEAD_LOAD_G + 5 * UNIT_G, abs=20)
        await send_command(client, b, "zero")
        r = await read_bin(client, b)
        assert r.gross_g == pytest.approx(0, abs=15)
    finally:
        client.close()
        await bus.sim.close()
        if modem:
            modem.close()


async def test_a_map_without_command_register_refuses_tare() -> None:
    bus, _ = await start_bus("flintec-dad141", "tcp")
    client = make_client(bus.bus)
    try:
        assert await client.connect()
        with pytest.raises(ShelfUnavailable, match="no command register"):
            await send_command(client, bus.bins[0], "tare")
    finally:
        client.close()
        await bus.sim.close()


async def test_a_vanished_device_is_unavailable_and_makes_no_phantom_change(tcp_bus: Bus) -> None:
    async with Watcher(tcp_bus) as w:
        await w.settled()
        tcp_bus.sim.faults.vanished.add(2)
        gone = await w.next(BinAvailability)
        assert isinstance(gone, BinAvailability)
        assert (gone.bin, gone.available) == ("A1-2", False)
        assert "no valid reply" in gone.reason
        assert w.poller.states["A1-1"].available  # the rest of the bus still reads
        tcp_bus.sim.faults.vanished.clear()
        back = await w.next(BinAvailability)
        assert isinstance(back, BinAvailability) and back.available
        # A real change on the other bin still comes through; the returning bin, judged against
        # its level from before the outage meanwhile, adds nothing.
        tcp_bus.sim.set_count("A1-1", 4, hand_s=0.3)
        event = await w.next(WeightEvent)
        assert isinstance(event, WeightEvent) and event.bin == "A1-1" and event.delta_count == -1
        assert w.poller.states["A1-2"].detector.stable
        assert not [
            o for o in w.seen if isinstance(o, WeightEvent | UnexplainedWeight) and o.bin == "A1-2"
        ]


async def test_a_change_made_while_the_device_was_gone_is_reported_unseen(tcp_bus: Bus) -> None:
    """Units taken while the module did not answer: once it answers again, the new level is one
    change marked `unseen` (no `began`: nobody saw it happen), which the reconciler takes as the
    bin's level, not a pick; the next hand is seen again."""
    async with Watcher(tcp_bus) as w:
        await w.settled()
        tcp_bus.sim.faults.vanished.add(2)
        await w.next(BinAvailability)
        tcp_bus.sim.set_count("A1-2", 2, hand_s=0.3)  # three units gone while it is unreadable
        await asyncio.sleep(0.5)
        tcp_bus.sim.faults.vanished.clear()
        event = await w.next(WeightEvent)
        assert isinstance(event, WeightEvent)
        assert (event.bin, event.delta_count, event.count, event.unseen, event.began) == ("A1-2", -3, 2, True, None)
        tcp_bus.sim.set_count("A1-2", 1, hand_s=0.3)
        event = await w.next(WeightEvent)
        assert isinstance(event, WeightEvent)
        assert (event.bin, event.delta_count, event.unseen, event.began is not None) == ("A1-2", -1, False, True)


async def test_exception_replies_mark_the_bin_unavailable(tcp_bus: Bus) -> None:
    tcp_bus.sim.faults.exception_rate = 1.0
    tcp_bus.sim.faults.devices.add(1)
    async with Watcher(tcp_bus) as w:
        obs = await w.next(BinAvailability)
        assert isinstance(obs, BinAvailability)
        assert obs.bin == "A1-1" and "exception" in obs.reason


async def test_crc_errors_on_rtu_mark_the_bin_unavailable() -> None:
    bus, modem = await start_bus("dini-dgt4x", "rtu")
    assert modem is not None
    bus.sim.faults.crc_rate = 1.0
    bus.sim.faults.devices.add(2)
    try:
        async with Watcher(bus) as w:
            obs = await w.next(BinAvailability)
            assert isinstance(obs, BinAvailability) and obs.bin == "A1-2" and not obs.available
            bus.sim.faults.crc_rate = 0.0
            back = await w.next(BinAvailability)
            assert isinstance(back, BinAvailability) and back.available
    finally:
        await bus.sim.close()
        modem.close()


async def test_counts_stay_exact_through_intermittent_timeouts(tcp_bus: Bus) -> None:
    tcp_bus.sim.faults.timeout_rate = 0.1
    async with Watcher(tcp_bus) as w:
        await w.settled(within=15)
        tcp_bus.sim.set_count("A1-2", 8, hand_s=0.5)
        event = await w.next(WeightEvent, within=15)
        assert isinstance(event, WeightEvent)
        assert (event.bin, event.delta_count, event.count) == ("A1-2", 3, 8)


async def test_a_bus_that_cannot_connect_marks_its_bins_unavailable() -> None:
    bus, _ = await start_bus("dini-dgt4x", "tcp")
    await bus.sim.close()  # nobody listens on that port any more
    async with Watcher(bus) as w:
        seen = {(await w.next(BinAvailability)).bin for _ in range(2)}
        assert seen == {"A1-1", "A1-2"}
    await asyncio.sleep(0)
