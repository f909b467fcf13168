"""Transfers name stores the chain knows, and one still in transit can be cancelled: its units go
back to the source, lot by lot, once; a received transfer cannot be cancelled."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from cloud.db import reads
from shared import contract
from shared.contract import Kind, Source, StockDelta, Zone
from tests.orders.chain import Api, book, gtin

A = gtin(1)


async def _token(api: Api, name: str, store: str) -> str:
    status, body = await api.post("/v1/tokens", {"name": name, "role": "store", "store": store})
    assert status == 201, body
    return str(body["token"])


async def _two_stores(api: Api) -> None:
    await api.store("sh-1", 31.23, 121.47)
    await api.store("sh-2", 31.30, 121.50)
    await api.count("sh-1", A, 4, lot="L1", expiry=date(2027, 5, 1), zone=Zone.BACKROOM)
    await api.count("sh-1", A, 6, lot="L2", expiry=date(2027, 9, 1), zone=Zone.BACKROOM)


async def test_a_transfer_to_or_from_a_store_the_chain_does_not_know_is_refused_and_moves_nothing(
        api: Api) -> None:
    await _two_stores(api)
    status, body = await api.post("/v1/transfers", {"from": "sh-1", "to": "sh-9", "lines": [{"sku": A, "qty": 2}]})
    assert status == 422 and body["field"] == "to" and "sh-9" in body["error"], body
    status, body = await api.post("/v1/transfers", {"from": "sh-8", "to": "sh-2", "lines": [{"sku": A, "qty": 2}]})
    assert status == 422 and body["field"] == "from", body
    assert await api.on_hand("sh-1", A) == 10
    _, listed = await api.get("/v1/transfers")
    assert listed["transfers"] == []


async def test_a_cancelled_transfer_puts_its_units_back_in_the_source_once(api: Api) -> None:
    await _two_stores(api)
    _, before = await api.get(f"/v1/stores/sh-1/stock?sku={A}")
    status, t = await api.post("/v1/transfers", {"from": "sh-1", "to": "sh-2", "lines": [{"sku": A, "qty": 5}]})
    assert status == 201 and await api.on_hand("sh-1", A) == 5
    for _ in range(2):  # idempotent: the second call finds it cancelled and books nothing
        status, done = await api.post(f"/v1/transfers/{t['id']}/cancel")
        assert status == 200 and done["status"] == "cancelled" and done["cancelled_at"], done
    _, after = await api.get(f"/v1/stores/sh-1/stock?sku={A}")
    assert after["items"] == before["items"]  # same lots, expiries and zones as before it left
    assert await api.on_hand("sh-2", A) == 0
    status, body = await api.post(f"/v1/transfers/{t['id']}/receive")
    assert status == 409 and "cancelled" in body["error"], body
    assert await api.on_hand("sh-2", A) == 0
    _, listed = await api.get("/v1/transfers?status=cancelled")
    assert [x["id"] for x in listed["transfers"]] == [t["id"]]
    assert await reads.rebuild_mismatches(api.maker) == []


async def test_a_received_transfer_cannot_be_cancelled_and_only_the_sender_may_cancel(api: Api) -> None:
    await _two_stores(api)
    _, t = await api.post("/v1/transfers", {"from": "sh-1", "to": "sh-2", "lines": [{"sku": A, "qty": 3}]})
    receiver = await _token(api, "staff-sh-2", "sh-2")
    status, _ = await api.post(f"/v1/transfers/{t['id']}/cancel", None, receiver)
    assert status == 403
    status, _ = await api.post(f"/v1/transfers/{t['id']}/receive")
    assert status == 200
    status, body = await api.post(f"/v1/transfers/{t['id']}/cancel")
    assert status == 409 and "received" in body["error"], body
    assert (await api.on_hand("sh-1", A), await api.on_hand("sh-2", A)) == (7, 3)
    status, body = await api.post("/v1/transfers/t-nope/cancel")
    assert status == 404 and body["error"]


async def test_a_dock_read_of_a_cancelled_transfer_is_not_booked_and_is_dead_lettered_for_review(
        api: Api) -> None:
    """The cancel booked the units back into the source; a dock read at the destination then says
    they arrived after all. Booked as a receipt, they would be in both stores' books (and on sale
    twice): the read is not booked, the transfer stays cancelled, and a dead letter tells a person
    what happened and how to settle it."""
    await _two_stores(api)
    _, t = await api.post("/v1/transfers", {"from": "sh-1", "to": "sh-2", "lines": [{"sku": A, "qty": 5}]})
    status, _ = await api.post(f"/v1/transfers/{t['id']}/cancel")
    assert status == 200
    dock = StockDelta(id=str(uuid.uuid4()), seq=1, sku=A, kind=Kind.RECEIPT, qty=5, zone=Zone.BACKROOM,
                      occurred_at=datetime.now(UTC), source=Source.RFID, lot="L1",
                      ref=f"transfer:{t['id']}:dock-door-1")
    applied = await book(api.maker, "sh-2", dock)
    assert (await api.on_hand("sh-1", A), await api.on_hand("sh-2", A)) == (10, 0)
    assert (applied.applied, applied.dead_letters) == (0, 1)
    _, got = await api.get(f"/v1/transfers/{t['id']}")
    assert got["status"] == "cancelled" and got["received_by"] is None
    _, body = await api.get("/v1/dead-letters")
    [letter] = body["dead_letters"]
    assert t["id"] in letter["reason"] and "cancelled" in letter["reason"], letter
    assert "sh-1" in letter["reason"] and "count" in letter["reason"], letter
    assert [d.id for d in contract.decode_batch(letter["payload"]).deltas] == [dock.id]
    # the same read delivered again is a duplicate: no second dead letter, still nothing booked
    again = await book(api.maker, "sh-2", dock)
    assert (again.applied, again.duplicates, again.dead_letters) == (0, 1, 0)
    _, body = await api.get("/v1/dead-letters")
    assert len(body["dead_letters"]) == 1
    assert (await api.on_hand("sh-1", A), await api.on_hand("sh-2", A)) == (10, 0)
    assert await reads.rebuild_mismatches(api.maker) == []
