"""Purchase orders end to end on SQLite and PostgreSQL: sales history in the ledger → nightly run →
suggestions → purchase order → partial receipts → stock; and the order's states by hand."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from cloud.db import reads
from cloud.keys import REPLENISHMENT
from tests.orders.chain import Api
from tests.replenish.ledger_history import A, chain_with_history


async def _token(api: Api, name: str, role: str, store: str | None = None) -> str:
    status, body = await api.post("/v1/tokens", {"name": name, "role": role, "store": store})
    assert status == 201, body
    return str(body["token"])


async def _bought(api: Api, run: str) -> int:
    _, got = await api.get(f"/v1/replenishment/suggestions?run={run}&kind=purchase&location=wh&sku={A}")
    return sum(s["units"] for s in got["suggestions"])


async def test_history_to_stock_through_a_nightly_run_and_a_purchase_order(api: Api) -> None:
    await chain_with_history(api)
    rep = api.app[REPLENISHMENT]
    night = await rep.nightly(datetime.now(UTC).date())
    assert night is not None and night["status"] == "done", night
    wanted = await _bought(api, night["id"])
    assert wanted >= 12 and wanted % 6 == 0
    status, made = await api.post("/v1/purchase-orders/from-suggestions", {"supplier": "acme"})
    assert status == 201 and len(made["purchase_orders"]) == 1, made
    po = made["purchase_orders"][0]
    assert (po["status"], po["location"], po["lines"][0]["qty"], po["lines"][0]["unit_cost"]) == (
        "draft", "wh", wanted, 10.0)
    _, again = await api.post("/v1/purchase-orders/from-suggestions", {"supplier": "acme", "run": night["id"]})
    assert [p["id"] for p in again["purchase_orders"]] == [po["id"]]  # made once
    status, refused = await api.post(f"/v1/purchase-orders/{po['id']}/receive",
                                     {"ref": "DN-0", "lines": [{"line": 0, "qty": 1}]})
    assert status == 409, refused  # a draft was never sent: nothing can arrive
    status, sent = await api.post(f"/v1/purchase-orders/{po['id']}/send")
    assert status == 200 and sent["status"] == "sent"
    # sent and not received: the next run counts it as on order and does not buy it again
    _, second = await api.post("/v1/replenishment/runs", {"wait": True})
    assert await _bought(api, second["id"]) < wanted
    half = wanted // 2
    first = {"ref": "DN-1", "lines": [{"line": 0, "qty": half, "lot": "L1", "expiry": "2027-08-01"}]}
    status, part = await api.post(f"/v1/purchase-orders/{po['id']}/receive", first)
    assert status == 200 and part["status"] == "partial" and part["lines"][0]["received"] == half, part
    assert await api.on_hand("wh", A) == 10 + half
    status, same = await api.post(f"/v1/purchase-orders/{po['id']}/receive", first)  # the same note again
    assert status == 200 and same["lines"][0]["received"] == half
    status, over = await api.post(f"/v1/purchase-orders/{po['id']}/receive",
                                  {"ref": "DN-2", "lines": [{"line": 0, "qty": wanted - half + 1}]})
    assert status == 409 and over["field"] == "lines[0].qty" and over["due"] == wanted - half, over
    assert await api.on_hand("wh", A) == 10 + half  # nothing of a refused delivery is booked
    status, done = await api.post(f"/v1/purchase-orders/{po['id']}/receive",
                                  {"ref": "DN-2", "lines": [{"line": 0, "qty": wanted - half}]})
    assert status == 200 and done["status"] == "received" and done["receipts"] == ["DN-1", "DN-2"], done
    assert await api.on_hand("wh", A) == 10 + wanted
    _, stock = await api.get(f"/v1/stores/wh/stock?sku={A}")
    assert {lot["lot"]: lot["expiry"] for lot in stock["items"][0]["lots"]}.get("L1") == "2027-08-01"
    _, moves = await api.get("/v1/stores/wh/movements")
    assert sum(m["qty"] for m in moves["movements"] if m["kind"] == "receipt") == 10 + wanted
    assert await reads.rebuild_mismatches(api.maker) == []


async def test_purchase_orders_by_hand_their_states_and_who_may_see_them(api: Api) -> None:
    await chain_with_history(api)
    status, bad = await api.post("/v1/purchase-orders", {"supplier": "nobody", "location": "wh",
                                                         "lines": [{"sku": A, "qty": 6}]})
    assert status == 422 and bad["field"] == "supplier"
    status, po = await api.post("/v1/purchase-orders", {"supplier": "acme", "location": "sh-1",
                                                        "lines": [{"sku": A, "qty": 12}, {"sku": A, "qty": 6,
                                                                                          "unit_cost": 9.5}]})
    assert status == 201 and [ln["unit_cost"] for ln in po["lines"]] == [10.0, 9.5] and po["value"] == 177.0
    other = await _token(api, "shop-2", "store", "sh-2")
    status, _ = await api.get(f"/v1/purchase-orders/{po['id']}", token=other)
    assert status == 404
    mine = await _token(api, "shop-1", "store", "sh-1")
    status, _ = await api.post(f"/v1/purchase-orders/{po['id']}/send", token=mine)
    assert status == 403  # hq sends
    await api.post(f"/v1/purchase-orders/{po['id']}/send")
    before = await api.on_hand("sh-1", A)
    # two deliveries race for the 6 units still due on line 1 after 12 + 0: only one books
    status, _ = await api.post(f"/v1/purchase-orders/{po['id']}/receive",
                               {"ref": "D-1", "lines": [{"line": 0, "qty": 12}]}, token=mine)
    assert status == 200
    results = await asyncio.gather(*(api.post(f"/v1/purchase-orders/{po['id']}/receive",
                                              {"ref": f"D-r{i}", "lines": [{"line": 1, "qty": 6}]}, token=mine)
                                     for i in range(4)))
    assert sorted(s for s, _ in results) == [200, 409, 409, 409], results
    assert await api.on_hand("sh-1", A) == before + 18
    status, _ = await api.post(f"/v1/purchase-orders/{po['id']}/cancel")
    assert status == 409  # received
    _, listed = await api.get("/v1/purchase-orders?status=received", token=mine)
    assert [p["id"] for p in listed["purchase_orders"]] == [po["id"]]
    _, draft = await api.post("/v1/purchase-orders", {"supplier": "acme", "location": "wh",
                                                      "lines": [{"sku": A, "qty": 6}]})
    status, gone = await api.post(f"/v1/purchase-orders/{draft['id']}/cancel")
    assert status == 200 and gone["status"] == "cancelled"
    status, _ = await api.post(f"/v1/purchase-orders/{draft['id']}/send")
    assert status == 409
    assert await reads.rebuild_mismatches(api.maker) == []
