"""Replenishment runs and their suggestions over HTTP (issue 17), and the nightly run.

POST /v1/replenishment/runs        {"wait"?}: start a run (hq); 202 at once, or 201 when it is done
                                   with "wait": true
GET  /v1/replenishment/runs, GET /v1/replenishment/runs/{id}
POST /v1/replenishment/transfers   {"run"?, "from"?}: the run's transfer suggestions as transfers, once
                                   (purchases become orders: /v1/purchase-orders/from-suggestions)
GET  /v1/replenishment/suggestions[?run=&kind=&location=&supplier=&sku=]   (the newest finished run
                                   by default; a store token sees what goes to or leaves its store)
GET  /v1/replenishment/settings    the chain's replenishment settings (hq and finance)
PUT  /v1/replenishment/settings    {setting: value, ...}: change some (hq; audited; see
                                   cloud/replenish/settings.py)

The nightly run starts at the `nightly_at` setting (02:00 unless changed) in the chain's time zone
(`--timezone`) on every worker; the night's row is unique, so one worker runs it
(cloud/db/replenishment.py). The planning runs on a thread of its own (one per worker), never on the
event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from aiohttp import web

from cloud.api.admin import who
from cloud.auth import Role, principal, require_hq
from cloud.db.replenishment import Replenishment, next_night
from cloud.keys import MAKER, REPLENISHMENT, SETTINGS, TRANSFERS
from cloud.replenish.settings import HIGHEST_FILL_RATE, LOWEST_FILL_RATE, MAX_KEEP_RUNS, MAX_KM, SettingError
from shared.openapi import (
    DAY,
    GTIN14,
    ID,
    TIME,
    Param,
    Reply,
    Routes,
    Schema,
    array,
    checked,
    error,
    error_response,
    integer,
    nullable,
    number,
    obj,
    text,
)

log = logging.getLogger(__name__)
NIGHTLY_AT = time(2, 0)  # the default of the `nightly_at` setting
LOOK_AGAIN_S = 300.0     # the nightly schedule rereads the settings at least this often
KINDS = ["purchase", "transfer", "emergency"]

RUN_REQUEST: Schema = obj({"wait": {"type": "boolean", "default": False,
                                    "description": "answer when the run is done (201), not at once (202)"}})
RUN: Schema = obj({
    "id": text(64), "trigger": {"enum": ["api", "nightly"]}, "night": nullable(DAY),
    "status": {"enum": ["running", "done", "failed"]}, "started_at": TIME, "finished_at": nullable(TIME),
    "requested_by": nullable({"type": "string"}), "error": nullable({"type": "string"}),
    "summary": nullable(obj({}, closed=False))},
    ["id", "trigger", "status", "started_at", "finished_at", "error", "summary"], closed=False)
SUGGESTION: Schema = obj({
    "run": text(64), "line": integer(lo=0), "kind": {"enum": KINDS}, "sku": GTIN14,
    "location": {**ID, "description": "where the units go; an emergency: its region (a warehouse, or chain)"},
    "source": nullable(ID), "supplier": nullable(ID), "units": integer(lo=0), "unit_cost": nullable(number()),
    "level": nullable(integer(1, 3)), "detail": nullable(obj({}, closed=False)),
    "acted": nullable({**text(64), "description": "the transfer made from it"})},
    ["run", "line", "kind", "sku", "location", "source", "supplier", "units"], closed=False)
MAKE_TRANSFERS: Schema = obj({"run": text(64, description="default: the newest finished run"),
                             "from": {**ID, "description": "only the suggestions from this location"}})
SUGGESTIONS: Schema = obj({"run": nullable(text(64)), "suggestions": array(SUGGESTION)},
                          ["run", "suggestions"], closed=False)


async def post_run(request: web.Request) -> web.Response:
    require_hq(request)
    rep = request.app[REPLENISHMENT]
    started = await rep.start("api", who(request))
    assert started is not None  # only a nightly run can find its night taken
    if checked(request).body["wait"]:
        return web.json_response(await rep.execute(started["id"]), status=201)
    rep.run_behind(started["id"])
    return web.json_response(started, status=202)


def _chain_wide(request: web.Request) -> web.Response | None:
    if principal(request).role is Role.STORE:
        return error_response(403, "replenishment runs are chain-wide: hq and finance only")
    return None


async def get_runs(request: web.Request) -> web.Response:
    refused = _chain_wide(request)
    return refused or web.json_response({"runs": await request.app[REPLENISHMENT].runs()})


async def get_run(request: web.Request) -> web.Response:
    refused = _chain_wide(request)
    if refused is not None:
        return refused
    run = await request.app[REPLENISHMENT].get(checked(request).path["id"])
    return web.json_response(run) if run is not None else error_response(404, "no such run")


async def get_suggestions(request: web.Request) -> web.Response:
    caller = principal(request)
    q = checked(request).query
    rep = request.app[REPLENISHMENT]
    run = q.get("run") or await rep.latest_done()
    if run is None:
        return web.json_response({"run": None, "suggestions": []})
    if q.get("run") is not None and await rep.get(run) is None:
        return error_response(404, f"no run {run!r}", "run")
    store = caller.store if caller.role is Role.STORE else None
    return web.json_response({"run": run, "suggestions": await rep.suggestions(
        run, kind=q.get("kind"), location=q.get("location"), supplier=q.get("supplier"), sku=q.get("sku"),
        store=store)})


async def post_transfers(request: web.Request) -> web.Response:
    require_hq(request)
    body = checked(request).body
    rep = request.app[REPLENISHMENT]
    run = body.get("run") or await rep.latest_done()
    if run is None or await rep.get(run) is None:
        return error_response(404, "no such run" if body.get("run") else "no replenishment run has finished",
                              "run")
    made, refused = await rep.make_transfers(request.app[TRANSFERS], run, body.get("from"))
    return web.json_response({"run": run, "transfers": made, "refused": refused})


async def get_settings(request: web.Request) -> web.Response:
    refused = _chain_wide(request)
    return refused or web.json_response((await request.app[REPLENISHMENT].chain_settings()).to_json())


async def put_settings(request: web.Request) -> web.Response:
    require_hq(request)
    body = dict(checked(request).body)
    try:
        saved = await request.app[REPLENISHMENT].save_settings(body, who(request))
    except SettingError as e:
        return error_response(e.status, str(e), e.field)
    return web.json_response(saved.to_json())


async def replenishment(app: web.Application) -> AsyncIterator[None]:
    """The worker's replenishment: one planning thread, and the nightly run."""
    executor = ThreadPoolExecutor(1, thread_name_prefix="replenish")
    tz = ZoneInfo(app[SETTINGS].timezone)
    rep = app[REPLENISHMENT] = Replenishment(app[MAKER], executor, tz=tz)
    task = asyncio.create_task(_nightly(rep, tz), name="replenishment-nightly")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await rep.close()
    await asyncio.to_thread(executor.shutdown, True)  # a plan under way finishes; its thread ends


async def _nightly(rep: Replenishment, tz: ZoneInfo) -> None:
    """Sleep until the next nightly run, looking again when the settings change here or every
    LOOK_AGAIN_S (another worker may have changed `nightly_at`)."""
    while True:
        try:
            nightly_at = (await rep.chain_settings()).nightly_at
        except Exception:  # a database hiccup: the default time, and look again soon
            log.exception("reading the replenishment settings failed")
            nightly_at = NIGHTLY_AT
        now = datetime.now(UTC)
        at = next_night(now, nightly_at, tz)
        wait = (at - now).total_seconds()
        rep.changed.clear()
        if wait > LOOK_AGAIN_S:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(rep.changed.wait(), LOOK_AGAIN_S)
            continue
        await asyncio.sleep(wait)
        try:
            done = await rep.nightly(at.astimezone(tz).date())
            if done is not None:
                log.info("nightly replenishment run %s: %s", done.get("id"), done.get("status"))
        except Exception:  # a database hiccup must not end the schedule
            log.exception("nightly replenishment run failed")


CLOCK: Schema = text(5, 5, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM")
PROMOTION: Schema = obj({
    "name": text(32, description="not double-11 or 618 (built in)"),
    "month": integer(1, 12), "day": integer(1, 31), "on": {**DAY, "description": "a one-off date"},
    "before": integer(0, 14), "after": integer(0, 14),
    "uplift": number(0, 20, exclusiveMinimum=0, description="demand × this on its days, until history says")},
    ["name"])
SETTINGS_VALUES: dict[str, Schema] = {
    "promotions": array(PROMOTION, 0, 100, description="the chain's own, beside Double 11 and 618"),
    "fill_rate": number(LOWEST_FILL_RATE, HIGHEST_FILL_RATE,
                        description="target of a category without its own"),
    "fill_rates": obj({}, closed=False, additionalProperties=number(LOWEST_FILL_RATE, HIGHEST_FILL_RATE),
                      description="category → target fill rate"),
    "pooled": {"type": "boolean", "description": "targets met per location × category at the least stock "
                                                 "value (false: every location × SKU on its own)"},
    "least_fill_rate": number(LOWEST_FILL_RATE, HIGHEST_FILL_RATE,
                              description="pooled: the least any location × SKU is planned for"),
    "store_sizes": obj({}, closed=False, additionalProperties=number(0, 1e9, exclusiveMinimum=0),
                       description="location → size (any one unit): priors of new products and stores"),
    "transfer_km": number(0, MAX_KM, description="other stores' surplus within this distance moves first"),
    "served_by": obj({}, closed=False, additionalProperties=ID,
                     description="store → the warehouse whose region it is in (default: the nearest)"),
    "opening_hours": obj({"opens": CLOCK, "closes": CLOCK}, ["opens", "closes"]),
    "nightly_at": CLOCK,
    "keep_runs": integer(1, MAX_KEEP_RUNS, description="runs kept; older ones are deleted after each run"),
}
SETTINGS_PUT: Schema = obj(SETTINGS_VALUES)
SETTINGS_OUT: Schema = obj(SETTINGS_VALUES, list(SETTINGS_VALUES), closed=False)


def add_routes(api: Routes) -> None:
    tag = ("replenishment",)
    api.add("GET", "/v1/replenishment/settings", get_settings, tags=tag,
            summary="The chain's replenishment settings (hq and finance)",
            responses={200: Reply("the settings", SETTINGS_OUT)})
    api.add("PUT", "/v1/replenishment/settings", put_settings, tags=tag, body=SETTINGS_PUT,
            summary="Change some of the chain's replenishment settings (hq; audited)",
            responses={200: Reply("the settings after the change", SETTINGS_OUT),
                       400: error("a value the setting does not take; `field` names it"),
                       422: error("served_by names a store or warehouse the chain does not have")})
    api.add("POST", "/v1/replenishment/runs", post_run, tags=tag, body=RUN_REQUEST, body_required=False,
            summary="Forecast demand and work out purchases, transfers and emergencies now (hq)",
            responses={202: Reply("started", RUN), 201: Reply("done (wait)", RUN)})
    api.add("GET", "/v1/replenishment/runs", get_runs, tags=tag,
            summary="The newest 50 runs (hq and finance); the `keep_runs` newest are kept",
            responses={200: Reply("the runs", obj({"runs": array(RUN)}, ["runs"], closed=False))})
    api.add("GET", "/v1/replenishment/runs/{id}", get_run, tags=tag, summary="One run",
            responses={200: Reply("the run", RUN), 404: error("no such run")})
    api.add("POST", "/v1/replenishment/transfers", post_transfers, tags=tag, body=MAKE_TRANSFERS,
            body_required=False,
            summary="Make a run's transfer suggestions into transfers, one per source and destination, "
                    "once (hq)",
            responses={200: Reply("made and refused", obj({
                "run": text(64), "transfers": array(obj({"id": text(64)}, ["id"], closed=False)),
                "refused": array(obj({"from": ID, "to": ID, "error": {"type": "string"}},
                                     ["from", "to", "error"], closed=False))},
                ["run", "transfers", "refused"], closed=False)),
                       404: error("no such run")})
    api.add("GET", "/v1/replenishment/suggestions", get_suggestions, tags=tag,
            summary="A run's suggestions: purchases per supplier, transfers, emergencies",
            query={"run": Param(text(64), "this run (default: the newest finished)"),
                   "kind": Param({"enum": KINDS}, "only this kind"),
                   "location": Param(ID, "only to this location (an emergency: region)"),
                   "supplier": Param(ID, "only from this supplier"), "sku": Param(GTIN14, "only this SKU")},
            responses={200: Reply("the suggestions", SUGGESTIONS), 404: error("no such run")})
