"""Chain settings over HTTP (hq writes; finance and hq read): stores, products, channels, listings,
tokens.

PUT  /v1/stores/{store}                 {"name", "lat", "lon"}
PUT  /v1/products/{sku}                 {"name", "category", "unit_cost", "min_stock"}
PUT  /v1/channels/{channel}             {"platform", "safety", "share_pct", "min_qty", "max_qty",
                                         "split", "hold_s", "stores": [{"store", "ship", "pickup"}]}
GET  /v1/channels, GET /v1/channels/{channel}
PUT  /v1/channels/{channel}/listings    {"listings": [{"channel_sku", "item_id", "sku"}]}  (upsert)
GET  /v1/channels/{channel}/listings
POST /v1/tokens {"name", "role", "store"?} → {"token"} (shown once); GET /v1/tokens;
DELETE /v1/tokens/{name}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from cloud.api.handlers import MAKER, _error
from cloud.api.orders import ORDERS, _body
from cloud.auth import Role, create_token, list_tokens, principal, require_hq, revoke_token
from cloud.db.models import Channel, ChannelStore, Listing, Product, Store
from cloud.db.orders import channel_configs
from cloud.db.repo import _upsert
from cloud.events import EVENTS
from edge.contract import ContractError, check_id, is_gtin14

PLATFORMS = ("taobao", "jd", "pdd", "douyin", "shopify", "wechat", "pos", "none")


def _int(body: Mapping[str, Any], name: str, default: int | None, lo: int = 0,
         hi: int = 1_000_000) -> int | None:
    value = body.get(name, default)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ContractError(name, f"must be an integer from {lo} to {hi}, got {value!r}")
    return value


def _float(body: Mapping[str, Any], name: str, lo: float, hi: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not lo <= value <= hi:
        raise ContractError(name, f"must be a number from {lo} to {hi}, got {value!r}")
    return float(value)


def _str(body: Mapping[str, Any], name: str, max_len: int, default: str = "") -> str:
    value = body.get(name, default)
    if not isinstance(value, str) or len(value) > max_len:
        raise ContractError(name, f"must be a string of at most {max_len} characters")
    return value


async def _upsert_row(request: web.Request, model: Any, keys: list[str], row: dict[str, Any]) -> None:
    async with request.app[MAKER]() as session, session.begin():
        stmt = _upsert(session)(model).values(**row)
        await session.execute(stmt.on_conflict_do_update(
            index_elements=keys, set_={k: v for k, v in row.items() if k not in keys}))


async def put_store(request: web.Request) -> web.Response:
    require_hq(request)
    try:
        store = check_id(request.match_info["store"], "store")
        body = await _body(request)
        row = {"store": store, "name": _str(body, "name", 128), "lat": _float(body, "lat", -90, 90),
               "lon": _float(body, "lon", -180, 180)}
    except ContractError as e:
        return _error(400, str(e))
    await _upsert_row(request, Store, ["store"], row)
    request.app[ORDERS].settings_changed()
    return web.json_response(row)


async def put_product(request: web.Request) -> web.Response:
    require_hq(request)
    sku = request.match_info["sku"]
    if not is_gtin14(sku):
        return _error(400, f"sku must be a GTIN-14 with a valid check digit, got {sku!r}")
    try:
        body = await _body(request)
        row = {"sku": sku, "name": _str(body, "name", 256), "category": _str(body, "category", 64),
               "unit_cost": _float(body, "unit_cost", 0, 1e9), "min_stock": _int(body, "min_stock", 2)}
    except ContractError as e:
        return _error(400, str(e))
    await _upsert_row(request, Product, ["sku"], row)
    return web.json_response(row)


async def put_channel(request: web.Request) -> web.Response:
    require_hq(request)
    try:
        name = check_id(request.match_info["channel"], "channel")
        body = await _body(request)
        platform = body.get("platform", "none")
        if platform not in PLATFORMS:
            raise ContractError("platform", f"must be one of {', '.join(PLATFORMS)}")
        split = body.get("split", False)
        if not isinstance(split, bool):
            raise ContractError("split", "must be true or false")
        row = {"name": name, "platform": platform, "safety": _int(body, "safety", 0),
               "share_pct": _int(body, "share_pct", 100, 0, 100), "min_qty": _int(body, "min_qty", 0),
               "max_qty": _int(body, "max_qty", None), "split": split,
               "hold_s": _int(body, "hold_s", 900, 10, 30 * 86400)}
        stores = body.get("stores", [])
        if not isinstance(stores, list):
            raise ContractError("stores", "must be an array of {store, ship, pickup}")
        links = []
        for i, s in enumerate(stores):
            if not isinstance(s, Mapping):
                raise ContractError(f"stores[{i}]", "must be an object")
            ship, pickup = s.get("ship", True), s.get("pickup", False)
            if not isinstance(ship, bool) or not isinstance(pickup, bool):
                raise ContractError(f"stores[{i}]", "ship and pickup must be true or false")
            links.append({"channel": name, "store": check_id(s.get("store"), f"stores[{i}].store"),
                          "ship": ship, "pickup": pickup})
    except ContractError as e:
        return _error(400, str(e))
    async with request.app[MAKER]() as session, session.begin():
        stmt = _upsert(session)(Channel).values(**row)
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["name"], set_={k: v for k, v in row.items() if k != "name"}))
        await session.execute(delete(ChannelStore).where(ChannelStore.channel == name))
        if links:
            await session.execute(_upsert(session)(ChannelStore), links)
        listed = (await session.scalars(select(Listing.sku).where(Listing.channel == name))).all()
    request.app[ORDERS].settings_changed()
    # new rules or stores change the channel's figures: platform sync re-reads them (no store: "")
    request.app[EVENTS].publish(("", sku) for sku in listed)
    return web.json_response({**row, "stores": links})


def _channel_json(cfg: Any) -> dict[str, Any]:
    r = cfg.rules
    return {"name": cfg.name, "platform": cfg.platform, "safety": r.safety, "share_pct": r.share_pct,
            "min_qty": r.min_qty, "max_qty": r.max_qty, "split": cfg.split, "hold_s": cfg.hold_s,
            "ship_stores": list(cfg.ship), "pickup_stores": list(cfg.pickup)}


async def get_channels(request: web.Request) -> web.Response:
    name = request.match_info.get("channel")
    if principal(request).role is Role.STORE:
        return _error(403, "channel settings are chain-wide: hq and finance only")
    async with request.app[MAKER]() as session:
        configs = await channel_configs(session, name)
    if name is not None:
        if name not in configs:
            return _error(404, f"unknown channel {name!r}")
        return web.json_response(_channel_json(configs[name]))
    return web.json_response({"channels": [_channel_json(c) for _, c in sorted(configs.items())]})


async def put_listings(request: web.Request) -> web.Response:
    require_hq(request)
    channel = request.match_info["channel"]
    try:
        body = await _body(request)
        listings = body.get("listings")
        if not isinstance(listings, list) or not listings or len(listings) > 10_000:
            raise ContractError("listings", "must be an array of 1 to 10000 listings")
        rows = []
        for i, li in enumerate(listings):
            if not isinstance(li, Mapping):
                raise ContractError(f"listings[{i}]", "must be an object")
            if not is_gtin14(li.get("sku")):
                raise ContractError(f"listings[{i}].sku", "must be a GTIN-14 with a valid check digit")
            rows.append({"channel": channel, "channel_sku": _str(li, "channel_sku", 64) or _missing(i),
                         "item_id": _str(li, "item_id", 64), "sku": li["sku"]})
    except ContractError as e:
        return _error(400, str(e))
    async with request.app[MAKER]() as session, session.begin():
        if channel not in await channel_configs(session, channel):
            return _error(404, f"unknown channel {channel!r}: PUT /v1/channels/{channel} first")
        stmt = _upsert(session)(Listing)
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["channel", "channel_sku"],
            set_={"item_id": stmt.excluded.item_id, "sku": stmt.excluded.sku}), rows)
    request.app[EVENTS].publish(("", r["sku"]) for r in rows)  # new listings get their figure pushed
    return web.json_response({"channel": channel, "upserted": len(rows)})


def _missing(i: int) -> str:
    raise ContractError(f"listings[{i}].channel_sku", "must be a non-empty string")


async def get_listings(request: web.Request) -> web.Response:
    if principal(request).role is Role.STORE:
        return _error(403, "listings are chain-wide: hq and finance only")
    channel = request.match_info["channel"]
    async with request.app[MAKER]() as session:
        rows = (await session.scalars(select(Listing).where(Listing.channel == channel)
                                      .order_by(Listing.channel_sku))).all()
    return web.json_response({"channel": channel, "listings": [
        {"channel_sku": li.channel_sku, "item_id": li.item_id, "sku": li.sku} for li in rows]})


async def post_token(request: web.Request) -> web.Response:
    require_hq(request)
    try:
        body = await _body(request)
        name = check_id(body.get("name"), "name")
        role = Role(str(body.get("role")))
        store = check_id(body["store"], "store") if body.get("store") is not None else None
        token = await create_token(request.app[MAKER], name, role, store)
    except (ContractError, ValueError) as e:
        return _error(400, str(e) if not isinstance(e, ValueError) or "store" in str(e)
                      else "role must be hq, store or finance")
    except IntegrityError:
        return _error(409, f"a token named {body.get('name')!r} exists; revoke it first")
    return web.json_response({"name": name, "role": role.value, "store": store, "token": token}, status=201)


async def get_tokens(request: web.Request) -> web.Response:
    require_hq(request)
    return web.json_response({"tokens": await list_tokens(request.app[MAKER])})


async def delete_token(request: web.Request) -> web.Response:
    require_hq(request)
    if not await revoke_token(request.app[MAKER], request.match_info["name"]):
        return _error(404, "no such token")
    return web.json_response({"revoked": request.match_info["name"]})


def add_routes(app: web.Application) -> None:
    app.router.add_put("/v1/stores/{store}", put_store)
    app.router.add_put("/v1/products/{sku}", put_product)
    app.router.add_get("/v1/channels", get_channels)
    app.router.add_get("/v1/channels/{channel}", get_channels)
    app.router.add_put("/v1/channels/{channel}", put_channel)
    app.router.add_put("/v1/channels/{channel}/listings", put_listings)
    app.router.add_get("/v1/channels/{channel}/listings", get_listings)
    app.router.add_post("/v1/tokens", post_token)
    app.router.add_get("/v1/tokens", get_tokens)
    app.router.add_delete("/v1/tokens/{name}", delete_token)
