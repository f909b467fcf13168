"""EPC decoding: SGTIN → GTIN + serial, the fast SGTIN-96 path checked against epcpy."""

from __future__ import annotations

import contextlib

import pytest
from epcpy.epc_schemes.sgtin import SGTIN
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.rfid.epc import CorruptEpc, EpcDecoder, NotSgtin, _decode_sgtin96, decode_sgtin

PARTITIONS = (
    (40, 12, 4),
    (37, 11, 7),
    (34, 10, 10),
    (30, 9, 14),
    (27, 8, 17),
    (24, 7, 20),
    (20, 6, 24),
)


def test_gs1_example_decodes_to_gtin_and_serial() -> None:
    # GS1 TDS 2.1 §14.5.1 worked example: urn:epc:id:sgtin:0614141.812345.6789
    item = decode_sgtin(b"3074257BF7194E4000001A85")
    assert (item.gtin, item.serial, item.uri) == (
        "80614141123458",
        "6789",
        "urn:epc:id:sgtin:0614141.812345.6789",
    )


@pytest.mark.parametrize(
    ("epc", "error"),
    [
        ("3574257BF7194E4000001A85", NotSgtin),  # GID-96 header
        ("E2801160600002084E8A1234", NotSgtin),  # an unprogrammed tag's factory EPC
        ("307FFFFFFFFFFFFFFFFFFFFF", CorruptEpc),  # partition 7 does not exist
        ("30", CorruptEpc),
        ("30ZZ", CorruptEpc),
    ],
)
def test_non_sgtin_and_corrupt_epcs_raise_typed_errors(epc: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        decode_sgtin(epc)


def test_decoder_counts_what_it_skips_and_memoises() -> None:
    d = EpcDecoder(capacity=2)
    for epc in ["3074257BF7194E4000001A85"] * 3 + ["E2801160600002084E8A1234"]:
        with contextlib.suppress(NotSgtin):
            d.decode(epc)
    assert (d.decoded, d.not_sgtin, d.corrupt) == (3, 1, 0)


@st.composite
def sgtin96(draw: st.DrawFn) -> str:
    partition = draw(st.integers(0, 7))
    if partition == 7 or draw(st.booleans()):  # any bits at all, valid or not
        body = draw(st.integers(0, (1 << 82) - 1))
    else:
        _cp_bits, cp_digits, ir_bits = PARTITIONS[partition]
        company = draw(st.integers(0, 10**cp_digits - 1))
        item = draw(st.integers(0, 10 ** (13 - cp_digits) - 1))
        body = (company << (38 + ir_bits)) | (item << 38) | draw(st.integers(0, (1 << 38) - 1))
    value = (0x30 << 88) | (draw(st.integers(0, 7)) << 85) | (partition << 82) | body
    return f"{value:024X}"


@settings(max_examples=400, deadline=None)
@given(sgtin96())
def test_fast_sgtin96_path_agrees_with_epcpy(epc: str) -> None:
    fast = _decode_sgtin96(epc)
    try:
        ref = SGTIN.from_hex(epc)
        expected = (ref.gtin(), ref._serial, ref.epc_uri)
    except Exception:
        expected = None
    assert (None if fast is None else (fast.gtin, fast.serial, fast.uri)) == expected
