"""What tills and staff send the gateway, as they really send it: times in any RFC 3339 form (stored
as UTC), times from a clock that is far off (refused), and item codes as printed on the pack or as a
scanner reads them (stored as GTIN-14 with lot and expiry). Through the real gateway process, its
HTTP server and its outbox; the cloud's own clock check through a real Mosquitto and ledger."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from cloud.app import create_app
from cloud.keys import INGEST
from cloud.settings import Settings
from firmware_sim import procs
from shared import contract
from shared.contract import DeltaBatch, Kind, Source, StockDelta, Stream, Zone
from shared.mqtt import BrokerUrl
from tests.integration.conftest import ADMIN, POS, Cloud, Gateway, RawPublisher, until
from tests.support.services import Mosquitto, free_port

SKU = "06923450000106"
GS = "\x1d"
# Lots that expire two and three years from now, so these never become expired-lot tests.
EXPIRY = date(date.today().year + 2, 12, 31)
YYMMDD = EXPIRY.strftime("%y%m%d")
LATER = date(date.today().year + 3, 6, 30)
LATER_YYMM00 = LATER.strftime("%y%m") + "00"  # day 00: the month's last day (AI (17))


def stored(gw: Gateway) -> list[dict[str, Any]]:
    """The deltas the gateway committed to its outbox, in seq order."""
    outbox = gw.config.parent / gw.store / "outbox.sqlite3"
    with contextlib.closing(sqlite3.connect(outbox)) as db:
        return [json.loads(body) for (body,) in db.execute("SELECT body FROM deltas ORDER BY seq")]


def rfc3339(moment: datetime, offset_hours: int = 0, digits: int = 3) -> str:
    """`moment` as a till in UTC+offset_hours writes it, with `digits` fractional digits."""
    local = moment.astimezone(timezone(timedelta(hours=offset_hours)))
    fraction = "." + f"{local.microsecond:06d}000"[:digits] if digits else ""
    offset = local.strftime("%z")
    zone = "Z" if offset_hours == 0 else f"{offset[:3]}:{offset[3:]}"
    return local.strftime("%Y-%m-%dT%H:%M:%S") + fraction + zone


def truncated(moment: datetime, digits: int) -> datetime:
    return moment.replace(microsecond=int(f"{moment.microsecond:06d}"[:digits].ljust(6, "0")))


def sale(txn: str, at: str, *lines: dict[str, Any]) -> dict[str, Any]:
    return {"txn": txn, "at": at, "kind": "sale", "lines": list(lines) or [{"sku": SKU, "qty": 1}]}


def count(ref: str, at: str) -> dict[str, Any]:
    return {"ref": ref, "at": at, "lines": [{"sku": SKU, "kind": "count", "qty": 5, "zone": "floor"}]}


# --- the gateway's clock ---------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/v1/pos/transactions", "/v1/stock/movements"])
@pytest.mark.parametrize("off_by", [timedelta(days=3653), timedelta(minutes=6), timedelta(days=-31)])
async def test_a_time_beyond_the_gateways_clock_skew_is_a_400_naming_at_and_writes_nothing(
        start_gateway: Callable[[str], Gateway], path: str, off_by: timedelta) -> None:
    """A sale dated ten years ahead would sort after every later count, so no count could ever
    correct that SKU; one a month old is a till whose clock is wrong, or a replay."""
    gw = start_gateway("sh-0101")
    at = rfc3339(datetime.now(UTC) + off_by)
    body = sale("T1", at) if path.endswith("transactions") else count("C1", at)
    async with aiohttp.ClientSession() as s:
        status, answer = await gw.post(s, path, body)
        assert status == 400, answer
        assert answer["field"] == "at"
        assert ("ahead" if off_by > timedelta(0) else "old") in answer["error"]
        health = await gw.health(s)
        assert health["outbox_depth"] == 0
    assert stored(gw) == []


async def test_times_inside_the_skew_are_accepted(start_gateway: Callable[[str], Gateway]) -> None:
    gw = start_gateway("sh-0102")
    now = datetime.now(UTC)
    async with aiohttp.ClientSession() as s:
        assert (await gw.post(s, "/v1/pos/transactions", sale("T1", rfc3339(now + timedelta(minutes=4)))))[0] == 200
        assert (await gw.post(s, "/v1/pos/transactions", sale("T2", rfc3339(now - timedelta(days=29)))))[0] == 200
    assert len(stored(gw)) == 2


async def test_the_skew_is_set_in_store_toml(tmp_path: Path, broker: Mosquitto) -> None:
    port = free_port()
    config = procs.gateway_config(tmp_path, "sh-0103", broker.url, POS, port)
    config.write_text(config.read_text() + "max_ahead_s = 3600\nmax_age_days = 1\n")  # into [http]
    gw = Gateway("sh-0103", port, config, await asyncio.to_thread(procs.gateway, config, port, "gw-sh-0103"))
    try:
        now = datetime.now(UTC)
        async with aiohttp.ClientSession() as s:
            ahead = await gw.post(s, "/v1/pos/transactions", sale("T1", rfc3339(now + timedelta(minutes=30))))
            assert ahead[0] == 200
            old = await gw.post(s, "/v1/pos/transactions", sale("T2", rfc3339(now - timedelta(days=2))))
            assert old[0] == 400 and old[1]["field"] == "at"
    finally:
        await asyncio.to_thread(gw.proc.stop)


@pytest.mark.parametrize(("offset_hours", "digits"), [(8, 0), (8, 1), (-5, 6), (0, 9), (5, 9)])
async def test_rfc_3339_offsets_and_fractions_are_stored_as_utc(
        start_gateway: Callable[[str], Gateway], offset_hours: int, digits: int) -> None:
    gw = start_gateway("sh-0104")
    moment = datetime.now(UTC).replace(microsecond=987654) - timedelta(minutes=1)
    at = rfc3339(moment, offset_hours, digits)
    async with aiohttp.ClientSession() as s:
        status, answer = await gw.post(s, "/v1/pos/transactions", sale("T1", at))
        assert status == 200, answer
        status, answer = await gw.post(s, "/v1/stock/movements", count("C1", at))
        assert status == 200, answer
    expected = truncated(moment, digits)
    assert [d["occurred_at"] for d in stored(gw)] == [contract.format_ts(expected)] * 2
    assert all(d["occurred_at"].endswith("Z") for d in stored(gw))


# --- item codes ------------------------------------------------------------------------------

async def test_pack_codes_and_scanned_element_strings_are_stored_as_gtin_14_with_lot_and_expiry(
        start_gateway: Callable[[str], Gateway]) -> None:
    gw = start_gateway("sh-0105")
    at = rfc3339(datetime.now(UTC), 8)
    lines = [
        {"sku": "6923450000106", "qty": 1},  # EAN-13 as printed on the pack
        {"sku": "416000336108", "qty": 1},  # UPC-A
        {"sku": "02345673", "qty": 1},  # EAN-8
        {"sku": f"(01)09520123456788(10)ABC123(17){YYMMDD}", "qty": 1},  # HRI, typed from a label
        {"sku": f"010952012345678810L-77{GS}17{LATER_YYMM00}", "qty": 2},  # scanner, no symbology id
        {"sku": f"]C1011231231231233310ABC123{GS}99TESTING", "qty": 1},  # GS1-128 scanned
        {"sku": f"]d2010692345000010617{YYMMDD}1010B7", "qty": 1},  # GS1 DataMatrix, lot last
    ]
    async with aiohttp.ClientSession() as s:
        status, answer = await gw.post(s, "/v1/pos/transactions", sale("T1", at, *lines))
        assert status == 200, answer
        status, answer = await gw.post(s, "/v1/stock/movements", {"ref": "GRN-1", "at": at, "lines": [
            {"sku": f"(01)09520123456788(10)ABC123(17){YYMMDD}", "kind": "receipt", "qty": 12,
             "zone": "backroom"}]})
        assert status == 200, answer
    got = [(d["sku"], d.get("lot"), d.get("expiry"), d["qty"]) for d in stored(gw)]
    expiry, later = EXPIRY.isoformat(), LATER.isoformat()
    assert got == [
        ("06923450000106", None, None, -1),
        ("00416000336108", None, None, -1),
        ("00000002345673", None, None, -1),
        ("09520123456788", "ABC123", expiry, -1),
        ("09520123456788", "L-77", later, -2),
        ("12312312312333", "ABC123", None, -1),
        ("06923450000106", "10B7", expiry, -1),
        ("09520123456788", "ABC123", expiry, 12),
    ]


@pytest.mark.parametrize(("extra", "field"), [
    ({"lot": "XYZ"}, "lines[0].lot"),
    ({"expiry": (EXPIRY - timedelta(days=1)).isoformat()}, "lines[0].expiry"),
])
async def test_a_lot_or_expiry_that_disagrees_with_the_scanned_code_is_a_400(
        start_gateway: Callable[[str], Gateway], extra: dict[str, str], field: str) -> None:
    gw = start_gateway("sh-0106")
    at = rfc3339(datetime.now(UTC))
    code = f"(01)09520123456788(10)ABC123(17){YYMMDD}"
    async with aiohttp.ClientSession() as s:
        status, answer = await gw.post(s, "/v1/pos/transactions", sale("T1", at, {"sku": code, "qty": 1, **extra}))
        assert status == 400 and answer["field"] == field, answer
        assert "scanned code" in answer["error"]
        # Saying the same thing twice is fine.
        same = {"sku": code, "qty": 1, "lot": "ABC123", "expiry": EXPIRY.isoformat()}
        assert (await gw.post(s, "/v1/pos/transactions", sale("T2", at, same)))[0] == 200
    assert [(d["lot"], d["expiry"]) for d in stored(gw)] == [("ABC123", EXPIRY.isoformat())]


@pytest.mark.parametrize("sku", ["6923450000107", "(01)09520123456789", "(10)ABC123", "]C1", "hello"])
async def test_a_code_that_is_no_gtin_is_a_400_naming_the_line(
        start_gateway: Callable[[str], Gateway], sku: str) -> None:
    gw = start_gateway("sh-0107")
    async with aiohttp.ClientSession() as s:
        status, answer = await gw.post(s, "/v1/pos/transactions",
                                       sale("T1", rfc3339(datetime.now(UTC)), {"sku": sku, "qty": 1}))
        assert status == 400 and answer["field"] == "lines[0].sku", answer
    assert stored(gw) == []


# --- the cloud's clock -----------------------------------------------------------------------

@contextlib.asynccontextmanager
async def cloud_with(db_url: str, broker: Mosquitto, **settings: Any) -> AsyncIterator[Cloud]:
    port = free_port()
    app = create_app(Settings(db_url=db_url, mqtt=BrokerUrl.parse(broker.url), port=port, admin_token=ADMIN,
                              worker_id=f"test-{port}", **settings))
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.wait_for(app[INGEST].ready.wait(), 10)
        async with aiohttp.ClientSession() as session:
            yield Cloud(f"http://127.0.0.1:{port}", app, session)
    finally:
        await runner.cleanup()


def batch(store: str, *deltas: StockDelta) -> bytes:
    return contract.encode(DeltaBatch(store, "gw-1", datetime.now(UTC), tuple(deltas)))


def receipt(id: str, seq: int, qty: int, at: datetime) -> StockDelta:
    return StockDelta(id=id, seq=seq, sku=SKU, kind=Kind.RECEIPT, qty=qty, zone=Zone.FLOOR, occurred_at=at,
                      source=Source.MANUAL)


async def _floor(cloud: Cloud, store: str, expected: int) -> bool:
    return await cloud.floor(store, SKU) == expected


async def test_the_cloud_dead_letters_a_delta_dated_beyond_its_clock_alone_and_books_the_rest(
        cloud: Cloud, raw: RawPublisher) -> None:
    """A delta dated ahead of the cloud's clock plus its skew is dead-lettered on its own, as a
    batch of that delta alone; the valid deltas of its batch are booked (before, the whole batch
    was refused and they were lost with it)."""
    topic = contract.gateway_topic("sh-0110", "gw-1", Stream.DELTAS)
    now = datetime.now(UTC)
    raw.publish(topic, batch("sh-0110", receipt("ok", 1, 5, now - timedelta(days=90)),  # late is fine
                             receipt("future", 2, 7, now + timedelta(days=3653))))
    raw.publish(topic, batch("sh-0110", receipt("soon", 3, 3, now + timedelta(minutes=1)),
                             receipt("late", 4, 2, now - timedelta(days=400))))
    await until(lambda: _floor(cloud, "sh-0110", 10), what="every delta within the clock booked")
    _, body = await cloud.get("/v1/dead-letters")
    [letter] = body["dead_letters"]
    assert letter["reason"].startswith("deltas[1].occurred_at") and "ahead" in letter["reason"]
    assert [d.id for d in contract.decode_batch(letter["payload"]).deltas] == ["future"]
    assert await cloud.deltas("sh-0110") == 3
    assert cloud.ingest_stats.dead_letters == 1


async def test_the_clouds_skew_is_configurable(tmp_path: Path, broker: Mosquitto, raw: RawPublisher) -> None:
    topic = contract.gateway_topic("sh-0111", "gw-1", Stream.DELTAS)
    async with cloud_with(f"sqlite:///{tmp_path / 'ledger.db'}", broker, max_clock_ahead_s=30.0) as cloud:
        now = datetime.now(UTC)
        raw.publish(topic, batch("sh-0111", receipt("a", 1, 7, now + timedelta(minutes=5))))
        raw.publish(topic, batch("sh-0111", receipt("b", 2, 4, now)))
        await until(lambda: _floor(cloud, "sh-0111", 4), what="the batch within 30 s applied")
        _, body = await cloud.get("/v1/dead-letters")
        assert [d["reason"].split(":")[0] for d in body["dead_letters"]] == ["deltas[0].occurred_at"]

