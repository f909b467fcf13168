"""Buying master data as CSV files (suppliers, terms, capacities, shelf lives): a whole file is read
or refused whole, with the row and field at fault; no database.

The file is read as the console's product import reads it (cloud/csv_rows.py: UTF-8 with or without
Excel's byte-order mark, rows numbered as the spreadsheet shows them, columns named in the header
in any order, an unknown or repeated column refused); a blank cell takes the API's default, GTINs read
by shared/gs1.py as the tills' are (EAN-13, UPC-A, EAN-8 or GTIN-14 with a valid check digit), and
each row then checked with the API's own schema for that row (shared.openapi.Checker), so a row is
accepted exactly when the JSON API would accept it. The stdlib csv module reads (RFC 4180 quoting).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cloud.csv_rows import MAX_ROWS, CsvRefused, rows
from shared.contract import ContractError
from shared.gs1 import Gs1Error, read_item
from shared.openapi import Checker, Schema


@dataclass(frozen=True)
class Table:
    """One kind of file: its columns (the row schema's properties), which are required, which are
    the row's key (a key twice in one file is refused), which hold GTINs and which numbers."""

    name: str
    schema: Schema
    key: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.schema["properties"])

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(self.schema.get("required", ()))




def _kind(schema: Mapping[str, Any]) -> str:
    kinds = schema.get("type", "string")
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    return next((k for k in kinds if k != "null"), "string")


def _cell(table: Table, name: str, cell: str, row: int) -> Any:
    prop = table.schema["properties"][name]
    if prop.get("format") == "gtin14":
        try:
            item = read_item(cell)
        except Gs1Error as e:
            raise CsvRefused(str(e), row, name) from None
        if item.lot is not None or item.expiry is not None:
            raise CsvRefused(f"{cell!r} names a lot or expiry: give the product's GTIN alone", row, name)
        return item.gtin
    kind = _kind(prop)
    try:
        if kind == "integer":
            return int(cell.replace(",", ""))
        if kind == "number":
            return float(cell)
    except ValueError:
        word = "a whole number" if kind == "integer" else "a number"
        raise CsvRefused(f"must be {word}, got {cell!r}", row, name) from None
    return cell


def read(table: Table, data: bytes) -> list[dict[str, Any]]:
    """Every row of a CSV file as the API's row bodies (defaults filled in), or CsvRefused."""
    check = Checker(table.schema)
    out: list[dict[str, Any]] = []
    seen: dict[tuple[Any, ...], int] = {}
    for row, cells in rows(data, table.columns, table.required):
        body: dict[str, Any] = {}
        for name, cell in cells.items():
            if cell:  # blank: the API's default (a required column left blank is refused below)
                body[name] = _cell(table, name, cell, row)
        try:
            checked = dict(check(body))
        except ContractError as e:
            raise CsvRefused(e.problem, row, e.field) from None
        key = tuple(checked[k] for k in table.key)
        if key in seen:
            raise CsvRefused(f"{', '.join(map(str, key))} is also on row {seen[key]}", row, table.key[-1])
        seen[key] = row
        out.append(checked)
    if not out:
        raise CsvRefused(f"the file has a header and no {table.name} row")
    return out


__all__ = ["MAX_ROWS", "CsvRefused", "Table", "read"]
