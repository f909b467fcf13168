"""The durable outbox: order, idempotency, durability across kill -9, and a month offline."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from edge.delivery.outbox import Outbox, SourceKeyConflict
from edge.delivery.publisher import batch_payload
from shared import contract
from shared.contract import Kind, Source, StockDelta, Zone, new_delta_id

SKU = "06923450000106"


def sale(qty: int = 1) -> StockDelta:
    return StockDelta(id=new_delta_id(), seq=0, sku=SKU, kind=Kind.SALE, qty=-qty, zone=Zone.FLOOR,
                      occurred_at=datetime(2026, 11, 26, 9, tzinfo=UTC), source=Source.POS)


async def test_seq_is_assigned_in_order_and_pending_keeps_it(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.db") as box:
        results = await asyncio.gather(*(box.append([sale(), sale()]) for _ in range(50)))
        seqs = [s for r in results for s in r.seqs]
        assert sorted(seqs) == list(range(1, 101))
        assert box.depth == 100
        pending = await box.pending(1000)
        assert [p.seq for p in pending] == list(range(1, 101))
        await box.mark_sent([p.seq for p in pending[:60]])
        assert [p.seq for p in await box.pending(1000)] == list(range(61, 101))
        assert box.depth == 40


async def test_a_source_key_appends_once_and_refuses_a_different_body(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.db") as box:
        first = await box.append([sale()], source_key="pos:T1", source_hash="h1")
        again = await box.append([sale()], source_key="pos:T1", source_hash="h1")
        assert again.duplicate and again.seqs == first.seqs
        with pytest.raises(SourceKeyConflict):
            await box.append([sale(2)], source_key="pos:T1", source_hash="h2")
        assert box.depth == 1


async def test_seqs_are_never_reused_after_sent_rows_are_purged(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.db", sent_retention_s=0) as box:
        r = await box.append([sale(), sale()])
        await box.mark_sent(r.seqs)
    async with Outbox(tmp_path / "o.db", sent_retention_s=0) as box:  # reopening purges sent rows
        await box.stats()
        r2 = await box.append([sale()])
        assert r2.seqs == (3,)


async def test_requeue_publishes_again_from_a_seq(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.db") as box:
        r = await box.append([sale() for _ in range(5)])
        await box.mark_sent(r.seqs)
        assert await box.last_sent_seq() == 5
        assert await box.requeue(3) == 3
        assert [p.seq for p in await box.pending(10)] == [3, 4, 5]


async def test_the_published_payload_is_a_valid_batch_with_seqs(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.db") as box:
        await box.append([sale(), sale(3)])
        rows = await box.pending(10)
    batch = contract.decode_batch(batch_payload("sh-1", "gw-1", rows, datetime.now(UTC)))
    assert [(d.seq, d.qty) for d in batch.deltas] == [(1, -1), (2, -3)]


WRITER = textwrap.dedent("""
    import asyncio, sys
    from datetime import UTC, datetime
    from shared.contract import Kind, Source, StockDelta, Zone, new_delta_id
    from edge.delivery.outbox import Outbox

    async def main():
        async with Outbox(sys.argv[1]) as box:
            i = 0
            while True:
                d = StockDelta(id=new_delta_id(), seq=0, sku="06923450000106", kind=Kind.SALE, qty=-1,
                               zone=Zone.FLOOR, occurred_at=datetime.now(UTC), source=Source.POS)
                r = await box.append([d], source_key=f"pos:T{i}", source_hash="h")
                print(f"T{i} {r.seqs[0]}", flush=True)  # the "200": only after the commit
                i += 1
    asyncio.run(main())
""")


async def test_every_acknowledged_append_survives_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "o.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    acked = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        txn, seq = line.split()
        acked[txn] = int(seq)
        if len(acked) >= 200:
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    proc.stdout.close()
    async with Outbox(db) as box:
        stored = {p.seq for p in await box.pending(100_000)}
        for txn, seq in acked.items():
            assert seq in stored, f"{txn} was acknowledged but lost"
            dup = await box.append([sale()], source_key=f"pos:{txn}", source_hash="h")
            assert dup.duplicate and dup.seqs == (seq,)


async def test_a_month_offline_is_held_in_order(tmp_path: Path) -> None:
    """30 days × 3,000 deltas a day, unsent: every one kept, in order, ready to drain."""
    async with Outbox(tmp_path / "o.db") as box:
        day = [sale() for _ in range(3000)]
        for _ in range(30):
            await box.append(day[:1000])
            await box.append(day[1000:2000])
            await box.append(day[2000:])
            day = [sale() for _ in range(3000)]
        stats = await box.stats()
        assert stats["unsent"] == 90_000 and stats["last_seq"] == 90_000
        first = await box.pending(500)
        assert [p.seq for p in first] == list(range(1, 501))
        assert json.loads(first[0].wire_json())["seq"] == 1
    assert (tmp_path / "o.db").stat().st_size < 100 * 1024 * 1024
