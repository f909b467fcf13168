"""Fuzz targets for the decoders that outside bytes reach first (issue 14, item 10).

Four decoders take input nobody on our side wrote: LLRP frames from a reader on the store LAN,
Modbus registers from a weighing module, the body a till POSTs to the gateway's webhook, and the
DeltaBatch a gateway publishes to the cloud. Each `Target` pairs

- a Hypothesis strategy of inputs: valid messages mutated (bytes flipped, cut, spliced; JSON
  fields swapped for other values, removed, renamed; numbers too big for any column; NUL, lone
  surrogates, digits of other scripts), bombs (deep nesting, 5,000-digit numbers) and random bytes;
- the function the running code calls (not a copy of it);
- the error type that function documents for bad input;
- what must hold of a value it accepts (what the gateway accepts, the cloud must accept; what
  the cloud accepts, its ledger must be able to store).

A case is *accepted* (returned and the value holds), *rejected* (the documented error, with a
clear message: non-empty, one line, at most `MAX_MESSAGE` characters), a *crash* (any other
exception, an unclear rejection, or an accepted value that does not hold) or a *hang* (more than
`limit_s` CPU seconds; a SIGPROF timer interrupts it, so a decoder stuck in Python code is caught
and reported rather than stalling the run).

`fuzz(target, cases, seed)` drives the strategy with Hypothesis's `fuzz_one_input` from a seeded
byte source, so a run of N cases is exactly N decoder calls and a run repeats; the test suite
(`tests/fuzz/test_fuzz.py`) runs the same targets through Hypothesis's own engine, which shrinks a
failure to its smallest input. `shelfsync bench fuzz` is the long run.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import json
import logging
import math
import random
import re
import signal
import string
import struct
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud import ingest
from edge import http, pos
from edge.delivery.outbox import body_hash
from edge.rfid import driver as rfid
from edge.rfid import reports
from edge.rfid.epc import EpcDecoder
from edge.shelf.registers import (
    BUILTIN_MAPS,
    RegisterMap,
    RegisterMapError,
    map_from_config,
)
from firmware_sim.llrp import frames as fr
from firmware_sim.llrp.air import sgtin96
from firmware_sim.world import make_gtin14
from shared import contract

MAX_MESSAGE = 300  # characters: an error a person reads, not a dump of the input
INT64 = 2**63 - 1
INT32 = 2**31 - 1


# --- outcomes --------------------------------------------------------------------------------


class CaseHang(BaseException):
    """Raised into a case that used up its CPU time. A BaseException, so no decoder's
    `except Exception` can swallow it."""


@dataclass(frozen=True, slots=True)
class Verdict:
    kind: str  # accepted | rejected | crash | hang
    detail: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.kind in ("accepted", "rejected")


def unclear(error: BaseException) -> str | None:
    """Why a rejection's message is not one a person can act on, or None when it is."""
    text = str(error)
    if not text.strip():
        return "an empty message"
    if "\n" in text:
        return "a message of several lines"
    if len(text) > MAX_MESSAGE:
        return f"a message of {len(text)} characters"
    if isinstance(error, contract.ContractError) and not error.field:
        return "a contract error naming no field"
    return None


@dataclass(frozen=True)
class Target:
    name: str
    about: str
    inputs: st.SearchStrategy[Any]
    decode: Callable[[Any], Any]  # the function the running code calls
    rejects: tuple[type[Exception], ...]  # the error type(s) it documents for bad input
    holds: Callable[[Any, Any], str | None]  # (input, accepted value) -> what is wrong, or None


class _Timer:
    """A per-case CPU-time limit: ITIMER_PROF counts the process's CPU time and sends SIGPROF,
    whose handler raises CaseHang in the main thread. SIGPROF rather than SIGALRM, so the run
    never fights pytest-timeout over the one wall-clock timer; CPU rather than wall time, so a
    busy machine does not turn a slow case into a hang."""

    def __init__(self) -> None:
        self.armed = False
        self.previous: Any = None

    def __enter__(self) -> _Timer:
        self.previous = signal.signal(signal.SIGPROF, self._expired)
        return self

    def __exit__(self, *exc: object) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, self.previous)

    def _expired(self, signum: int, frame: object) -> None:
        if self.armed:
            self.armed = False
            raise CaseHang()

    def arm(self, seconds: float) -> None:
        self.armed = True
        signal.setitimer(signal.ITIMER_PROF, seconds)

    def disarm(self) -> None:
        self.armed = False
        signal.setitimer(signal.ITIMER_PROF, 0)


def run_case(target: Target, case: Any, timer: _Timer, limit_s: float) -> Verdict:
    started = time.perf_counter()
    try:
        timer.arm(limit_s)
        try:
            value = target.decode(case)
        finally:
            timer.disarm()
    except CaseHang:
        return Verdict("hang", f"more than {limit_s:g} s of CPU", time.perf_counter() - started)
    except target.rejects as e:
        took = time.perf_counter() - started
        why = unclear(e)
        if why is not None:
            return Verdict("crash", f"unclear rejection ({why}): {type(e).__name__}: {str(e)[:200]}", took)
        return Verdict("rejected", f"{type(e).__name__}: {e}", took)
    except Exception as e:
        return Verdict("crash", _crash(e), time.perf_counter() - started)
    took = time.perf_counter() - started
    try:
        broken = target.holds(case, value)
    except Exception as e:
        broken = f"using it raised {_crash(e)}"
    if broken is not None:
        return Verdict("crash", f"accepted, but {broken}", took)
    return Verdict("accepted", "", took)


def _crash(e: BaseException) -> str:
    where = traceback.extract_tb(e.__traceback__)[-1]
    return f"{type(e).__name__} at {where.filename.rsplit('/', 1)[-1]}:{where.lineno}: {str(e)[:200]}"


# --- mutations shared by every target ----------------------------------------------------------

NASTY_TEXT = (
    "", " ", "\x00", "a\x00b", "\ud800", "\udfff", "\n", "\t", "\x7f", "\u202e", "\ufeff", "\u2028",
    "٠٠٩٥٠١٢٣٤٥٦٧٨٩", "０１２", "x" * 64, "y" * 65, "z" * 128, "w" * 129, "v" * 5000,
    "2026-11-26T03:00:00.123Z", "9999-12-31T23:59:59.999Z", "0001-01-01T00:00:00.000Z",
    "2026-02-30T00:00:00.000Z", "2026-11-26", "1e999", "NaN", "-0", "00950123456789",
    "sale", "return", "floor", "backroom", "count", "move",
)
NASTY_NUMBERS = (
    0, -1, 1, 2**15, 2**16, 2**31 - 1, 2**31, -(2**31) - 1, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1,
    10**400, -(10**400), 0.5, -0.0, 1e308, 1e-320, math.inf, -math.inf, math.nan,
)

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.sampled_from(NASTY_NUMBERS)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
    | st.sampled_from(NASTY_TEXT)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


_ACTIONS = ("tweak", "tweak", "replace", "replace", "delete", "grow", "rename")
nasty_text = st.sampled_from(NASTY_TEXT)
nasty_numbers = st.sampled_from(NASTY_NUMBERS)
small_text = st.text(max_size=8)
small_binary = st.binary(min_size=1, max_size=16)
special_bytes = st.sampled_from((0, 0x7F, 0x80, 0xFF, ord('"'), ord("\\"), ord("9")))


def mutate_json(draw: st.DrawFn, valid: Any) -> Any:
    """A JSON document with a few of its values tweaked (a string for a nasty string, a number
    for a nasty number), replaced by any JSON value, removed, duplicated, added to or renamed.
    A helper drawing from module-level strategies rather than a strategy of its own: building
    strategies per case costs Hypothesis more than the decoders cost us."""
    doc = copy.deepcopy(valid)
    for _ in range(draw(st.integers(0, 4))):
        paths = list(_paths(doc))
        path = paths[draw(st.integers(0, len(paths) - 1))]
        if not path:
            if draw(st.integers(0, 9)) == 0:
                doc = draw(json_values)
            continue
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        action = _ACTIONS[draw(st.integers(0, len(_ACTIONS) - 1))]
        if action == "tweak":
            old = parent[key]
            if isinstance(old, str):
                parent[key] = draw(nasty_text)
            elif isinstance(old, int | float) and not isinstance(old, bool):
                parent[key] = draw(nasty_numbers)
            else:
                parent[key] = draw(json_scalars)
        elif action == "replace":
            parent[key] = draw(json_values)
        elif action == "delete":
            del parent[key]
        elif action == "grow" and isinstance(parent, list):
            parent.extend([copy.deepcopy(parent[key])] * draw(st.integers(1, 3)))
        elif action == "grow" and isinstance(parent, dict):
            parent[draw(small_text)] = draw(json_values)
        elif action == "rename" and isinstance(parent, dict):
            parent[draw(nasty_text | small_text)] = parent.pop(key)
    return doc


def _dump(doc: Any, ascii_only: bool) -> bytes:
    # ensure_ascii turns a lone surrogate into "\ud800", which loads back as one; without it,
    # the surrogate goes out raw (surrogatepass), which is not UTF-8 at all. Both reach decoders.
    return json.dumps(doc, ensure_ascii=ascii_only, allow_nan=True).encode("utf-8", "surrogatepass")


_BYTE_OPS = ("flip", "set", "cut", "truncate", "insert", "duplicate")


def mutate_bytes(draw: st.DrawFn, raw: bytes) -> bytes:
    """`raw` with bytes flipped, set, cut, truncated, inserted or duplicated."""
    data = bytearray(raw)
    for _ in range(draw(st.integers(1, 4))):
        op = _BYTE_OPS[draw(st.integers(0, len(_BYTE_OPS) - 1))]
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[at] = draw(special_bytes)
        elif op == "cut" and data:
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "truncate":
            del data[at:]
        elif op == "insert":
            data[at:at] = draw(small_binary)
        elif op == "duplicate" and data:
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


def bomb(draw: st.DrawFn) -> bytes:
    """An input that costs a parser more than its size suggests."""
    kind = draw(st.integers(0, 4))
    if kind == 0:
        n = draw(st.integers(1, 200_000))
        return b"[" * n + b"]" * n
    if kind == 1:
        n = draw(st.integers(1, 200_000))
        return b'{"a":' * n + b"1" + b"}" * n
    if kind == 2:
        return b"1" * draw(st.integers(4000, 20_000))
    if kind == 3:
        return b"1." + b"0" * draw(st.integers(4000, 20_000)) + b"1e-999999999999"
    return b'"' + b"\\u0000" * draw(st.integers(1, 100_000)) + b'"'


any_binary = st.binary(max_size=256)
any_text = st.text(max_size=64)


def json_body(draw: st.DrawFn, valid: st.SearchStrategy[Any], embed: bytes = b"") -> bytes:
    """Bytes a JSON decoder meets: a valid document, a mutated one, mangled bytes of either, a
    bomb (alone or where the document's first array goes), random bytes or text."""
    mode = draw(st.integers(0, 9))
    if mode <= 5:
        doc = draw(valid)
        if mode >= 1:
            doc = mutate_json(draw, doc)
        raw = _dump(doc, draw(st.booleans()))
        return mutate_bytes(draw, raw) if mode == 5 else raw
    if mode == 6:
        return bomb(draw)
    if mode == 7:
        return embed + bomb(draw)
    if mode == 8:
        return draw(any_binary)
    return draw(any_text).encode("utf-8", "surrogatepass")


# --- target: the MQTT DeltaBatch the cloud ingests --------------------------------------------

GTINS = (*(make_gtin14("6900010", i) for i in range(8)), "00950123456789")
STOCK_KINDS = {
    "sale": -1, "return": 1, "receipt": 1, "shrink": -1, "move": 1, "count": 0, "adjust": -1,
    "transfer_out": -1, "transfer_in": 1,
}


def _ts(moment: datetime) -> str:
    return contract.format_ts(moment)


# A valid message's fields come from one draw of random bytes, read as numbers and choices:
# Hypothesis spends more per draw than the decoders spend per message, and a run needs 100,000.
_FIELDS = struct.Struct("!16sIIHHHHBBBB")  # uuid, seconds, sequence, ref, qty, expiry, grams, 4 choices
field_bytes = st.binary(min_size=_FIELDS.size, max_size=_FIELDS.size)
_LOT_CHARS = string.ascii_uppercase + string.digits
_SOURCES = ("pos", "weight", "vision", "rfid", "manual", "fusion")
_KINDS = sorted(STOCK_KINDS)
_EPOCH_2000 = datetime(2000, 1, 1, tzinfo=UTC)


def _fields(raw: bytes) -> tuple[Any, ...]:
    return _FIELDS.unpack(raw)


def _lot(n: int) -> str:
    return "".join(_LOT_CHARS[(n >> (5 * i)) % len(_LOT_CHARS)] for i in range(1 + n % 6))


def _delta_from(raw: bytes, seq: int) -> dict[str, Any]:
    uid, secs, _, ref, qty, expiry, grams, c_kind, c_zone, c_source, flags = _fields(raw)
    kind = _KINDS[c_kind % len(_KINDS)]
    sign = STOCK_KINDS[kind] or 1
    amount = (1 + qty % 1000) * sign * (-1 if kind == "adjust" and flags & 0x80 else 1)
    zone = ("floor", "backroom")[c_zone % 2]
    out: dict[str, Any] = {
        "id": str(uuid.UUID(bytes=uid)), "seq": seq, "sku": GTINS[c_kind % len(GTINS)], "kind": kind,
        "qty": 0 if kind == "count" and flags & 0x40 else amount, "zone": zone,
        "occurred_at": _ts(_EPOCH_2000 + timedelta(seconds=secs % (100 * 365 * 86400), milliseconds=qty % 1000)),
        "source": _SOURCES[c_source % len(_SOURCES)], "confidence": (grams % 1001) / 1000,
    }
    if kind == "move":
        out["from_zone"] = "backroom" if zone == "floor" else "floor"
    if flags & 1:
        out["lot"] = _lot(secs)
        out["expiry"] = (date(2020, 1, 1) + timedelta(days=expiry % 5800)).isoformat()
    if flags & 2:
        out["ref"] = f"T{ref}/1"
    if flags & 4:
        out["bin"] = "A1-2"
    if flags & 8:
        out["evidence"] = {"picks": flags >> 4, "grams": grams / 7}
    return out


@st.composite
def valid_batch(draw: st.DrawFn) -> dict[str, Any]:
    _, secs, first, *_ = _fields(draw(field_bytes))
    return {"v": 1, "store": ("sh-0042", "hz-1")[secs % 2], "gateway": "gw-1",
            "sent_at": _ts(_EPOCH_2000 + timedelta(seconds=secs % (100 * 365 * 86400))),
            "deltas": [_delta_from(draw(field_bytes), first + 1 + i) for i in range(draw(st.integers(1, 4)))]}


batches = valid_batch()


@dataclass(frozen=True, slots=True)
class Message:
    """One MQTT message as the cloud worker receives it."""

    topic: str
    payload: bytes


TOPICS = (
    "shelfsync/v1/store/sh-0042/gw/gw-1/deltas", "shelfsync/v1/store/hz-1/gw/gw-1/deltas",
    "shelfsync/v1/store/sh-0042/gw/gw-1/status", "shelfsync/v1/store/sh-0042/gw/gw-1/nope",
    "shelfsync/v1/store/SH/gw/gw-1/deltas", "a/b",
)
@st.composite
def batch_messages(draw: st.DrawFn) -> Message:
    payload = json_body(draw, batches, embed=b'{"v":1,"deltas":')
    if draw(st.integers(0, 3)):  # mostly the topic the payload names, as the broker's ACL makes it
        try:
            doc = json.loads(payload)
            topic = contract.gateway_topic(str(doc["store"]), str(doc["gateway"]), contract.Stream.DELTAS)
        except Exception:
            topic = TOPICS[0]
    else:
        topic = TOPICS[draw(st.integers(0, len(TOPICS) - 1))]
    return Message(topic, payload)


def _storable_text(value: str | None, column: int, name: str) -> str | None:
    """PostgreSQL text holds no NUL; asyncpg and sqlite3 cannot encode a lone surrogate."""
    if value is None:
        return None
    if "\x00" in value:
        return f"{name} holds a NUL, which PostgreSQL refuses"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return f"{name} holds a lone surrogate, which no database driver encodes"
    if len(value) > column:
        return f"{name} has {len(value)} characters; its column holds {column}"
    return None


def storable_delta(d: contract.StockDelta) -> str | None:
    """What the ledger's columns (cloud/db/models.py Movement) cannot hold of this delta."""
    if not 0 <= d.seq <= INT64:
        return f"seq {d.seq} does not fit the BIGINT column"
    if not -INT32 - 1 <= d.qty <= INT32:
        return f"qty {d.qty} does not fit the INTEGER column"
    if not d.sku.isascii():
        return f"sku {d.sku!r} is not ASCII digits (another SKU than the one printed on the pack)"
    for name, value, column in (("id", d.id, 64), ("lot", d.lot, 128), ("bin", d.bin, 128),
                                ("ref", d.ref, 128)):
        wrong = _storable_text(value, column, name)
        if wrong:
            return wrong
    if d.evidence is not None:
        try:
            json.dumps(dict(d.evidence))
        except (TypeError, ValueError, RecursionError) as e:
            return f"evidence does not serialise: {e}"
    return None


def _batch_holds(message: Message, value: Any) -> str | None:
    if not isinstance(value, contract.DeltaBatch):
        return None  # a status or a stream the worker does not handle yet
    for d in value.deltas:
        wrong = storable_delta(d)
        if wrong:
            return wrong
    again = contract.decode_batch(contract.encode(value))
    if again != value:
        return "it does not survive encode -> decode unchanged"
    return None


DELTABATCH = Target(
    name="deltabatch",
    about="cloud.ingest.decode_message: an MQTT message from a gateway -> DeltaBatch / GatewayStatus",
    inputs=batch_messages(),
    decode=lambda m: ingest.decode_message(m.topic, m.payload),
    rejects=(contract.ContractError,),
    holds=_batch_holds,
)


# --- target: the POS webhook body ----------------------------------------------------------------


def _item(gtin: str, form: int, lot: str, expiry: date) -> str:
    """The ways a till names an item: GTIN-14, EAN-13 (GTIN-13), or a GS1 element string."""
    if form == 0:
        return gtin
    if form == 1:
        return gtin[1:]
    return f"(01){gtin}(10){lot}(17){expiry:%y%m%d}"


def _sale_line(raw: bytes) -> dict[str, Any]:
    _, secs, _, _, qty, expiry, _, c_sku, c_zone, c_form, flags = _fields(raw)
    gtin, lot = GTINS[c_sku % len(GTINS)], _lot(secs)
    day = date(2020, 1, 1) + timedelta(days=expiry % 5800)
    line: dict[str, Any] = {"sku": _item(gtin, c_form % 3, lot, day), "qty": 1 + qty % 20}
    if flags & 1 or c_form % 3 == 2:
        line["lot"], line["expiry"] = lot, day.isoformat()
    if flags & 2:
        line["zone"] = ("floor", "backroom")[c_zone % 2]
    return line


@st.composite
def valid_sale(draw: st.DrawFn) -> dict[str, Any]:
    """A till's transaction: `at` now (the gateway refuses a time far from its clock)."""
    _, secs, txn, *_, flags = _fields(draw(field_bytes))
    body: dict[str, Any] = {"txn": f"T{txn}", "at": _ts(datetime.now(UTC)),
                            "kind": ("sale", "return")[flags % 2],
                            "lines": [_sale_line(draw(field_bytes)) for _ in range(draw(st.integers(1, 3)))]}
    if body["kind"] == "sale" and flags & 6 == 6:
        body["order"] = f"o-{secs:x}"
    return body


_MANUAL = ("receipt", "count", "move", "adjust", "shrink", "transfer_in", "transfer_out")


def _movement_line(raw: bytes) -> dict[str, Any]:
    _, _, _, _, qty, _, _, c_sku, c_zone, c_kind, flags = _fields(raw)
    kind = _MANUAL[c_kind % len(_MANUAL)]
    zone = ("floor", "backroom")[c_zone % 2]
    amount = (0 if kind == "count" and flags & 1 else 1 + qty % 50) * (STOCK_KINDS[kind] or 1)
    line: dict[str, Any] = {"sku": GTINS[c_sku % len(GTINS)], "kind": kind, "zone": zone, "qty": amount}
    if kind == "move":
        line["from_zone"] = "backroom" if zone == "floor" else "floor"
    return line


@st.composite
def valid_movements(draw: st.DrawFn) -> dict[str, Any]:
    _, _, ref, *_ = _fields(draw(field_bytes))
    return {"ref": f"M{ref}", "at": _ts(datetime.now(UTC)),
            "lines": [_movement_line(draw(field_bytes)) for _ in range(draw(st.integers(1, 3)))]}


@dataclass(frozen=True, slots=True)
class PosRequest:
    """A body POSTed to one of the gateway's two stock endpoints."""

    path: str  # /v1/pos/transactions | /v1/stock/movements
    body: bytes


PARSERS: dict[str, Callable[[object], pos.ParsedRequest]] = {
    "/v1/pos/transactions": pos.parse_transaction,
    "/v1/stock/movements": pos.parse_movements,
}

sales, movements = valid_sale(), valid_movements()


@st.composite
def pos_requests(draw: st.DrawFn) -> PosRequest:
    if draw(st.integers(0, 3)):
        return PosRequest("/v1/pos/transactions", json_body(draw, sales, b'{"txn":"T1","lines":'))
    return PosRequest("/v1/stock/movements", json_body(draw, movements, b'{"ref":"M1","lines":'))


def decode_pos(request: PosRequest) -> tuple[object, pos.ParsedRequest]:
    """What the webhook handler does with a body before the outbox (edge/http.py `_store`)."""
    body = http.decode_body(request.body)
    return body, PARSERS[request.path](body)


def _pos_holds(request: PosRequest, value: tuple[object, pos.ParsedRequest]) -> str | None:
    body, parsed = value
    body_hash(body)  # the outbox keys duplicates on it
    if _storable_text(parsed.key, 10**6, "the idempotency key"):
        return f"its idempotency key {parsed.key!r} cannot be stored"
    # What the webhook answers 200 to, the gateway publishes and the cloud must take.
    numbered = tuple(dataclasses.replace(d, seq=i + 1) for i, d in enumerate(parsed.deltas))
    batch = contract.DeltaBatch("sh-0042", "gw-1", datetime.now(UTC), numbered)
    try:
        ingest.decode_message(contract.gateway_topic("sh-0042", "gw-1", contract.Stream.DELTAS),
                              contract.encode(batch))
    except contract.ContractError as e:
        return f"the cloud dead-letters what the gateway accepted: {e}"
    except UnicodeEncodeError as e:
        return f"the gateway cannot publish it: {e}"
    for d in numbered:
        wrong = storable_delta(d)
        if wrong:
            return wrong
    return None


POS = Target(
    name="pos",
    about="edge.http.decode_body + edge.pos.parse_transaction / parse_movements: a webhook body",
    inputs=pos_requests(),
    decode=decode_pos,
    rejects=(contract.ContractError,),
    holds=_pos_holds,
)


# --- target: Modbus registers of a weighing module ---------------------------------------------


@dataclass(frozen=True, slots=True)
class ModbusCase:
    """A register map (built in, or a `[shelf.maps.NAME]` table) and the registers one poll read."""

    map: RegisterMap | dict[str, Any]
    registers: list[int]


field_tables = st.fixed_dictionaries(
    {"address": st.integers(0, 80)},
    optional={"type": st.sampled_from(("int16", "uint16", "int32", "uint32", "float32", "INT32", "x")),
              "word_order": st.sampled_from(("big", "little", "big-byteswap", "little-byteswap", "mid")),
              "scale": st.sampled_from((0.1, 1, 1000, 0, -1, math.nan, math.inf, 1e-300, True))},
)
map_tables = st.fixed_dictionaries(
    {"gross": field_tables, "net": field_tables,
     "status": st.fixed_dictionaries({"address": st.integers(0, 80), "stable_bit": st.integers(0, 15)},
                                     optional={"net_negative_bit": st.integers(0, 15),
                                               "gross_negative_bit": st.integers(0, 15)})},
    optional={"command": st.fixed_dictionaries({"address": st.integers(0, 80), "zero": st.integers(0, 9),
                                                "tare": st.integers(0, 9)}),
              "max_registers": st.integers(1, 125)},
)
builtin_maps = st.sampled_from(sorted(BUILTIN_MAPS.values(), key=lambda m: m.name))
words = st.integers(0, 0xFFFF)
odd_words = st.one_of(words, st.sampled_from((-1, 0x10000, 2**32, -(2**31), 0x7FC0, 0x7F80, 0xFF80)))




@st.composite
def modbus_cases(draw: st.DrawFn) -> ModbusCase:
    """A built-in map, or a config table (valid or mutated), with the registers of one poll:
    as many as the map reads, 16-bit or not, or the wrong number of them."""
    m: RegisterMap | dict[str, Any]
    if draw(st.booleans()):
        m = draw(builtin_maps)
    else:
        m = draw(map_tables)
        if draw(st.booleans()):
            m = mutate_json(draw, m)
    count = m.block[1] if isinstance(m, RegisterMap) else 8
    mode = draw(st.integers(0, 3))
    if mode <= 1:
        registers = [draw(words) for _ in range(count)]
    elif mode == 2:
        registers = [draw(odd_words) for _ in range(count)]
    else:
        registers = draw(st.lists(words, max_size=count + 3))
    return ModbusCase(m, registers)


def decode_modbus(case: ModbusCase) -> Any:
    """The shelf driver's path: a map from config (once, at start) and a poll's registers."""
    m = case.map if isinstance(case.map, RegisterMap) else map_from_config("fuzz", case.map)
    return m.decode(case.registers)


def _reading_holds(case: ModbusCase, reading: Any) -> str | None:
    if not (math.isfinite(reading.gross_g) and math.isfinite(reading.net_g)):
        return f"a weight that is not a number of grams: gross {reading.gross_g}, net {reading.net_g}"
    if not 0 <= reading.status <= 0xFFFF:
        return f"status {reading.status} is not 16-bit"
    return None


MODBUS = Target(
    name="modbus",
    about="edge.shelf.registers: map_from_config + RegisterMap.decode over a poll's registers",
    inputs=modbus_cases(),
    decode=decode_modbus,
    rejects=(RegisterMapError,),
    holds=_reading_holds,
)


# --- target: LLRP frames from a reader ----------------------------------------------------------

EPCS = tuple(sgtin96(g, s, 7) for g in GTINS[:4] for s in (1, 2**38 - 1))


epc_bytes = st.one_of(st.sampled_from(EPCS), st.binary(min_size=12, max_size=12), st.binary(max_size=62))
# Each tag's numbers in one draw (Hypothesis spends more per draw than the codec per tag):
# antenna, RSSI, channel, first and last seen, seen count, ROSpec id.
_TAG_NUMBERS = struct.Struct("!HbHQQHI")
tag_numbers = st.binary(min_size=_TAG_NUMBERS.size, max_size=_TAG_NUMBERS.size)
_PLAUSIBLE_US = (1_500_000_000_000_000, 500_000_000_000_000)  # 2017 + up to ~16 years, in µs


@st.composite
def tag_reports(draw: st.DrawFn) -> bytes:
    """An RO_ACCESS_REPORT of 0-4 tags with any content selector; timestamps mostly plausible."""
    bits = draw(st.integers(0, 0xFFF))
    sel = fr.ContentSelector(**{name: bool(bits >> i & 1) for i, name in enumerate(fr.ContentSelector._BITS)},
                             pc=bool(bits & 0x400), crc=bool(bits & 0x800))
    tags = []
    for _ in range(draw(st.integers(0, 4))):
        antenna, rssi, channel, first, last, count, rospec = _TAG_NUMBERS.unpack(draw(tag_numbers))
        if draw(st.integers(0, 3)):  # else any u64, most of them past the year 9999
            base, span = _PLAUSIBLE_US
            first, last = base + first % span, base + last % span
        tags.append(fr.TagReport(draw(epc_bytes), antenna, rssi, channel, first, last, count, rospec))
    return fr.encode_frame(fr.MsgType.RO_ACCESS_REPORT, bits, fr.ro_access_report(tags, sel))


other_frames = st.sampled_from((
    fr.encode_frame(fr.MsgType.KEEPALIVE, 7),
    fr.encode_frame(fr.MsgType.READER_EVENT_NOTIFICATION, 0, fr.reader_event(
        1_795_000_000_000_000, fr.connection_attempt_event(fr.ConnectionStatus.SUCCESS))),
    fr.encode_frame(fr.MsgType.READER_EVENT_NOTIFICATION, 0, fr.reader_event(
        1_795_000_000_000_000, fr.rospec_event(0, 1))),
    fr.encode_frame(fr.MsgType.ERROR_MESSAGE, 3, fr.llrp_status(fr.Status.M_UNSUPPORTED_MESSAGE, "no")),
))
frames = st.one_of(tag_reports(), tag_reports(), other_frames)


@st.composite
def llrp_streams(draw: st.DrawFn) -> list[bytes]:
    """A reader's byte stream, as socket reads cut it."""
    parts = []
    for _ in range(draw(st.integers(1, 4))):
        frame = draw(frames)
        parts.append(mutate_bytes(draw, frame) if draw(st.booleans()) else frame)
    if draw(st.integers(0, 9)) == 0:
        parts.append(draw(st.binary(max_size=64)))
    stream = b"".join(parts)
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=4)))
    return [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True) if b > a]


class _NullTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    def write(self, data: Any) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closed

    def abort(self) -> None:
        self.closed = True

    def close(self) -> None:
        self.closed = True


class Dropped(Exception):
    """What the driver does with bytes it cannot use: it counts the frame and logs why (or, when
    the stream is out of step, drops the connection with a reason). The message is that why."""


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


_LOOP: asyncio.AbstractEventLoop | None = None  # one loop for every case of a run (close_loop)


def close_loop() -> None:
    global _LOOP
    if _LOOP is not None:
        _LOOP.close()
        _LOOP = None

QUIET = ("shelfsync.rfid", "sllurp")  # sllurp logs its own complaints about what we feed it


def decode_llrp(chunks: Sequence[bytes]) -> list[rfid.TagRead]:
    """The driver's path for bytes from a reader that is inventorying: framing, the report codec
    (`parse_ro_access_report`), EPC decoding, other messages through sllurp. Returns the reads;
    raises Dropped when a frame was skipped or the connection dropped, AssertionError when what
    came out is wrong. Each report frame also goes through `parse_ro_access_report` alone, which
    may raise only ReportError, with a clear message."""
    global _LOOP
    if _LOOP is None or _LOOP.is_closed():
        _LOOP = asyncio.new_event_loop()
    reads: list[rfid.TagRead] = []
    stats = rfid.ReaderStats()
    failure: list[BaseException | None] = [None]
    records = _Records()
    loggers = [logging.getLogger(name) for name in QUIET]
    saved = [(lg.propagate, lg.level) for lg in loggers]
    for lg in loggers:
        lg.propagate = False
    loggers[0].setLevel(logging.WARNING)  # ours: kept, a drop must say why
    loggers[1].setLevel(logging.CRITICAL + 1)  # sllurp's: its own complaints about what we feed it
    loggers[0].addHandler(records)

    async def feed() -> None:
        conn = rfid._LLRPConnection(rfid.ReaderSettings("fuzz", "127.0.0.1"), reads.append, stats,
                                    EpcDecoder(), lambda: None)
        conn.connection_made(_NullTransport())
        conn.inventorying.set()
        for chunk in chunks:
            conn.data_received(chunk)
            if conn.done.done():
                failure[0] = conn.done.exception()
                break

    try:
        _LOOP.run_until_complete(feed())
    finally:
        loggers[0].removeHandler(records)
        for lg, (propagate, level) in zip(loggers, saved, strict=True):
            lg.propagate, lg.level = propagate, level
    for error in _report_errors(b"".join(chunks)):
        why = unclear(error)
        if why:
            raise AssertionError(f"parse_ro_access_report rejected with {why}")
    for read in reads:
        if not contract.is_gtin14(read.gtin):
            raise AssertionError(f"a read of GTIN {read.gtin!r}")
        if read.at.tzinfo is None:
            raise AssertionError("a read with a naive timestamp")
    if stats.bad_frames or failure[0] is not None:
        said = records.messages + ([str(failure[0])] if failure[0] is not None else [])
        raise Dropped(said[0] if said else "")
    return reads


def _report_errors(stream: bytes) -> list[reports.ReportError]:
    errors, pos = [], 0
    while pos + 10 <= len(stream):
        length = int.from_bytes(stream[pos + 2 : pos + 6], "big")
        if length < 10 or pos + length > len(stream):
            break
        frame = stream[pos : pos + length]
        if (frame[1] | (frame[0] & 0x3) << 8) == 61:  # RO_ACCESS_REPORT
            try:
                reports.parse_ro_access_report(frame)
            except reports.ReportError as e:
                errors.append(e)
        pos += length
    return errors


LLRP = Target(
    name="llrp",
    about="edge.rfid.driver: LLRP frames from a reader -> tag reads (framing, report codec, EPCs)",
    inputs=llrp_streams(),
    decode=decode_llrp,
    rejects=(Dropped,),
    holds=lambda chunks, reads: None,  # checked in decode_llrp, which sees the driver's counters
)


TARGETS: dict[str, Target] = {t.name: t for t in (LLRP, MODBUS, POS, DELTABATCH)}


# --- runs ----------------------------------------------------------------------------------------


def _signature(detail: str) -> str:
    """One key per kind of problem: the detail up to its first colon after the exception's
    name and place, with numbers blanked (so 5,000 digits and 6,000 digits are one finding)."""
    return re.sub(r"\d+", "N", detail.split(": ", 1)[0] if " at " in detail else detail[:60])


@dataclass
class Report:
    target: str
    cases: int = 0
    accepted: int = 0
    rejected: int = 0
    crashes: int = 0
    hangs: int = 0
    slowest_ms: float = 0.0
    seconds: float = 0.0
    findings: dict[str, str] = field(default_factory=dict)  # kind of problem -> one instance and input

    def add(self, verdict: Verdict, case: Any) -> None:
        self.cases += 1
        self.slowest_ms = max(self.slowest_ms, verdict.seconds * 1000)
        if verdict.kind == "accepted":
            self.accepted += 1
        elif verdict.kind == "rejected":
            self.rejected += 1
        else:
            if verdict.kind == "hang":
                self.hangs += 1
            else:
                self.crashes += 1
            kind = _signature(verdict.detail)
            if kind not in self.findings and len(self.findings) < 50:
                self.findings[kind] = f"{verdict.detail} <- {repr(case)[:300]}"

    def as_json(self) -> dict[str, Any]:
        return {"target": self.target, "cases": self.cases, "accepted": self.accepted,
                "rejected": self.rejected, "crashes": self.crashes, "hangs": self.hangs,
                "slowest_case_ms": round(self.slowest_ms, 1), "seconds": round(self.seconds, 1),
                "cases_per_s": round(self.cases / self.seconds) if self.seconds else None,
                "findings": list(self.findings.values())}


def fuzz(target: Target, cases: int, seed: int = 0, limit_s: float = 2.0,
         progress: Callable[[Report], None] | None = None) -> Report:
    """Run `cases` inputs of `target` drawn from a seeded byte source; count every outcome."""
    report = Report(target.name)
    rng = random.Random(seed)
    started = time.perf_counter()
    with _Timer() as timer:
        @settings(database=None, deadline=None, suppress_health_check=list(HealthCheck))
        @given(target.inputs)
        def one(case: Any) -> None:
            report.add(run_case(target, case, timer, limit_s), case)

        tries = 0
        try:
            while report.cases < cases:
                tries += 1
                if tries > 2 * cases + 1000:  # Hypothesis discards a buffer it cannot draw from
                    raise RuntimeError(f"{target.name}: only {report.cases} of {tries} buffers made a case")
                one.hypothesis.fuzz_one_input(rng.randbytes(4096))
                if progress is not None and tries % 10_000 == 0:
                    report.seconds = time.perf_counter() - started
                    progress(report)
        finally:
            close_loop()
    report.seconds = time.perf_counter() - started
    return report
