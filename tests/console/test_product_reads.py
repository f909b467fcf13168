"""What the product page reads, in a statement or two however many channels there are: each
listing's newest push (not an older one, not another listing's), and each channel's figure equal to
what the channel's own availability says. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from cloud.channels import records
from cloud.channels.availability import sku_figures
from cloud.console.queries import channel_figures, listings_with_pushes
from cloud.db import engines
from cloud.db.migrate import upgrade
from cloud.db.models import Channel, ChannelStore, Listing, StockLevel, Store

SKU, OTHER = "06923450000106", "06923450000113"


async def test_each_listing_gets_its_newest_push_and_each_channel_its_figure(db_url: str) -> None:
    upgrade(db_url)
    engine = engines.make_engine(db_url)
    maker = engines.sessionmaker(engine)
    t0 = datetime.now(UTC) - timedelta(hours=1)
    try:
        async with maker() as session, session.begin():
            await session.execute(insert(Store), [{"store": "sh-1", "name": ""}, {"store": "sh-2", "name": ""}])
            await session.execute(insert(Channel), [
                {"name": "taobao", "platform": "taobao", "safety": 1, "share_pct": 50},
                {"name": "jd", "platform": "jd", "safety": 0, "share_pct": 100}])
            await session.execute(insert(ChannelStore), [
                {"channel": c, "store": s, "ship": True, "pickup": False}
                for c in ("taobao", "jd") for s in ("sh-1", "sh-2")])
            await session.execute(insert(StockLevel), [
                {"store": "sh-1", "sku": SKU, "sellable": 9, "reserved": 1},
                {"store": "sh-2", "sku": SKU, "sellable": 4, "reserved": 0}])
            await session.execute(insert(Listing), [
                {"channel": "taobao", "channel_sku": "T1", "item_id": "TI", "sku": SKU},
                {"channel": "jd", "channel_sku": "J1", "item_id": "JI", "sku": SKU},
                {"channel": "jd", "channel_sku": "J2", "item_id": "JI", "sku": OTHER}])
            pushes = [("taobao", "T1", 3, "ok"), ("jd", "J1", 5, "failed"), ("taobao", "T1", 7, "ok"),
                      ("jd", "J2", 1, "ok"), ("jd", "J1", 6, "ok"), ("taobao", "T1", 8, "failed")]
            await session.execute(insert(records.PUSHES), [
                {"channel": c, "sku": SKU, "item_id": "I", "sku_id": sid, "qty": q, "previous": None,
                 "key": f"k{i}", "reason": "event", "result": result, "attempts": 1, "error": None,
                 "started_at": t0 + timedelta(minutes=i), "finished_at": t0 + timedelta(minutes=i)}
                for i, (c, sid, q, result) in enumerate(pushes)])
        async with maker() as session:
            listings = await listings_with_pushes(session, SKU)
            figures = await channel_figures(session, SKU)
            expected = {c: (await sku_figures(session, c, [SKU]))[SKU] for c in ("jd", "taobao")}
        newest = {(li.channel, li.channel_sku): (li.last or {}).get("qty") for li in listings}
        assert newest == {("jd", "J1"): 6, ("taobao", "T1"): 8}
        assert {f.channel: f.qty for f in figures} == expected
        assert [f.channel for f in figures] == ["jd", "taobao"] and expected["jd"] != expected["taobao"]
    finally:
        await engine.dispose()
