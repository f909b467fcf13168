"""The chain overview sorts by any figure and filters by name and state, in place (htmx swaps the
table; the address keeps the choice, so a reload or a shared link shows the same view)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from cloud.console import queries
from cloud.console.pages.overview import TODAY
from cloud.console.queries_today import Figures, TodayFigures, todays_figures
from cloud.keys import EVENTS, LIVE
from shared import contract
from shared.contract import (
    DeltaBatch,
    GatewayState,
    GatewayStatus,
    Kind,
    Source,
    StockDelta,
    Stream,
    Zone,
    new_delta_id,
)
from tests.console.conftest import sign_in
from tests.console.steering import serve
from tests.integration.conftest import ADMIN, Cloud, RawPublisher, cloud, raw, until
from tests.orders.chain import book

__all__ = ["cloud", "raw"]
SKU = "06923450000106"
SOLD = {"ov-a": 5, "ov-b": 1, "ov-c": 3}


def _sales(store: str, units: int) -> bytes:
    now = datetime.now(UTC)
    deltas = [StockDelta(id=new_delta_id(), seq=1, sku=SKU, kind=Kind.RECEIPT, qty=10, zone=Zone.FLOOR,
                         occurred_at=now, source=Source.MANUAL, confidence=1.0)]
    deltas += [StockDelta(id=new_delta_id(), seq=2 + i, sku=SKU, kind=Kind.SALE, qty=-1, zone=Zone.FLOOR,
                          occurred_at=now, source=Source.POS, confidence=1.0) for i in range(units)]
    return contract.encode(DeltaBatch(store, "gw-1", now, tuple(deltas)))


async def _order(page: Any) -> list[str]:
    return [s for s in await page.locator("#stores-table tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.store)")]


async def test_the_overview_sorts_and_filters_in_place(cloud: Cloud, raw: RawPublisher, new_page: Any) -> None:
    for store, units in SOLD.items():
        raw.publish(contract.gateway_topic(store, "gw-1", Stream.STATUS), contract.encode(
            GatewayStatus(store, "gw-1", GatewayState.ONLINE, datetime.now(UTC))))
        raw.publish(contract.gateway_topic(store, "gw-1", Stream.DELTAS), _sales(store, units))
    raw.publish(contract.gateway_topic("ov-c", "gw-1", Stream.STATUS), contract.encode(
        GatewayStatus("ov-c", "gw-1", GatewayState.OFFLINE, datetime.now(UTC))))

    async def ready() -> bool:
        _, body = await cloud.get("/v1/gateways")
        states = {g["store"]: g["state"] for g in body["gateways"]}
        return states == {"ov-a": "online", "ov-b": "online", "ov-c": "offline"} and \
            sum(g["deltas"] for g in body["gateways"]) == 3 + sum(SOLD.values())

    await until(ready, what="three stores reported")
    async with cloud.session.put(f"{cloud.url}/v1/stores/ov-b", json={"name": "Beijing Road"},
                                 headers={"Authorization": f"Bearer {ADMIN}"}) as r:
        assert r.status in (200, 201)
    page = await new_page()
    await sign_in(page, cloud.url, ADMIN)
    await page.evaluate("window.__not_reloaded = true")
    assert await _order(page) == ["ov-a", "ov-b", "ov-c"]  # by store

    await page.click("#stores-table th a:text('Sold today')")  # figures sort largest first
    await page.wait_for_selector("#stores-table th a[aria-sort=descending]:text('Sold today')")
    assert await _order(page) == ["ov-a", "ov-c", "ov-b"]
    assert "sort=sold" in page.url and "dir=desc" in page.url
    await page.click("#stores-table th a:text('Sold today')")
    await page.wait_for_selector("#stores-table th a[aria-sort=ascending]:text('Sold today')")
    assert await _order(page) == ["ov-b", "ov-c", "ov-a"]

    await page.select_option("select[name=state]", "offline")
    await page.wait_for_function("document.querySelectorAll('#stores-table tbody tr').length === 1")
    assert await _order(page) == ["ov-c"]
    assert "1 of 3 stores" in await page.locator("#stores-table header").inner_text()
    await page.select_option("select[name=state]", "all")
    await page.wait_for_function("document.querySelectorAll('#stores-table tbody tr').length === 3")
    await page.fill("input[name=q]", "beijing")  # by name, as typed
    await page.wait_for_selector("#stores-table tbody tr[data-store=ov-b]:only-child")
    assert await _order(page) == ["ov-b"]
    assert await page.evaluate("window.__not_reloaded === true")
    await page.reload()  # the address holds the view
    assert await _order(page) == ["ov-b"]
    assert await page.input_value("input[name=q]") == "beijing"


def _till(sku: str, kind: Kind, qty: int, at: datetime | None = None) -> StockDelta:
    return StockDelta(id=str(uuid.uuid4()), seq=1, sku=sku, kind=kind, qty=qty, zone=Zone.FLOOR,
                      occurred_at=at or datetime.now(UTC), source=Source.POS, confidence=1.0)


async def test_the_days_figures_kept_between_reads_equal_a_fresh_read_after_every_change(db_url: str) -> None:
    """The overview's TodayFigures (kept by the worker, summed again only for the stores the live
    hub's stock notices name) equal a fresh sum of the day's movements after sales, a shrink, a
    sale of yesterday, a new store and a listing's change (a notice naming no store); only the
    first read is a full one. The overview's rows show them."""
    async with serve(db_url) as chain:
        live, figures = chain.app[LIVE], chain.app[TODAY]
        since = queries.day_start(datetime.now(UTC), UTC)

        async def sold(store: str, *deltas: StockDelta) -> None:
            """Booked through the ledger's write path and announced as the ingest does; returns once
            the live hub has published its notice."""
            seen = live.generation
            applied = await book(chain.maker, store, *deltas)
            chain.app[EVENTS].publish(set(applied.changed))
            await until(lambda: live.generation > seen, 10, "the sale's notice")

        async def agree() -> Figures:
            kept = await figures.figures(since)
            async with chain.maker() as session:
                fresh = await todays_figures(session, since)
                rows = await queries.overview_rows(session, since, None, kept)
            assert kept == fresh
            assert {r.store: (r.sold_today, r.shrink_today) for r in rows if r.sold_today or r.shrink_today} \
                == {s: (f.get("sale", 0), f.get("shrink", 0)) for s, f in fresh.items()}
            return kept

        await chain.store("s-1")
        await chain.store("s-2")
        await sold("s-1", _till(SKU, Kind.RECEIPT, 50), _till(SKU, Kind.SALE, -3))
        assert await agree() == {"s-1": {"sale": 3}}
        assert (figures.full_reads, figures.partial_reads) == (1, 0)
        await sold("s-1", _till(SKU, Kind.SALE, -2))
        assert await agree() == {"s-1": {"sale": 5}}
        await sold("s-2", _till(SKU, Kind.RECEIPT, 9), _till(SKU, Kind.SHRINK, -1), _till(SKU, Kind.SALE, -4))
        await sold("s-2", _till(SKU, Kind.SALE, -1, since - timedelta(minutes=5)))  # yesterday's, late
        assert await agree() == {"s-1": {"sale": 5}, "s-2": {"sale": 4, "shrink": 1}}
        await sold("s-3", _till(SKU, Kind.SALE, -7))  # a store first heard of by its sale
        seen = live.generation
        await chain.channel("c-a", ["s-1"])
        await chain.put("/v1/channels/c-a/listings", {"listings": [{"sku": SKU, "channel_sku": "a-1"}]})
        await until(lambda: live.generation > seen, 10, "the listing's notice")
        assert await agree() == {"s-1": {"sale": 5}, "s-2": {"sale": 4, "shrink": 1}, "s-3": {"sale": 7}}
        assert figures.full_reads == 1 and figures.partial_reads == 3
        assert await figures.figures(since, ["s-2", "s-9"]) == {"s-2": {"sale": 4, "shrink": 1}}
        tomorrow = since + timedelta(days=1)  # a new day starts with a full read
        assert await figures.figures(tomorrow) == {} and figures.full_reads == 2


async def test_a_sale_no_notice_names_is_counted_after_the_full_read_behind_the_pages(db_url: str) -> None:
    """A sale that reaches no notice (another process writing the ledger) is counted once the
    full read made behind the pages (every FULL_EVERY_S) is done, the read that starts it
    answering from what it kept; a noticed store is summed alone."""
    async with serve(db_url) as chain:
        since = queries.day_start(datetime.now(UTC), UTC)
        noticed: set[str] = set()

        def changed() -> set[str]:
            out = set(noticed)
            noticed.clear()
            return out

        clock = [0.0]
        figures = TodayFigures(changed, lambda: chain.maker, full_every_s=60, clock=lambda: clock[0])
        await book(chain.maker, "s-1", _till(SKU, Kind.SALE, -1))
        assert await figures.figures(since) == {"s-1": {"sale": 1}}
        await book(chain.maker, "s-1", _till(SKU, Kind.SALE, -2))  # no notice
        assert await figures.figures(since) == {"s-1": {"sale": 1}} and figures.behind is None  # not due
        clock[0] = 61.0
        assert await figures.figures(since) == {"s-1": {"sale": 1}}  # answered at once; the full read behind
        await until(lambda: figures.full_reads == 2, 10, "the full read behind the pages")
        assert figures.behind is None and figures.partial_reads == 0
        assert await figures.figures(since) == {"s-1": {"sale": 3}}
        await book(chain.maker, "s-2", _till(SKU, Kind.SHRINK, -4))
        noticed.add("s-2")
        assert await figures.figures(since) == {"s-1": {"sale": 3}, "s-2": {"shrink": 4}}
        assert figures.partial_reads == 1
        figures.close()
