"""Backup and restore of the ledger: SQLite → file → PostgreSQL (and the CLI), nothing lost."""

from __future__ import annotations

import asyncio
import gzip
import random
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from cloud.db import backup, engines, posting, reads
from cloud.db.migrate import upgrade
from shared.contract import DeltaBatch, Kind, Source, StockDelta, Zone
from shelfsync.cli import repo_root

T0 = datetime(2026, 11, 26, 9, tzinfo=UTC)
SKUS = ["06923450000106", "06923450000113", "06923450000120"]
TODAY = date(2026, 11, 26)


def _history(n: int, seed: int) -> list[DeltaBatch]:
    rnd = random.Random(seed)
    batches, seq = [], 0
    for store in ("sh-a", "sh-b"):
        for _ in range(n):
            deltas = []
            for _ in range(3):
                seq += 1
                kind = rnd.choice([Kind.SALE, Kind.RECEIPT, Kind.RECEIPT, Kind.COUNT])
                qty = {Kind.SALE: -rnd.randint(1, 3), Kind.COUNT: rnd.randint(0, 30)}.get(kind, rnd.randint(1, 9))
                lot = rnd.choice([None, "L1", "L2"])
                deltas.append(StockDelta(id=f"{store}-{seq}", seq=seq, sku=rnd.choice(SKUS), kind=kind, qty=qty,
                                         zone=rnd.choice([Zone.FLOOR, Zone.BACKROOM]),
                                         occurred_at=T0 + timedelta(minutes=rnd.randint(0, 500)), source=Source.POS,
                                         lot=lot, expiry={"L1": date(2027, 1, 1), "L2": date(2027, 2, 1)}.get(lot or "")))
            batches.append(DeltaBatch(store, "gw-1", T0, tuple(deltas)))
    return batches


async def _stock(url: str) -> dict[str, object]:
    engine = engines.make_engine(url)
    try:
        maker = engines.sessionmaker(engine)
        return {s: await reads.store_stock(maker, s, None, TODAY) for s in ("sh-a", "sh-b")}
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_a_sqlite_ledger_restores_into_postgres_with_every_balance_equal(tmp_path: Path, pg_url: str) -> None:
    source = f"sqlite:///{tmp_path / 'src.db'}"
    await asyncio.get_running_loop().run_in_executor(None, upgrade, source)
    engine = engines.make_engine(source)
    maker = engines.sessionmaker(engine)
    for b in _history(40, seed=1):
        await posting.apply_batch(maker, b)
    await posting.dead_letter(maker, "shelfsync/v1/store/sh-a/gw/gw-1/deltas", b"\x00bad", "payload: not JSON")
    file = tmp_path / "ledger.jsonl.gz"
    counts = await backup.backup(maker, file)
    await engine.dispose()
    assert counts == {"movements": 240, "gateways": 2, "dead_letters": 1}
    with gzip.open(file, "rt") as f:
        assert f.readline().strip() == '{"format": "shelfsync-ledger-backup/1"}'

    await asyncio.get_running_loop().run_in_executor(None, upgrade, pg_url)
    target = engines.make_engine(pg_url)
    tmaker = engines.sessionmaker(target)
    try:
        restored = await backup.restore(tmaker, file)
        assert restored["movements"] == 240
        assert await reads.rebuild_mismatches(tmaker) == []
        assert await _stock(pg_url) == await _stock(source)
        with pytest.raises(backup.BackupError, match="not empty"):
            await backup.restore(tmaker, file)
        # The restored ledger keeps working: new deltas apply on top, ids do not collide.
        more = _history(2, seed=9)[0]
        fresh = DeltaBatch(more.store, more.gateway, more.sent_at,
                           tuple(StockDelta(**{**{f: getattr(d, f) for f in d.__slots__}, "id": "new-" + d.id})  # type: ignore[arg-type]
                                 for d in more.deltas))
        assert (await posting.apply_batch(tmaker, fresh)).applied == 3
    finally:
        await target.dispose()


async def test_the_cli_backs_up_and_restores_and_refuses_garbage(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 'a.db'}"
    await asyncio.get_running_loop().run_in_executor(None, upgrade, source)
    engine = engines.make_engine(source)
    for b in _history(5, seed=3):
        await posting.apply_batch(engines.sessionmaker(engine), b)
    await engine.dispose()
    file = tmp_path / "b.jsonl.gz"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "shelfsync.cli", "cloud", *args], cwd=repo_root(),
                              capture_output=True, text=True, timeout=120)

    done = await asyncio.to_thread(cli, "backup", "--db", source, "--file", str(file))
    assert done.returncode == 0, done.stderr
    target = f"sqlite:///{tmp_path / 'b.db'}"
    done = await asyncio.to_thread(cli, "restore", "--db", target, "--file", str(file))
    assert done.returncode == 0, done.stderr
    assert await _stock(source) == await _stock(target)
    junk = tmp_path / "junk.jsonl.gz"
    junk.write_bytes(b"not gzip")
    done = await asyncio.to_thread(cli, "restore", "--db", f"sqlite:///{tmp_path / 'c.db'}", "--file", str(junk))
    assert done.returncode == 1 and "unreadable backup" in done.stderr
