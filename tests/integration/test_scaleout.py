"""Three cloud workers on one PostgreSQL and one Mosquitto: the load splits, nothing is applied
twice, and a worker killed mid-stream loses nothing (issue 10)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cloud.db import engines, reads
from cloud.db.migrate import upgrade
from firmware_sim import procs
from shared import contract
from shared.contract import DeltaBatch, Kind, Source, StockDelta, Stream, Zone
from tests.integration.conftest import ADMIN, RawPublisher, until
from tests.support.services import Mosquitto

SKUS = ["06923450000106", "06923450000113", "06923450000120"]
T0 = datetime(2026, 11, 26, 9, tzinfo=UTC)


def _get(port: int, path: str) -> Any:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {ADMIN}"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def _batch(store: str, n: int, size: int) -> bytes:
    deltas = tuple(
        StockDelta(id=f"{store}-{n}-{k}", seq=n * size + k + 1, sku=SKUS[(n + k) % 3], kind=Kind.RECEIPT,
                   qty=1 + k, zone=Zone.BACKROOM, occurred_at=T0 + timedelta(seconds=n), source=Source.MANUAL)
        for k in range(size))
    return contract.encode(DeltaBatch(store, "gw-1", datetime.now(UTC), deltas))


@pytest.mark.postgres
async def test_three_workers_split_the_load_and_a_killed_worker_loses_nothing(
        tmp_path: Path, broker: Mosquitto, pg_url: str, raw: RawPublisher) -> None:
    await asyncio.get_running_loop().run_in_executor(None, upgrade, pg_url)  # once per release
    workers: dict[str, tuple[procs.Proc, int]] = {}
    try:
        for w in ("w1", "w2", "w3"):
            workers[w] = procs.cloud(tmp_path, pg_url, broker.url, ADMIN, worker=w, migrate=False)
        await until(lambda: all(_get(p, "/healthz")["ingest"]["connected"] for _, p in workers.values()),
                    timeout=20, what="three subscribed workers")
        stores, batches, size = [f"so-{i}" for i in range(6)], 60, 5
        sent = 0
        for n in range(batches):
            for store in stores:
                raw.publish(contract.gateway_topic(store, "gw-1", Stream.DELTAS), _batch(store, n, size))
                sent += 1
            if n == batches // 3:
                def shares() -> dict[str, int]:
                    return {w: _get(p, "/healthz")["ingest"]["batches"] for w, (_, p) in workers.items()}

                await until(lambda: all(v > 0 for v in shares().values()), timeout=30,
                            what="every worker to take a share of the load")
                workers["w2"][0].kill9()  # mid-stream, with messages in flight to it
        # Messages queued for w2's session wait for it (same client id): restart it.
        workers["w2"] = procs.cloud(tmp_path, pg_url, broker.url, ADMIN, worker="w2", migrate=False)
        expected = sent * size
        port = workers["w1"][1]
        await until(lambda: sum(g["deltas"] for g in _get(port, "/v1/gateways")["gateways"]) >= expected,
                    timeout=90, what=f"{expected} deltas in the ledger")
        gateways = _get(port, "/v1/gateways")["gateways"]
        assert sum(g["deltas"] for g in gateways) == expected  # none applied twice
        assert all(g["seq_gaps"] == 0 for g in gateways)
        per_store = sum(range(1, size + 1)) * batches
        for store in stores:
            assert sum(i["on_hand"] for i in _get(port, f"/v1/stores/{store}/stock")["items"]) == per_store
    finally:
        for proc, _ in workers.values():
            proc.stop()
    engine = engines.make_engine(pg_url)
    try:
        assert await reads.rebuild_mismatches(engines.sessionmaker(engine)) == []
    finally:
        await engine.dispose()
