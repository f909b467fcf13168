"""What the replenishment pages share (pages/replenishment.py, replenishment_orders.py,
replenishment_buying.py, replenishment_settings.py): who may open them, their tabs, and how a page
is rendered.

The API's rules (cloud/api/replenishment.py, purchase_orders.py, buying.py) hold on the server:
runs, suggestions, purchase orders, buying data and the replenishment settings are chain-wide, so
a store token is refused every page and post here (403); finance reads everything, values
included, and changes nothing (each post calls `hq`, cloud.auth's require_hq); head office acts.

The pages' query parameters name ids (runs, suppliers, locations, purchase orders) and SKUs: one
that cannot be one is a 400 page saying which (`query_id`, `bad_query`), never passed on to the
database (PostgreSQL refuses a NUL in text, which was a 500); an order id that cannot be one is a
404, as an unknown one is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from cloud.auth import Principal, Role, require_hq
from cloud.console.web import error_page, principal, render
from cloud.db import audit
from shared.contract import ContractError, check_id, is_gtin14

SECTION = "replenishment"
TABS = ("plan", "orders", "buying", "settings")
TAB_PATHS = {"plan": "/replenishment", "orders": "/replenishment/orders", "buying": "/replenishment/buying",
             "settings": "/replenishment/settings"}


def reader(request: web.Request) -> Principal:
    """hq or finance; a store token gets the 403 page (as the API's 403 for chain-wide data)."""
    who = principal(request)
    if who.role is Role.STORE:
        raise web.HTTPForbidden(text='{"error": "replenishment is chain-wide: hq and finance only"}',
                                content_type="application/json")
    return who


def hq(request: web.Request) -> Principal:
    """Head office only: finance and store tokens get the 403 page, whatever the form says."""
    reader(request)
    return require_hq(request)


def actor(who: Principal) -> str:
    return audit.actor(who.name, who.role.value)


def page(request: web.Request, template: str, tab: str, context: Mapping[str, Any], status: int = 200
         ) -> web.Response:
    who = principal(request)
    return render(request, template, {"tabs": TABS, "tab_paths": TAB_PATHS, "tab": tab,
                                      "may_act": who.role is Role.HQ, "notice": None, "problem": None,
                                      **context}, section=SECTION, status=status)


def query_id(request: web.Request, name: str) -> str | None:
    """An id-valued query parameter ([a-z0-9-]{1,32}), None when absent or empty; ContractError
    naming it otherwise."""
    value = request.query.get(name, "")
    return check_id(value, name) if value else None


def query_sku(request: web.Request, name: str = "sku") -> str | None:
    value = request.query.get(name, "")
    if value and not is_gtin14(value):
        raise ContractError(name, f"must be a GTIN-14 (14 digits with its check digit), got {value[:40]!r}")
    return value or None


def bad_query(request: web.Request, e: ContractError) -> web.Response:
    """The 400 page: what the address asks for that the page cannot read, by field."""
    return error_page(request, 400, "rp.bad_query", f"{e.field}: {e.problem}")


def order_id(request: web.Request) -> str:
    """The purchase order's id in the path; one that cannot be an id is not found (404)."""
    try:
        return check_id(request.match_info["id"], "id")
    except ContractError:
        raise web.HTTPNotFound() from None


def chart_json(option: Mapping[str, Any]) -> str:
    """An ECharts option for a <script type="application/json"> (console.js draws it): no
    "</script>" can come out of a name in it."""
    return json.dumps(option, ensure_ascii=False).replace("<", "\\u003c")


__all__ = ["SECTION", "TABS", "actor", "bad_query", "chart_json", "hq", "order_id", "page", "query_id",
           "query_sku", "reader"]
