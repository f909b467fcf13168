"""What a till or a scanner sends for an item → its GTIN-14, and the lot and expiry the code carries.

Pure: text in, value out, through biip (the maintained GS1 barcode interpreter). Accepted:

- a GTIN as printed on the pack: EAN-13, UPC-A (GTIN-12), EAN-8, or a GTIN-14, with a valid check
  digit (GS1 General Specifications §7.9.1); it is right-justified in 14 digits with leading
  zeros, as AI (01) carries every GTIN;
- a GS1 element string, as printed under the barcode ("(01)09520123456788(10)ABC123(17)281231",
  spaces allowed, since no GS1 data character is one) or as a scanner sends it: the AIs back to
  back, a variable-length field ended by FNC1, which is transmitted as GS (ASCII 29);
- either with an ISO/IEC 15424 symbology identifier in front, as a scanner configured for them
  sends: ]E0 / ]E4 (EAN/UPC, EAN-8), ]C1 (GS1-128), ]d2 (GS1 DataMatrix), ]Q3 (GS1 QR), ]e0 (DataBar).

An element string must carry AI (01), the trade item's GTIN; (10) gives the lot and (17) the expiry
(YYMMDD; day 00 means the month's last day, and the century follows GenSpecs §7.12). Other AIs —
a serial (21), a net weight (310n) — are read and not kept. An SSCC (00) names a logistic unit,
not an item, and is refused.

Eight digits are read as an EAN-8, never as a UPC-E (a till expands UPC-E to its UPC-A itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Final

from biip import BiipException, ParseError, parse
from biip.gs1_messages import GS1Message
from biip.gtin import Gtin

GTIN_LENGTHS: Final = frozenset({8, 12, 13, 14})
MAX_CODE: Final = 256  # a GS1-128 holds at most 48 data characters; a DataMatrix far more, but not items


class Gs1Error(ValueError):
    """A code that is no GTIN and no GS1 element string naming one; the message says why."""


@dataclass(frozen=True, slots=True)
class TradeItem:
    """One item as its code names it: the GTIN-14, and the lot and expiry when the code carries them."""

    gtin: str
    lot: str | None = None
    expiry: date | None = None


def read_item(code: str) -> TradeItem:
    """A pack code or scanned element string → TradeItem. Raises Gs1Error saying what is wrong."""
    text = code.strip(" \t\r\n")  # not str.strip(): GS (FNC1) counts as white space to Python
    if not text or len(text) > MAX_CODE:
        raise Gs1Error(f"not a GTIN or GS1 element string: {code!r}")
    try:
        if text.startswith("("):
            return _from_message(GS1Message.parse_hri("".join(text.split(" "))), code)
        if text.isdigit() and len(text) in GTIN_LENGTHS:
            return TradeItem(Gtin.parse(text).as_gtin_14())
        if text.startswith("]"):
            return _from_scan(text, code)
        return _from_message(GS1Message.parse(text), code)
    except ParseError as e:
        raise Gs1Error(_reason(code, e)) from None
    except BiipException as e:  # any other refusal of biip's is a bad code too, never a crash
        raise Gs1Error(f"{code!r}: {e}") from None


def _from_scan(text: str, code: str) -> TradeItem:
    """Scanner data with a symbology identifier: biip reads the identifier and the data after it."""
    result = parse(text)
    if result.gs1_message is not None:
        return _from_message(result.gs1_message, code)
    if result.gtin is not None:
        return TradeItem(result.gtin.as_gtin_14())
    raise Gs1Error(f"not a GTIN or GS1 element string: {code!r} "
                   f"({result.gs1_message_error or result.gtin_error or 'no data'})")


def _from_message(message: GS1Message, code: str) -> TradeItem:
    strings = message.element_strings
    gtin = strings.get(ai="01")
    if gtin is None:
        raise Gs1Error(f"{code!r} names no trade item: an element string needs the GTIN, AI (01)")
    if gtin.gtin is None:
        raise Gs1Error(f"{code!r}: AI (01): {gtin.gtin_error or 'not a GTIN'}")
    lot = strings.get(ai="10")
    expiry = strings.get(ai="17")
    return TradeItem(gtin.gtin.as_gtin_14(), lot.value if lot is not None else None,
                     expiry.date if expiry is not None else None)


def _reason(code: str, error: ParseError) -> str:
    """biip's message (it names the AI and the pattern it failed), with what was expected in front."""
    message = str(error)
    if "check digit" in message:
        return f"wrong check digit: {message}"
    return f"not a GTIN (8, 12, 13 or 14 digits) or a GS1 element string naming one: {code!r} ({message})"
