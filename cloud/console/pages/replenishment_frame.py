"""What the replenishment pages share (pages/replenishment.py, replenishment_orders.py,
replenishment_buying.py, replenishment_settings.py): who may open them, their tabs, and how a page
is rendered.

The API's rules (cloud/api/replenishment.py, purchase_orders.py, buying.py) hold on the server:
runs, suggestions, purchase orders, buying data and the replenishment settings are chain-wide, so
a store token is refused every page and post here (403); finance reads everything, values
included, and changes nothing (each post calls `hq`, cloud.auth's require_hq); head office acts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from cloud.auth import Principal, Role, require_hq
from cloud.console.web import principal, render
from cloud.db import audit

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


def chart_json(option: Mapping[str, Any]) -> str:
    """An ECharts option for a <script type="application/json"> (console.js draws it): no
    "</script>" can come out of a name in it."""
    return json.dumps(option, ensure_ascii=False).replace("<", "\\u003c")


__all__ = ["SECTION", "TABS", "actor", "chart_json", "hq", "page", "reader"]
