"""EPC → GTIN + serial, for the SGTIN schemes a retail item carries (GS1 TDS 2.1 §14.5.1).

Pure: hex in, value out. Decoding goes through epcpy (the maintained GS1 TDS implementation);
anything that is not an SGTIN — other schemes, unprogrammed tags, bit rot — raises a typed error
the caller counts and skips. `EpcDecoder` memoises results, since a reader reports the same tags
over and over and epcpy spends ~30 µs per decode.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Final

from epcpy.epc_schemes.sgtin import SGTIN

from shared.contract import gtin_check_digit

# GS1 TDS 2.1 table 14-1: EPC binary headers of the SGTIN schemes.
SGTIN_HEADERS: Final = frozenset({0x30, 0x36})


class EpcError(ValueError):
    """An EPC that is not a decodable SGTIN."""


class NotSgtin(EpcError):
    """A well-formed EPC of another scheme (GRAI, SSCC, GID…) or a non-GS1 tag."""


class CorruptEpc(EpcError):
    """Bytes that claim to be an SGTIN but do not decode (bad partition, bad length, not hex)."""


@dataclass(frozen=True, slots=True)
class ItemEpc:
    """A decoded item-level EPC."""

    epc: str  # upper-case hex, as read from the tag
    gtin: str  # GTIN-14
    serial: str
    uri: str  # urn:epc:id:sgtin:CompanyPrefix.ItemRef.Serial


def normalise(epc: str | bytes) -> str:
    """Hex text from sllurp's bytes (b'3074…'), raw bytes or a string; upper case, no spaces."""
    if isinstance(epc, bytes):
        try:
            text = epc.decode("ascii")
        except UnicodeDecodeError:
            return epc.hex().upper()
        if all(c in "0123456789abcdefABCDEF" for c in text) and len(text) % 2 == 0 and text:
            return text.upper()
        return epc.hex().upper()
    return epc.strip().replace(" ", "").upper()


# GS1 TDS 2.1 table 14-2, SGTIN partition P -> (company prefix bits, digits, item reference bits).
_PARTITIONS: Final = (
    (40, 12, 4),
    (37, 11, 7),
    (34, 10, 10),
    (30, 9, 14),
    (27, 8, 17),
    (24, 7, 20),
    (20, 6, 24),
)


def _decode_sgtin96(text: str) -> ItemEpc | None:
    """SGTIN-96 by integer arithmetic (GS1 TDS 2.1 §14.5.1.1); None when it is not a plain,
    well-formed SGTIN-96. Written here because epcpy spends ~30 µs per EPC and a stocktake
    decodes every tag once: this path takes ~3 µs. Tests check it against epcpy."""
    if len(text) != 24:
        return None
    value = int(text, 16)
    partition = (value >> 82) & 0x7
    if partition > 6:
        return None
    cp_bits, cp_digits, ir_bits = _PARTITIONS[partition]
    serial = value & ((1 << 38) - 1)
    item_ref = (value >> 38) & ((1 << ir_bits) - 1)
    company = (value >> (38 + ir_bits)) & ((1 << cp_bits) - 1)
    ir_digits = 13 - cp_digits
    if company >= 10**cp_digits or item_ref >= 10**ir_digits:
        return None
    cp, ir = f"{company:0{cp_digits}d}", f"{item_ref:0{ir_digits}d}"
    body = ir[0] + cp + ir[1:]  # the indicator digit leads the item reference (TDS §7.1)
    gtin = body + str(gtin_check_digit(body))
    return ItemEpc(text, gtin, str(serial), f"urn:epc:id:sgtin:{cp}.{ir}.{serial}")


def decode_sgtin(epc: str | bytes) -> ItemEpc:
    """Decode an SGTIN-96/198 EPC. Raises NotSgtin or CorruptEpc."""
    text = normalise(epc)
    if len(text) < 2:
        raise CorruptEpc(f"EPC too short: {text!r}")
    try:
        header = int(text[:2], 16)
    except ValueError:
        raise CorruptEpc(f"EPC is not hex: {text!r}") from None
    if header not in SGTIN_HEADERS:
        raise NotSgtin(f"EPC header 0x{header:02X} is not an SGTIN")
    if header == 0x30:
        try:
            fast = _decode_sgtin96(text)
        except ValueError:
            raise CorruptEpc(f"EPC is not hex: {text!r}") from None
        if fast is not None:
            return fast
    try:
        tag = SGTIN.from_hex(text)
        return ItemEpc(text, tag.gtin(), str(tag._serial), tag.epc_uri)
    except Exception as e:  # epcpy raises bare ConvertException/ValueError/IndexError
        raise CorruptEpc(f"EPC {text} does not decode as an SGTIN: {e}") from None


@dataclass(slots=True)
class EpcDecoder:
    """decode_sgtin with a bounded memo (errors are remembered too) and counters."""

    capacity: int = 100_000
    decoded: int = 0
    not_sgtin: int = 0
    corrupt: int = 0
    _memo: OrderedDict[str, ItemEpc | EpcError] = field(default_factory=OrderedDict)

    def decode(self, epc: str | bytes) -> ItemEpc:
        key = epc.decode("ascii", "replace") if isinstance(epc, bytes) else epc
        hit = self._memo.get(key)
        if hit is None:
            try:
                hit = decode_sgtin(epc)
            except EpcError as e:
                hit = e
            self._memo[key] = hit
            if len(self._memo) > self.capacity:
                self._memo.popitem(last=False)
        if isinstance(hit, NotSgtin):
            self.not_sgtin += 1
            raise hit
        if isinstance(hit, EpcError):
            self.corrupt += 1
            raise hit
        self.decoded += 1
        return hit
