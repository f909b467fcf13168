"""A backup carries the chain's settings and documents: orders, holds, transfers and tokens survive a
restore from SQLite into PostgreSQL, with the same availability afterwards."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cloud.db import backup, engines, reads
from cloud.db.migrate import upgrade
from tests.orders.chain import serve
from tests.orders.test_orders_api import A, B, _chain


async def test_orders_holds_transfers_and_tokens_survive_backup_and_restore(tmp_path: Path, pg_url: str) -> None:
    source = f"sqlite:///{tmp_path / 'src.db'}"
    async with serve(source) as api:
        await _chain(api)
        await api.count("sh-1", A, 6)
        await api.count("sh-2", B, 4)
        _, held = await api.order("taobao", "TB-1", [(A, 2)])
        _, sold = await api.order("taobao", "TB-2", [(A, 1)])
        await api.post(f"/v1/orders/{sold['id']}/fulfil")
        _, moving = await api.post("/v1/transfers", {"from": "sh-2", "to": "sh-1", "lines": [{"sku": B, "qty": 1}]})
        status, made = await api.post("/v1/tokens", {"name": "staff-1", "role": "store", "store": "sh-1"})
        assert status == 201
        before = {(s, k): (await api.available(s, k), await api.on_hand(s, k))
                  for s in ("sh-1", "sh-2") for k in (A, B)}
        _, figures_before = await api.get(f"/v1/channels/taobao/availability?sku={A}")
        file = tmp_path / "chain.jsonl.gz"
        counts = await backup.backup(api.maker, file)
    assert counts["orders"] == 2 and counts["reservations"] == 2 and counts["transfers"] == 1

    await asyncio.get_running_loop().run_in_executor(None, upgrade, pg_url)
    engine = engines.make_engine(pg_url)
    try:
        await backup.restore(engines.sessionmaker(engine), file)
    finally:
        await engine.dispose()
    async with serve(pg_url) as api:
        after = {(s, k): (await api.available(s, k), await api.on_hand(s, k))
                 for s in ("sh-1", "sh-2") for k in (A, B)}
        assert after == before
        _, figures_after = await api.get(f"/v1/channels/taobao/availability?sku={A}")
        assert figures_after["items"] == figures_before["items"]
        _, order = await api.get(f"/v1/orders/{held['id']}")
        assert order["status"] == "reserved"
        status, _ = await api.post(f"/v1/orders/{held['id']}/fulfil")
        assert status == 200 and await api.on_hand("sh-1", A) == 3
        status, t = await api.post(f"/v1/transfers/{moving['id']}/receive")
        assert status == 200 and t["status"] == "received"
        assert (await api.get("/v1/stores/sh-1/stock", made["token"]))[0] == 200
        assert await reads.rebuild_mismatches(api.maker) == []
