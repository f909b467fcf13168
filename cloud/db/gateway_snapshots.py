"""What each gateway last told the cloud beyond its state: its newest online status (version,
outbox depth and the age of its oldest unsent delta, devices up and down) and its retained shelves
snapshot (every bin and camera lane). The console shows them; the ledger never reads them.

Statuses and snapshots reach whichever worker the shared subscription picks, and a retained one is
delivered again at every reconnect, so each write is an upsert:

- a status is kept only when `online`: the last will (`offline`) is written by the broker when the
  link dies and was composed at connect time, so its figures are stale. The state itself lives in
  `gateways` (posting.record_status), which takes the will.
- a shelves snapshot replaces the kept one unless the kept one is newer (`at`): a redelivered
  retained snapshot never rolls the shelf map back.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.db.engines import upsert
from cloud.db.models import Gateway, GatewaySnapshot
from shared.contract import BinView, ContractError, GatewayState, GatewayStatus, ShelfSnapshot


async def record_status(maker: async_sessionmaker[AsyncSession], status: GatewayStatus,
                        now: datetime) -> bool:
    """Keep an online status's details; False (nothing written) for the offline will."""
    if status.state is not GatewayState.ONLINE:
        return False
    at = status.at or now
    oldest = at - timedelta(seconds=status.oldest_unsent_s) \
        if status.oldest_unsent_s and status.outbox_depth else None
    details = {"version": status.version, "outbox_depth": status.outbox_depth, "oldest_unsent_at": oldest,
               "devices": json.dumps(dict(status.devices), sort_keys=True), "online_at": now}
    async with maker() as session, session.begin():
        stmt = upsert(session)(GatewaySnapshot).values(store=status.store, gateway=status.gateway, **details)
        await session.execute(stmt.on_conflict_do_update(index_elements=["store", "gateway"], set_=details))
    return True


async def record_shelves(maker: async_sessionmaker[AsyncSession], snapshot: ShelfSnapshot) -> bool:
    """Keep a gateway's shelves snapshot unless a newer one is kept already; True when written."""
    shelves = json.dumps([b.to_json() for b in snapshot.bins], separators=(",", ":"))
    async with maker() as session, session.begin():
        stmt = upsert(session)(GatewaySnapshot).values(store=snapshot.store, gateway=snapshot.gateway,
                                                        shelves=shelves, shelves_at=snapshot.at)
        stmt = stmt.on_conflict_do_update(
            index_elements=["store", "gateway"], set_={"shelves": shelves, "shelves_at": snapshot.at},
            where=or_(GatewaySnapshot.shelves_at.is_(None), GatewaySnapshot.shelves_at <= snapshot.at))
        result = await session.execute(stmt)
    return bool(getattr(result, "rowcount", 1))


@dataclass(frozen=True, slots=True)
class GatewayView:
    """One gateway as the console shows it."""

    store: str
    gateway: str
    state: str | None  # online | offline | None (only deltas heard, never a status)
    status_at: datetime | None
    last_batch_at: datetime | None
    online_at: datetime | None
    version: str | None
    outbox_depth: int | None
    oldest_unsent_at: datetime | None
    devices: dict[str, str]
    bins: tuple[BinView, ...]
    shelves_at: datetime | None

    @property
    def last_seen(self) -> datetime | None:
        """The newest sign of life: an online status or a batch of deltas."""
        seen = [t for t in (self.online_at, self.last_batch_at) if t is not None]
        if self.state == "online" and self.status_at is not None:
            seen.append(self.status_at)
        return max(seen) if seen else None

    def devices_of(self, kind: str) -> tuple[int, int]:
        """(up, down) devices of a kind: reader, scale-bus or camera."""
        states = [s for d, s in self.devices.items() if d.partition(":")[0] == kind]
        return sum(1 for s in states if s == "online"), sum(1 for s in states if s != "online")


def _bins(raw: str | None) -> tuple[BinView, ...]:
    if not raw:
        return ()
    try:
        return tuple(BinView.from_json(b, f"bins[{i}].") for i, b in enumerate(json.loads(raw)))
    except (ContractError, ValueError, TypeError):  # written by this module from checked payloads
        return ()


async def gateway_views(session: AsyncSession, stores: Collection[str] | None = None) -> list[GatewayView]:
    """Every gateway the cloud has heard from (of `stores`, when given), by store and gateway."""
    q = (select(Gateway, GatewaySnapshot)
         .outerjoin(GatewaySnapshot, (GatewaySnapshot.store == Gateway.store)
                    & (GatewaySnapshot.gateway == Gateway.gateway))
         .order_by(Gateway.store, Gateway.gateway))
    if stores is not None:
        q = q.where(Gateway.store.in_(list(stores)))
    out = []
    for g, snap in (await session.execute(q)).all():
        devices: dict[str, Any] = json.loads(snap.devices) if snap is not None and snap.devices else {}
        out.append(GatewayView(
            g.store, g.gateway, g.state, g.status_at, g.last_batch_at,
            snap.online_at if snap else None, snap.version if snap else None,
            snap.outbox_depth if snap else None, snap.oldest_unsent_at if snap else None,
            {str(k): str(v) for k, v in devices.items()}, _bins(snap.shelves if snap else None),
            snap.shelves_at if snap else None))
    return out


__all__ = ["GatewayView", "gateway_views", "record_shelves", "record_status"]
