"""Transfers: in-transit stock neither store can sell, received once (API or the dock's RFID read),
lots arriving with their expiry; suggestions from surplus to short stores."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from cloud.channels.allocation import haversine_km
from cloud.db import reads, transfers
from cloud.db.transfers import suggest
from shared.contract import Kind, Source, StockDelta, Zone
from tests.orders.chain import Api, book, gtin

A, B = gtin(1), gtin(2)


async def _two_stores(api: Api) -> None:
    await api.store("sh-1", 31.23, 121.47)
    await api.store("sh-2", 31.30, 121.50)
    await api.channel("taobao", ["sh-1", "sh-2"])
    await api.count("sh-1", A, 4, lot="L1", expiry=date(2027, 5, 1), zone=Zone.BACKROOM)
    await api.count("sh-1", A, 6, lot="L2", expiry=date(2027, 9, 1), zone=Zone.BACKROOM)


async def test_stock_in_transit_is_sold_by_neither_store_until_received(api: Api) -> None:
    await _two_stores(api)
    status, t = await api.post("/v1/transfers", {"from": "sh-1", "to": "sh-2", "lines": [{"sku": A, "qty": 5}]})
    assert status == 201, t
    assert t["status"] == "in_transit"
    assert [(ln["lot"], ln["qty"], ln["expiry"]) for ln in t["lines"]] == [("L1", 4, "2027-05-01"),
                                                                           ("L2", 1, "2027-09-01")]
    assert await api.on_hand("sh-1", A) == 5 and await api.on_hand("sh-2", A) == 0
    _, figures = await api.get(f"/v1/channels/taobao/availability?sku={A}")
    assert figures["items"][0]["qty"] == 5
    status, _ = await api.order("taobao", "O-1", [(A, 6)])
    assert status == 409
    _, listed = await api.get("/v1/transfers?status=in_transit")
    assert [x["id"] for x in listed["transfers"]] == [t["id"]]
    for _ in range(2):
        status, got = await api.post(f"/v1/transfers/{t['id']}/receive")
        assert status == 200 and got["status"] == "received" and got["received_by"] == "api"
    assert await api.on_hand("sh-2", A) == 5
    _, stock = await api.get(f"/v1/stores/sh-2/stock?sku={A}")
    assert {lot["lot"]: lot["expiry"] for lot in stock["items"][0]["lots"]} == {"L1": "2027-05-01",
                                                                                "L2": "2027-09-01"}
    assert await reads.rebuild_mismatches(api.maker) == []


async def test_only_free_units_can_leave(api: Api) -> None:
    await _two_stores(api)
    status, _ = await api.order("taobao", "O-2", [(A, 8)])
    assert status == 201
    status, body = await api.post("/v1/transfers", {"from": "sh-1", "to": "sh-2", "lines": [{"sku": A, "qty": 3}]})
    assert status == 409 and body["short"] == [{"sku": A, "wanted": 3, "available": 2}]
    assert await api.on_hand("sh-1", A) == 10
    status, _ = await api.post("/v1/transfers", {"from": "sh-1", "to": "sh-1", "lines": [{"sku": A, "qty": 1}]})
    assert status == 400


async def test_an_rfid_read_at_the_dock_receives_the_transfer_once(api: Api) -> None:
    await _two_stores(api)
    _, t = await api.post("/v1/transfers", {"from": "sh-1", "to": "sh-2", "lines": [{"sku": A, "qty": 4}]})
    dock = StockDelta(id=str(uuid.uuid4()), seq=1, sku=A, kind=Kind.RECEIPT, qty=4, zone=Zone.BACKROOM,
                      occurred_at=datetime.now(UTC), source=Source.RFID, lot="L1",
                      ref=f"transfer:{t['id']}:dock-door-1")
    applied = await book(api.maker, "sh-2", dock)
    assert applied.applied == 1
    _, got = await api.get(f"/v1/transfers/{t['id']}")
    assert got["status"] == "received" and got["received_by"] == "rfid"
    status, again = await api.post(f"/v1/transfers/{t['id']}/receive")
    assert status == 200 and again["received_by"] == "rfid"
    assert await api.on_hand("sh-2", A) == 4  # once, not twice

    # the other way round: received through the API first, then the dock's read is absorbed
    _, t2 = await api.post("/v1/transfers", {"from": "sh-1", "to": "sh-2", "lines": [{"sku": A, "qty": 2}]})
    await api.post(f"/v1/transfers/{t2['id']}/receive")
    late = StockDelta(id=str(uuid.uuid4()), seq=1, sku=A, kind=Kind.RECEIPT, qty=2, zone=Zone.BACKROOM,
                      occurred_at=datetime.now(UTC), source=Source.RFID, ref=f"transfer:{t2['id']}:dock")
    applied = await book(api.maker, "sh-2", late)
    assert applied.applied == 0 and applied.duplicates == 1
    assert await api.on_hand("sh-2", A) == 6
    assert await reads.rebuild_mismatches(api.maker) == []


async def test_suggestions_move_surplus_from_the_nearest_store(api: Api) -> None:
    await _two_stores(api)
    await api.store("bj-1", 39.90, 116.40)
    await api.count("bj-1", A, 30)
    await api.put(f"/v1/products/{A}", {"min_stock": 3})
    _, body = await api.get("/v1/transfers/suggestions")
    # sh-2 has 0 (< 3): it wants 6; sh-1 (10 free, 4 above 6) is 8 km away, bj-1 1,000 km
    assert [(s["from"], s["to"], s["qty"]) for s in body["suggestions"]] == [("sh-1", "sh-2", 4),
                                                                             ("bj-1", "sh-2", 2)]
    assert body["suggestions"][0]["distance_km"] < 10 < body["suggestions"][1]["distance_km"]


def test_suggest_never_takes_a_donor_below_twice_its_minimum() -> None:
    free = {B: {"a": 7, "b": 0, "c": 1}}
    out = suggest(free, {B: 2}, {}, 20.0, 1.5)
    # a keeps 4 (= 2 x 2) and gives its 3 above that; b (none) wants 4 and takes them all
    assert [(s["from"], s["to"], s["qty"]) for s in out] == [("a", "b", 3)]


def test_suggest_measures_each_pair_of_stores_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """A distance depends on the two stores, not on the SKU: a chain's suggestions measure each pair
    once (they measured inside every sort key for every SKU: 466,529 great circles for 50 stores and
    500 SKUs, 8 of the 11 s the console's transfers page took), and the moves stay the same."""
    calls: list[object] = []

    def counted(a: tuple[float, float], b: tuple[float, float]) -> float:
        calls.append((a, b))
        return haversine_km(a, b)

    where = {f"s-{i}": (31.0 + i / 50, 121.0 + i / 70) for i in range(8)}
    free = {gtin(10 + n): {s: (12 if (i + n) % 3 == 0 else i % 2) for i, s in enumerate(where)} for n in range(30)}
    expected = suggest(free, {}, where, 20.0, 1.5)
    monkeypatch.setattr(transfers, "haversine_km", counted)
    assert suggest(free, {}, where, 20.0, 1.5) == expected != []
    assert len(calls) <= len(where) * (len(where) - 1)
