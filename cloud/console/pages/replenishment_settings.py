"""The chain's replenishment settings as a form (head office changes them, finance reads them; a
store token is refused): the chain's own promotions (every year on a month and day, or once on a
date, with the days before and after and the uplift expected), the target fill rate and its
per-category targets, whether targets are met per store's category at the least stock value
(pooled) and the least any item is planned for then, each location's size and the warehouse
whose region a store is in, the distance within which other stores' surplus moves before buying,
the opening hours, the nightly run's time and how many runs are kept.

A save is the API's PUT /v1/replenishment/settings (cloud/api/replenishment.py): the form becomes
the same JSON body, checked by the API's own schema (SETTINGS_PUT) and then by the settings' own
rules (cloud/replenish/settings.parse, through Replenishment.save_settings, which the API calls,
which records each setting that changed in the audit log: who, when, before → after). So the
console refuses exactly what the API refuses, with the same words; the field the error names is
marked and the error shown beside it, with what was typed kept.

Form fields are plain text turned into JSON numbers where they read as numbers; anything else is
passed on as text so the API's check says what it says of a string ("must be a number").
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from cloud.api.replenishment import SETTINGS_PUT
from cloud.console.pages.replenishment_frame import actor, hq, page, reader
from cloud.console.web import ConsoleRoutes
from cloud.db import replenishment_views as views
from cloud.keys import MAKER, REPLENISHMENT, SETTINGS
from cloud.replenish.settings import MAX_PROMOTIONS, SettingError
from shared.contract import ContractError
from shared.openapi import Checker

SETTINGS_FORM = Checker(SETTINGS_PUT)
EXTRA_ROWS = 2  # empty rows under the promotions and the category targets, to add one
MAX_ROWS = MAX_PROMOTIONS + EXTRA_ROWS
PROMOTION_FIELDS = ("name", "month", "day", "on", "before", "after", "uplift")
SIMPLE = ("fill_rate", "least_fill_rate", "transfer_km", "nightly_at", "keep_runs")


def _value(text: str) -> Any:
    """A form field as JSON: a whole number, a number, or (neither) the text for the API's check
    to refuse by name."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _rows(form: Mapping[str, str], name: str) -> int:
    try:
        return max(0, min(int(form.get(name, "0")), MAX_ROWS))
    except ValueError:
        return 0


class Parsed:
    """The form as the API's body, and where each part of the body came from on the form (a
    promotion's index in the body → its row on the form; a category → its row)."""

    def __init__(self, form: Mapping[str, str], locations: list[views.Location]) -> None:
        def get(name: str) -> str:
            return form.get(name, "").strip()

        self.promotion_rows: list[int] = []
        promotions: list[dict[str, Any]] = []
        for r in range(_rows(form, "promo_rows")):
            raw = {f: get(f"promo-{r}-{f}") for f in PROMOTION_FIELDS}
            if not any(raw[f] for f in ("name", "month", "day", "on")):
                # nothing named or dated: none added (or one removed); days and uplift alone say nothing
                continue
            p: dict[str, Any] = {"name": raw["name"]}
            for f in ("month", "day", "before", "after", "uplift"):
                if raw[f]:
                    p[f] = _value(raw[f])
            if raw["on"]:
                p["on"] = raw["on"]
            promotions.append(p)
            self.promotion_rows.append(r)
        self.category_rows: dict[str, int] = {}
        rates: dict[str, Any] = {}
        for r in range(_rows(form, "rate_rows")):
            category, target = get(f"rate-{r}-category"), get(f"rate-{r}-target")
            if category or target:
                rates[category] = _value(target) if target else None
                self.category_rows.setdefault(category, r)
        sizes = {loc.store: _value(get(f"size-{loc.store}")) for loc in locations if get(f"size-{loc.store}")}
        served = {loc.store: get(f"served-{loc.store}") for loc in locations
                  if loc.kind == "store" and get(f"served-{loc.store}")}
        self.body: dict[str, Any] = {
            "promotions": promotions, "fill_rates": rates, "store_sizes": sizes, "served_by": served,
            "opening_hours": {"opens": get("opens"), "closes": get("closes")},
            "pooled": get("pooled") == "on",  # a checkbox: sent only when ticked
            **{name: _value(get(name)) for name in SIMPLE}}

    def input_of(self, field: str) -> str:
        """The form field an API error names (`promotions[1].day` → `promo-3-day`), "" for the
        form as a whole."""
        if m := re.fullmatch(r"promotions\[(\d+)\](?:\.(\w+))?", field):
            k = int(m[1])
            if k < len(self.promotion_rows):
                part = m[2] if m[2] in PROMOTION_FIELDS else "month"  # needs month and day, or on
                return f"promo-{self.promotion_rows[k]}-{part}"
        if m := re.fullmatch(r"fill_rates\.(.*)", field, re.S):
            row = self.category_rows.get(m[1])
            return f"rate-{row}-target" if row is not None else "fill_rates"
        if field == "fill_rates" and "" in self.category_rows:  # a target without its category
            return f"rate-{self.category_rows['']}-category"
        if m := re.fullmatch(r"(store_sizes|served_by)\.(.*)", field, re.S):
            return f"{'size' if m[1] == 'store_sizes' else 'served'}-{m[2]}"
        if m := re.fullmatch(r"opening_hours(?:\.(opens|closes))?", field):
            return m[1] or "closes"
        if field in (*SIMPLE, "pooled", "promotions", "fill_rates", "store_sizes", "served_by"):
            return field
        return ""


def _text(value: Any) -> str:
    """A stored value as typed: 30, not 30.0."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _form_of(current: Mapping[str, Any]) -> dict[str, str]:
    """The stored settings as the form shows them."""
    form: dict[str, str] = {name: _text(current[name]) for name in SIMPLE}
    form |= {"opens": current["opening_hours"]["opens"], "closes": current["opening_hours"]["closes"]}
    if current["pooled"]:
        form["pooled"] = "on"
    for r, p in enumerate(current["promotions"]):
        form |= {f"promo-{r}-{f}": _text(p[f]) for f in PROMOTION_FIELDS if p.get(f) is not None}
    for r, (category, target) in enumerate(current["fill_rates"].items()):
        form |= {f"rate-{r}-category": category, f"rate-{r}-target": _text(target)}
    form |= {f"size-{k}": _text(v) for k, v in current["store_sizes"].items()}
    form |= {f"served-{k}": v for k, v in current["served_by"].items()}
    form["promo_rows"] = str(len(current["promotions"]) + EXTRA_ROWS)
    form["rate_rows"] = str(len(current["fill_rates"]) + EXTRA_ROWS)
    return form


async def _locations(request: web.Request, current: Mapping[str, Any]) -> list[views.Location]:
    """The chain's stores and warehouses, and any location a size or region is still kept for."""
    async with request.app[MAKER]() as session:
        found = await views.locations(session)
    known = {loc.store for loc in found}
    kept = sorted({*current["store_sizes"], *current["served_by"]} - known)
    return [*found, *(views.Location(k, "", "gone") for k in kept)]


async def _page(request: web.Request, form: Mapping[str, str] | None = None,
                problem: tuple[str, str, str] | None = None, status: int = 200) -> web.Response:
    current = (await request.app[REPLENISHMENT].chain_settings()).to_json()
    locations = await _locations(request, current)
    async with request.app[MAKER]() as session:
        categories = await views.categories(session)
    shown = dict(form) if form is not None else _form_of(current)
    if form is not None:  # shown again after a refusal: room for a row more, as on a fresh page
        shown["promo_rows"] = str(min(_rows(form, "promo_rows"), MAX_ROWS))
        shown["rate_rows"] = str(min(_rows(form, "rate_rows"), MAX_ROWS))
    done = request.query.get("done", "")
    return page(request, "replenishment_settings.html", "settings", {
        "form": shown, "locations": locations, "categories": categories,
        "warehouses": [loc for loc in locations if loc.kind == "warehouse"],
        "promo_rows": int(shown["promo_rows"]), "rate_rows": int(shown["rate_rows"]),
        "error": {"input": problem[0], "field": problem[1], "problem": problem[2]} if problem else None,
        "done": done if done in ("saved", "unchanged") else "", "timezone": request.app[SETTINGS].timezone,
    }, status=status)


async def settings_page(request: web.Request) -> web.StreamResponse:
    """GET /replenishment/settings."""
    reader(request)
    return await _page(request)


async def save(request: web.Request) -> web.StreamResponse:
    """POST /replenishment/settings: every setting on the form, as one PUT of all of them (only
    those that differ are changed and audited)."""
    who = hq(request)
    posted = await request.post()
    form = {k: str(v) for k, v in posted.items() if isinstance(v, str)}
    rep = request.app[REPLENISHMENT]
    before = (await rep.chain_settings()).to_json()
    parsed = Parsed(form, await _locations(request, before))
    try:
        body = dict(SETTINGS_FORM(parsed.body))
        after = (await rep.save_settings(body, actor(who))).to_json()
    except (ContractError, SettingError) as e:
        status = e.status if isinstance(e, SettingError) else 400
        return await _page(request, form, (parsed.input_of(e.field), e.field, e.problem), status)
    raise web.HTTPSeeOther(f"/replenishment/settings?done={'unchanged' if after == before else 'saved'}")


def add_routes(routes: ConsoleRoutes) -> None:
    routes.get("/replenishment/settings", settings_page, "replenishment-settings")
    routes.post("/replenishment/settings", save, "replenishment-settings-save")


__all__ = ["add_routes"]
