"""What a till or scanner sends for an item → GTIN-14, lot and expiry (shared/gs1.py, via biip).

The codes are GS1's own examples: the scan data vectors of GS1's Barcode Syntax Engine
(github.com/gs1/gs1-syntax-engine, src/c-lib/scandata.c: GTIN 12312312312333 with lot ABC123, the
EAN-8 02345673, the UPC-A 416000336108) and GS1's demonstration GTIN 09520123456788 (GS1 prefix
952 is kept for examples; the GS1 Digital Link standard uses it with lot ABC123 and expiry
180426); plus pack codes of the shop's own catalogue.
"""

from __future__ import annotations

from datetime import date

import pytest

from shared.gs1 import Gs1Error, TradeItem, read_item

GS = "\x1d"  # FNC1 as a scanner transmits it: GS, ASCII 29 (GS1 General Specifications, GSCN 16-477)


@pytest.mark.parametrize(("code", "gtin"), [
    ("6923450000106", "06923450000106"),  # EAN-13 on a pack of the shop's catalogue
    ("06923450000106", "06923450000106"),  # already a GTIN-14
    ("9520123456788", "09520123456788"),  # EAN-13, GS1's demonstration prefix 952
    ("416000336108", "00416000336108"),  # UPC-A (GTIN-12)
    ("02345673", "00000002345673"),  # EAN-8 (GTIN-8)
    ("12312312312333", "12312312312333"),  # GTIN-14 of a case (indicator digit 1)
    ("]E09520123456788", "09520123456788"),  # EAN-13 with its symbology identifier (ISO/IEC 15424)
    ("]E00416000336108", "00416000336108"),  # UPC-A is sent as a 13-digit EAN with a leading 0
    ("]E402345673", "00000002345673"),  # EAN-8
])
def test_pack_codes_become_gtin_14(code: str, gtin: str) -> None:
    assert read_item(code) == TradeItem(gtin)


@pytest.mark.parametrize(("code", "item"), [
    # Human-readable interpretation, as printed under a GS1-128 or DataMatrix.
    ("(01)09520123456788(10)ABC123(17)180426", TradeItem("09520123456788", "ABC123", date(2018, 4, 26))),
    ("(01) 09520123456788 (17) 180426 (10) ABC123",
     TradeItem("09520123456788", "ABC123", date(2018, 4, 26))),
    # Raw element strings: a variable-length AI is ended by FNC1 (GS) unless it is last.
    ("010952012345678810ABC123" + GS + "17180426", TradeItem("09520123456788", "ABC123", date(2018, 4, 26))),
    ("01095201234567881718042610ABC123", TradeItem("09520123456788", "ABC123", date(2018, 4, 26))),
    # Scanner output with symbology identifiers: GS1-128 (]C1), GS1 DataMatrix (]d2), GS1 QR (]Q3).
    ("]C1011231231231233310ABC123" + GS + "99TESTING", TradeItem("12312312312333", "ABC123")),
    ("]d2011231231231233310ABC123" + GS + "99TESTING", TradeItem("12312312312333", "ABC123")),
    ("]Q3011231231231233310ABC123" + GS + "99TESTING", TradeItem("12312312312333", "ABC123")),
    ("]C10109520123456788171804261012", TradeItem("09520123456788", "12", date(2018, 4, 26))),
    # AI (17) with day 00: the last day of that month (GS1 General Specifications, AI (17)).
    ("(01)09520123456788(17)280200", TradeItem("09520123456788", None, date(2028, 2, 29))),
    ("(01)09520123456788", TradeItem("09520123456788")),
])
def test_element_strings_give_gtin_lot_and_expiry(code: str, item: TradeItem) -> None:
    assert read_item(code) == item


@pytest.mark.parametrize(("code", "says"), [
    ("9520123456789", "check digit"),  # EAN-13 with a wrong check digit
    ("(01)09520123456789(10)ABC123", "check digit"),
    ("0109520123456789", "check digit"),
    ("(10)ABC123(17)180426", "(01)"),  # no GTIN in it
    ("(00)106141411234567897", "(01)"),  # an SSCC names a logistic unit, not an item
    ("(01)09520123456788(17)181332", "(17)"),  # no 32nd day
    ("1234567", "GTIN"),
    ("hello", "GTIN"),
    ("]C1", "GTIN"),
    ("", "GTIN"),
])
def test_anything_else_is_a_clear_error(code: str, says: str) -> None:
    with pytest.raises(Gs1Error) as e:
        read_item(code)
    assert says in str(e.value)
