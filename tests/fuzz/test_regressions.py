"""Inputs the fuzz targets found that crashed a decoder or slipped past it, each pinned here.

Every one was fixed in the decoder itself; the target (tests/fuzz/targets.py) keeps looking
for more of its kind.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from cloud import ingest
from edge import http, pos
from edge.rfid import driver as rfid
from edge.rfid import reports
from edge.rfid.epc import EpcDecoder
from edge.shelf.registers import RegisterMapError, builtin_map, map_from_config
from firmware_sim.llrp import frames as fr
from shared import contract
from shared.contract import ContractError
from tests.fuzz.targets import EPCS, MAX_MESSAGE, _NullTransport

GTIN = "06923450000106"
NOW = "2026-11-26T03:00:00.123Z"
TOPIC = "shelfsync/v1/store/sh-0042/gw/gw-1/deltas"


def batch(**delta: object) -> bytes:
    d: dict[str, object] = {"id": "d1", "seq": 1, "sku": GTIN, "kind": "receipt", "qty": 1, "zone": "floor",
                            "occurred_at": NOW, "source": "pos"}
    d.update(delta)
    return json.dumps({"v": 1, "store": "sh-0042", "gateway": "gw-1", "sent_at": NOW,
                       "deltas": [d]}).encode()


# --- JSON that json.loads refuses with something other than JSONDecodeError -------------------

BOMBS = [
    pytest.param(b'{"v":1,"deltas":' + b"1" * 5000 + b"}", id="5000-digit number"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, id="100000 nested arrays"),
    pytest.param(b'{"a":' * 50_000 + b"1" + b"}" * 50_000, id="50000 nested objects"),
]


@pytest.mark.parametrize("payload", BOMBS)
def test_a_batch_json_cannot_hold_is_a_contract_error_not_a_crash(payload: bytes) -> None:
    """Before: ValueError (int digits limit) and RecursionError escaped decode_batch, so the
    cloud worker failed on the message, reconnected, got it again: one message blocked it."""
    with pytest.raises(ContractError) as e:
        ingest.decode_message(TOPIC, payload)
    assert e.value.field == "payload"


@pytest.mark.parametrize("payload", BOMBS)
def test_a_webhook_body_json_cannot_hold_is_a_400_not_a_500(payload: bytes) -> None:
    with pytest.raises(ContractError) as e:
        http.decode_body(payload)
    assert e.value.field == "body"


# --- values the ledger cannot store ---------------------------------------------------------------

@pytest.mark.parametrize(("delta", "field"), [
    ({"seq": 2**63}, "deltas[0].seq"),                       # BIGINT
    ({"qty": 2**31}, "deltas[0].qty"),                       # INTEGER
    ({"kind": "sale", "qty": -(2**40)}, "deltas[0].qty"),
    ({"id": "x" * 65}, "deltas[0].id"),                      # VARCHAR(64)
    ({"lot": "L\x001"}, "deltas[0].lot"),                     # PostgreSQL text holds no NUL
    ({"bin": "A1\x002"}, "deltas[0].bin"),
    ({"ref": "\ud800"}, "deltas[0].ref"),                     # no driver encodes a lone surrogate
    ({"id": "d\n1"}, "deltas[0].id"),
])
def test_a_delta_the_ledger_cannot_store_is_rejected_naming_its_field(delta: dict[str, object],
                                                                       field: str) -> None:
    """Before: accepted, then the group's transaction failed in PostgreSQL; the worker retried
    the same message for ever."""
    with pytest.raises(ContractError) as e:
        ingest.decode_message(TOPIC, batch(**delta))
    assert e.value.field == field


def test_evidence_that_no_utf_8_encoder_takes_is_rejected() -> None:
    """Before: accepted; the batch then could not be encoded again (contract.encode raised
    UnicodeEncodeError), as a backup or a resend of it would."""
    with pytest.raises(ContractError) as e:
        ingest.decode_message(TOPIC, batch(evidence={"note": "\ud800"}))
    assert e.value.field == "deltas[0].evidence"


def test_a_confidence_too_large_for_a_float_is_a_contract_error() -> None:
    """Before: OverflowError from float(10**400)."""
    with pytest.raises(ContractError) as e:
        ingest.decode_message(TOPIC, batch(confidence=10**400))
    assert e.value.field == "deltas[0].confidence"


def test_a_gtin_written_in_another_scripts_digits_is_not_a_gtin() -> None:
    """Arabic-Indic digits matched `\\d`; the ledger then held a second SKU for the same pack."""
    arabic = "".join(chr(0x660 + int(c)) for c in GTIN)
    assert not contract.is_gtin14(arabic)
    with pytest.raises(ContractError) as e:
        ingest.decode_message(TOPIC, batch(sku=arabic))
    assert e.value.field == "deltas[0].sku"


def test_a_time_before_year_1000_goes_out_as_rfc_3339() -> None:
    """strftime's %Y wrote year 1 as "1": the gateway took a sale dated 0001-01-01 and the
    cloud dead-lettered the batch it published."""
    moment = datetime(1, 1, 1, 0, 0, 0, 5000, tzinfo=UTC)
    assert contract.format_ts(moment) == "0001-01-01T00:00:00.005Z"
    assert contract.parse_ts(contract.format_ts(moment), "at") == moment


# --- the webhook body ---------------------------------------------------------------------------

def sale(**fields: object) -> dict[str, object]:
    body: dict[str, object] = {"txn": "T1", "at": NOW, "kind": "sale", "lines": [{"sku": GTIN, "qty": 1}]}
    body.update(fields)
    return body


@pytest.mark.parametrize(("body", "field"), [
    (sale(kind=["sale"]), "kind"),                            # TypeError: unhashable type
    (sale(kind={"a": 1}), "kind"),
    (sale(txn="T\x001"), "txn"),
    (sale(txn="T\ud8001"), "txn"),
    (sale(lines=[{"sku": GTIN, "qty": 1, "lot": "L\x00"}]), "lines[0].lot"),
    (sale(order="o\ud800"), "order"),
])
def test_a_pos_body_the_gateway_could_not_store_or_publish_is_a_400(body: dict[str, object],
                                                                     field: str) -> None:
    raw = json.dumps(body).encode()  # ensure_ascii: NUL and lone surrogates travel escaped
    with pytest.raises(ContractError) as e:
        pos.parse_transaction(http.decode_body(raw))
    assert e.value.field == field


def test_staff_movements_with_a_nul_in_the_ref_are_a_400() -> None:
    body = {"ref": "M\x001", "at": NOW, "lines": [{"sku": GTIN, "kind": "receipt", "qty": 1, "zone": "floor"}]}
    with pytest.raises(ContractError) as e:
        pos.parse_movements(http.decode_body(json.dumps(body).encode()))
    assert e.value.field == "ref"


# --- messages a person reads ------------------------------------------------------------------------

def test_a_rejection_quotes_a_huge_value_in_a_short_line() -> None:
    with pytest.raises(ContractError) as e:
        ingest.decode_message(TOPIC, batch(kind=[{"x": "y" * 10_000}] * 10))
    assert len(str(e.value)) <= MAX_MESSAGE and "\n" not in str(e.value)
    assert str(e.value).startswith("deltas[0].kind: must be one of sale")


def test_a_map_error_quoting_a_huge_value_is_a_short_line() -> None:
    table = {"gross": {"address": [list(range(2000))]}, "net": {"address": 2},
             "status": {"address": 0, "stable_bit": 1}}
    with pytest.raises(RegisterMapError) as e:
        map_from_config("acme", table)
    assert len(str(e.value)) <= MAX_MESSAGE and "\n" not in str(e.value)


# --- Modbus --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("word", [0x7FC0, 0x7F80, 0xFF80], ids=["NaN", "+inf", "-inf"])
def test_a_float_register_that_is_not_a_number_is_unreadable_not_a_weight(word: int) -> None:
    """Before: the Flintec map decoded NaN grams, and the shelf detector compared NaN for ever."""
    m = builtin_map("flintec-dad141")
    with pytest.raises(RegisterMapError, match="not a weight"):
        m.decode([word, 0, 0x4000, 0, 1])


def test_a_map_scale_too_large_for_a_float_is_a_map_error() -> None:
    """Before: OverflowError from float(10**400)."""
    table = {"gross": {"address": 0, "type": "int32", "scale": 10**400}, "net": {"address": 2, "type": "int32"},
             "status": {"address": 4, "stable_bit": 1}}
    with pytest.raises(RegisterMapError, match="scale"):
        map_from_config("acme", table)


# --- LLRP -------------------------------------------------------------------------------------------------

def report(first_seen_us: int) -> bytes:
    sel = fr.ContentSelector(antenna_id=True, first_seen=True)
    tag = fr.TagReport(EPCS[0], 1, -50, 0, first_seen_us, 0, 1, 1)
    return fr.encode_frame(fr.MsgType.RO_ACCESS_REPORT, 1, fr.ro_access_report([tag], sel))


@pytest.mark.parametrize("seen_us", [2**64 - 1, 2**63, 253_402_300_800_000_000])  # the last: year 10000
def test_a_report_stamped_beyond_year_9999_is_a_report_error(seen_us: int) -> None:
    with pytest.raises(reports.ReportError, match="timestamp"):
        reports.parse_ro_access_report(report(seen_us))


async def test_the_driver_skips_a_report_stamped_beyond_year_9999_and_keeps_reading() -> None:
    """Before: ValueError ("year 294247 is out of range") escaped data_received, which asyncio
    answers by closing the connection: one bad timestamp dropped the reader."""
    reads: list[rfid.TagRead] = []
    stats = rfid.ReaderStats()
    conn = rfid._LLRPConnection(rfid.ReaderSettings("dock", "127.0.0.1"), reads.append, stats, EpcDecoder(),
                                lambda: None)
    transport = _NullTransport()
    conn.connection_made(transport)
    conn.inventorying.set()
    conn.data_received(report(2**64 - 1) + report(1_795_000_000_000_000))
    assert stats.bad_frames == 1 and not conn.done.done() and not transport.closed
    [read] = reads
    assert read.at == datetime.fromtimestamp(1_795_000_000, UTC)

