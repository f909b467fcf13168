"""Each adapter against its simulator over real HTTP: the happy path and every failure the
platform can answer, translated into the seam's error kinds."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cloud.channels.base import RateLimited, Rejected, Stale, Transient
from cloud.channels.config import Secret
from cloud.channels.douyin import DouyinAdapter
from cloud.channels.taobao import TaobaoAdapter
from tests.channels.conftest import KINDS

SIGNED = [k for k in KINDS if k != "shopify"]  # Shopify authenticates by token, with no timestamp


@pytest.mark.parametrize("kind", KINDS)
async def test_a_figure_set_is_held_by_the_platform_and_read_back(start_sim, kind: str) -> None:
    sim = await start_sim(kind)
    adapter, listing = sim.adapter(), sim.listing()
    result = await adapter.set_stock(listing, 17, previous=None, key="k1")
    assert result.qty in (17, None)
    assert sim.held(listing) == 17
    assert await adapter.get_stock(listing) == 17
    await adapter.set_stock(listing, 3, previous=17, key="k2")
    assert sim.held(listing) == 3 and await adapter.get_stock(listing) == 3


@pytest.mark.parametrize("kind", KINDS)
async def test_a_wrong_signature_is_rejected_and_changes_nothing(start_sim, kind: str) -> None:
    sim = await start_sim(kind)
    listing = sim.listing()
    await sim.adapter().set_stock(listing, 5, previous=None, key="k1")
    bad = sim.adapter(secret=Secret("not-the-secret"), session=Secret("not-the-token")
                      if kind == "shopify" else sim.config.session)
    with pytest.raises(Rejected):
        await bad.set_stock(listing, 9, previous=5, key="k2")
    assert sim.held(listing) == 5
    assert sim.platform.counts["bad_signature"] == 1


@pytest.mark.parametrize("kind", SIGNED)
async def test_an_expired_timestamp_is_a_transient_error_and_changes_nothing(start_sim, kind: str) -> None:
    """The platform refuses a request signed 20 minutes ago; the next try is signed afresh, so it
    is retryable (a clock that stays wrong ends in the driver's visible failure)."""
    sim = await start_sim(kind)
    listing = sim.listing()
    await sim.adapter().set_stock(listing, 5, previous=None, key="k1")
    late = sim.adapter(skew=-timedelta(minutes=20))
    with pytest.raises(Transient) as caught:
        await late.set_stock(listing, 9, previous=5, key="k2")
    assert not isinstance(caught.value, RateLimited)
    assert sim.held(listing) == 5
    assert sim.platform.counts["bad_timestamp"] == 1


@pytest.mark.parametrize("kind", KINDS)
async def test_the_platforms_rate_limit_error_says_when_to_retry(start_sim, kind: str) -> None:
    sim = await start_sim(kind)
    adapter, listing = sim.adapter(), sim.listing()
    await sim.faults({"next": ["ratelimit"]})
    with pytest.raises(RateLimited) as caught:
        await adapter.set_stock(listing, 4, previous=None, key="k1")
    assert caught.value.retry_after > 0
    await adapter.set_stock(listing, 4, previous=None, key="k2")
    assert sim.held(listing) == 4


async def test_the_simulators_rate_limit_is_enforced(start_sim) -> None:
    sim = await start_sim("taobao", limit=2.0)
    adapter = sim.adapter()
    outcomes = []
    for n in range(6):
        try:
            await adapter.set_stock(sim.listing(n), n, previous=None, key=f"k{n}")
            outcomes.append("ok")
        except RateLimited:
            outcomes.append("limited")
    assert "limited" in outcomes and outcomes[0] == "ok"


@pytest.mark.parametrize("kind", KINDS)
async def test_a_5xx_is_transient_and_the_retry_succeeds(start_sim, kind: str) -> None:
    sim = await start_sim(kind)
    adapter, listing = sim.adapter(), sim.listing()
    await sim.faults({"next": ["5xx"]})
    with pytest.raises(Transient):
        await adapter.set_stock(listing, 8, previous=None, key="k1")
    await adapter.set_stock(listing, 8, previous=None, key="k1")
    assert sim.held(listing) == 8


@pytest.mark.parametrize("kind", ["taobao", "shopify"])
async def test_a_hung_request_times_out_as_transient(start_sim, kind: str) -> None:
    sim = await start_sim(kind)
    adapter, listing = sim.adapter(), sim.listing()
    await sim.faults({"next": ["timeout"], "hang_s": 1.0})
    with pytest.raises(Transient):
        await adapter.set_stock(listing, 8, previous=None, key="k1")


@pytest.mark.parametrize("kind", KINDS)
async def test_a_platform_that_is_down_answers_transient(start_sim, kind: str) -> None:
    sim = await start_sim(kind)
    await sim.faults({"down_for": 30})
    with pytest.raises(Transient):
        await sim.adapter().get_stock(sim.listing())


@pytest.mark.parametrize("kind", ["shopify", "wechat"])
async def test_a_stale_compare_value_is_refused_with_the_current_figure(start_sim, kind: str) -> None:
    sim = await start_sim(kind)
    adapter, listing = sim.adapter(), sim.listing()
    await adapter.set_stock(listing, 10, previous=None, key="k1")
    await sim.faults({"next": ["stale"]})  # a buyer takes one unit just before our write
    with pytest.raises(Stale) as caught:
        await adapter.set_stock(listing, 6, previous=10, key="k2")
    assert caught.value.current == 9 and sim.held(listing) == 9
    await adapter.set_stock(listing, 6, previous=9, key="k3")
    assert sim.held(listing) == 6


@pytest.mark.parametrize("kind", ["shopify", "wechat", "douyin"])
async def test_a_repeated_idempotency_key_changes_stock_once(start_sim, kind: str) -> None:
    sim = await start_sim(kind)
    adapter, listing = sim.adapter(), sim.listing()
    await adapter.set_stock(listing, 10, previous=None, key="k1")
    await adapter.set_stock(listing, 4, previous=10, key="k2")
    sim.platform.stock[next(k for k in sim.platform.stock if k[1].endswith(listing.sku_id))] = 7  # a sale
    await adapter.set_stock(listing, 4, previous=10, key="k2")  # our retry of a push that had landed
    assert sim.held(listing) == 7
    assert sim.platform.counts["replays"] == 1


async def test_douyin_incremental_needs_and_honours_an_idempotent_id(start_sim) -> None:
    sim = await start_sim("douyin")
    adapter, listing = sim.adapter(), sim.listing()
    assert isinstance(adapter, DouyinAdapter)
    await adapter.set_stock(listing, 10, previous=None, key="k1")
    await adapter.adjust(listing, -3, key="sale-1")
    await adapter.adjust(listing, -3, key="sale-1")
    assert sim.held(listing) == 7
    with pytest.raises(Rejected):
        await adapter.adjust(listing, -30, key="sale-2")  # below zero is an error on Douyin
    assert sim.held(listing) == 7


async def test_taobao_incremental_and_batched_updates(start_sim) -> None:
    sim = await start_sim("taobao")
    adapter = sim.adapter()
    assert isinstance(adapter, TaobaoAdapter)
    a, b = sim.listing(1), sim.listing(2)
    a, b = a, type(b)(b.channel, b.sku, a.item_id, b.sku_id)  # two SKUs of one item
    got = await adapter.set_many(a.item_id, {a.sku_id: 5, b.sku_id: 6})
    assert got == {a.sku_id: 5, b.sku_id: 6}
    assert (await adapter.adjust(a, -2)).qty == 3
    with pytest.raises(Rejected):  # item.quantity.update: incremental may not go below 0
        await adapter.adjust(a, -10)
    got = await adapter.set_many(a.item_id, {a.sku_id: -10}, full=False)  # skus.quantity.update: floors at 0
    assert got[a.sku_id] == 0 and sim.held(b) == 6
    with pytest.raises(ValueError):
        await adapter.set_many(a.item_id, {str(n): 1 for n in range(21)})


@pytest.mark.parametrize("sign_method", ["hmac", "hmac-sha256"])
async def test_taobao_hmac_signing_is_accepted_and_checked(start_sim, sign_method: str) -> None:
    sim = await start_sim("taobao")
    adapter = sim.adapter()
    assert isinstance(adapter, TaobaoAdapter)
    adapter.sign_method = sign_method
    await adapter.set_stock(sim.listing(), 6, previous=None, key="k")
    assert sim.held(sim.listing()) == 6
    wrong = sim.adapter(secret=Secret("other"))
    assert isinstance(wrong, TaobaoAdapter)
    wrong.sign_method = sign_method
    with pytest.raises(Rejected):
        await wrong.set_stock(sim.listing(), 1, previous=6, key="k2")
