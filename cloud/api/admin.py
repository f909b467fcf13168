"""Chain settings over HTTP (hq writes; finance and hq read): stores, products, channels, listings,
tokens.

PUT  /v1/stores/{store}                 {"name", "lat", "lon", "kind"?}   GET /v1/stores
PUT  /v1/products/{sku}                 {"name", "category", "unit_cost", "min_stock"}
PUT  /v1/channels/{channel}             {"platform", "safety", "share_pct", "min_qty", "max_qty",
                                         "split", "hold_s", "stores": [{"store", "ship", "pickup"}]}
GET  /v1/channels, GET /v1/channels/{channel}
PUT  /v1/channels/{channel}/listings    {"listings": [{"channel_sku", "item_id", "sku"}]}  (upsert)
GET  /v1/channels/{channel}/listings
POST /v1/tokens {"name", "role", "store"?} → {"token"} (shown once); GET /v1/tokens;
DELETE /v1/tokens/{name}

The bodies are checked against the schemas below before a handler runs (shared/openapi.py); a field
left out takes the schema's default. Every PUT records what it changed in the audit log
(cloud/db/audit.py), before → after, in the transaction of the change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiohttp import web
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.auth import Role, create_token, list_tokens, principal, require_hq, revoke_token
from cloud.db import audit
from cloud.db.engines import upsert
from cloud.db.models import Channel, ChannelStore, Listing, Product, Store
from cloud.db.orders import channel_configs
from cloud.keys import EVENTS, MAKER, ORDERS
from shared.contract import ContractError
from shared.openapi import (
    GTIN14,
    ID,
    TIME,
    Reply,
    Routes,
    Schema,
    array,
    checked,
    error,
    error_response,
    input_error,
    integer,
    nullable,
    number,
    obj,
    text,
)

PLATFORMS = ("taobao", "jd", "pdd", "douyin", "shopify", "wechat", "pos", "none")
ROLES = [r.value for r in Role]

LOCATION_KINDS = ("store", "warehouse")
# kind has no default: a PUT without it (the console's store form) keeps what the location is
STORE: Schema = obj({"name": text(128, lo=0, default=""), "lat": nullable(number(-90, 90, default=None)),
                     "lon": nullable(number(-180, 180, default=None)),
                     "kind": {"enum": list(LOCATION_KINDS), "description": "a shop (the default for a new "
                              "location), or a warehouse: no gateway, ships online orders, no pickup"}})
PRODUCT: Schema = obj({"name": text(256, lo=0, default=""), "category": text(64, lo=0, default=""),
                       "unit_cost": nullable(number(0, 1e9, default=None)),
                       "min_stock": integer(0, 1_000_000, default=2,
                                            description="below it a store is short (transfer suggestions)")})
CHANNEL: Schema = obj({
    "platform": {"enum": list(PLATFORMS), "default": "none"},
    "safety": integer(0, 1_000_000, default=0, description="units kept back per store"),
    "share_pct": integer(0, 100, default=100, description="share of what is free, rounded down"),
    "min_qty": integer(0, 1_000_000, default=0), "max_qty": nullable(integer(0, 1_000_000, default=None)),
    "split": {"type": "boolean", "default": False, "description": "an order may be filled by several stores"},
    "hold_s": integer(10, 30 * 86400, default=900, description="an unpaid order's hold, in seconds"),
    "stores": array(obj({"store": ID, "ship": {"type": "boolean", "default": True},
                         "pickup": {"type": "boolean", "default": False}}, ["store"]), default=[]),
})
LISTINGS: Schema = obj({"listings": array(obj({
    "channel_sku": text(64), "item_id": text(64, lo=0, default=""), "sku": GTIN14}, ["channel_sku", "sku"]),
    1, 10_000)}, ["listings"])
TOKEN_REQUEST: Schema = obj({"name": ID, "role": {"enum": ROLES},
                             "store": nullable({**ID, "description": "a store token's store (only theirs)"})},
                            ["name", "role"])

_STORE_OUT: Schema = obj({"store": ID, "name": {"type": "string"}, "lat": nullable(number()),
                          "lon": nullable(number()), "kind": {"enum": list(LOCATION_KINDS)}},
                         ["store", "name", "lat", "lon"], closed=False)
_PRODUCT_OUT: Schema = obj({"sku": GTIN14, "name": {"type": "string"}, "category": {"type": "string"},
                            "unit_cost": nullable(number()), "min_stock": integer()},
                           ["sku", "name", "category", "unit_cost", "min_stock"], closed=False)
_RULES = ["platform", "safety", "share_pct", "min_qty", "max_qty", "split", "hold_s"]
_CHANNEL_PUT: Schema = obj({
    "name": ID, **{k: v for k, v in CHANNEL["properties"].items() if k != "stores"},
    "stores": array(obj({"channel": ID, "store": ID, "ship": {"type": "boolean"},
                         "pickup": {"type": "boolean"}}, ["store", "ship", "pickup"], closed=False))},
    ["name", *_RULES, "stores"], closed=False)
_CHANNEL_OUT: Schema = obj({
    "name": ID, **{k: v for k, v in CHANNEL["properties"].items() if k != "stores"},
    "ship_stores": array(ID), "pickup_stores": array(ID)},
    ["name", *_RULES, "ship_stores", "pickup_stores"], closed=False)
_LISTING_OUT: Schema = obj({"channel_sku": {"type": "string"}, "item_id": {"type": "string"}, "sku": GTIN14},
                           ["channel_sku", "item_id", "sku"], closed=False)
_TOKEN_OUT: Schema = obj({"name": ID, "role": {"enum": ROLES}, "store": nullable(ID),
                          "token": {"type": "string", "description": "shown once; only its SHA-256 is kept"}},
                         ["name", "role", "store", "token"], closed=False)
_TOKENS_OUT: Schema = obj({"tokens": array(obj({
    "name": {"type": "string"}, "role": {"enum": ROLES}, "store": nullable({"type": "string"}),
    "created_at": TIME}, ["name", "role", "store", "created_at"], closed=False))}, ["tokens"], closed=False)


def _twice(rows: Sequence[dict[str, Any]], key: str, where: str) -> web.Response | None:
    """A 400 naming the first row whose `key` an earlier row already had (one statement cannot
    write the same row twice), or None."""
    seen: set[Any] = set()
    for i, row in enumerate(rows):
        if row[key] in seen:
            field = f"{where}[{i}].{key}"
            return error_response(400, f"{field}: {row[key]!r} is listed twice", field)
        seen.add(row[key])
    return None


def who(request: web.Request) -> str:
    """The audit log's name for the caller: "admin (hq)"."""
    p = principal(request)
    return audit.actor(p.name, p.role.value)


async def _upsert_row(session: AsyncSession, model: Any, key: str, row: dict[str, Any], by: str,
                      action: str) -> bool:
    values = {k: v for k, v in row.items() if k != key}
    old = await session.get(model, row[key], with_for_update=True)
    stmt = upsert(session)(model).values(**row)
    await session.execute(stmt.on_conflict_do_update(index_elements=[key], set_=values))
    before = {k: getattr(old, k) for k in values} if old is not None else None
    return await audit.record(session, by, action, f"{action.partition('.')[0]}:{row[key]}", before, values)


async def save_store(session: AsyncSession, store: str, body: dict[str, Any], by: str,
                     action: str = "store.put") -> bool:
    """Register or change a store (a STORE body) in the caller's transaction, audited; True when
    something changed. The caller then tells ORDERS (settings_changed)."""
    return await _upsert_row(session, Store, "store", {"store": store, **body}, by, action)


async def save_product(session: AsyncSession, sku: str, body: dict[str, Any], by: str,
                       action: str = "product.put") -> bool:
    """A product's catalogue facts (a PRODUCT body) in the caller's transaction, audited."""
    return await _upsert_row(session, Product, "sku", {"sku": sku, **body}, by, action)


async def put_store(request: web.Request) -> web.Response:
    require_hq(request)
    store, body = checked(request).path["store"], checked(request).body
    async with request.app[MAKER]() as session, session.begin():
        if body.get("kind") == "warehouse":
            picks = (await session.scalars(select(ChannelStore.channel).where(
                ChannelStore.store == store, ChannelStore.pickup.is_(True)))).all()
            if picks:
                return error_response(409, f"{store} offers pickup for {', '.join(sorted(picks))}; a "
                                      "warehouse has no counter: take pickup off those channels first",
                                      "kind")
        await save_store(session, store, body, who(request))
        kind = await session.scalar(select(Store.kind).where(Store.store == store))
    request.app[ORDERS].settings_changed()
    return web.json_response({"store": store, **body, "kind": kind})


async def get_stores(request: web.Request) -> web.Response:
    """Every registered location (a store token: its own)."""
    caller = principal(request)
    async with request.app[MAKER]() as session:
        q = select(Store).order_by(Store.store)
        if caller.role is Role.STORE:
            q = q.where(Store.store == caller.store)
        rows = (await session.scalars(q)).all()
    return web.json_response({"stores": [{"store": s.store, "name": s.name, "lat": s.lat, "lon": s.lon,
                                          "kind": s.kind} for s in rows]})


async def warehouses(session: AsyncSession, stores: Sequence[str]) -> set[str]:
    """Those of `stores` registered as warehouses."""
    if not stores:
        return set()
    return set((await session.scalars(select(Store.store).where(
        Store.store.in_(list(stores)), Store.kind == "warehouse"))).all())


async def put_product(request: web.Request) -> web.Response:
    require_hq(request)
    sku, body = checked(request).path["sku"], checked(request).body
    async with request.app[MAKER]() as session, session.begin():
        await save_product(session, sku, body, who(request))
    return web.json_response({"sku": sku, **body})


async def channel_audit_values(session: AsyncSession, name: str) -> dict[str, Any] | None:
    """A channel's rules and stores as the audit log records them (None: no such channel)."""
    found = await session.get(Channel, name)
    if found is None:
        return None
    links = (await session.scalars(select(ChannelStore).where(ChannelStore.channel == name)
                                   .order_by(ChannelStore.store))).all()
    return {**{k: getattr(found, k) for k in _RULES},
            "stores": [{"store": li.store, "ship": li.ship, "pickup": li.pickup} for li in links]}


async def save_channel(session: AsyncSession, name: str, body: dict[str, Any], by: str) -> list[str]:
    """A channel's platform, rules and stores (a CHANNEL body, its stores each listed once) in the
    caller's transaction, audited; the SKUs it lists, whose figures the change may move. The caller
    then tells ORDERS (settings_changed) and EVENTS (those SKUs)."""
    row = {"name": name, **{k: body[k] for k in _RULES}}
    links = [{"channel": name, **s} for s in body["stores"]]
    await session.get(Channel, name, with_for_update=True)
    before = await channel_audit_values(session, name)
    stmt = upsert(session)(Channel).values(**row)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["name"], set_={k: v for k, v in row.items() if k != "name"}))
    await session.execute(delete(ChannelStore).where(ChannelStore.channel == name))
    if links:
        await session.execute(upsert(session)(ChannelStore), links)
    listed = list((await session.scalars(select(Listing.sku).where(Listing.channel == name))).all())
    after = {**{k: row[k] for k in _RULES},
             "stores": sorted(({k: li[k] for k in ("store", "ship", "pickup")} for li in links),
                              key=lambda li: li["store"])}
    await audit.record(session, by, "channel.put", f"channel:{name}", before, after)
    return listed


async def put_channel(request: web.Request) -> web.Response:
    require_hq(request)
    name = checked(request).path["channel"]
    body = checked(request).body
    row = {"name": name, **{k: body[k] for k in _RULES}}
    links = [{"channel": name, **s} for s in body["stores"]]
    twice = _twice(links, "store", "stores")
    if twice is not None:
        return twice
    async with request.app[MAKER]() as session, session.begin():
        counterless = await warehouses(session, [li["store"] for li in links if li["pickup"]])
        for i, li in enumerate(links):
            if li["store"] in counterless:
                return error_response(422, f"stores[{i}].pickup: {li['store']} is a warehouse; it ships, "
                                      "it has no pickup counter", f"stores[{i}].pickup")
        listed = await save_channel(session, name, body, who(request))
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
    if principal(request).role is Role.STORE:
        return error_response(403, "channel settings are chain-wide: hq and finance only")
    async with request.app[MAKER]() as session:
        configs = await channel_configs(session)
    return web.json_response({"channels": [_channel_json(c) for _, c in sorted(configs.items())]})


async def get_channel(request: web.Request) -> web.Response:
    if principal(request).role is Role.STORE:
        return error_response(403, "channel settings are chain-wide: hq and finance only")
    name = checked(request).path["channel"]
    async with request.app[MAKER]() as session:
        configs = await channel_configs(session, name)
    if name not in configs:
        return error_response(404, f"unknown channel {name!r}")
    return web.json_response(_channel_json(configs[name]))


async def put_listings(request: web.Request) -> web.Response:
    require_hq(request)
    channel = checked(request).path["channel"]
    rows = [{"channel": channel, **li} for li in checked(request).body["listings"]]
    twice = _twice(rows, "channel_sku", "listings")
    if twice is not None:
        return twice
    async with request.app[MAKER]() as session, session.begin():
        if channel not in await channel_configs(session, channel):
            return error_response(404, f"unknown channel {channel!r}: PUT /v1/channels/{channel} first")
        await upsert_listings(session, channel, rows, who(request), "listing.put")
    request.app[EVENTS].publish(("", r["sku"]) for r in rows)  # new listings get their figure pushed
    return web.json_response({"channel": channel, "upserted": len(rows)})


async def upsert_listings(session: AsyncSession, channel: str, rows: Sequence[dict[str, Any]], by: str,
                          action: str) -> None:
    """Add or change a channel's listings in the caller's transaction, each change audited."""
    keys = [r["channel_sku"] for r in rows]
    old = {li.channel_sku: li for li in (await session.scalars(
        select(Listing).where(Listing.channel == channel, Listing.channel_sku.in_(keys))
        .with_for_update())).all()} if keys else {}
    stmt = upsert(session)(Listing)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["channel", "channel_sku"],
        set_={"item_id": stmt.excluded.item_id, "sku": stmt.excluded.sku}), list(rows))
    for r in rows:
        was = old.get(r["channel_sku"])
        before = {"item_id": was.item_id, "sku": was.sku} if was is not None else None
        await audit.record(session, by, action, f"listing:{channel}/{r['channel_sku']}", before,
                           {"item_id": r["item_id"], "sku": r["sku"]})


async def get_listings(request: web.Request) -> web.Response:
    if principal(request).role is Role.STORE:
        return error_response(403, "listings are chain-wide: hq and finance only")
    channel = checked(request).path["channel"]
    async with request.app[MAKER]() as session:
        rows = (await session.scalars(select(Listing).where(Listing.channel == channel)
                                      .order_by(Listing.channel_sku))).all()
    return web.json_response({"channel": channel, "listings": [
        {"channel_sku": li.channel_sku, "item_id": li.item_id, "sku": li.sku} for li in rows]})


async def post_token(request: web.Request) -> web.Response:
    require_hq(request)
    body = checked(request).body
    name, role, store = body["name"], Role(body["role"]), body.get("store")
    try:
        token = await create_token(request.app[MAKER], name, role, store)
    except ContractError as e:
        return input_error(e)
    except ValueError as e:  # a store token without its store, or another role with one
        return error_response(400, f"store: {e}", "store")
    except IntegrityError:
        return error_response(409, f"a token named {name!r} exists; revoke it first", "name")
    return web.json_response({"name": name, "role": role.value, "store": store, "token": token}, status=201)


async def get_tokens(request: web.Request) -> web.Response:
    require_hq(request)
    return web.json_response({"tokens": await list_tokens(request.app[MAKER])})


async def delete_token(request: web.Request) -> web.Response:
    require_hq(request)
    name = checked(request).path["name"]
    if not await revoke_token(request.app[MAKER], name):
        return error_response(404, "no such token")
    return web.json_response({"revoked": name})


def add_routes(api: Routes) -> None:
    tag = ("settings",)
    api.add("PUT", "/v1/stores/{store}", put_store, tags=tag, body=STORE, body_required=False,
            summary="Register a store or a warehouse, or change it (hq)",
            responses={200: Reply("the store", _STORE_OUT),
                       409: error("a warehouse cannot offer pickup: a channel still has it")})
    api.add("GET", "/v1/stores", get_stores, tags=tag, summary="The registered stores and warehouses",
            responses={200: Reply("the locations", obj({"stores": array(_STORE_OUT)}, ["stores"],
                                                       closed=False))})
    api.add("PUT", "/v1/products/{sku}", put_product, tags=tag, body=PRODUCT, body_required=False,
            summary="A product's name, category, unit cost and minimum stock (hq)",
            responses={200: Reply("the product", _PRODUCT_OUT)})
    api.add("GET", "/v1/channels", get_channels, tags=tag, summary="Every channel's rules (hq and finance)",
            responses={200: Reply("the channels", obj({"channels": array(_CHANNEL_OUT)}, ["channels"],
                                                      closed=False))})
    api.add("GET", "/v1/channels/{channel}", get_channel, tags=tag, summary="One channel's rules",
            responses={200: Reply("the channel", _CHANNEL_OUT), 404: error("unknown channel")})
    api.add("PUT", "/v1/channels/{channel}", put_channel, tags=tag, body=CHANNEL, body_required=False,
            summary="A channel's platform, allocation rules and stores (hq)",
            responses={200: Reply("the channel as stored", _CHANNEL_PUT),
                       422: error("pickup at a warehouse")})
    api.add("PUT", "/v1/channels/{channel}/listings", put_listings, tags=tag, body=LISTINGS,
            summary="Add or change a channel's listings (hq)",
            responses={200: Reply("how many", obj({"channel": ID, "upserted": integer(lo=1)},
                                                  ["channel", "upserted"], closed=False)),
                       404: error("unknown channel")})
    api.add("GET", "/v1/channels/{channel}/listings", get_listings, tags=tag,
            summary="A channel's listings (hq and finance)",
            responses={200: Reply("the listings", obj({"channel": ID, "listings": array(_LISTING_OUT)},
                                                      ["channel", "listings"], closed=False))})
    api.add("POST", "/v1/tokens", post_token, tags=tag, body=TOKEN_REQUEST,
            summary="Make a bearer token (hq); it is shown once",
            responses={201: Reply("the new token", _TOKEN_OUT), 409: error("a token has that name")})
    api.add("GET", "/v1/tokens", get_tokens, tags=tag, summary="The tokens (never their secrets)",
            responses={200: Reply("the tokens", _TOKENS_OUT)})
    api.add("DELETE", "/v1/tokens/{name}", delete_token, tags=tag, summary="Revoke a token (hq)",
            responses={200: Reply("revoked", obj({"revoked": {"type": "string"}}, ["revoked"], closed=False)),
                       404: error("no such token")})
