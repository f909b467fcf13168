"""Products and listings CSV files (pure): a file is read whole or refused whole naming the row
(as the spreadsheet numbers it: the header is row 1) and the field; Excel's UTF-8 with BOM, its
dropped leading zeros and its scientific notation; the API's own schema decides each row."""

from __future__ import annotations

import pytest

from cloud.console.catalog_csv import CsvRefused, read_listings, read_products, write

KIBBLE = "00950123456782"  # GTIN-14; Excel shows and saves it as 950123456782 (a UPC-A)


def test_excel_s_utf8_with_bom_chinese_names_and_dropped_leading_zeros_read_right() -> None:
    data = ("sku,name,category,unit_cost,min_stock\r\n"
            "950123456782,皇家室内成猫粮 2kg,dry-food,88.5,3\r\n"
            "\r\n"
            "6923450000106,\"Treats, chicken\",treats,,\r\n").encode("utf-8-sig")
    rows = read_products(data)
    assert [(r.sku, r.body) for r in rows] == [
        (KIBBLE, {"name": "皇家室内成猫粮 2kg", "category": "dry-food", "unit_cost": 88.5, "min_stock": 3}),
        ("06923450000106", {"name": "Treats, chicken", "category": "treats", "unit_cost": None, "min_stock": 2}),
    ]


@pytest.mark.parametrize(("text", "row", "field", "words"), [
    ("sku,name\n950123456782,a\n9.50123E+11,b\n", 3, "sku", "not a GTIN"),
    ("sku,name\n950123456783,a\n", 2, "sku", "check digit"),
    ("sku,name,unit_cost\n950123456782,a,12\n6923450000106,b,cheap\n", 3, "unit_cost", "must be a number"),
    ("sku,min_stock\n950123456782,-1\n", 2, "min_stock", "must be an integer from 0"),
    ("sku,name\n950123456782,a\n950123456782,b\n", 3, "sku", "also on row 2"),
    ("sku,nmae\n950123456782,a\n", 1, "nmae", "unknown column"),
    ("name\nKibble\n", 1, "sku", "required column"),
    ("sku,name\n950123456782," + "x" * 257 + "\n", 2, "name", "at most 256 characters"),
    ("sku,name\n950123456782,a,extra\n", 2, None, "2 columns"),
    ("sku,name\n(01)00950123456782(10)L1\n", 2, "sku", "lot or expiry"),
])
def test_a_bad_row_refuses_the_whole_file_naming_row_and_field(text: str, row: int, field: str | None,
                                                                 words: str) -> None:
    with pytest.raises(CsvRefused) as e:
        read_products(text.encode())
    assert (e.value.row, e.value.field) == (row, field)
    assert words in str(e.value)


def test_a_file_that_is_not_utf8_or_is_empty_is_refused_saying_how_to_save_it() -> None:
    with pytest.raises(CsvRefused, match="CSV UTF-8"):
        read_products("sku,name\n950123456782,皇家猫粮\n".encode("gb18030"))
    with pytest.raises(CsvRefused, match="empty"):
        read_products(b"")
    with pytest.raises(CsvRefused, match="no product"):
        read_products(b"sku,name\n")


def test_listings_read_with_the_api_s_rules_and_round_trip_through_write() -> None:
    rows = read_listings(write(["channel_sku", "item_id", "sku"],
                               [{"channel_sku": "TB-1", "item_id": "620", "sku": KIBBLE},
                                {"channel_sku": "TB-2", "item_id": None, "sku": "06923450000106"}]))
    assert [(r.channel_sku, r.item_id, r.sku) for r in rows] == [("TB-1", "620", KIBBLE),
                                                                  ("TB-2", "", "06923450000106")]
    with pytest.raises(CsvRefused) as e:
        read_listings(b"channel_sku,sku\nTB-1,950123456782\n,6923450000106\n")
    assert (e.value.row, e.value.field) == (3, "channel_sku")
    assert write(["a"], [{"a": "猫"}]).startswith("\ufeff".encode())
