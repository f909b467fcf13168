"""The platforms as their own documentation and official SDKs describe them: each simulator answers
with the platform's published codes, and each adapter sorts those codes into the seam's kinds
(transient, rate-limited, refused, or a replay of a push that already happened). Every test runs
an adapter against its simulator over real HTTP; the sources are cited beside the rules in
cloud/channels/{shopify,jd,douyin}.py and firmware_sim/platforms/."""

from __future__ import annotations

import ast
from datetime import timedelta
from pathlib import Path

import pytest

from cloud.channels.base import PlatformError, RateLimited, Rejected, Replayed, Transient
from cloud.channels.config import Secret
from cloud.channels.douyin import DouyinAdapter
from cloud.channels.jd import JdAdapter
from cloud.channels.shopify import ShopifyAdapter
from firmware_sim.platforms import api_url
from tests.channels.conftest import Sim
from tests.integration.conftest import until

PLATFORM_SIMS = Path(__file__).resolve().parents[2] / "firmware_sim" / "platforms"


async def _failure(sim: Sim, how: str) -> PlatformError:
    """Provoke one failure of a push, the way `how` says, and return what the adapter raised."""
    changes: dict[str, object] = {}
    skew = timedelta(0)
    if how == "ratelimit":
        await sim.faults({"next": ["ratelimit"]})
    elif how == "backend":
        await sim.faults({"next": ["backend"]})
    elif how == "clock":
        skew = -timedelta(minutes=20)
    elif how == "secret":
        changes["secret"] = Secret("not-the-secret")
    elif how == "token":
        changes["session"] = Secret("not-the-token")
    elif how == "app_key":
        changes["app_key"] = "not-our-app"
    adapter = sim.adapter(skew=skew, **changes)
    with pytest.raises(PlatformError) as caught:
        await adapter.set_stock(sim.listing(), 5, previous=None, key=f"k-{how}")
    assert sim.held(sim.listing()) is None  # nothing was written
    return caught.value


# JOS system errors (jos.jd.com error-code table): 2 call limit, 8 timestamp, 12 signature,
# 19 access token, 21 app_key, 67 unknown backend error.
@pytest.mark.parametrize(("how", "kind", "code"), [
    ("ratelimit", RateLimited, "2"), ("clock", Transient, "8"), ("secret", Rejected, "12"),
    ("token", Rejected, "19"), ("app_key", Rejected, "21"), ("backend", Transient, "67")])
async def test_jd_answers_the_published_system_error_codes_and_each_is_classified(
        start_sim, how: str, kind: type[PlatformError], code: str) -> None:
    error = await _failure(await start_sim("jd"), how)
    assert type(error) is kind and error.code == code, (type(error), error)


async def test_jd_invalid_app_key_is_not_worth_a_retry(start_sim) -> None:
    """21 is a wrong app_key: retrying the same request can never succeed."""
    error = await _failure(await start_sim("jd"), "app_key")
    assert not isinstance(error, Transient)


async def test_jd_find_sku_stock_takes_sku_id_and_field_only(start_sim) -> None:
    sim = await start_sim("jd")
    adapter = sim.adapter()
    assert isinstance(adapter, JdAdapter)
    listing = sim.listing()
    await adapter.set_stock(listing, 6, previous=None, key="k1")
    with pytest.raises(Rejected):
        await adapter.call("jingdong.stock.read.findSkuStock", {"skuId": int(listing.sku_id), "storeId": 9})
    answer = await adapter.call("jingdong.stock.read.findSkuStock", {"skuId": int(listing.sku_id),
                                                                     "field": "skuId,stockNum,storeId"})
    assert answer["skuStocks"] == [{"skuId": int(listing.sku_id), "storeId": 9, "stockNum": 6}]
    assert await adapter.get_stock(listing) == 6


async def test_jd_reads_back_its_own_stores_row(start_sim) -> None:
    """findSkuStock answers one row per store; the channel's figure is its own store's row."""
    sim = await start_sim("jd")
    listing = sim.listing()
    await sim.adapter(store_id="4").set_stock(listing, 30, previous=None, key="other-store")
    ours = sim.adapter()
    await ours.set_stock(listing, 6, previous=None, key="ours")
    assert await ours.get_stock(listing) == 6


# Douyin shop (op.jinritemai.com, 平台基础错误码): 60000 traffic limit; 40003 invalid parameter with
# sub codes isv.timestamp-invalid, isv.signature-invalid, isv.access-token-no-existed; 20000 service
# unavailable.
@pytest.mark.parametrize(("how", "kind", "code", "sub_code"), [
    ("ratelimit", RateLimited, "60000", "isv.traffic-limited"),
    ("clock", Transient, "40003", "isv.timestamp-invalid"),
    ("secret", Rejected, "40003", "isv.signature-invalid"),
    ("token", Rejected, "40003", "isv.access-token-no-existed"),
    ("backend", Transient, "20000", "dop.service-error")])
async def test_douyin_answers_the_published_codes_and_each_is_classified(
        start_sim, how: str, kind: type[PlatformError], code: str, sub_code: str) -> None:
    error = await _failure(await start_sim("douyin"), how)
    assert type(error) is kind and error.code == code, (type(error), error)
    assert sub_code in str(error)


async def test_douyin_a_repeated_idempotent_id_is_a_replay_not_a_failure(start_sim) -> None:
    """The platform answers a known idempotent_id with 40003 isv.idempotent-id-existed: that push
    happened already. The adapter reports success (replayed), and the stock is not set again."""
    sim = await start_sim("douyin")
    adapter = sim.adapter()
    assert isinstance(adapter, DouyinAdapter)
    listing = sim.listing()
    first = await adapter.set_stock(listing, 10, previous=None, key="push-1")
    assert not first.replayed
    sim.platform.stock[next(k for k in sim.platform.stock if k[1] == listing.sku_id)] = 7  # a sale
    again = await adapter.set_stock(listing, 10, previous=None, key="push-1")
    assert again.replayed and sim.held(listing) == 7
    with pytest.raises(Replayed) as caught:  # what the platform said, underneath
        await adapter.call("sku.syncStock", {"sku_id": int(listing.sku_id), "product_id": int(listing.item_id),
                                             "stock_num": 10, "incremental": False, "idempotent_id": "push-1"})
    assert caught.value.code == "40003" and "isv.idempotent-id-existed" in str(caught.value)


async def test_douyin_regional_stock_is_read_back_from_stock_map(start_sim) -> None:
    """A push with out_warehouse_id sets that warehouse's stock; sku.detail then says sku_type 1 and
    carries it in stock_map (keyed by out_warehouse_id), not in stock_num."""
    sim = await start_sim("douyin")
    regional = sim.adapter()  # the test channel's store_id "9" is its out_warehouse_id
    assert isinstance(regional, DouyinAdapter)
    listing = sim.listing()
    await regional.set_stock(listing, 17, previous=None, key="k1")
    detail = await regional.call("sku.detail", {"sku_id": int(listing.sku_id)})
    assert detail["sku_type"] == 1 and detail["stock_map"] == {"9": 17} and detail["stock_num"] == 0
    assert await regional.get_stock(listing) == 17


async def test_douyin_national_stock_is_read_back_from_stock_num(start_sim) -> None:
    sim = await start_sim("douyin")
    national = sim.adapter(store_id="")
    assert isinstance(national, DouyinAdapter)
    listing = sim.listing(2)
    await national.set_stock(listing, 5, previous=None, key="k1")
    detail = await national.call("sku.detail", {"sku_id": int(listing.sku_id)})
    assert detail["sku_type"] == 0 and detail["stock_num"] == 5
    assert await national.get_stock(listing) == 5


def _shopify_url(sim: Sim, version: str) -> str:
    return f"http://127.0.0.1:{sim.port}/admin/api/{version}/graphql.json"


async def test_shopify_the_simulator_refuses_a_version_without_change_from_quantity(start_sim) -> None:
    """2025-10's schema has neither changeFromQuantity nor @idempotent (both arrive in 2026-01):
    Shopify answers the mutation with validation errors and changes nothing."""
    sim = await start_sim("shopify")
    listing = sim.listing()
    old = sim.adapter(url=_shopify_url(sim, "2025-10"))
    with pytest.raises(Rejected) as caught:
        await old.set_stock(listing, 9, previous=None, key="k1")
    assert "idempotent" in str(caught.value) and "changeFromQuantity" in str(caught.value)
    assert sim.held(listing) is None
    for version in ("2026-01", "2026-04"):
        await sim.adapter(url=_shopify_url(sim, version)).set_stock(listing, 9, previous=None, key=version)
        assert sim.held(listing) == 9


async def test_shopify_the_simulators_default_version_has_both() -> None:
    version = api_url("shopify", 1).split("/")[-2]
    assert version >= "2026-01", version


async def test_shopify_a_concurrent_request_with_our_key_means_try_again(start_sim) -> None:
    """A push whose answer we gave up on is still running on Shopify; the retry with the same key
    gets IDEMPOTENCY_CONCURRENT_REQUEST ("currently in progress, please try again"): transient.
    Once the first has finished, the same key answers the first result."""
    sim = await start_sim("shopify")
    adapter = sim.adapter()
    assert isinstance(adapter, ShopifyAdapter)
    listing = sim.listing()
    # the adapter gives up after 0.5 s; the write runs until released, however slow the machine
    await sim.faults({"next": ["slow"], "hang_s": 3600})
    with pytest.raises(Transient):
        await adapter.set_stock(listing, 12, previous=None, key="k1")
    with pytest.raises(Transient) as caught:
        await adapter.set_stock(listing, 12, previous=None, key="k1")
    assert not isinstance(caught.value, Rejected) and caught.value.code == "IDEMPOTENCY_CONCURRENT_REQUEST"
    await sim.faults({"release": True})
    await until(lambda: sim.held(listing) == 12, 10, "the first try to land")
    assert (await adapter.set_stock(listing, 12, previous=None, key="k1")).qty == 12
    assert sim.platform.counts["replays"] == 1 and sim.held(listing) == 12


async def test_shopify_a_key_reused_with_other_parameters_is_refused(start_sim) -> None:
    sim = await start_sim("shopify")
    adapter, listing = sim.adapter(), sim.listing()
    await adapter.set_stock(listing, 12, previous=None, key="k1")
    with pytest.raises(Rejected) as caught:
        await adapter.set_stock(listing, 3, previous=12, key="k1")
    assert caught.value.code == "IDEMPOTENCY_KEY_PARAMETER_MISMATCH" and sim.held(listing) == 12


async def test_douyin_a_slow_push_retried_with_its_key_is_one_push(start_sim) -> None:
    """The first try lands after the adapter gave up; the retry with the same idempotent_id is
    answered as already done: one write, and the caller counts it a success."""
    sim = await start_sim("douyin")
    adapter, listing = sim.adapter(), sim.listing()
    await sim.faults({"next": ["slow"], "hang_s": 1.0})
    with pytest.raises(Transient):
        await adapter.set_stock(listing, 8, previous=None, key="k1")
    assert (await adapter.set_stock(listing, 8, previous=None, key="k1")).replayed
    await until(lambda: sim.held(listing) == 8, 10, "the first try to land")
    assert [h[3] for h in sim.platform.history] == [8]


def test_the_platform_simulators_import_nothing_from_the_code_they_test() -> None:
    """They check signatures, windows and codes with their own code (a shared signing bug would be
    invisible end to end)."""
    found = {}
    for path in sorted(PLATFORM_SIMS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            bad = [n for n in names if n.split(".")[0] in ("cloud", "edge")]
            if bad:
                found[path.name] = bad
    assert found == {}
