"""Batches the fuzzer found that the contract accepted and the ledger could not store: each is
dead-lettered and the stream goes on, through a real Mosquitto, on SQLite and PostgreSQL.

Before the fix each one failed the worker's transaction; the worker reconnected, got the same
unacknowledged message again and failed again, and no later batch was ever applied.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared import contract
from shared.contract import DeltaBatch, Kind, Source, StockDelta, Stream, Zone
from tests.integration.conftest import Cloud, RawPublisher, until

SKU = "06923450000106"
AT = datetime(2026, 11, 26, 9, tzinfo=UTC)


def payload(store: str, **changes: object) -> bytes:
    good = StockDelta(id="poison", seq=1, sku=SKU, kind=Kind.RECEIPT, qty=1, zone=Zone.FLOOR, occurred_at=AT,
                      source=Source.MANUAL)
    doc = json.loads(contract.encode(DeltaBatch(store, "gw-1", AT, (good,))))
    doc["deltas"][0].update(changes)
    return json.dumps(doc).encode()


@pytest.mark.parametrize("changes", [
    {"seq": 2**63},
    {"qty": 2**31},
    {"id": "x" * 65},
    {"lot": "L\x001"},
    {"ref": "\ud800"},
    {"confidence": 10**400},
    {"id": "a\x00b"},
    {"id": "\ud800"},
], ids=["seq beyond BIGINT", "qty beyond INTEGER", "id of 65", "NUL in lot", "lone surrogate", "huge confidence",
        "NUL in id", "lone surrogate in id"])
async def test_a_batch_the_ledger_cannot_store_is_dead_lettered_and_the_stream_goes_on(
        cloud: Cloud, raw: RawPublisher, changes: dict[str, object]) -> None:
    store = "sh-0077"
    topic = contract.gateway_topic(store, "gw-1", Stream.DELTAS)
    raw.publish(topic, payload(store, **changes))
    after = StockDelta(id="after", seq=2, sku=SKU, kind=Kind.RECEIPT, qty=5, zone=Zone.FLOOR, occurred_at=AT,
                       source=Source.MANUAL)
    raw.publish(topic, contract.encode(DeltaBatch(store, "gw-1", AT, (after,))))

    async def applied() -> bool:
        return await cloud.floor(store, SKU) == 5

    await until(applied, what="the batch after the poisoned one")
    _, body = await cloud.get("/v1/dead-letters")
    [dead] = body["dead_letters"]
    assert dead["reason"].startswith("deltas[0].")
    assert cloud.ingest_stats.dead_letters == 1
