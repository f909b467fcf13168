"""Goods in, and the master data buying runs on, over HTTP (issue 17).

POST /v1/stores/{store}/receipts   {"ref", "lines": [{"sku", "qty", "lot"?, "expiry"?}]}: goods received
                                   into a store or a warehouse (a warehouse has no gateway to book
                                   them); idempotent on ref
PUT  /v1/suppliers                 {"suppliers": [{"supplier", "name"}]}  (upsert; hq)
GET  /v1/suppliers
PUT  /v1/buying-terms              {"terms": [...], "capacities": [...], "shelf_lives": [...]}  (upsert; hq)
GET  /v1/buying-terms[?sku=&supplier=]
POST /v1/buying-terms/import       {"table", "csv"}: one table from a CSV file, whole or not at all

Master data is chain-wide: hq writes it, hq and finance read it (a store token: 403). Every change
is audited (cloud/db/buying.py).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.api import buying_csv
from cloud.api.admin import who
from cloud.auth import Role, principal, require_hq, require_write
from cloud.db import buying, receipts, stocktakes
from cloud.db.models import NO_LOT
from cloud.keys import MAKER, ORDERS
from shared.contract import ContractError
from shared.openapi import (
    DAY,
    GTIN14,
    ID,
    Param,
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

MAX_LINES = 500
RECEIPT_REQUEST: Schema = obj({
    "ref": text(64, pattern=r"^\S+$", description="the delivery note's number: the same ref books once"),
    "lines": array(obj({"sku": GTIN14, "qty": integer(1, 1_000_000),
                        "lot": nullable(text(128, default=None)),
                        "expiry": nullable({**DAY, "default": None})}, ["sku", "qty"]), 1, MAX_LINES),
}, ["ref", "lines"])
RECEIPT: Schema = obj({
    "store": ID, "ref": {"type": "string"}, "booked": integer(lo=0, description="lines booked now"),
    "lines": array(obj({"sku": GTIN14, "qty": integer(lo=1)}, ["sku", "qty"], closed=False))},
    ["store", "ref", "booked", "lines"], closed=False)


async def post_receipt(request: web.Request) -> web.Response:
    store = checked(request).path["store"]
    require_write(request, store)
    body = checked(request).body
    if store not in await stocktakes.known_stores(request.app[MAKER], [store]):
        return error_response(422, f"the chain has no store or warehouse {store!r} (PUT /v1/stores/{store})",
                              "store")
    lines = [receipts.ReceiptLine(ln["sku"], ln["qty"], ln["lot"] or NO_LOT,
                                  date.fromisoformat(ln["expiry"]) if ln["expiry"] else None)
             for ln in body["lines"]]
    booked = await receipts.receive(request.app[ORDERS], store, body["ref"], lines)
    return web.json_response({"store": store, "ref": body["ref"], "booked": booked,
                              "lines": [{"sku": ln.sku, "qty": ln.qty} for ln in lines]},
                             status=201 if booked else 200)


SUPPLIER: Schema = obj({"supplier": ID, "name": text(128, lo=0, default="")}, ["supplier"])
TERM: Schema = obj({
    "supplier": ID, "sku": GTIN14,
    "lead_mean_days": number(0, 365, description="days from order to receipt, on average"),
    "lead_sd_days": number(0, 365, default=0.0, description="their standard deviation"),
    "pack": integer(1, 1_000_000, default=1, description="units per pack: orders are whole packs"),
    "minimum": integer(0, 10_000_000, default=0, description="units per order at least"),
    "unit_cost": nullable(number(0, 1e9, default=None))}, ["supplier", "sku", "lead_mean_days"])
CAPACITY: Schema = obj({"store": {**ID, "description": "a store or warehouse"}, "sku": GTIN14,
                        "capacity": integer(0, 100_000_000, description="most units it holds")},
                       ["store", "sku", "capacity"])
SHELF_LIFE: Schema = obj({"sku": GTIN14, "days": integer(1, 36_500, description="days a unit received "
                                                           "can be sold")}, ["sku", "days"])
ROWS: dict[str, Schema] = {"suppliers": SUPPLIER, "terms": TERM, "capacities": CAPACITY,
                           "shelf_lives": SHELF_LIFE}
MAX_ROWS = buying_csv.MAX_ROWS
SUPPLIERS_PUT: Schema = obj({"suppliers": array(SUPPLIER, 1, MAX_ROWS)}, ["suppliers"])
TERMS_PUT: Schema = obj({name: array(ROWS[name], 0, MAX_ROWS, default=[])
                         for name in ("terms", "capacities", "shelf_lives")})
IMPORT: Schema = obj({"table": {"enum": list(ROWS)},
                      "csv": text(20_000_000, description="the file's text (UTF-8); the header names "
                                                          "the columns: the JSON rows' fields")},
                     ["table", "csv"])
_OPEN = {"closed": False}
SUPPLIERS_OUT: Schema = obj({"suppliers": array(obj(SUPPLIER["properties"], ["supplier", "name"], **_OPEN))},
                            ["suppliers"], **_OPEN)
TERMS_OUT: Schema = obj({name: array(obj(ROWS[name]["properties"], list(ROWS[name]["properties"]), **_OPEN))
                         for name in ("terms", "capacities", "shelf_lives")},
                        ["terms", "capacities", "shelf_lives"], **_OPEN)
SAVED: Schema = obj({"saved": integer(lo=0), "changed": integer(lo=0)}, ["saved", "changed"], **_OPEN)


def _chain_wide(request: web.Request) -> web.Response | None:
    if principal(request).role is Role.STORE:
        return error_response(403, "buying data is chain-wide: hq and finance only")
    return None


def _twice(rows: list[dict[str, Any]], key: tuple[str, ...], where: str) -> ContractError | None:
    seen: set[tuple[Any, ...]] = set()
    for i, r in enumerate(rows):
        k = tuple(r[c] for c in key)
        if k in seen:
            return ContractError(f"{where}[{i}].{key[-1]}", f"{', '.join(map(str, k))} is listed twice")
        seen.add(k)
    return None


async def _unknown(session: AsyncSession, maker: Any, name: str, rows: list[dict[str, Any]]
                   ) -> ContractError | None:
    """The first row naming a supplier or location the chain does not have."""
    if name == "terms":
        known = await buying.suppliers_known(session, [r["supplier"] for r in rows])
        field, what = "supplier", "supplier (PUT /v1/suppliers first)"
    elif name == "capacities":
        known = await stocktakes.known_stores(maker, [r["store"] for r in rows])
        field, what = "store", "store or warehouse"
    else:
        return None
    for i, r in enumerate(rows):
        if r[field] not in known:
            return ContractError(f"{name}[{i}].{field}", f"the chain has no {what} {r[field]!r}")
    return None


async def _save(request: web.Request, tables: dict[str, list[dict[str, Any]]]) -> web.Response:
    for name, rows in tables.items():
        twice = _twice(rows, buying.TABLES[name].key, name)
        if twice is not None:
            return input_error(twice)
    saved = changed = 0
    async with request.app[MAKER]() as session, session.begin():
        for name, rows in tables.items():
            unknown = await _unknown(session, request.app[MAKER], name, rows)
            if unknown is not None:
                return input_error(unknown, 422)
        for name, rows in tables.items():  # suppliers before the terms naming them
            changed += await buying.save(session, buying.TABLES[name], rows, who(request))
            saved += len(rows)
    return web.json_response({"saved": saved, "changed": changed})


async def put_suppliers(request: web.Request) -> web.Response:
    require_hq(request)
    return await _save(request, {"suppliers": checked(request).body["suppliers"]})


async def get_suppliers(request: web.Request) -> web.Response:
    refused = _chain_wide(request)
    if refused is not None:
        return refused
    async with request.app[MAKER]() as session:
        return web.json_response({"suppliers": await buying.rows(session, buying.TABLES["suppliers"])})


async def put_terms(request: web.Request) -> web.Response:
    require_hq(request)
    return await _save(request, dict(checked(request).body))


async def get_terms(request: web.Request) -> web.Response:
    refused = _chain_wide(request)
    if refused is not None:
        return refused
    q = checked(request).query
    sku, supplier = q.get("sku"), q.get("supplier")
    async with request.app[MAKER]() as session:
        t = buying.TABLES
        return web.json_response({
            "terms": await buying.rows(session, t["terms"], sku=sku, supplier=supplier),
            "capacities": await buying.rows(session, t["capacities"], sku=sku),
            "shelf_lives": await buying.rows(session, t["shelf_lives"], sku=sku)})


async def import_csv(request: web.Request) -> web.Response:
    require_hq(request)
    body = checked(request).body
    name = body["table"]
    try:
        rows = buying_csv.read(buying_csv.Table(name, ROWS[name], buying.TABLES[name].key),
                               body["csv"].encode("utf-8"))
    except buying_csv.CsvRefused as e:
        return error_response(400, f"nothing imported: {e}", "csv", row=e.row, column=e.field)
    async with request.app[MAKER]() as session:
        unknown = await _unknown(session, request.app[MAKER], name, rows)
    if unknown is not None:  # the row of the file: the header is row 1
        row = int(unknown.field.split("[")[1].split("]")[0]) + 2
        column = unknown.field.rsplit(".", 1)[1]
        return error_response(422, f"nothing imported: row {row}, {column}: {unknown.problem}", "csv",
                              row=row, column=column)
    return await _save(request, {name: rows})


def add_routes(api: Routes) -> None:
    api.add("POST", "/v1/stores/{store}/receipts", post_receipt, tags=("ledger",), body=RECEIPT_REQUEST,
            summary="Book goods received into a store or warehouse (idempotent on ref)",
            responses={201: Reply("booked", RECEIPT), 200: Reply("booked before (the same ref)", RECEIPT),
                       422: error("no such store or warehouse")})
    tag = ("buying",)
    api.add("PUT", "/v1/suppliers", put_suppliers, tags=tag, body=SUPPLIERS_PUT,
            summary="Add or change suppliers (hq)", responses={200: Reply("how many", SAVED)})
    api.add("GET", "/v1/suppliers", get_suppliers, tags=tag, summary="The suppliers (hq and finance)",
            responses={200: Reply("the suppliers", SUPPLIERS_OUT)})
    api.add("PUT", "/v1/buying-terms", put_terms, tags=tag, body=TERMS_PUT, body_required=False,
            summary="Add or change terms per supplier × SKU, capacities per location × SKU, shelf lives (hq)",
            responses={200: Reply("how many", SAVED),
                       422: error("a supplier or location the chain does not have; `field` names it")})
    api.add("GET", "/v1/buying-terms", get_terms, tags=tag,
            summary="Terms, capacities and shelf lives (hq and finance)",
            query={"sku": Param(GTIN14, "only this SKU"),
                   "supplier": Param(ID, "only this supplier's terms")},
            responses={200: Reply("the master data", TERMS_OUT)})
    api.add("POST", "/v1/buying-terms/import", import_csv, tags=tag, body=IMPORT,
            summary="Import one table from a CSV file: every row, or none (hq)",
            responses={200: Reply("how many", SAVED),
                       400: error("a bad row: nothing imported; `row` and `column` say where"),
                       422: error("a row names a supplier or location the chain does not have")})
