"""The master data buying runs on (head office changes it, finance reads it; a store token is
refused): suppliers, buying terms per supplier × SKU, shelf capacities per location × SKU and
shelf lives, and a CSV import of any of the four tables.

The import is the API's (POST /v1/buying-terms/import, cloud/api/buying.py): the file is read by
cloud/api/buying_csv.py with the API's own row schema, every row or none; a row naming a supplier
or location the chain does not have is refused by its row and field (the header is row 1); then
all rows are saved in one transaction by cloud/db/buying.save, which records each change in the
audit log (who, when, before → after), as every Setup change is.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from cloud.api import buying as buying_api
from cloud.api import buying_csv
from cloud.console import queries
from cloud.console.pages.replenishment_frame import actor, hq, page, query_id, query_sku, reader
from cloud.console.web import ConsoleRoutes, words
from cloud.csv_rows import CsvRefused
from cloud.db import buying, stocktakes
from cloud.keys import MAKER
from shared.contract import ContractError

TABLE_NAMES = tuple(buying_api.ROWS)  # suppliers, terms, capacities, shelf_lives
SHOWN = 500  # rows a table shows; ?supplier= and ?sku= narrow them


async def _unknown(request: web.Request, name: str, rows: list[dict[str, Any]]) -> CsvRefused | None:
    """The first row naming a supplier (terms) or location (capacities) the chain does not have."""
    if name == "terms":
        async with request.app[MAKER]() as session:
            known = await buying.suppliers_known(session, [r["supplier"] for r in rows])
        column, what = "supplier", "supplier"
    elif name == "capacities":
        known = set(await stocktakes.known_stores(request.app[MAKER], [r["store"] for r in rows]))
        column, what = "store", "store or warehouse"
    else:
        return None
    for i, r in enumerate(rows):
        if r[column] not in known:
            return CsvRefused(f"the chain has no {what} {r[column]!r}", i + 2, column)
    return None


def _imported(q: Any) -> tuple[str, int, int] | None:
    """What the last import did (its redirect's query): table, rows, changed."""
    if q.get("imported") not in TABLE_NAMES:
        return None
    try:
        return q["imported"], int(q.get("n", "")), int(q.get("changed", ""))
    except ValueError:
        return None


async def _page(request: web.Request, table: str = "terms", refused: CsvRefused | None = None,
                status: int = 200) -> web.Response:
    q = request.query
    supplier, sku = q.get("supplier", "")[:32], q.get("sku", "")[:14]
    try:  # the search boxes match exactly: a supplier's id, a GTIN-14
        query_id(request, "supplier"), query_sku(request)
        bad = None
    except ContractError as e:  # matches nothing, and the page says why (never sent to the database)
        bad, status = f"{e.field}: {e.problem}", 400
    t = buying.TABLES
    async with request.app[MAKER]() as session:
        suppliers = await buying.rows(session, t["suppliers"])
        terms, capacities, lives = [], [], []
        if bad is None:
            terms = await buying.rows(session, t["terms"], supplier=supplier or None, sku=sku or None)
            capacities = await buying.rows(session, t["capacities"], sku=sku or None)
            lives = await buying.rows(session, t["shelf_lives"], sku=sku or None)
        names = await queries.product_names(session, {r["sku"] for r in terms[:SHOWN]})
    return page(request, "replenishment_buying.html", "buying", {
        "suppliers": suppliers, "terms": terms[:SHOWN], "names": names, "terms_total": len(terms),
        "capacities": capacities[:SHOWN], "capacities_total": len(capacities), "lives": lives[:SHOWN],
        "lives_total": len(lives), "supplier": supplier, "sku": sku, "tables": TABLE_NAMES, "table": table,
        "columns": {name: buying_csv.Table(name, buying_api.ROWS[name], t[name].key).columns
                    for name in TABLE_NAMES},
        "imported": _imported(q) if refused is None else None, "refused": refused, "bad": bad}, status=status)


async def buying_page(request: web.Request) -> web.StreamResponse:
    """GET /replenishment/buying[?supplier=&sku=]."""
    reader(request)
    imported = request.query.get("imported", "")
    return await _page(request, imported if imported in TABLE_NAMES else "terms")


async def import_csv(request: web.Request) -> web.StreamResponse:
    """POST /replenishment/buying/import (multipart: table, file): every row or none."""
    who = hq(request)
    form = await request.post()
    name = form.get("table")
    if not isinstance(name, str) or name not in TABLE_NAMES:
        return await _page(request, refused=CsvRefused(words(request)("rp.buy.pick_table")), status=422)
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        return await _page(request, name, refused=CsvRefused(words(request)("setup.no_file")), status=422)
    data = await asyncio.to_thread(upload.file.read)  # aiohttp spooled it to a file
    try:
        rows = buying_csv.read(buying_csv.Table(name, buying_api.ROWS[name], buying.TABLES[name].key), data)
        refused = await _unknown(request, name, rows)
        if refused is not None:
            raise refused
    except CsvRefused as e:
        return await _page(request, name, refused=e, status=422)
    async with request.app[MAKER]() as session, session.begin():  # all rows or none
        changed = await buying.save(session, buying.TABLES[name], rows, actor(who))
    # post/redirect/get: a reload does not post the file again
    raise web.HTTPSeeOther(f"/replenishment/buying?imported={name}&n={len(rows)}&changed={changed}")


def add_routes(routes: ConsoleRoutes) -> None:
    routes.get("/replenishment/buying", buying_page, "replenishment-buying")
    routes.post("/replenishment/buying/import", import_csv, "replenishment-buying-import")


__all__ = ["add_routes"]
