"""Products and listings as CSV files: read a whole file or refuse it whole, and write one back.

Pure: bytes in, rows or a `CsvRefused` naming the row and field out; no database. Setup imports
what this returns in one transaction (pages/setup.py), so a file with one bad row imports nothing.

- **Encoding**: UTF-8, with or without the byte-order mark Excel writes ("CSV UTF-8"). Another
  encoding is refused with the way to save it right, not guessed: GB18030 decodes almost any bytes,
  so a guess would store garbled names without a word.
- **Rows** are numbered as the spreadsheet shows them: the header is row 1.
- **Columns** are named in the header, in any order (case and spaces around ignored); an unknown
  column is refused (a misspelt "unit cost" would otherwise be dropped silently); a blank cell takes
  the API's default.
- **GTINs** are read by shared/gs1.py as the tills' are: EAN-13, UPC-A, EAN-8 or GTIN-14 with
  a valid check digit, made GTIN-14 — so a GTIN whose leading zeros Excel dropped still reads right,
  and one Excel turned into "9.50123E+11" is refused.
- Each row is then checked with the API's own schema (admin.PRODUCT, admin.LISTINGS' item) through
  shared.openapi.Checker: a row is accepted exactly when the API would accept it as a body.

The stdlib csv module reads and writes (RFC 4180 quoting, which Excel and WPS write and read).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cloud.api.admin import LISTINGS, PRODUCT
from cloud.csv_rows import MAX_ROWS, CsvRefused, rows
from shared.contract import ContractError
from shared.gs1 import Gs1Error, read_item
from shared.openapi import Checker

PRODUCT_COLUMNS: Final = ("sku", "name", "category", "unit_cost", "min_stock")
LISTING_COLUMNS: Final = ("channel_sku", "item_id", "sku")
_PRODUCT: Final = Checker(PRODUCT)
_LISTING: Final = Checker(LISTINGS["properties"]["listings"]["items"])
_NUMBERS: Final = {"unit_cost": float, "min_stock": int}


@dataclass(frozen=True, slots=True)
class ProductRow:
    sku: str
    body: dict[str, Any]  # a PRODUCT body: name, category, unit_cost, min_stock


@dataclass(frozen=True, slots=True)
class ListingRow:
    channel_sku: str
    item_id: str
    sku: str




def _gtin(cell: str, row: int) -> str:
    if not cell:
        raise CsvRefused("is required", row, "sku")
    try:
        item = read_item(cell)
    except Gs1Error as e:
        raise CsvRefused(str(e), row, "sku") from None
    if item.lot is not None or item.expiry is not None:
        raise CsvRefused(f"{cell!r} names a lot or expiry: give the product's GTIN alone", row, "sku")
    return item.gtin


def _checked(check: Checker, body: dict[str, Any], row: int) -> dict[str, Any]:
    try:
        return dict(check(body))
    except ContractError as e:
        raise CsvRefused(e.problem, row, e.field) from None


def read_products(data: bytes) -> list[ProductRow]:
    """Every product of a CSV file (columns PRODUCT_COLUMNS; sku required), or CsvRefused."""
    out: list[ProductRow] = []
    seen: dict[str, int] = {}
    for row, cells in rows(data, PRODUCT_COLUMNS, ["sku"]):
        sku = _gtin(cells["sku"], row)
        if sku in seen:
            raise CsvRefused(f"{sku} is also on row {seen[sku]}", row, "sku")
        seen[sku] = row
        body: dict[str, Any] = {}
        for name in PRODUCT_COLUMNS[1:]:
            if name not in cells:
                continue  # a column left out: the API's default
            cell = cells[name]
            if name == "min_stock":
                if cell:  # blank: the default
                    body[name] = _number(cell, name, row)
            elif name == "unit_cost":
                body[name] = _number(cell, name, row) if cell else None  # blank: no cost known
            else:
                body[name] = cell
        out.append(ProductRow(sku, _checked(_PRODUCT, body, row)))
    if not out:
        raise CsvRefused("the file has a header and no product")
    return out


def _number(cell: str, name: str, row: int) -> int | float:
    kind = _NUMBERS[name]
    try:
        return kind(cell.replace(",", "")) if kind is int else kind(cell)
    except ValueError:
        word = "a whole number" if kind is int else "a number"
        raise CsvRefused(f"must be {word}, got {cell!r}", row, name) from None


def read_listings(data: bytes) -> list[ListingRow]:
    """Every listing of a CSV file for one channel (columns LISTING_COLUMNS; channel_sku and sku
    required), or CsvRefused."""
    out: list[ListingRow] = []
    seen: dict[str, int] = {}
    for row, cells in rows(data, LISTING_COLUMNS, ["channel_sku", "sku"]):
        sku = _gtin(cells["sku"], row)
        body = _checked(_LISTING, {"channel_sku": cells["channel_sku"], "item_id": cells.get("item_id", ""),
                                   "sku": sku}, row)
        if body["channel_sku"] in seen:
            raise CsvRefused(f"{body['channel_sku']!r} is also on row {seen[body['channel_sku']]}", row,
                             "channel_sku")
        seen[body["channel_sku"]] = row
        out.append(ListingRow(body["channel_sku"], body["item_id"], body["sku"]))
    if not out:
        raise CsvRefused("the file has a header and no listing")
    return out


def write(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> bytes:
    """A CSV file Excel opens with its Chinese text intact (UTF-8 with a byte-order mark)."""
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(columns)
    for r in rows:
        writer.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
    return out.getvalue().encode("utf-8-sig")


__all__ = ["LISTING_COLUMNS", "MAX_ROWS", "PRODUCT_COLUMNS", "CsvRefused", "ListingRow", "ProductRow",
           "read_listings", "read_products", "write"]
