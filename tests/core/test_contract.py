"""The wire contract: what a valid DeltaBatch is, and that every violation names its field."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from shared import contract
from shared.contract import ContractError, DeltaBatch, Kind, Source, StockDelta, Zone

GTIN = "06923450000106"
AT = datetime(2026, 11, 26, 3, 0, 0, 123000, tzinfo=UTC)

GOLDEN = (
    b'{"v":1,"store":"sh-0042","gateway":"gw-1","sent_at":"2026-11-26T03:00:00.123Z","deltas":'
    b'[{"id":"0190f1a2-0000-7000-8000-000000000001","seq":7,"sku":"06923450000106","kind":"sale",'
    b'"qty":-2,"zone":"floor","occurred_at":"2026-11-26T03:00:00.123Z","source":"pos",'
    b'"confidence":1.0,"lot":"L1","expiry":"2027-05-01","ref":"T1001/1"}]}'
)


def delta(**kw: object) -> StockDelta:
    base: dict[str, object] = dict(id="d1", seq=1, sku=GTIN, kind=Kind.SALE, qty=-1, zone=Zone.FLOOR,
                                   occurred_at=AT, source=Source.POS)
    base.update(kw)
    return StockDelta(**base)  # type: ignore[arg-type]


def test_golden_batch_decodes_and_encodes_to_the_same_bytes() -> None:
    batch = contract.decode_batch(GOLDEN)
    assert batch.store == "sh-0042"
    d = batch.deltas[0]
    assert (d.kind, d.qty, d.lot, d.expiry, d.seq) == (Kind.SALE, -2, "L1", date(2027, 5, 1), 7)
    assert contract.encode(batch) == GOLDEN


def test_topics_are_built_and_parsed() -> None:
    topic = contract.gateway_topic("sh-0042", "gw-1", contract.Stream.DELTAS)
    assert topic == "shelfsync/v1/store/sh-0042/gw/gw-1/deltas"
    assert contract.GatewayTopic.parse(topic) == contract.GatewayTopic("sh-0042", "gw-1", contract.Stream.DELTAS)
    assert contract.command_topic("sh-0042", "gw-1", "rebirth") == "shelfsync/v1/store/sh-0042/cmd/gw-1/rebirth"
    assert contract.cloud_subscription() == "$share/cloud/shelfsync/v1/store/+/gw/+/#"
    with pytest.raises(ContractError, match="store"):
        contract.gateway_topic("SH_42", "gw-1", contract.Stream.DELTAS)
    with pytest.raises(ContractError, match="topic"):
        contract.GatewayTopic.parse("shelfsync/v1/store/a/gw/b/unknown")


@pytest.mark.parametrize(("kind", "qty"), [
    (Kind.SALE, 1), (Kind.SALE, 0), (Kind.SHRINK, 2), (Kind.TRANSFER_OUT, 1),
    (Kind.RETURN, -1), (Kind.RECEIPT, 0), (Kind.TRANSFER_IN, -3), (Kind.COUNT, -1), (Kind.ADJUST, 0),
])
def test_kind_sign_rules_reject_the_wrong_sign(kind: Kind, qty: int) -> None:
    with pytest.raises(ContractError) as e:
        delta(kind=kind, qty=qty)
    assert e.value.field == "qty"


def test_a_count_may_be_zero_and_an_adjust_either_sign() -> None:
    delta(kind=Kind.COUNT, qty=0)
    delta(kind=Kind.ADJUST, qty=-4)
    delta(kind=Kind.ADJUST, qty=4)


def test_a_move_needs_a_different_source_zone() -> None:
    with pytest.raises(ContractError, match="from_zone"):
        delta(kind=Kind.MOVE, qty=2)
    with pytest.raises(ContractError, match="from_zone"):
        delta(kind=Kind.MOVE, qty=2, from_zone=Zone.FLOOR)
    delta(kind=Kind.MOVE, qty=2, zone=Zone.FLOOR, from_zone=Zone.BACKROOM)
    with pytest.raises(ContractError, match="from_zone"):
        delta(kind=Kind.SALE, qty=-1, from_zone=Zone.BACKROOM)


@pytest.mark.parametrize("sku", ["06923450000107", "6923450000106", "0692345000010X", 6923450000106])
def test_a_bad_gtin_is_rejected(sku: object) -> None:
    with pytest.raises(ContractError) as e:
        delta(sku=sku)
    assert e.value.field == "sku"


def _broken(path: str, value: object) -> bytes:
    obj = json.loads(GOLDEN)
    target = obj
    keys = path.split(".")
    for k in keys[:-1]:
        target = target[int(k)] if k.isdigit() else target[k]
    if value is KeyError:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return json.dumps(obj).encode()


@pytest.mark.parametrize(("path", "value", "field"), [
    ("v", 2, "v"),
    ("store", "Store 42", "store"),
    ("sent_at", "2026-11-26 03:00:00", "sent_at"),
    ("deltas", [], "deltas"),
    ("deltas", "x", "deltas"),
    ("deltas.0.kind", "theft", "deltas[0].kind"),
    ("deltas.0.zone", "attic", "deltas[0].zone"),
    ("deltas.0.qty", 2, "deltas[0].qty"),
    ("deltas.0.qty", "2", "deltas[0].qty"),
    ("deltas.0.seq", KeyError, "deltas[0].seq"),
    ("deltas.0.id", KeyError, "deltas[0].id"),
    ("deltas.0.occurred_at", "2026-11-26T03:00:00Z", "deltas[0].occurred_at"),
    ("deltas.0.occurred_at", "2026-02-30T03:00:00.000Z", "deltas[0].occurred_at"),
    ("deltas.0.expiry", "2027-5-1", "deltas[0].expiry"),
    ("deltas.0.confidence", 1.5, "deltas[0].confidence"),
    ("deltas.0.source", "guess", "deltas[0].source"),
    ("deltas.0.evidence", [1], "deltas[0].evidence"),
])
def test_each_violation_raises_one_error_naming_the_field(path: str, value: object, field: str) -> None:
    with pytest.raises(ContractError) as e:
        contract.decode_batch(_broken(path, value))
    assert e.value.field == field


@pytest.mark.parametrize("raw", [b"", b"not json", b"\xff\xfe", b"[]", b"null", b'{"v":1}'])
def test_garbage_is_a_contract_error_not_a_crash(raw: bytes) -> None:
    with pytest.raises(ContractError):
        contract.decode_batch(raw)


def test_duplicate_ids_in_one_batch_are_rejected() -> None:
    d = delta()
    with pytest.raises(ContractError, match="unique"):
        DeltaBatch("sh-1", "gw-1", AT, (d, d))


def test_times_travel_with_millisecond_precision() -> None:
    d = delta(occurred_at=datetime(2026, 11, 26, 3, 0, 0, 123456, tzinfo=UTC))
    again = StockDelta.from_json(d.to_json())
    assert again == d
    assert again.occurred_at.microsecond == 123000


def test_delta_ids_are_unique_and_time_ordered() -> None:
    ids = [contract.new_delta_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert ids[0][:8] <= ids[-1][:8]
