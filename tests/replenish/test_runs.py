"""Replenishment runs on the ledger: sales history → run (on demand and nightly) → stored
suggestions, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import date

from cloud.keys import REPLENISHMENT
from tests.orders.chain import Api
from tests.replenish.ledger_history import A, B, chain_with_history


async def _token(api: Api, name: str, role: str, store: str | None = None) -> str:
    status, body = await api.post("/v1/tokens", {"name": name, "role": role, "store": store})
    assert status == 201, body
    return str(body["token"])


async def test_a_run_moves_surplus_first_and_buys_for_the_warehouse_in_packs(api: Api) -> None:
    await chain_with_history(api)
    status, run = await api.post("/v1/replenishment/runs", {"wait": True})
    assert status == 201 and run["status"] == "done", run
    assert run["summary"]["locations"] == 3 and run["summary"]["skus"] == 2
    assert run["summary"]["unbuyable_skus"] == 1  # B has no terms
    _, got = await api.get("/v1/replenishment/suggestions")
    assert got["run"] == run["id"]
    rows = got["suggestions"]
    moves = [(s["source"], s["location"], s["sku"]) for s in rows if s["kind"] == "transfer"]
    # sh-1 (2 A left, ~5 a day) is lifted from sh-2's surplus (40 A, ~3 a day) before anything is bought
    assert ("sh-2", "sh-1", A) in moves, rows
    buys = [s for s in rows if s["kind"] == "purchase"]
    assert buys and {(s["supplier"], s["location"], s["sku"]) for s in buys} == {("acme", "wh", A)}, buys
    assert all(s["units"] % 6 == 0 and s["units"] >= 12 for s in buys)
    assert all(s["units"] > 0 for s in rows)
    assert all(s["detail"]["order_up_to"] >= s["detail"]["reorder_point"] for s in rows if s["kind"] != "emergency")
    # B sells at sh-1, nobody has any and nobody can buy it: the region is short (level 3)
    assert [(s["sku"], s["location"], s["level"]) for s in rows if s["kind"] == "emergency"] == [(B, "wh", 3)]
    shop = await _token(api, "shop-2", "store", "sh-2")
    _, mine = await api.get("/v1/replenishment/suggestions", token=shop)
    assert mine["suggestions"] and all("sh-2" in (s["location"], s["source"]) for s in mine["suggestions"])
    status, _ = await api.get("/v1/replenishment/runs", token=shop)
    assert status == 403


async def test_without_a_warehouse_stores_buy_from_the_supplier(api: Api) -> None:
    await chain_with_history(api, warehouse=False)
    _, run = await api.post("/v1/replenishment/runs", {"wait": True})
    _, got = await api.get(f"/v1/replenishment/suggestions?run={run['id']}&kind=purchase")
    bought = {(s["location"], s["sku"]) for s in got["suggestions"]}
    assert ("sh-1", A) in bought and bought <= {("sh-1", A), ("sh-2", A)}, got
    assert all(s["units"] % 6 == 0 and s["units"] >= 12 for s in got["suggestions"])


async def test_a_run_started_behind_the_api_finishes_and_one_worker_runs_each_night(api: Api) -> None:
    await chain_with_history(api)
    status, started = await api.post("/v1/replenishment/runs")
    assert status == 202 and started["status"] == "running"
    rep = api.app[REPLENISHMENT]
    await asyncio.gather(*rep.tasks)  # the run's own task: waited on, not polled
    _, run = await api.get(f"/v1/replenishment/runs/{started['id']}")
    assert run["status"] == "done", run
    night = date(2026, 12, 7)
    first, second = await asyncio.gather(rep.nightly(night), rep.nightly(night))
    assert [r is None for r in (first, second)].count(True) == 1
    done = first or second
    assert done is not None and done["trigger"] == "nightly" and done["night"] == "2026-12-07"
    _, runs = await api.get("/v1/replenishment/runs")
    assert [r["trigger"] for r in runs["runs"]].count("nightly") == 1
    status, _ = await api.get("/v1/replenishment/runs/r-none")
    assert status == 404


async def test_transfer_suggestions_become_transfers_once(api: Api) -> None:
    await chain_with_history(api)
    _, run = await api.post("/v1/replenishment/runs", {"wait": True})
    _, got = await api.get(f"/v1/replenishment/suggestions?run={run['id']}&kind=transfer&location=sh-1")
    lifted = sum(s["units"] for s in got["suggestions"] if s["source"] == "sh-2")
    assert lifted > 0
    twice = await asyncio.gather(*(api.post("/v1/replenishment/transfers", {"from": "sh-2"}) for _ in range(2)))
    made = [t for s, body in twice if s == 200 for t in body["transfers"]]
    assert [(t["from"], t["to"], sum(ln["qty"] for ln in t["lines"])) for t in made] == [("sh-2", "sh-1", lifted)]
    assert await api.on_hand("sh-2", A) == 40 - lifted  # in transit: out of the source at once
    _, after = await api.get(f"/v1/replenishment/suggestions?run={run['id']}&kind=transfer&location=sh-1")
    assert {s["acted"] for s in after["suggestions"] if s["source"] == "sh-2"} == {made[0]["id"]}
    _, again = await api.post("/v1/replenishment/transfers", {"run": run["id"]})
    assert all(t["from"] != "sh-2" for t in again["transfers"])


async def test_a_run_the_worker_stops_says_so_instead_of_running_for_ever(api: Api) -> None:
    await chain_with_history(api)
    _, started = await api.post("/v1/replenishment/runs")
    await api.app[REPLENISHMENT].close()  # as at the worker's shutdown
    _, run = await api.get(f"/v1/replenishment/runs/{started['id']}")
    assert run["status"] == "failed" and "stopped" in run["error"], run
