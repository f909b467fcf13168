"""Store alerts as the gateways report them (contract AlertNotice on gw/{gw}/alerts), with their
history: one row per raising of a condition, keyed by store, gateway, key and raised_at.

A gateway publishes an alert's state after every change (open, acked, resolved). Notices of one
alert may reach different workers and so arrive out of order, and QoS 1 may repeat one: the
history is a set of (status, at) merged in time order, and the row's status is the newest state's,
so any order of delivery ends in the same row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.db.engines import upsert
from cloud.db.models import StoreAlert
from shared.contract import AlertNotice, format_ts, parse_ts

OPEN = ("open", "acked")  # not yet resolved


def alert_id(notice: AlertNotice) -> str:
    raw = f"{notice.store}/{notice.gateway}/{notice.key}/{format_ts(notice.raised_at)}"
    return hashlib.sha256(raw.encode()).hexdigest()[:40]


def merged(history: list[tuple[str, datetime]], status: str, at: datetime) -> list[tuple[str, datetime]]:
    """The history with (status, at) added once, oldest first (the raising always first)."""
    rank = {"open": 0, "acked": 1, "resolved": 2}
    return sorted(set(history) | {(status, at)}, key=lambda s: (s[1], rank.get(s[0], 3)))


def _history_json(history: list[tuple[str, datetime]]) -> str:
    return json.dumps([[s, format_ts(t)] for s, t in history], separators=(",", ":"))


def _history(raw: str) -> list[tuple[str, datetime]]:
    return [(str(s), parse_ts(t, "history")) for s, t in json.loads(raw)]


async def record(maker: async_sessionmaker[AsyncSession], notice: AlertNotice) -> None:
    """Add one notice to its alert (idempotent; any order)."""
    aid = alert_id(notice)
    first = {"id": aid, "store": notice.store, "gateway": notice.gateway, "key": notice.key[:128],
             "kind": notice.kind[:32], "aisle": notice.aisle[:128], "title_en": notice.title_en,
             "title_zh": notice.title_zh, "urgent": notice.urgent, "status": notice.status,
             "raised_at": notice.raised_at, "at": notice.at,
             "history": _history_json(merged([], notice.status, notice.at))}
    async with maker() as session, session.begin():
        await session.execute(upsert(session)(StoreAlert).values(**first).on_conflict_do_nothing())
        # Row lock on PostgreSQL (SQLite has one writer): two workers merge one after the other.
        row = (await session.scalars(select(StoreAlert).where(StoreAlert.id == aid).with_for_update())).one()
        history = merged(_history(row.history), notice.status, notice.at)
        newest_status, newest_at = history[-1]
        row.history = _history_json(history)
        row.status, row.at = newest_status, newest_at
        if notice.at >= row.at:  # the newest notice's wording (a refill alert's count changes)
            row.title_en, row.title_zh, row.urgent = notice.title_en, notice.title_zh, notice.urgent


@dataclass(frozen=True, slots=True)
class AlertView:
    id: str
    store: str
    gateway: str
    key: str
    kind: str
    aisle: str
    title_en: str
    title_zh: str
    urgent: bool
    status: str
    raised_at: datetime
    at: datetime
    history: tuple[tuple[str, datetime], ...]

    def title(self, lang: str) -> str:
        return self.title_zh if lang == "zh" else self.title_en


async def store_alerts(session: AsyncSession, store: str, limit: int = 50) -> list[AlertView]:
    """A store's alerts: open ones first (newest first), then the latest resolved."""
    rows = (await session.scalars(
        select(StoreAlert).where(StoreAlert.store == store)
        .order_by((StoreAlert.status == "resolved").asc(), StoreAlert.raised_at.desc(), StoreAlert.id)
        .limit(limit))).all()
    return [AlertView(r.id, r.store, r.gateway, r.key, r.kind, r.aisle, r.title_en, r.title_zh, r.urgent,
                      r.status, r.raised_at, r.at, tuple(_history(r.history))) for r in rows]


async def open_counts(session: AsyncSession, stores: Collection[str] | None = None) -> dict[str, int]:
    """Unresolved alerts per store."""
    q = (select(StoreAlert.store, func.count()).where(StoreAlert.status.in_(OPEN))
         .group_by(StoreAlert.store))
    if stores is not None:
        q = q.where(StoreAlert.store.in_(list(stores)))
    return {store: int(n) for store, n in (await session.execute(q)).all()}


__all__ = ["AlertView", "alert_id", "merged", "open_counts", "record", "store_alerts"]
