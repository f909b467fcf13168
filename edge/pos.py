"""POS transactions and manual stock movements → contract deltas (pure parsing, no I/O).

The POS is the authority for sales (ARCHITECTURE §7). A transaction body:

    {"txn": "T1001", "at": "2026-11-26T11:00:00+08:00", "kind": "sale" | "return",
     "lines": [{"sku": "6923450000106", "qty": 2, "lot": "optional", "expiry": "optional YYYY-MM-DD"}]}

A sale takes stock from the floor; a return goes to the backroom (it is checked before it is put
back on a shelf), unless the line names "zone". `qty` in the body is always a positive count.

Staff movements (receipts, counts, moves, adjustments, shrink) use the same shape with a kind per
line; see `parse_movements`. A line may give its `reason`: "expired" on a shrink or a negative
adjust is an expiry write-off (the ledger takes expired lots first, ARCHITECTURE §6); it travels
in the delta's `evidence`, so neither the wire contract nor the ledger's tables change.

A staff handheld's scan of an online-order pick is one item per request (`parse_pick`): it moves
no stock (the units wait on the pickup shelf, still on the floor); it tells the reconciler which
weight pick was staff's. A refill scan (`parse_refill`) is the same shape for units carried from
the backroom onto a shelf: the reconciler books the move where no sensor sees the shelf.

`at` is any RFC 3339 time (stored as UTC), within the gateway's clock skew: a sale dated ahead of
the clock would sort after every later count and could never be corrected by one. `sku` is what the
till has: an EAN-13, UPC-A, EAN-8 or GTIN-14, or a scanned GS1 element string; it is stored as its
GTIN-14, with the lot and expiry the element string carries (shared/gs1.py).

Each field is a `Field`: the JSON Schema that describes it beside the parser that enforces it, so an
API document can be made from the same pieces. Rules that join fields (a lot named twice must
agree, a count may be zero) are in the parse functions, each said in the field's description.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, Generic, TypeVar

from shared.contract import (
    MAX_TEXT,
    ClockSkew,
    ContractError,
    Kind,
    Source,
    StockDelta,
    Zone,
    is_text,
    new_delta_id,
    parse_date,
    parse_instant,
)
from shared.gs1 import Gs1Error, TradeItem, read_item

MAX_LINES: Final = 500
MAX_QTY: Final = 1_000_000
POS_KINDS: Final = {"sale": Kind.SALE, "return": Kind.RETURN}
MANUAL_KINDS: Final = frozenset(
    {Kind.RECEIPT, Kind.COUNT, Kind.MOVE, Kind.ADJUST, Kind.SHRINK, Kind.TRANSFER_IN, Kind.TRANSFER_OUT}
)
REASONS: Final = ("expired",)  # why units leave, as the ledger acts on it (cloud/db/ledger.py)
# How far a till's or a member of staff's `at` may be from the gateway's clock, unless store.toml
# says otherwise ([http] max_ahead_s, max_age_days).
TILL_SKEW: Final = ClockSkew(ahead=timedelta(minutes=5), behind=timedelta(days=30))

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    key: str  # the idempotency key in the outbox
    deltas: tuple[StockDelta, ...]


@dataclass(frozen=True, slots=True)
class Field(Generic[T]):
    """One field of a request body: its JSON Schema (draft 2020-12, which OpenAPI 3.1 takes as it
    is) and the parser that enforces the same rule, raising ContractError naming the field."""

    schema: Mapping[str, Any]
    read: Callable[[object, str], T]

    def of(self, obj: Mapping[str, Any], key: str, where: str = "") -> T:
        """This field's value in `obj`, read; `where` is the path to `obj` ("lines[2].")."""
        return self.read(obj.get(key), where + key)


# --- field parsers ------------------------------------------------------------------------------

def _reference(value: object, name: str) -> str:
    if is_text(value) and value.strip():
        return value
    raise ContractError(name, f"must be a non-empty string of at most {MAX_TEXT} characters, "
                              "without control characters")


def _pos_kind(value: object, name: str) -> Kind:
    if not isinstance(value, str) or value not in POS_KINDS:
        raise ContractError(name, f"must be sale or return, got {value!r}")
    return POS_KINDS[value]


def _manual_kind(value: object, name: str) -> Kind:
    if not isinstance(value, str) or value not in {k.value for k in MANUAL_KINDS}:
        allowed = ", ".join(sorted(k.value for k in MANUAL_KINDS))
        raise ContractError(name, f"must be one of {allowed}; got {value!r}")
    return Kind(value)


def _order(value: object, name: str) -> str | None:
    if value is None:
        return None
    if is_text(value, 40) and ":" not in value:
        return value
    raise ContractError(name, "must be the cloud order id (at most 40 characters, no ':') on a sale")


def _picked_order(value: object, name: str) -> str:
    if is_text(value, 40) and ":" not in value:
        return value
    raise ContractError(name, "must be the online order's cloud id (at most 40 characters, no ':')")


def _staff(value: object, name: str) -> str:
    if is_text(value, 64) and value.strip():
        return value
    raise ContractError(name, "must be the staff member's id: a non-empty string of at most 64 characters")


def _bin(value: object, name: str) -> str:
    if is_text(value, 64) and value.strip():
        return value
    raise ContractError(name, "must be the shelf label's bin id: a non-empty string of at most 64 characters")


def _item(value: object, name: str) -> TradeItem:
    if not isinstance(value, str):
        raise ContractError(name, f"must be a GTIN or a GS1 element string, got {value!r}")
    try:
        return read_item(value)
    except Gs1Error as e:
        raise ContractError(name, str(e)) from None


def _qty(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ContractError(name, f"must be an integer, got {value!r}")
    if abs(value) > MAX_QTY:
        raise ContractError(name, f"out of range: {value}")
    return value


def _till_qty(value: object, name: str) -> int:
    qty = _qty(value, name)
    if qty <= 0:
        raise ContractError(name, f"out of range: {qty}")
    return qty


def _lot(value: object, name: str) -> str | None:
    if value is None or is_text(value):
        return value
    raise ContractError(name, f"must be a non-empty string of at most {MAX_TEXT} characters, "
                              "without control characters")


def _expiry(value: object, name: str) -> date | None:
    return parse_date(value, name) if value is not None else None


def _reason(value: object, name: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str) and value in REASONS:
        return value
    raise ContractError(name, f"must be {' or '.join(REASONS)}, got {value!r}")


def _zone(value: object, name: str) -> Zone | None:
    if value is None:
        return None
    if isinstance(value, str) and value in {z.value for z in Zone}:
        return Zone(value)
    raise ContractError(name, f"must be floor or backroom, got {value!r}")


# --- the fields ---------------------------------------------------------------------------------

REFERENCE: Final = Field({"type": "string", "minLength": 1, "maxLength": MAX_TEXT, "pattern": r"\S",
                          "description": "the till's transaction (txn) or the staff document (ref): "
                                         "the idempotency key"}, _reference)
AT: Final = Field({"type": "string", "format": "date-time",
                   "description": "RFC 3339 with an offset (any offset, 0-9 fractional digits); stored as "
                                  "UTC in ms. At most [http] max_ahead_s (300) ahead of the gateway's "
                                  "clock and max_age_days (30) old"}, parse_instant)
POS_KIND: Final = Field({"enum": sorted(POS_KINDS)}, _pos_kind)
MANUAL_KIND: Final = Field({"enum": sorted(k.value for k in MANUAL_KINDS)}, _manual_kind)
ORDER: Final = Field({"type": "string", "minLength": 1, "maxLength": 40, "pattern": "^[^:]+$",
                      "description": "the cloud order id of a pickup rung up at the till (sales only)"},
                     _order)
PICKED_ORDER: Final = Field({"type": "string", "minLength": 1, "maxLength": 40, "pattern": "^[^:]+$",
                             "description": "the online order the units were picked for (its cloud id)"},
                            _picked_order)
SCAN: Final = Field({"type": "string", "minLength": 1, "maxLength": MAX_TEXT, "pattern": r"\S",
                     "description": "the handheld's id for this scan: the idempotency key (a handheld "
                                    "that resends it is answered with `duplicate`)"}, _reference)
STAFF: Final = Field({"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"\S",
                      "description": "who scanned it (the staff member's id or badge)"}, _staff)
SKU: Final = Field({
    "type": "string", "minLength": 1, "maxLength": 256,
    "description": "the item: an EAN-13, UPC-A, EAN-8 or GTIN-14 (valid check digit), or a GS1 element "
                   "string with the GTIN, AI (01) — printed \"(01)…(10)LOT(17)YYMMDD\" or as a scanner "
                   "sends it (GS separators; a symbology identifier ]C1 ]d2 ]Q3 ]e0 ]E0 ]E4 in front). "
                   "Stored as the GTIN-14; lot and expiry from AIs (10) and (17)",
    "examples": ["6923450000106", "06923450000106", "(01)09520123456788(10)ABC123(17)281231"],
}, _item)
TILL_QTY: Final = Field({"type": "integer", "minimum": 1, "maximum": MAX_QTY,
                         "description": "units sold or returned"}, _till_qty)
QTY: Final = Field({"type": "integer", "minimum": -MAX_QTY, "maximum": MAX_QTY,
                    "description": "signed as the line's kind says: a count is absolute (>= 0), a "
                                   "shrink or transfer_out < 0, an adjust any non-zero, the rest > 0"}, _qty)
LOT: Final = Field({"type": "string", "minLength": 1, "maxLength": MAX_TEXT,
                    "description": "must agree with the lot of a scanned element string, AI (10)"}, _lot)
EXPIRY: Final = Field({"type": "string", "format": "date",
                       "description": "YYYY-MM-DD; must agree with the expiry of a scanned element "
                                      "string, AI (17)"}, _expiry)
ZONE: Final = Field({"enum": [z.value for z in Zone]}, _zone)
REASON: Final = Field({"enum": list(REASONS),
                       "description": "why the units left: \"expired\" on a shrink or a negative adjust "
                                      "is an expiry write-off, which takes expired lots first (name the "
                                      "lot, or leave it out)"}, _reason)


def _body_schema(fields: Mapping[str, Field[Any]], required: tuple[str, ...],
                 line_fields: Mapping[str, Field[Any]], line_required: tuple[str, ...]) -> dict[str, Any]:
    """A request body as one JSON Schema, made from its fields' schemas."""
    line = {"type": "object", "required": list(line_required),
            "properties": {name: dict(f.schema) for name, f in line_fields.items()}}
    lines = {"type": "array", "minItems": 1, "maxItems": MAX_LINES, "items": line}
    return {"type": "object", "required": [*required, "lines"],
            "properties": {**{name: dict(f.schema) for name, f in fields.items()}, "lines": lines}}


TRANSACTION_SCHEMA: Final = _body_schema(
    {"txn": REFERENCE, "at": AT, "kind": POS_KIND, "order": ORDER}, ("txn", "at", "kind"),
    {"sku": SKU, "qty": TILL_QTY, "lot": LOT, "expiry": EXPIRY, "zone": ZONE}, ("sku", "qty"))
PICK_FIELDS: Final[Mapping[str, Field[Any]]] = {
    "scan": SCAN, "order": PICKED_ORDER, "at": AT, "sku": SKU, "qty": TILL_QTY, "staff": STAFF}
PICK_SCHEMA: Final = {"type": "object", "required": list(PICK_FIELDS),
                      "properties": {name: dict(f.schema) for name, f in PICK_FIELDS.items()}}
BIN: Final = Field({"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"\S",
                    "description": "the shelf label scanned with it: the bin the units went onto"}, _bin)
REFILL_QTY: Final = Field({"type": "integer", "minimum": 1, "maximum": MAX_QTY,
                           "description": "units carried onto the shelf"}, _till_qty)
REFILL_FIELDS: Final[Mapping[str, Field[Any]]] = {
    "scan": SCAN, "at": AT, "sku": SKU, "qty": REFILL_QTY, "staff": STAFF, "bin": BIN}
REFILL_SCHEMA: Final = {"type": "object", "required": ["scan", "at", "sku", "qty", "staff"],
                        "properties": {name: dict(f.schema) for name, f in REFILL_FIELDS.items()}}
MOVEMENTS_SCHEMA: Final = _body_schema(
    {"ref": REFERENCE, "at": AT}, ("ref", "at"),
    {"sku": SKU, "kind": MANUAL_KIND, "qty": QTY, "zone": ZONE, "from_zone": ZONE, "lot": LOT,
     "expiry": EXPIRY, "reason": REASON}, ("sku", "kind", "qty", "zone"))


# --- rules across fields ------------------------------------------------------------------------

def _obj(body: object) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ContractError("body", "must be a JSON object")
    return body


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


def _at(body: Mapping[str, Any], now: datetime | None, skew: ClockSkew) -> datetime:
    at = AT.of(body, "at")
    skew.check(at, now or datetime.now(UTC), "at")
    return at


def _lot_and_expiry(line: Mapping[str, Any], where: str, item: TradeItem) -> tuple[str | None, date | None]:
    """The line's lot and expiry: named in the body, carried by the scanned code, or both — when
    both, they must agree (a till that says one lot while the pack says another is a mistake)."""
    lot, expiry = LOT.of(line, "lot", where), EXPIRY.of(line, "expiry", where)
    if lot is not None and item.lot is not None and lot != item.lot:
        raise ContractError(f"{where}lot", f"{lot!r} disagrees with the scanned code's lot, "
                                           f"(10) {item.lot!r}")
    if expiry is not None and item.expiry is not None and expiry != item.expiry:
        raise ContractError(f"{where}expiry", f"{expiry.isoformat()} disagrees with the scanned code's "
                                              f"expiry, (17) {item.expiry.isoformat()}")
    return lot or item.lot, expiry or item.expiry


def _movement_qty(line: Mapping[str, Any], where: str, kind: Kind) -> int:
    qty = QTY.of(line, "qty", where)
    if (qty < 0 and kind not in (Kind.ADJUST, Kind.SHRINK, Kind.TRANSFER_OUT)) or (
            qty == 0 and kind is not Kind.COUNT):
        raise ContractError(f"{where}qty", f"out of range: {qty}")
    return qty


def parse_transaction(body: object, *, bin_of: Mapping[str, str] | None = None,
                      now: datetime | None = None, skew: ClockSkew = TILL_SKEW) -> ParsedRequest:
    """A POS transaction → one sale/return delta per line. Raises ContractError naming the field.

    `now` is the gateway's clock (default: the current time); `at` must lie within `skew` of it."""
    b = _obj(body)
    txn = REFERENCE.of(b, "txn")
    at = _at(b, now, skew)
    kind = POS_KIND.of(b, "kind")
    # A pickup of an online order rung up at the till names the order: its lines carry
    # ref "order:<id>:<txn>/<line>", and the cloud counts the units once (cloud/db/claims.py).
    order = ORDER.of(b, "order")
    if order is not None and kind is not Kind.SALE:
        raise ContractError("order", "must be the cloud order id (at most 40 characters, no ':') on a sale")
    prefix = f"order:{order}:" if order else ""
    if len(prefix) + len(txn) + 5 > MAX_TEXT:
        raise ContractError("txn", "too long together with the order id")
    deltas = []
    for i, line in enumerate(_lines(b)):
        where = f"lines[{i}]."
        item = SKU.of(line, "sku", where)
        qty = TILL_QTY.of(line, "qty", where)
        lot, expiry = _lot_and_expiry(line, where, item)
        default_zone = Zone.FLOOR if kind is Kind.SALE else Zone.BACKROOM
        zone = ZONE.of(line, "zone", where) or default_zone
        deltas.append(StockDelta(
            id=new_delta_id(), seq=0, sku=item.gtin, kind=kind,
            qty=-qty if kind is Kind.SALE else qty, zone=zone, occurred_at=at, source=Source.POS,
            lot=lot, expiry=expiry, ref=f"{prefix}{txn}/{i + 1}",
            bin=(bin_of or {}).get(item.gtin) if zone is Zone.FLOOR else None,
        ))
    return ParsedRequest(f"pos:{txn}", tuple(deltas))


def parse_movements(body: object, *, now: datetime | None = None,
                    skew: ClockSkew = TILL_SKEW) -> ParsedRequest:
    """Staff movements: {"ref", "at", "lines": [{"sku", "kind", "qty", "zone", "from_zone"?, "lot"?,
    "expiry"?, "reason"?}]}. qty is signed as the contract says (a count is absolute, a receipt
    positive…); `at` as for a transaction; a reason goes into the delta's evidence."""
    b = _obj(body)
    ref = REFERENCE.of(b, "ref")
    at = _at(b, now, skew)
    deltas = []
    for i, line in enumerate(_lines(b)):
        where = f"lines[{i}]."
        kind = MANUAL_KIND.of(line, "kind", where)
        item = SKU.of(line, "sku", where)
        qty = _movement_qty(line, where, kind)
        lot, expiry = _lot_and_expiry(line, where, item)
        zone = ZONE.of(line, "zone", where)
        if zone is None:
            raise ContractError(f"{where}zone", "is required (floor or backroom)")
        from_zone = ZONE.of(line, "from_zone", where)
        reason = REASON.of(line, "reason", where)
        if reason is not None and (kind not in (Kind.SHRINK, Kind.ADJUST) or qty >= 0):
            raise ContractError(f"{where}reason", f"{reason!r} is for units leaving: a shrink or a "
                                                  f"negative adjust, not a {kind.value} of {qty}")
        try:
            deltas.append(StockDelta(
                id=new_delta_id(), seq=0, sku=item.gtin, kind=kind, qty=qty, zone=zone,
                occurred_at=at, source=Source.MANUAL, from_zone=from_zone, lot=lot, expiry=expiry,
                ref=f"{ref}/{i + 1}", evidence={"reason": reason} if reason is not None else None,
            ))
        except ContractError as e:
            raise ContractError(f"{where}{e.field}", e.problem) from None
    return ParsedRequest(f"manual:{ref}", tuple(deltas))


@dataclass(frozen=True, slots=True)
class HandheldScan:
    """One staff handheld's scan: what it scanned (read as a till's line is), how many, who, when."""

    key: str  # the idempotency key in the outbox: "<kind>:<scan>"
    scan: str
    at: datetime
    sku: str  # GTIN-14
    qty: int
    staff: str
    lot: str | None = None
    expiry: date | None = None


@dataclass(frozen=True, slots=True)
class StaffPick(HandheldScan):
    """Units picked for an online order (POST /v1/picks)."""

    order: str = field(kw_only=True)


@dataclass(frozen=True, slots=True)
class StaffRefill(HandheldScan):
    """Units carried from the backroom onto a shelf (POST /v1/refills), onto `bin` if scanned."""

    bin: str | None = field(default=None, kw_only=True)


def _scanned(b: Mapping[str, Any], kind: str, qty_field: Field[int], now: datetime | None,
             skew: ClockSkew) -> HandheldScan:
    scan = SCAN.of(b, "scan")
    at = _at(b, now, skew)
    item = SKU.of(b, "sku")
    qty = qty_field.of(b, "qty")
    staff = STAFF.of(b, "staff")
    return HandheldScan(f"{kind}:{scan}", scan, at, item.gtin, qty, staff, item.lot, item.expiry)


def parse_pick(body: object, *, now: datetime | None = None, skew: ClockSkew = TILL_SKEW) -> StaffPick:
    """{"scan", "order", "at", "sku", "qty", "staff"} → StaffPick. `sku` is what the handheld
    scanned (a GTIN, or a GS1 element string read with biip, as a till's); `at` as for a
    transaction. Raises ContractError naming the field."""
    b = _obj(body)
    order = PICKED_ORDER.of(b, "order")
    s = _scanned(b, "pick", TILL_QTY, now, skew)
    return StaffPick(s.key, s.scan, s.at, s.sku, s.qty, s.staff, s.lot, s.expiry, order=order)


def parse_refill(body: object, *, now: datetime | None = None, skew: ClockSkew = TILL_SKEW) -> StaffRefill:
    """{"scan", "at", "sku", "qty", "staff", "bin"?} → StaffRefill; `sku` and `at` as for a pick.
    Raises ContractError naming the field."""
    b = _obj(body)
    s = _scanned(b, "refill", REFILL_QTY, now, skew)
    bin_id = BIN.of(b, "bin") if b.get("bin") is not None else None
    return StaffRefill(s.key, s.scan, s.at, s.sku, s.qty, s.staff, s.lot, s.expiry, bin=bin_id)
