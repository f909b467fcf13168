"""An expiry write-off booked at the store (issue 14 §1): `POST /v1/stock/movements` on the gateway
with `"reason": "expired"` travels in the delta's evidence through the outbox, Mosquitto and
ingest to the ledger, which takes the expired units, and only those."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import aiohttp
from sqlalchemy import select

from cloud.db.models import Movement
from shared import contract
from tests.integration.conftest import MAKER, Cloud, Gateway, until

SKU = "06923450000106"
STORE = "sh-0077"


async def _lots(cloud: Cloud) -> list[dict[str, object]] | None:
    _, body = await cloud.get(f"/v1/stores/{STORE}/stock?sku={SKU}")
    return body["items"][0]["lots"] if body["items"] else None


async def test_an_expiry_write_off_posted_at_the_gateway_takes_the_expired_units_in_the_ledger(
        cloud: Cloud, start_gateway: Callable[[str], Gateway]) -> None:
    gw = start_gateway(STORE)
    today = datetime.now(UTC).date()
    old, new = (today - timedelta(days=3)).isoformat(), (today + timedelta(days=200)).isoformat()
    now = contract.format_ts(datetime.now(UTC))
    async with aiohttp.ClientSession() as s:
        status, _ = await gw.post(s, "/v1/stock/movements", {"ref": "GRN-9", "at": now, "lines": [
            {"sku": SKU, "kind": "receipt", "qty": 3, "zone": "floor", "lot": "OLD", "expiry": old},
            {"sku": SKU, "kind": "receipt", "qty": 4, "zone": "floor", "lot": "NEW", "expiry": new}]})
        assert status == 200
        for line, field in [
            ({"kind": "receipt", "qty": 1, "reason": "expired"}, "lines[0].reason"),   # only units leaving
            ({"kind": "adjust", "qty": 1, "reason": "expired"}, "lines[0].reason"),    # ... leaving
            ({"kind": "shrink", "qty": -1, "reason": "stolen"}, "lines[0].reason"),    # not a reason we know
        ]:
            status, answer = await gw.post(s, "/v1/stock/movements", {
                "ref": f"BAD-{field}-{line['kind']}", "at": now,
                "lines": [{"sku": SKU, "zone": "floor", **line}]})
            assert (status, answer["field"]) == (400, field), answer
        status, _ = await gw.post(s, "/v1/stock/movements", {"ref": "EXP-1", "at": now, "lines": [
            {"sku": SKU, "kind": "shrink", "qty": -2, "zone": "floor", "reason": "expired"},
            {"sku": SKU, "kind": "adjust", "qty": -1, "zone": "floor", "lot": "OLD", "reason": "expired"}]})
        assert status == 200
    # Without the reason an unlotted shrink would have taken good units (NEW); with it, OLD goes.
    await until(lambda: _eq(_lots(cloud), [{"lot": "NEW", "expiry": new, "qty": 4}]), what="the write-off")
    _, stock = await cloud.get(f"/v1/stores/{STORE}/stock?sku={SKU}")
    assert (stock["items"][0]["on_hand"], stock["items"][0]["available"]) == (4, 4)
    async with cloud.app[MAKER]() as session:
        evidence = (await session.scalars(select(Movement.evidence).where(
            Movement.store == STORE, Movement.ref.like("EXP-1/%")).order_by(Movement.ref))).all()
    assert evidence == ['{"reason": "expired"}', '{"reason": "expired"}']


async def _eq(value: object, expected: object) -> bool:
    return await value == expected  # type: ignore[misc]
