"""The wire contract (v1) between store gateways and the cloud — ARCHITECTURE §5.

This module is the only code that edge and cloud share. It imports nothing beyond the standard
library, so the cloud can depend on it without pulling in any gateway driver.

Everything that crosses MQTT is built and checked here: topic names, DeltaBatch / StockDelta,
GatewayStatus. A payload that breaks a rule raises one ContractError naming the offending field.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any, Final, TypeGuard, TypeVar

VERSION: Final = 1
TOPIC_ROOT: Final = "shelfsync/v1/store"
_ID_RE: Final = re.compile(r"[a-z0-9-]{1,32}")
_GTIN14_RE: Final = re.compile(r"[0-9]{14}")  # ASCII: `\d` also takes other scripts' digits
# RFC 3339 in UTC with millisecond precision: 2026-11-26T03:00:00.123Z
_TS_RE: Final = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")
# RFC 3339 §5.6 date-time in any of its forms: any offset, any number of fractional digits; the
# §5.6 NOTE allows "t"/"z" in lower case and a space for the "T".
_RFC3339_RE: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))")
_DATE_RE: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_DELTAS_PER_BATCH: Final = 1000
MAX_TEXT: Final = 128
# What the ledger's columns hold (cloud/db/models.py Movement): a payload the contract accepts must
# be one the cloud can store, or one message would fail its worker's transaction for ever.
MAX_ID: Final = 64  # movements.id VARCHAR(64); a UUID takes 36
MAX_SEQ: Final = 2**63 - 1  # movements.seq BIGINT
MAX_QTY: Final = 1_000_000  # units one delta moves; movements.qty is an INTEGER, balances its sums
_MAX_PROBLEM: Final = 200
# Control characters (PostgreSQL text refuses NUL; the rest break logs and labels) and lone
# surrogates (JSON's "\ud800" escape makes one, and no UTF-8 encoder takes it).
_NOT_TEXT: Final = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
E = TypeVar("E", bound=StrEnum)


class ContractError(ValueError):
    """A payload or value that breaks the wire contract; `field` names what is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        field, problem = _one_line(field, 60), _one_line(problem, _MAX_PROBLEM)
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def _one_line(text: str, limit: int) -> str:
    """A message a person reads: one line, cut short. A payload can carry a megabyte where a
    word was expected, and the problem quotes what it got."""
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Zone(StrEnum):
    FLOOR = "floor"
    BACKROOM = "backroom"


class Kind(StrEnum):
    SALE = "sale"
    RETURN = "return"
    RECEIPT = "receipt"
    SHRINK = "shrink"
    MOVE = "move"
    COUNT = "count"
    ADJUST = "adjust"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"


class Source(StrEnum):
    POS = "pos"
    WEIGHT = "weight"
    VISION = "vision"
    RFID = "rfid"
    MANUAL = "manual"
    FUSION = "fusion"


_NEGATIVE_KINDS: Final = frozenset({Kind.SALE, Kind.SHRINK, Kind.TRANSFER_OUT})
_POSITIVE_KINDS: Final = frozenset({Kind.RETURN, Kind.RECEIPT, Kind.TRANSFER_IN, Kind.MOVE})


# --- value checks ---------------------------------------------------------------------------

def gtin_check_digit(body: str) -> int:
    """GS1 General Specifications §7.9.1: weights 3,1,3,1… from the right of the body."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def is_gtin14(value: object) -> bool:
    return (
        isinstance(value, str)
        and _GTIN14_RE.fullmatch(value) is not None
        and gtin_check_digit(value[:13]) == int(value[13])
    )


def is_text(value: object, limit: int = MAX_TEXT) -> TypeGuard[str]:
    """A non-empty string of at most `limit` characters that every store of ours can hold."""
    return isinstance(value, str) and 0 < len(value) <= limit and _NOT_TEXT.search(value) is None


def check_id(value: object, name: str) -> str:
    """Store and gateway ids fill one topic level: [a-z0-9-]{1,32}."""
    if not isinstance(value, str) or _ID_RE.fullmatch(value) is None:
        raise ContractError(name, f"must match [a-z0-9-]{{1,32}}, got {value!r}")
    return value


def format_ts(moment: datetime) -> str:
    """RFC 3339, UTC, millisecond precision, trailing Z."""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    utc = moment.astimezone(UTC)
    # Not strftime: glibc's %Y writes year 1 as "1", which no RFC 3339 reader takes.
    return (f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:"
            f"{utc.second:02d}.{utc.microsecond // 1000:03d}Z")


def parse_ts(value: object, name: str) -> datetime:
    if not isinstance(value, str) or _TS_RE.fullmatch(value) is None:
        raise ContractError(
            name, f"must be RFC 3339 UTC with ms, like 2026-11-26T03:00:00.123Z; got {value!r}")
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError as e:
        raise ContractError(name, f"not a real instant: {value!r}") from e


def parse_instant(value: object, name: str) -> datetime:
    """A time as people and tills write it — any RFC 3339 date-time — as its instant in UTC.

    Hand-written rather than `datetime.fromisoformat`, which takes ISO 8601 forms RFC 3339 does
    not (a date alone, no offset, basic format) and no leap second; and this module imports
    nothing beyond the standard library (the cloud depends on it). What the gateway writes on the
    wire stays `format_ts` (ms, UTC, Z), and `parse_ts` reads only that."""
    shape = "an RFC 3339 time with an offset, like 2026-11-26T11:00:00+08:00 or 2026-11-26T03:00:00.123Z"
    if not isinstance(value, str) or len(value) > 64:
        raise ContractError(name, f"must be {shape}; got {value!r}")
    m = _RFC3339_RE.fullmatch(value)
    if m is None:
        raise ContractError(name, f"must be {shape}; got {value!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    fraction, sign, off_h, off_m = m.group(7), m.group(8), m.group(9), m.group(10)
    # §5.7: second 60 is a leap second (which minutes may have one only a table says); Python has
    # none, so it is read as the instant it ends at. Digits beyond microseconds are dropped.
    leap = second == 60
    offset = timedelta(hours=int(off_h), minutes=int(off_m)) if sign else timedelta(0)
    try:
        if offset >= timedelta(hours=24) or int(off_m or 0) > 59:
            raise ValueError("offset out of range")
        local = datetime(year, month, day, hour, minute, 59 if leap else second,
                         int((fraction or "0")[:6].ljust(6, "0")), tzinfo=UTC)
        utc = local - offset if sign == "+" else local + offset
        return utc + timedelta(seconds=1) if leap else utc
    except (ValueError, OverflowError):  # no such day, hour or offset; or beyond year 1..9999
        raise ContractError(name, f"not a real instant: {value!r}") from None


@dataclass(frozen=True, slots=True)
class ClockSkew:
    """How far a time someone states may lie from the receiver's clock.

    A sale dated ahead of the clock sorts after counts taken later and so can never be corrected
    by one (ARCHITECTURE §6: counts are ordered by occurred_at); one far in the past is a till
    whose clock is wrong, or a replay. `behind` None: any age (the cloud takes deltas that an
    offline gateway delivers days late)."""

    ahead: timedelta
    behind: timedelta | None = None

    def check(self, at: datetime, now: datetime, name: str) -> None:
        """Raises ContractError naming `name` when `at` is outside the window around `now`."""
        if at - now > self.ahead:
            raise ContractError(name, f"{format_ts(at)} is {_span(at - now)} ahead of the clock here "
                                      f"({format_ts(now)}); at most {_span(self.ahead)} ahead is accepted")
        if self.behind is not None and now - at > self.behind:
            raise ContractError(name, f"{format_ts(at)} is {_span(now - at)} old by the clock here "
                                      f"({format_ts(now)}); at most {_span(self.behind)} old is accepted")


def _span(span: timedelta) -> str:
    """A duration for a person, precise enough to tell 5.07 min from the 5 min allowed."""
    seconds = span.total_seconds()
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            value = seconds / size
            return f"{value:.0f} {unit}" if value >= 100 else f"{value:.3g} {unit}"
    return f"{seconds:.3g} s"


def parse_date(value: object, name: str) -> date:
    if not isinstance(value, str) or _DATE_RE.fullmatch(value) is None:
        raise ContractError(name, f"must be YYYY-MM-DD, got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError as e:
        raise ContractError(name, f"not a real date: {value!r}") from e


def new_delta_id() -> str:
    """A UUIDv7-shaped id: 48-bit ms timestamp then randomness, so ids sort by creation."""
    if hasattr(uuid, "uuid7"):  # Python 3.14+
        return str(uuid.uuid7())
    import os
    import time

    ms = time.time_ns() // 1_000_000
    raw = bytearray(ms.to_bytes(6, "big") + os.urandom(10))
    raw[6] = (raw[6] & 0x0F) | 0x70  # version 7
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    return str(uuid.UUID(bytes=bytes(raw)))


def _text(obj: Mapping[str, Any], key: str, prefix: str, *, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise ContractError(prefix + key, "is required")
        return None
    if not is_text(value):
        raise ContractError(prefix + key, f"must be a non-empty string of at most {MAX_TEXT} characters, "
                                          "without control characters")
    return value


def _int(obj: Mapping[str, Any], key: str, prefix: str) -> int:
    value = obj.get(key)
    if value is None:
        raise ContractError(prefix + key, "is required")
    if not isinstance(value, int) or isinstance(value, bool):
        raise ContractError(prefix + key, f"must be an integer, got {value!r}")
    return value


def _enum(cls: type[E], obj: Mapping[str, Any], key: str, prefix: str) -> E:
    value = obj.get(key)
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return cls(value)
    except ValueError:
        allowed = " | ".join(m.value for m in cls)
        raise ContractError(prefix + key, f"must be one of {allowed}, got {value!r}") from None


def _encodes(value: object) -> bool:
    """Whether `encode` can write `value` again (a lone surrogate has no UTF-8)."""
    try:
        json.dumps(value, ensure_ascii=False).encode()
    except (UnicodeEncodeError, ValueError, TypeError):
        return False
    return True


# --- payloads -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class StockDelta:
    """One change to a store's stock, made once at the gateway and idempotent on `id`."""

    id: str
    seq: int
    sku: str
    kind: Kind
    qty: int
    zone: Zone
    occurred_at: datetime
    source: Source
    confidence: float = 1.0
    from_zone: Zone | None = None
    lot: str | None = None
    expiry: date | None = None
    bin: str | None = None
    ref: str | None = None
    evidence: Mapping[str, Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if not is_text(self.id, MAX_ID):
            raise ContractError("id", f"must be a non-empty string of at most {MAX_ID} characters, "
                                      "without control characters")
        for name, text in (("lot", self.lot), ("bin", self.bin), ("ref", self.ref)):
            if text is not None and not is_text(text):
                raise ContractError(name, f"must be a non-empty string of at most {MAX_TEXT} characters, "
                                          "without control characters")
        if not 0 <= self.seq <= MAX_SEQ:
            raise ContractError("seq", f"must be within 0..{MAX_SEQ}")
        if abs(self.qty) > MAX_QTY:
            raise ContractError("qty", f"must be within -{MAX_QTY:,}..{MAX_QTY:,}, got {self.qty}")
        if not is_gtin14(self.sku):
            raise ContractError("sku", f"must be a GTIN-14 with a valid check digit, got {self.sku!r}")
        qty, kind = self.qty, self.kind
        if kind in _NEGATIVE_KINDS and qty >= 0:
            raise ContractError("qty", f"must be < 0 for {kind}, got {qty}")
        if kind in _POSITIVE_KINDS and qty <= 0:
            raise ContractError("qty", f"must be > 0 for {kind}, got {qty}")
        if kind is Kind.COUNT and qty < 0:
            raise ContractError("qty", f"a count is absolute and must be >= 0, got {qty}")
        if kind is Kind.ADJUST and qty == 0:
            raise ContractError("qty", "an adjust must be non-zero")
        if kind is Kind.MOVE:
            if self.from_zone is None:
                raise ContractError("from_zone", "is required for a move")
            if self.from_zone is self.zone:
                raise ContractError("from_zone", "must differ from zone")
        elif self.from_zone is not None:
            raise ContractError("from_zone", f"is only allowed on a move, not on {kind}")
        if not 0.0 <= self.confidence <= 1.0:
            raise ContractError("confidence", f"must be within 0..1, got {self.confidence}")
        if self.occurred_at.tzinfo is None:
            raise ContractError("occurred_at", "must be timezone-aware")
        # The wire carries milliseconds; hold the same instant the receiver will see.
        at = self.occurred_at.astimezone(UTC)
        at = at.replace(microsecond=at.microsecond // 1000 * 1000)
        if at != self.occurred_at or at.tzinfo is not self.occurred_at.tzinfo:
            object.__setattr__(self, "occurred_at", at)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "seq": self.seq,
            "sku": self.sku,
            "kind": self.kind.value,
            "qty": self.qty,
            "zone": self.zone.value,
            "occurred_at": format_ts(self.occurred_at),
            "source": self.source.value,
            "confidence": self.confidence,
        }
        if self.from_zone is not None:
            out["from_zone"] = self.from_zone.value
        if self.lot is not None:
            out["lot"] = self.lot
        if self.expiry is not None:
            out["expiry"] = self.expiry.isoformat()
        if self.bin is not None:
            out["bin"] = self.bin
        if self.ref is not None:
            out["ref"] = self.ref
        if self.evidence is not None:
            out["evidence"] = dict(self.evidence)
        return out

    @classmethod
    def from_json(cls, obj: object, prefix: str = "") -> StockDelta:
        if not isinstance(obj, Mapping):
            raise ContractError(prefix.rstrip(".") or "delta", "must be an object")
        confidence = obj.get("confidence", 1.0)
        number = isinstance(confidence, int | float) and not isinstance(confidence, bool)
        if not number or not 0 <= confidence <= 1:  # before float(): 400 digits are no float
            raise ContractError(prefix + "confidence", f"must be a number within 0..1, got {confidence!r}")
        evidence = obj.get("evidence")
        if evidence is not None and not isinstance(evidence, Mapping):
            raise ContractError(prefix + "evidence", "must be an object")
        if evidence is not None and not _encodes(evidence):
            raise ContractError(prefix + "evidence", "must be an object of UTF-8 text (a JSON \\ud800 escape "
                                                     "is half a character)")
        sku = obj.get("sku")
        if not is_gtin14(sku):
            raise ContractError(prefix + "sku", f"must be a GTIN-14 with a valid check digit, got {sku!r}")
        try:
            return cls(
                id=_text(obj, "id", prefix) or "",
                seq=_int(obj, "seq", prefix),
                sku=str(sku),
                kind=_enum(Kind, obj, "kind", prefix),
                qty=_int(obj, "qty", prefix),
                zone=_enum(Zone, obj, "zone", prefix),
                occurred_at=parse_ts(obj.get("occurred_at"), prefix + "occurred_at"),
                source=_enum(Source, obj, "source", prefix),
                confidence=float(confidence),
                from_zone=(
                    _enum(Zone, obj, "from_zone", prefix) if obj.get("from_zone") is not None else None
                ),
                lot=_text(obj, "lot", prefix, required=False),
                expiry=(
                    parse_date(obj["expiry"], prefix + "expiry") if obj.get("expiry") is not None else None
                ),
                bin=_text(obj, "bin", prefix, required=False),
                ref=_text(obj, "ref", prefix, required=False),
                evidence=evidence,
            )
        except ContractError as e:
            if e.field.startswith(prefix):
                raise
            raise ContractError(prefix + e.field, e.problem) from None


@dataclass(frozen=True, slots=True)
class DeltaBatch:
    store: str
    gateway: str
    sent_at: datetime
    deltas: tuple[StockDelta, ...]

    def __post_init__(self) -> None:
        check_id(self.store, "store")
        check_id(self.gateway, "gateway")
        if not self.deltas:
            raise ContractError("deltas", "must hold at least one delta")
        if len(self.deltas) > MAX_DELTAS_PER_BATCH:
            raise ContractError("deltas", f"at most {MAX_DELTAS_PER_BATCH} per batch")
        ids = {d.id for d in self.deltas}
        if len(ids) != len(self.deltas):
            raise ContractError("deltas", "ids must be unique within a batch")

    def to_json(self) -> dict[str, Any]:
        return {
            "v": VERSION,
            "store": self.store,
            "gateway": self.gateway,
            "sent_at": format_ts(self.sent_at),
            "deltas": [d.to_json() for d in self.deltas],
        }

    @classmethod
    def from_json(cls, obj: object) -> DeltaBatch:
        if not isinstance(obj, Mapping):
            raise ContractError("batch", "must be a JSON object")
        if obj.get("v") != VERSION:
            raise ContractError("v", f"must be {VERSION}, got {obj.get('v')!r}")
        raw = obj.get("deltas")
        if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
            raise ContractError("deltas", "must be an array")
        return cls(
            store=check_id(obj.get("store"), "store"),
            gateway=check_id(obj.get("gateway"), "gateway"),
            sent_at=parse_ts(obj.get("sent_at"), "sent_at"),
            deltas=tuple(StockDelta.from_json(d, f"deltas[{i}].") for i, d in enumerate(raw)),
        )


class GatewayState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class GatewayStatus:
    """Retained on the status topic; the broker publishes the `offline` last will for us."""

    store: str
    gateway: str
    state: GatewayState
    at: datetime | None = None
    version: str | None = None
    outbox_depth: int | None = None
    last_seq: int | None = None  # the highest seq the broker has acknowledged: the cloud's gap check
    devices: Mapping[str, str] = field(default_factory=dict, compare=False)
    # Seconds the oldest delta still in the outbox had waited when this status was written (0:
    # none waits). Optional: a gateway from before it was added leaves it out.
    oldest_unsent_s: float | None = None
    # The version of the console's shelf settings (ShelfSettings) the gateway applied; 0: none yet.
    # Optional: a gateway without staff alerts, or from before it was added, leaves it out.
    settings_version: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "v": VERSION,
            "store": self.store,
            "gateway": self.gateway,
            "state": self.state.value,
        }
        if self.at is not None:
            out["at"] = format_ts(self.at)
        if self.version is not None:
            out["version"] = self.version
        if self.outbox_depth is not None:
            out["outbox_depth"] = self.outbox_depth
        if self.last_seq is not None:
            out["last_seq"] = self.last_seq
        if self.devices:
            out["devices"] = dict(self.devices)
        if self.oldest_unsent_s is not None:
            out["oldest_unsent_s"] = round(self.oldest_unsent_s, 1)
        if self.settings_version is not None:
            out["settings_version"] = self.settings_version
        return out

    @classmethod
    def from_json(cls, obj: object) -> GatewayStatus:
        if not isinstance(obj, Mapping):
            raise ContractError("status", "must be a JSON object")
        at = obj.get("at")
        devices = obj.get("devices") or {}
        if not isinstance(devices, Mapping):
            raise ContractError("devices", "must be an object")
        depth = obj.get("outbox_depth")
        last_seq = obj.get("last_seq")
        oldest = obj.get("oldest_unsent_s")
        if oldest is not None and (not isinstance(oldest, int | float) or isinstance(oldest, bool)
                                   or not 0 <= oldest < 1e9):
            raise ContractError("oldest_unsent_s", f"must be a number of seconds >= 0, got {oldest!r}")
        settings_version = _natural(obj, "settings_version", "") if obj.get("settings_version") is not None \
            else None
        return cls(
            store=check_id(obj.get("store"), "store"),
            gateway=check_id(obj.get("gateway"), "gateway"),
            state=_enum(GatewayState, obj, "state", ""),
            at=parse_ts(at, "at") if at is not None else None,
            version=_text(obj, "version", "", required=False),
            outbox_depth=_int(obj, "outbox_depth", "") if depth is not None else None,
            last_seq=_int(obj, "last_seq", "") if last_seq is not None else None,
            devices={str(k): str(v) for k, v in devices.items()},
            oldest_unsent_s=float(oldest) if oldest is not None else None,
            settings_version=settings_version,
        )


@dataclass(frozen=True, slots=True)
class ResendRequest:
    """cloud → gateway on cmd/{gw}/resend: publish again every delta from `from_seq` on.

    The cloud asks when it sees a gap in a gateway's seq: a broker that restarts without its
    sessions drops what it could not route, and PUBACK only promised the broker had it."""

    from_seq: int

    def __post_init__(self) -> None:
        if self.from_seq < 1:
            raise ContractError("from_seq", "must be >= 1")

    def to_json(self) -> dict[str, Any]:
        return {"v": VERSION, "command": "resend", "from_seq": self.from_seq}

    @classmethod
    def from_json(cls, obj: object) -> ResendRequest:
        if not isinstance(obj, Mapping) or obj.get("command") != "resend":
            raise ContractError("command", "must be resend")
        return cls(_int(obj, "from_seq", ""))


@dataclass(frozen=True, slots=True)
class BinView:
    """One shelf bin as the gateway sees it now."""

    bin: str
    sku: str
    count: int | None  # None until the bin's first stable reading
    available: bool
    source: Source = Source.WEIGHT
    grams: float | None = None
    refill_at: int | None = None  # staff are asked to refill at this count or below (its alert rule)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"bin": self.bin, "sku": self.sku, "count": self.count,
                               "available": self.available, "source": self.source.value}
        if self.grams is not None:
            out["grams"] = round(self.grams, 1)
        if self.refill_at is not None:
            out["refill_at"] = self.refill_at
        return out

    @classmethod
    def from_json(cls, obj: object, prefix: str) -> BinView:
        if not isinstance(obj, Mapping):
            raise ContractError(prefix.rstrip("."), "must be an object")
        count, grams = obj.get("count"), obj.get("grams")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 0):
            raise ContractError(prefix + "count", f"must be null or an integer >= 0, got {count!r}")
        if grams is not None and not isinstance(grams, int | float):
            raise ContractError(prefix + "grams", "must be a number")
        if not is_gtin14(obj.get("sku")):
            raise ContractError(prefix + "sku", "must be a GTIN-14 with a valid check digit")
        available = obj.get("available")
        if not isinstance(available, bool):
            raise ContractError(prefix + "available", "must be true or false")
        refill_at = obj.get("refill_at")
        if refill_at is not None and (not isinstance(refill_at, int) or isinstance(refill_at, bool)
                                      or refill_at < 0):
            raise ContractError(prefix + "refill_at", f"must be null or an integer >= 0, got {refill_at!r}")
        return cls(bin=_text(obj, "bin", prefix) or "", sku=str(obj["sku"]), count=count,
                   available=available, source=_enum(Source, obj, "source", prefix),
                   grams=float(grams) if grams is not None else None, refill_at=refill_at)


@dataclass(frozen=True, slots=True)
class ShelfSnapshot:
    """Retained on the shelves topic: every bin of the store, refreshed when one changes."""

    store: str
    gateway: str
    at: datetime
    bins: tuple[BinView, ...]

    def to_json(self) -> dict[str, Any]:
        return {"v": VERSION, "store": self.store, "gateway": self.gateway, "at": format_ts(self.at),
                "bins": [b.to_json() for b in self.bins]}

    @classmethod
    def from_json(cls, obj: object) -> ShelfSnapshot:
        if not isinstance(obj, Mapping):
            raise ContractError("snapshot", "must be a JSON object")
        bins = obj.get("bins")
        if not isinstance(bins, list):
            raise ContractError("bins", "must be an array")
        return cls(check_id(obj.get("store"), "store"), check_id(obj.get("gateway"), "gateway"),
                   parse_ts(obj.get("at"), "at"),
                   tuple(BinView.from_json(b, f"bins[{i}].") for i, b in enumerate(bins)))


@dataclass(frozen=True, slots=True)
class StocktakeRequest:
    """cloud → gateway on cmd/{gw}/stocktake: count every tag the store's readers see."""

    id: str
    seconds: float = 180.0
    zone: Zone | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.seconds <= 3600:
            raise ContractError("seconds", "must be within 1..3600")
        check_id(self.id, "id")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"v": VERSION, "command": "stocktake", "id": self.id, "seconds": self.seconds}
        if self.zone is not None:
            out["zone"] = self.zone.value
        return out

    @classmethod
    def from_json(cls, obj: object) -> StocktakeRequest:
        if not isinstance(obj, Mapping) or obj.get("command") != "stocktake":
            raise ContractError("command", "must be stocktake")
        seconds = obj.get("seconds", 180.0)
        if not isinstance(seconds, int | float) or isinstance(seconds, bool):
            raise ContractError("seconds", "must be a number")
        zone = _enum(Zone, obj, "zone", "") if obj.get("zone") is not None else None
        return cls(_text(obj, "id", "") or "", float(seconds), zone)


MAX_SHELF_RULES: Final = 20_000
MAX_REFILL_AT: Final = 1_000_000
MAX_SETTINGS_VERSION: Final = 2**63 - 1  # store_settings_versions.version is a BIGINT
_RULE_KEYS: Final = ("product", "refill_at")
_CONTROL: Final = re.compile("[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True, slots=True)
class ShelfRule:
    """A bin's or a product's staff-alert settings as head office set them: the product name staff
    read in the alert and the count at or below which they are asked to refill. None keeps the
    gateway's own value (its TOML's [alerts.bins.BIN])."""

    product: str | None = None
    refill_at: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in (("product", self.product), ("refill_at", self.refill_at)) if v is not None}

    @classmethod
    def from_json(cls, obj: object, where: str) -> ShelfRule:
        if not isinstance(obj, Mapping):
            raise ContractError(where, "must be an object with product and/or refill_at")
        for key in obj:
            if key not in _RULE_KEYS:
                raise ContractError(f"{where}.{key}", "unknown field; known: product, refill_at")
        if not any(obj.get(k) is not None for k in _RULE_KEYS):
            raise ContractError(where, "must set product, refill_at or both")
        refill_at = obj.get("refill_at")
        if refill_at is not None and (not isinstance(refill_at, int) or isinstance(refill_at, bool)
                                      or not 0 <= refill_at <= MAX_REFILL_AT):
            raise ContractError(f"{where}.refill_at", f"must be an integer within 0..{MAX_REFILL_AT:,}, "
                                                     f"got {refill_at!r}")
        product = _text(obj, "product", where + ".", required=False)
        if product is not None and _CONTROL.search(product):  # a name staff read on a phone: one line
            raise ContractError(f"{where}.product", "must be one line of text, without control characters")
        return cls(product, refill_at)


@dataclass(frozen=True, slots=True)
class ShelfSettings:
    """cloud → gateway on cmd/{gw}/settings: the store's staff-alert settings from the console, whole
    (a snapshot, not a change): per bin id, and per product (GTIN-14) for every bin that holds it.

    `version` grows with every change in the cloud. The gateway applies a version newer than the
    one it has, keeps it (a restart keeps it), and says which it applied in its status
    (`settings_version`): the cloud sends it again to a gateway that is behind, e.g. one whose
    broker session, and the commands queued in it, was lost."""

    version: int
    bins: Mapping[str, ShelfRule] = field(default_factory=dict)
    products: Mapping[str, ShelfRule] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.version, bool) or not 1 <= self.version <= MAX_SETTINGS_VERSION:
            raise ContractError("version", f"must be an integer within 1..{MAX_SETTINGS_VERSION}")
        if len(self.bins) + len(self.products) > MAX_SHELF_RULES:
            raise ContractError("bins", f"at most {MAX_SHELF_RULES:,} rules")
        for b in self.bins:
            _text({"bin": b}, "bin", "bins.")  # a bin id is text as the deltas' `bin` is
        for sku in self.products:
            if not is_gtin14(sku):
                raise ContractError("products", f"{sku!r} is not a GTIN-14 with a valid check digit")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"v": VERSION, "command": "settings", "version": self.version}
        if self.bins:
            out["bins"] = {b: r.to_json() for b, r in sorted(self.bins.items())}
        if self.products:
            out["products"] = {s: r.to_json() for s, r in sorted(self.products.items())}
        return out

    @classmethod
    def from_json(cls, obj: object) -> ShelfSettings:
        if not isinstance(obj, Mapping) or obj.get("command") != "settings":
            raise ContractError("command", "must be settings")
        version = obj.get("version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise ContractError("version", f"must be an integer, got {version!r}")
        tables = {}
        for name in ("bins", "products"):
            raw = obj.get(name, {})
            if not isinstance(raw, Mapping):
                raise ContractError(name, "must be an object of rules by key")
            tables[name] = {str(k): ShelfRule.from_json(v, f"{name}.{k}") for k, v in raw.items()}
        return cls(version, tables["bins"], tables["products"])


MAX_STOCKTAKE_COUNTS: Final = 100_000


@dataclass(frozen=True, slots=True)
class StocktakeCount:
    """One SKU's units in one zone at the end of a stocktake (`expected`: what the gateway's book
    said, when it knew)."""

    sku: str
    zone: str
    qty: int
    expected: int | None = None


@dataclass(frozen=True, slots=True)
class StocktakeResult:
    """gateway → cloud on gw/{gw}/stocktakes: how stocktake `id` ended — the StocktakeReport of §5
    (unique tags, reads, counts per SKU and zone) or the `error` that stopped it. The counts reach
    the ledger on their own, as `count` deltas; this is the record people read."""

    id: str
    error: str | None = None
    unique_tags: int = 0
    reads: int = 0
    seconds: float = 0.0
    started_at: datetime | None = None
    ended_at: datetime | None = None
    sold_during: int = 0
    counts: tuple[StocktakeCount, ...] = ()

    def to_json(self) -> dict[str, Any]:
        if self.error is not None:
            return {"v": VERSION, "id": self.id, "error": self.error}
        return {"v": VERSION, "id": self.id, "unique_tags": self.unique_tags, "reads": self.reads,
                "seconds": self.seconds,
                "started_at": format_ts(self.started_at) if self.started_at else None,
                "ended_at": format_ts(self.ended_at) if self.ended_at else None,
                "sold_during": self.sold_during,
                "counts": [{"sku": c.sku, "zone": c.zone, "qty": c.qty}
                           | ({"expected": c.expected} if c.expected is not None else {})
                           for c in self.counts]}

    @classmethod
    def from_json(cls, obj: object) -> StocktakeResult:
        if not isinstance(obj, Mapping):
            raise ContractError("stocktake", "must be a JSON object")
        sid = check_id(obj.get("id"), "id")
        if obj.get("error") is not None:
            problem = obj["error"]
            if not isinstance(problem, str) or not problem or len(problem) > 4 * MAX_TEXT:
                raise ContractError("error", f"must be a non-empty string of at most {4 * MAX_TEXT} chars")
            return cls(sid, error=problem)
        seconds = obj.get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not 0 <= seconds < 1e6:
            raise ContractError("seconds", f"must be a number of seconds, got {seconds!r}")
        counts = obj.get("counts")
        if not isinstance(counts, list) or len(counts) > MAX_STOCKTAKE_COUNTS:
            raise ContractError("counts", f"must be an array of at most {MAX_STOCKTAKE_COUNTS} counts")
        parsed = []
        for i, c in enumerate(counts):
            where = f"counts[{i}]."
            if not isinstance(c, Mapping):
                raise ContractError(f"counts[{i}]", "must be an object")
            expected = _natural(c, "expected", where) if c.get("expected") is not None else None
            parsed.append(StocktakeCount(_text(c, "sku", where) or "", _text(c, "zone", where) or "",
                                         _natural(c, "qty", where), expected))
        return cls(sid, unique_tags=_natural(obj, "unique_tags", ""), reads=_natural(obj, "reads", ""),
                   seconds=float(seconds), started_at=parse_ts(obj.get("started_at"), "started_at"),
                   ended_at=parse_ts(obj.get("ended_at"), "ended_at"),
                   sold_during=_natural(obj, "sold_during", "") if obj.get("sold_during") is not None else 0,
                   counts=tuple(parsed))


def _natural(obj: Mapping[str, Any], key: str, prefix: str) -> int:
    value = _int(obj, key, prefix)
    if value < 0:
        raise ContractError(prefix + key, f"must be >= 0, got {value}")
    return value


ALERT_STATUSES: Final = ("open", "acked", "resolved")


@dataclass(frozen=True, slots=True)
class AlertNotice:
    """gateway → cloud on gw/{gw}/alerts: one staff alert's state after each change (issue 7).

    `key` names the condition (e.g. "refill:A1-2"); the same key is the same alert until it is
    resolved. `status` is open | acked | resolved; `kind` is the alert rule's kind (refill,
    reorder, expiring, expired, shrink, misplaced, offline). The titles are the English and
    Chinese messages staff are sent."""

    store: str
    gateway: str
    key: str
    kind: str
    status: str
    aisle: str
    title_en: str
    title_zh: str
    urgent: bool
    raised_at: datetime
    at: datetime  # when this state began (raised, acknowledged or resolved)

    def __post_init__(self) -> None:
        check_id(self.store, "store")
        check_id(self.gateway, "gateway")
        if self.status not in ALERT_STATUSES:
            raise ContractError("status", f"must be one of {' | '.join(ALERT_STATUSES)}, got {self.status!r}")
        for name in ("title_en", "title_zh"):
            value = getattr(self, name)
            if not value or len(value) > 4 * MAX_TEXT:
                raise ContractError(name, f"must be a non-empty string of at most {4 * MAX_TEXT} characters")

    def to_json(self) -> dict[str, Any]:
        return {"v": VERSION, "store": self.store, "gateway": self.gateway, "key": self.key,
                "kind": self.kind, "status": self.status, "aisle": self.aisle,
                "title_en": self.title_en, "title_zh": self.title_zh, "urgent": self.urgent,
                "raised_at": format_ts(self.raised_at), "at": format_ts(self.at)}

    @classmethod
    def from_json(cls, obj: object) -> AlertNotice:
        if not isinstance(obj, Mapping):
            raise ContractError("alert", "must be a JSON object")
        urgent = obj.get("urgent", False)
        if not isinstance(urgent, bool):
            raise ContractError("urgent", "must be true or false")
        titles = [obj.get(k) for k in ("title_en", "title_zh")]
        if not all(isinstance(t, str) for t in titles):
            raise ContractError("title_en", "title_en and title_zh must be strings")
        return cls(
            store=check_id(obj.get("store"), "store"), gateway=check_id(obj.get("gateway"), "gateway"),
            key=_text(obj, "key", "") or "", kind=_text(obj, "kind", "") or "",
            status=_text(obj, "status", "") or "", aisle=_text(obj, "aisle", "") or "",
            title_en=str(titles[0]), title_zh=str(titles[1]), urgent=urgent,
            raised_at=parse_ts(obj.get("raised_at"), "raised_at"), at=parse_ts(obj.get("at"), "at"))


# --- topics ---------------------------------------------------------------------------------

class Stream(StrEnum):
    """What a gateway publishes under shelfsync/v1/store/{store}/gw/{gw}/…"""

    DELTAS = "deltas"
    STATUS = "status"
    SHELVES = "shelves"
    ALERTS = "alerts"
    STOCKTAKES = "stocktakes"


@dataclass(frozen=True, slots=True)
class GatewayTopic:
    store: str
    gateway: str
    stream: Stream

    def __post_init__(self) -> None:
        check_id(self.store, "store")
        check_id(self.gateway, "gateway")

    def __str__(self) -> str:
        return f"{TOPIC_ROOT}/{self.store}/gw/{self.gateway}/{self.stream.value}"

    @classmethod
    def parse(cls, topic: str) -> GatewayTopic:
        parts = topic.split("/")
        if len(parts) != 7 or "/".join(parts[:3]) != TOPIC_ROOT or parts[4] != "gw":
            raise ContractError("topic", f"not a gateway topic: {topic!r}")
        try:
            stream = Stream(parts[6])
        except ValueError:
            raise ContractError("topic", f"unknown stream {parts[6]!r}") from None
        return cls(parts[3], parts[5], stream)


def gateway_topic(store: str, gateway: str, stream: Stream) -> str:
    return str(GatewayTopic(store, gateway, stream))


def command_topic(store: str, gateway: str, command: str) -> str:
    check_id(command, "command")
    return f"{TOPIC_ROOT}/{check_id(store, 'store')}/cmd/{check_id(gateway, 'gateway')}/{command}"


def cloud_subscription(group: str = "cloud") -> str:
    """The shared subscription every cloud worker joins (MQTT 5 §4.8.2)."""
    return f"$share/{group}/{TOPIC_ROOT}/+/gw/+/#"


# --- codec ----------------------------------------------------------------------------------

def encode(payload: DeltaBatch | GatewayStatus | ResendRequest | ShelfSnapshot | StocktakeRequest
           | StocktakeResult | AlertNotice | ShelfSettings) -> bytes:
    return json.dumps(payload.to_json(), separators=(",", ":"), ensure_ascii=False).encode()


def load_json(raw: bytes | str, name: str) -> object:
    """UTF-8 JSON text -> its value; anything json.loads refuses is a ContractError naming `name`.

    json.loads refuses more than JSONDecodeError says: a number of more than
    sys.get_int_max_str_digits() digits is a bare ValueError (CPython's guard against quadratic
    int parsing), and nesting deeper than the interpreter's stack a RecursionError."""
    try:
        return json.loads(raw)
    except UnicodeDecodeError as e:
        problem = f"not UTF-8: {e}"
    except json.JSONDecodeError as e:
        problem = f"not valid JSON: {e}"
    except ValueError:
        problem = f"not valid JSON: a number of more than {sys.get_int_max_str_digits()} digits"
    except RecursionError:
        problem = "not valid JSON here: nested too deeply"
    raise ContractError(name, problem)


def _load(raw: bytes | str) -> object:
    return load_json(raw, "payload")


def decode_batch(raw: bytes | str) -> DeltaBatch:
    return DeltaBatch.from_json(_load(raw))


def decode_status(raw: bytes | str) -> GatewayStatus:
    return GatewayStatus.from_json(_load(raw))


def decode_resend(raw: bytes | str) -> ResendRequest:
    return ResendRequest.from_json(_load(raw))


def decode_snapshot(raw: bytes | str) -> ShelfSnapshot:
    return ShelfSnapshot.from_json(_load(raw))


def decode_stocktake(raw: bytes | str) -> StocktakeRequest:
    return StocktakeRequest.from_json(_load(raw))


def decode_stocktake_result(raw: bytes | str) -> StocktakeResult:
    return StocktakeResult.from_json(_load(raw))


def decode_alert(raw: bytes | str) -> AlertNotice:
    return AlertNotice.from_json(_load(raw))


def decode_settings(raw: bytes | str) -> ShelfSettings:
    return ShelfSettings.from_json(_load(raw))
