"""The cloud's expiry alerts (issue 14 §1), from the real cloud app on a real ledger (SQLite,
PostgreSQL) to a real apprise receiver:

- the alert for an expired lot still on hand says how to book its write-off, and the body it
  offers, posted as it is to the gateway's staff movements parser, writes the lot off (the alert
  then resolves);
- a lot sold at a till after it expired raises an alert (a sale of a good lot, or one that names
  no lot, raises none).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from cloud.db import posting, reads
from cloud.keys import MAKER
from edge.pos import parse_movements
from shared.contract import DeltaBatch, Kind, Source, StockDelta, Zone
from tests.alerts.receiver import Receiver
from tests.alerts.test_cloud import KIBBLE, STORE, alerts_file, cloud
from tests.support.services import Mosquitto

PRODUCT = "Royal Canin Indoor 2 kg"


def delta(kind: Kind, qty: int, lot: str | None, expiry: date | None = None, zone: Zone = Zone.FLOOR,
          source: Source = Source.MANUAL) -> StockDelta:
    return StockDelta(id=str(uuid.uuid4()), seq=1, sku=KIBBLE, kind=kind, qty=qty, zone=zone,
                      occurred_at=datetime.now(UTC), source=source, lot=lot, expiry=expiry)


async def test_the_expired_lot_alert_offers_a_write_off_that_books_as_it_is(
        tmp_path: Path, broker: Mosquitto, db_url: str) -> None:
    old = datetime.now(UTC).date() - timedelta(days=3)  # expired in UTC and in the store's zone
    async with Receiver() as rx, cloud(db_url, broker, alerts_file(tmp_path, rx.port)) as app:
        maker = app[MAKER]
        await posting.apply_batch(maker, DeltaBatch(STORE, "gw-1", datetime.now(UTC), (
            delta(Kind.RECEIPT, 2, "L-OLD", old), delta(Kind.RECEIPT, 1, "L-OLD", old, Zone.BACKROOM),
            delta(Kind.RECEIPT, 5, "L-FAR", date(2099, 1, 1)))))
        raised = await rx.take(2, within=30)  # the store's staff and HQ
        assert {b["title"] for _, b in raised} == {f"Expired: {PRODUCT} lot L-OLD ({old}) — pull 3"}
        message = str(raised[0][1]["message"])
        assert "POST /v1/stock/movements" in message and "报损" in message
        requests = [line for line in message.splitlines() if line.startswith("{")]
        assert len(requests) == 2 and requests[0] == requests[1]  # under the Chinese and the English
        offered = json.loads(requests[0])
        assert sorted((ln["zone"], ln["qty"]) for ln in offered["lines"]) == [("backroom", -1), ("floor", -2)]
        assert all((ln["kind"], ln["lot"], ln["reason"], ln["sku"]) == ("shrink", "L-OLD", "expired", KIBBLE)
                   for ln in offered["lines"])
        # Staff post it as it is: the gateway's own parser takes it, and the ledger writes the lot off.
        booked = parse_movements(offered)
        await posting.apply_batch(maker, DeltaBatch(STORE, "gw-1", datetime.now(UTC),
                                                 tuple(d for d in booked.deltas)))
        resolved = await rx.take(2, within=30)
        assert {b["title"] for _, b in resolved} == {f"[Resolved] Expired: {PRODUCT} lot L-OLD ({old}) — pull 3"}
        items = await reads.store_stock(maker, STORE, KIBBLE, datetime.now(UTC).date())
        assert items[0]["lots"] == [{"lot": "L-FAR", "expiry": "2099-01-01", "qty": 5}]


async def test_a_till_sale_of_an_expired_lot_raises_an_alert(tmp_path: Path, broker: Mosquitto,
                                                             db_url: str) -> None:
    old = datetime.now(UTC).date() - timedelta(days=3)
    async with Receiver() as rx, cloud(db_url, broker, alerts_file(tmp_path, rx.port)) as app:
        maker = app[MAKER]
        await posting.apply_batch(maker, DeltaBatch(STORE, "gw-1", datetime.now(UTC), (
            delta(Kind.RECEIPT, 4, "L-OLD", old), delta(Kind.RECEIPT, 5, "L-FAR", date(2099, 1, 1)))))
        await rx.take(2, within=30)  # the expired lot on hand: staff and HQ
        await posting.apply_batch(maker, DeltaBatch(STORE, "gw-1", datetime.now(UTC), (
            delta(Kind.SALE, -1, "L-FAR", source=Source.POS), delta(Kind.SALE, -1, None, source=Source.POS),
            delta(Kind.SALE, -2, "L-OLD", source=Source.POS))))
        sold = await rx.take(2, within=30)  # to the store's staff and HQ; the good-lot sales raise nothing
        assert sorted(p for p, _ in sold) == ["/hq", "/staff"]
        assert {b["title"] for _, b in sold} == {
            f"Sold after expiry at the till: {PRODUCT} lot L-OLD ({old}) — 2 sold"}
        assert "已过期" in str(sold[0][1]["message"])
