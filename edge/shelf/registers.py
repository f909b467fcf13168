"""Modbus register maps of weighing modules: values in, grams and status out.

A weighing module exposes gross and net weight as 32-bit values (INT32 scaled by the display
division, or FLOAT32 in kg), a status word with a stability bit, and often a command register
for zero and tare. This module describes such a layout as a frozen `RegisterMap` and decodes a
block of holding registers read in one request into a `Reading`. It is pure: no sockets, no
clock, no pymodbus — the shelf driver (`edge/shelf/poller.py`) does the I/O.

Built-in maps (public manuals, see ../../shared/research/shelf.md §2), by product name:

- ``dini-dgt4x``   Dini Argeo DGT4X: command 40001, status 40202 (bit1 stable, bit0 gross
                   sign, bit5 net polarity), gross INT32 40203-04, net INT32 40214-15.
- ``flintec-dad141`` Flintec DAD 141.1: the combined float block at 0x3500 so one read gets
                   everything: net FLOAT32 (kg), gross FLOAT32 (kg), then a qualifier word.
                   The manual excerpt we had does not give the qualifier's bit layout; we take
                   bit0 = stable (check it on hardware) and leave zero/tare unmapped.
- ``laumas-tlu``   Laumas TLU: command 40006, status 40007 (bit11 stable, bit8 net negative),
                   gross 40008-09, net 40010-11 as unsigned magnitudes (the sign is in status).

Manuals number registers 4xxxx from 1; the wire address is that number minus 40001.

Custom maps come from the store config (see `map_from_config`)::

    [shelf.maps.acme-100]
    gross   = { address = 8,  type = "int32", word_order = "big", scale = 0.1 }
    net     = { address = 10, type = "int32", word_order = "big", scale = 0.1 }
    status  = { address = 6,  stable_bit = 11, net_negative_bit = 8 }
    command = { address = 5,  zero = 1, tare = 2 }

`scale` is grams per raw unit (0.1 for an INT32 counting 0.1 g, 1000 for a FLOAT32 in kg).
`word_order` is "big" (ABCD, high word first), "little" (CDAB), "big-byteswap" (BADC) or
"little-byteswap" (DCBA) — pymodbus's `convert_from_registers` offers only the first two, and
this codec must stay free of I/O libraries, so the few lines of `struct` below do it.
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from shared.toml_tables import check_keys


class RegisterMapError(ValueError):
    """A register map (built-in name or config dict) is malformed, or registers do not decode.

    The message is one short line: it quotes config values and registers, which can be anything
    (a table where a number was expected), and a person reads it in a log or at start-up."""

    def __init__(self, message: str) -> None:
        message = message.replace("\r", "\\r").replace("\n", "\\n")
        super().__init__(message if len(message) <= 200 else message[:199] + "…")


class DataType(StrEnum):
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"

    @property
    def words(self) -> int:
        return 1 if self.value.endswith("16") else 2

    @property
    def struct_code(self) -> str:
        return _STRUCT_CODES[self.value]


_STRUCT_CODES: Mapping[str, str] = MappingProxyType(
    {"int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f"}
)


class WordOrder(StrEnum):
    BIG = "big"  # ABCD: high word first, each word big-endian (Modbus default)
    LITTLE = "little"  # CDAB: low word first
    BIG_BYTESWAP = "big-byteswap"  # BADC
    LITTLE_BYTESWAP = "little-byteswap"  # DCBA


@dataclass(frozen=True, slots=True)
class Field:
    """One numeric value: where it is, how it is laid out, and grams per raw unit."""

    address: int
    type: DataType
    word_order: WordOrder = WordOrder.BIG
    scale: float = 1.0

    def __post_init__(self) -> None:
        if not 0 <= self.address <= 0xFFFF - self.type.words + 1:
            raise RegisterMapError(f"address {self.address} outside 0..65535")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise RegisterMapError(f"scale must be a finite number > 0, got {self.scale}")

    @property
    def end(self) -> int:
        return self.address + self.type.words


@dataclass(frozen=True, slots=True)
class StatusBits:
    """The status word: which bit says "stable", and optional sign bits for unsigned weights."""

    address: int
    stable_bit: int
    gross_negative_bit: int | None = None
    net_negative_bit: int | None = None

    def __post_init__(self) -> None:
        for bit in (self.stable_bit, self.gross_negative_bit, self.net_negative_bit):
            if bit is not None and not 0 <= bit <= 15:
                raise RegisterMapError(f"status bit {bit} outside 0..15")


@dataclass(frozen=True, slots=True)
class Commands:
    """The command register and the codes that zero the scale and take a tare."""

    address: int
    zero: int
    tare: int


@dataclass(frozen=True, slots=True)
class Reading:
    """One decoded poll of a module."""

    gross_g: float
    net_g: float
    stable: bool
    status: int


@dataclass(frozen=True, slots=True)
class RegisterMap:
    name: str
    gross: Field
    net: Field
    status: StatusBits
    command: Commands | None = None
    max_registers: int = 32  # most modules cap one read (Laumas TLU: 32 registers per query)

    def __post_init__(self) -> None:
        start, count = self.block
        if count > self.max_registers:
            raise RegisterMapError(
                f"map {self.name!r}: gross, net and status span {count} registers from {start}; "
                f"more than one read of {self.max_registers}"
            )

    @property
    def block(self) -> tuple[int, int]:
        """(first address, register count) of the one read that fetches gross, net and status."""
        return _block(self.gross, self.net, self.status)

    def decode(self, registers: Sequence[int]) -> Reading:
        """Decode the registers of `block` (exactly its count, in order)."""
        start, count = self.block
        if len(registers) != count:
            raise RegisterMapError(
                f"map {self.name!r} needs {count} registers, got {len(registers)}"
            )
        status = registers[self.status.address - start]
        if not 0 <= status <= 0xFFFF:
            raise RegisterMapError(f"register value {status} is not 16-bit")
        gross = decode_field(
            self.gross, registers[self.gross.address - start : self.gross.end - start]
        )
        net = decode_field(self.net, registers[self.net.address - start : self.net.end - start])
        if (
            self.status.gross_negative_bit is not None
            and status >> self.status.gross_negative_bit & 1
        ):
            gross = -abs(gross)
        if self.status.net_negative_bit is not None and status >> self.status.net_negative_bit & 1:
            net = -abs(net)
        return Reading(gross, net, bool(status >> self.status.stable_bit & 1), status)


@functools.lru_cache(maxsize=256)
def _block(gross: Field, net: Field, status: StatusBits) -> tuple[int, int]:
    # Cached: the poll loop asks for it a thousand times a second.
    start = min(gross.address, net.address, status.address)
    end = max(gross.end, net.end, status.address + 1)
    return start, end - start


def _word_bytes(words: Sequence[int], order: WordOrder) -> bytes:
    try:
        raw = struct.pack(f">{len(words)}H", *words)
    except struct.error:
        raise RegisterMapError(f"register values {list(words)} are not all 16-bit") from None
    if order is WordOrder.BIG:
        return raw
    if order in (WordOrder.LITTLE, WordOrder.LITTLE_BYTESWAP):
        raw = b"".join(raw[i : i + 2] for i in range(len(raw) - 2, -1, -2))
    if order in (WordOrder.BIG_BYTESWAP, WordOrder.LITTLE_BYTESWAP):
        raw = b"".join(raw[i + 1 : i + 2] + raw[i : i + 1] for i in range(0, len(raw), 2))
    return raw


def decode_field(field: Field, words: Sequence[int]) -> float:
    """Registers of one field -> grams."""
    if len(words) != field.type.words:
        raise RegisterMapError(f"{field.type} needs {field.type.words} registers, got {len(words)}")
    (value,) = struct.unpack(">" + field.type.struct_code, _word_bytes(words, field.word_order))
    grams = float(value) * field.scale
    if not math.isfinite(grams):  # IEEE 754 NaN or infinity in a FLOAT32 field: a fault, not a load
        raise RegisterMapError(f"{field.type} registers {list(words)} hold {value}, not a weight")
    return grams


def encode_field(field: Field, grams: float) -> list[int]:
    """Grams -> registers of one field (for writing a preset tare, and for tests)."""
    raw: float | int = grams / field.scale
    if field.type is not DataType.FLOAT32:
        raw = round(raw)
    try:
        packed = struct.pack(">" + field.type.struct_code, raw)
    except struct.error as e:
        raise RegisterMapError(f"{grams} g does not fit {field.type}: {e}") from e
    # The byte/word swaps are their own inverses, so decoding the packed value re-orders it.
    swapped = _word_bytes(
        [int.from_bytes(packed[i : i + 2], "big") for i in range(0, len(packed), 2)],
        field.word_order,
    )
    return [int.from_bytes(swapped[i : i + 2], "big") for i in range(0, len(swapped), 2)]


# --- built-in maps ----------------------------------------------------------------------------


def _holding(number: int) -> int:
    """Manual register number 4xxxx (1-based) -> wire address."""
    return number - 40001


BUILTIN_MAPS: Mapping[str, RegisterMap] = {
    m.name: m
    for m in (
        # Dini Argeo DGT4X manual p.13/58: multiscale status 40202, gross 40203-04, net 40214-15,
        # command 40001 (0x01 zero, 0x02 tare). Weights are signed INT32 in display divisions;
        # we configure the division as 1 g.
        RegisterMap(
            name="dini-dgt4x",
            gross=Field(_holding(40203), DataType.INT32),
            net=Field(_holding(40214), DataType.INT32),
            status=StatusBits(_holding(40202), stable_bit=1),
            command=Commands(_holding(40001), zero=0x01, tare=0x02),
        ),
        # Flintec DAD 141.1 Modbus manual rev 2.3: combined block net+gross+qualifier at 0x3500
        # (floats, kg). Qualifier bit layout not in our source: bit0 = stable is an assumption.
        RegisterMap(
            name="flintec-dad141",
            gross=Field(0x3502, DataType.FLOAT32, scale=1000.0),
            net=Field(0x3500, DataType.FLOAT32, scale=1000.0),
            status=StatusBits(0x3504, stable_bit=0),
        ),
        # Laumas TLU manual p.34 (status bits from the LCB manual): magnitudes plus sign bit.
        RegisterMap(
            name="laumas-tlu",
            gross=Field(_holding(40008), DataType.UINT32),
            net=Field(_holding(40010), DataType.UINT32),
            status=StatusBits(_holding(40007), stable_bit=11, net_negative_bit=8),
            command=Commands(_holding(40006), zero=1, tare=2),
        ),
    )
}


def builtin_map(name: str) -> RegisterMap:
    try:
        return BUILTIN_MAPS[name]
    except KeyError:
        raise RegisterMapError(
            f"unknown register map {name!r}; built-in: {', '.join(sorted(BUILTIN_MAPS))}"
        ) from None


# --- custom maps from config ------------------------------------------------------------------


def _int(obj: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> int | None:
    value = obj.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise RegisterMapError(f"{where}.{key} must be an integer, got {value!r}")
    return value


def _table(obj: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = obj.get(key)
    if not isinstance(value, Mapping):
        raise RegisterMapError(f"{where}.{key} must be a table, got {value!r}")
    check_keys(value, _KEYS[key], f"{where}.{key}", error=RegisterMapError)
    return value


# The keys of a custom map and of its parts (shared/toml_tables.py: anything else is an error).
_MAP_KEYS = frozenset({"gross", "net", "status", "command", "max_registers"})
_FIELD_KEYS = frozenset({"address", "type", "word_order", "scale"})
_KEYS: Mapping[str, frozenset[str]] = MappingProxyType({
    "gross": _FIELD_KEYS,
    "net": _FIELD_KEYS,
    "status": frozenset({"address", "stable_bit", "gross_negative_bit", "net_negative_bit"}),
    "command": frozenset({"address", "zero", "tare"}),
})


def _field(obj: Mapping[str, Any], where: str) -> Field:
    address = _int(obj, "address", where)
    assert address is not None
    try:
        kind = DataType(str(obj.get("type", "")).lower())
        order = WordOrder(str(obj.get("word_order", "big")).lower())
    except ValueError as e:
        raise RegisterMapError(f"{where}: {e}") from None
    scale = obj.get("scale", 1.0)
    if not isinstance(scale, int | float) or isinstance(scale, bool):
        raise RegisterMapError(f"{where}.scale must be a number, got {scale!r}")
    try:
        grams_per_unit = float(scale)
    except OverflowError:  # an integer of hundreds of digits
        raise RegisterMapError(f"{where}.scale is too large for a number of grams") from None
    return Field(address, kind, order, grams_per_unit)


def map_from_config(name: str, obj: Mapping[str, Any]) -> RegisterMap:
    """A `[shelf.maps.NAME]` table (see the module docstring) -> RegisterMap."""
    where = f"shelf.maps.{name}"
    if not isinstance(obj, Mapping):
        raise RegisterMapError(f"{where} must be a table")
    check_keys(obj, _MAP_KEYS, f"[{where}]", error=RegisterMapError)
    status = _table(obj, "status", where)
    status_bits = StatusBits(
        address=_int(status, "address", where + ".status") or 0,
        stable_bit=_int(status, "stable_bit", where + ".status") or 0,
        gross_negative_bit=_int(status, "gross_negative_bit", where + ".status", required=False),
        net_negative_bit=_int(status, "net_negative_bit", where + ".status", required=False),
    )
    command = None
    if "command" in obj:
        c = _table(obj, "command", where)
        command = Commands(
            address=_int(c, "address", where + ".command") or 0,
            zero=_int(c, "zero", where + ".command") or 0,
            tare=_int(c, "tare", where + ".command") or 0,
        )
    max_registers = obj.get("max_registers", 32)
    if not isinstance(max_registers, int) or not 1 <= max_registers <= 125:
        raise RegisterMapError(f"{where}.max_registers must be 1..125 (Modbus FC3 limit)")
    return RegisterMap(
        name=name,
        gross=_field(_table(obj, "gross", where), where + ".gross"),
        net=_field(_table(obj, "net", where), where + ".net"),
        status=status_bits,
        command=command,
        max_registers=max_registers,
    )
