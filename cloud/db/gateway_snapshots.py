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

from sqlalchemy import literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.db.engines import upsert
from cloud.db.models import Gateway, GatewaySnapshot
from shared.contract import BinView, GatewayState, GatewayStatus, ShelfSnapshot, Source


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


def bin_state(b: BinView) -> str:
    """ok | low | empty | unavailable | uncounted — what a tile's colour and word say."""
    if not b.available:
        return "unavailable"
    if b.count is None:
        return "uncounted"
    if b.count == 0:
        return "empty"
    if b.refill_at is not None and b.count <= b.refill_at:
        return "low"
    return "ok"


async def record_shelves(maker: async_sessionmaker[AsyncSession], snapshot: ShelfSnapshot) -> bool:
    """Keep a gateway's shelves snapshot unless a newer one is kept already; True when written.
    Its empty and low bins are counted here, once, for the overview."""
    shelves = json.dumps([b.to_json() for b in snapshot.bins], separators=(",", ":"))
    states = [bin_state(b) for b in snapshot.bins]
    kept = {"shelves": shelves, "shelves_at": snapshot.at, "empty_bins": states.count("empty"),
            "low_bins": states.count("low")}
    async with maker() as session, session.begin():
        stmt = upsert(session)(GatewaySnapshot).values(store=snapshot.store, gateway=snapshot.gateway, **kept)
        stmt = stmt.on_conflict_do_update(
            index_elements=["store", "gateway"], set_=kept,
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
    bins: tuple[BinView, ...]  # () when read without them (gateway_views(bins=False))
    shelves_at: datetime | None
    empty_bins: int = 0
    low_bins: int = 0

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
    """A kept snapshot's bins, read back without the contract's checks: record_shelves writes only
    a snapshot the contract decoded and checked on arrival. (Checking again was most of the chain
    overview's time: every GTIN's check digit over 200 stores' 48 bins, on every refresh.)"""
    if not raw:
        return ()
    try:
        return tuple(BinView(b["bin"], b["sku"], b.get("count"), b["available"], Source(b["source"]),
                             float(b["grams"]) if b.get("grams") is not None else None, b.get("refill_at"))
                     for b in json.loads(raw))
    except (ValueError, KeyError, TypeError):  # not what this module writes: nothing to show
        return ()


async def gateway_views(session: AsyncSession, stores: Collection[str] | None = None, *,
                        bins: bool = True) -> list[GatewayView]:
    """Every gateway the cloud has heard from (of `stores`, when given), by store and gateway.
    Without `bins` the snapshots' bins are not read (a 200-store chain's are megabytes of JSON),
    only how many are empty and low. Columns, not ORM objects: the chain overview reads every
    gateway on each refresh, and building two mapped objects per gateway was half its CPU."""
    g, snap = Gateway, GatewaySnapshot
    columns: list[Any] = [
        g.store, g.gateway, g.state, g.status_at, g.last_batch_at, snap.online_at, snap.version,
        snap.outbox_depth, snap.oldest_unsent_at, snap.devices, snap.shelves_at, snap.empty_bins,
        snap.low_bins, snap.shelves if bins else literal(None)]
    q = (select(*columns)
         .outerjoin(snap, (snap.store == g.store) & (snap.gateway == g.gateway))
         .order_by(g.store, g.gateway))
    if stores is not None:
        q = q.where(g.store.in_(list(stores)))
    out = []
    for (store, gateway, state, status_at, last_batch_at, online_at, version, outbox_depth, oldest_unsent_at,
         devices_json, shelves_at, empty_bins, low_bins, shelves) in (await session.execute(q)).all():
        devices: dict[str, Any] = json.loads(devices_json) if devices_json else {}
        out.append(GatewayView(
            store, gateway, state, status_at, last_batch_at, online_at, version, outbox_depth,
            oldest_unsent_at, {str(k): str(v) for k, v in devices.items()}, _bins(shelves), shelves_at,
            empty_bins or 0, low_bins or 0))
    return out


__all__ = ["GatewayView", "bin_state", "gateway_views", "record_shelves", "record_status"]
