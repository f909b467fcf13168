"""POS transactions and manual stock movements → contract deltas (pure parsing, no I/O).

The POS is the authority for sales (ARCHITECTURE §7). A transaction body:

    {"txn": "T1001", "at": "2026-11-26T03:00:00.000Z", "kind": "sale" | "return",
     "lines": [{"sku": "<GTIN-14>", "qty": 2, "lot": "optional", "expiry": "optional YYYY-MM-DD"}]}

A sale takes stock from the floor; a return goes to the backroom (it is checked before it is put
back on a shelf), unless the line names "zone". `qty` in the body is always a positive count.

Staff movements (receipts, counts, moves, adjustments, shrink) use the same shape with a kind per
line; see `parse_movements`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from edge.contract import (
    MAX_TEXT,
    ContractError,
    Kind,
    Source,
    StockDelta,
    Zone,
    is_gtin14,
    new_delta_id,
    parse_date,
    parse_ts,
)

MAX_LINES: Final = 500
POS_KINDS: Final = {"sale": Kind.SALE, "return": Kind.RETURN}
MANUAL_KINDS: Final = frozenset(
    {Kind.RECEIPT, Kind.COUNT, Kind.MOVE, Kind.ADJUST, Kind.SHRINK, Kind.TRANSFER_IN, Kind.TRANSFER_OUT}
)


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    key: str  # the idempotency key in the outbox
    deltas: tuple[StockDelta, ...]


def _obj(body: object) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ContractError("body", "must be a JSON object")
    return body


def _ref(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
        raise ContractError(name, f"must be a non-empty string of at most {MAX_TEXT} characters")
    return value


def _lines(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    lines = body.get("lines")
    if not isinstance(lines, list) or not lines:
        raise ContractError("lines", "must be a non-empty array")
    if len(lines) > MAX_LINES:
        raise ContractError("lines", f"at most {MAX_LINES} lines per request")
    for i, line in enumerate(lines):
        if not isinstance(line, Mapping):
            raise ContractError(f"lines[{i}]", "must be an object")
    return lines


def _sku(line: Mapping[str, Any], where: str) -> str:
    sku = line.get("sku")
    if not is_gtin14(sku):
        raise ContractError(f"{where}.sku", f"must be a GTIN-14 with a valid check digit, got {sku!r}")
    return str(sku)


def _count(line: Mapping[str, Any], where: str, *, allow_zero: bool = False,
           allow_negative: bool = False) -> int:
    qty = line.get("qty")
    if not isinstance(qty, int) or isinstance(qty, bool):
        raise ContractError(f"{where}.qty", f"must be an integer, got {qty!r}")
    if (qty < 0 and not allow_negative) or (qty == 0 and not allow_zero) or abs(qty) > 1_000_000:
        raise ContractError(f"{where}.qty", f"out of range: {qty}")
    return qty


def _lot(line: Mapping[str, Any], where: str) -> tuple[str | None, date | None]:
    lot = line.get("lot")
    if lot is not None and (not isinstance(lot, str) or not lot or len(lot) > MAX_TEXT):
        raise ContractError(f"{where}.lot", "must be a non-empty string")
    expiry = line.get("expiry")
    return lot, (parse_date(expiry, f"{where}.expiry") if expiry is not None else None)


def _zone(line: Mapping[str, Any], key: str, where: str, default: Zone | None) -> Zone | None:
    value = line.get(key)
    if value is None:
        return default
    try:
        return Zone(value)
    except ValueError:
        raise ContractError(f"{where}.{key}", f"must be floor or backroom, got {value!r}") from None


def parse_transaction(body: object, *, bin_of: Mapping[str, str] | None = None) -> ParsedRequest:
    """A POS transaction → one sale/return delta per line. Raises ContractError naming the field."""
    b = _obj(body)
    txn = _ref(b, "txn")
    at = parse_ts(b.get("at"), "at")
    kind_name = b.get("kind")
    if kind_name not in POS_KINDS:
        raise ContractError("kind", f"must be sale or return, got {kind_name!r}")
    kind = POS_KINDS[kind_name]
    # A pickup of an online order rung up at the till names the order: its lines carry
    # ref "order:<id>:<txn>/<line>", and the cloud counts the units once (cloud/db/claims.py).
    order = b.get("order")
    if order is not None and (not isinstance(order, str) or not order or len(order) > 40
                              or ":" in order or kind is not Kind.SALE):
        raise ContractError("order", "must be the cloud order id (at most 40 characters, no ':') "
                                     "on a sale")
    prefix = f"order:{order}:" if order else ""
    if len(prefix) + len(txn) + 5 > MAX_TEXT:
        raise ContractError("txn", "too long together with the order id")
    deltas = []
    for i, line in enumerate(_lines(b)):
        where = f"lines[{i}]"
        sku = _sku(line, where)
        qty = _count(line, where)
        lot, expiry = _lot(line, where)
        default_zone = Zone.FLOOR if kind is Kind.SALE else Zone.BACKROOM
        zone = _zone(line, "zone", where, default_zone) or default_zone
        deltas.append(StockDelta(
            id=new_delta_id(), seq=0, sku=sku, kind=kind,
            qty=-qty if kind is Kind.SALE else qty, zone=zone, occurred_at=at, source=Source.POS,
            lot=lot, expiry=expiry, ref=f"{prefix}{txn}/{i + 1}",
            bin=(bin_of or {}).get(sku) if zone is Zone.FLOOR else None,
        ))
    return ParsedRequest(f"pos:{txn}", tuple(deltas))


def parse_movements(body: object) -> ParsedRequest:
    """Staff movements: {"ref", "at", "lines": [{"sku", "kind", "qty", "zone", "from_zone"?, "lot"?,
    "expiry"?}]}. qty is signed as the contract says (a count is absolute, a receipt positive…)."""
    b = _obj(body)
    ref = _ref(b, "ref")
    at = parse_ts(b.get("at"), "at")
    deltas = []
    for i, line in enumerate(_lines(b)):
        where = f"lines[{i}]"
        raw_kind = line.get("kind")
        kind = Kind(raw_kind) if raw_kind in {k.value for k in Kind} else None
        if kind not in MANUAL_KINDS:
            allowed = ", ".join(sorted(k.value for k in MANUAL_KINDS))
            raise ContractError(f"{where}.kind", f"must be one of {allowed}; got {line.get('kind')!r}")
        assert kind is not None
        sku = _sku(line, where)
        qty = _count(line, where, allow_zero=kind is Kind.COUNT,
                     allow_negative=kind in (Kind.ADJUST, Kind.SHRINK, Kind.TRANSFER_OUT))
        lot, expiry = _lot(line, where)
        zone = _zone(line, "zone", where, None)
        if zone is None:
            raise ContractError(f"{where}.zone", "is required (floor or backroom)")
        from_zone = _zone(line, "from_zone", where, None)
        try:
            deltas.append(StockDelta(
                id=new_delta_id(), seq=0, sku=sku, kind=kind, qty=qty, zone=zone,
                occurred_at=at, source=Source.MANUAL, from_zone=from_zone, lot=lot, expiry=expiry,
                ref=f"{ref}/{i + 1}",
            ))
        except ContractError as e:
            raise ContractError(f"{where}.{e.field}", e.problem) from None
    return ParsedRequest(f"manual:{ref}", tuple(deltas))
