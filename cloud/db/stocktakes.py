"""Stocktakes in the database, and which stores and gateways the chain knows.

A stocktake is `requested` when the API has published the command to the gateway (contract §5,
`cmd/{gw}/stocktake`), and becomes `done` or `failed` when the gateway's StocktakeResult arrives
on its `stocktakes` stream (ingest). Its counts reach the ledger separately, as `count` deltas;
this record is what people read: when it was asked, by whom, and what the readers found.

A result is accepted only for a stocktake of the same store and gateway: a store's gateway may
publish only under its own topics (broker ACL), and cannot close another store's count by naming
its id. A result for an id the cloud never asked for (e.g. asked before a restore) is kept as a
record of its own.

A store is known when hq registered it (`PUT /v1/stores/{store}`) or one of its gateways has
reported (status or deltas); a gateway is known once it has reported.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, union
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.db.engines import upsert
from cloud.db.models import Gateway, Stocktake, Store
from cloud.db.orders import iso_utc
from shared.contract import StocktakeRequest, StocktakeResult

log = logging.getLogger(__name__)
STATES = ("requested", "done", "failed")


async def known_stores(maker: async_sessionmaker[AsyncSession], stores: Iterable[str]) -> set[str]:
    """Those of `stores` that are registered or have a gateway that reported."""
    wanted = sorted(set(stores))
    async with maker() as session:
        rows = await session.scalars(union(select(Store.store).where(Store.store.in_(wanted)),
                                           select(Gateway.store).where(Gateway.store.in_(wanted))))
        return set(rows.all())


async def gateways_of(maker: async_sessionmaker[AsyncSession], store: str) -> list[str]:
    async with maker() as session:
        return list((await session.scalars(select(Gateway.gateway).where(Gateway.store == store)
                                           .order_by(Gateway.gateway))).all())


async def requested(maker: async_sessionmaker[AsyncSession], store: str, gateway: str,
                    command: StocktakeRequest, by: str, now: datetime) -> dict[str, Any]:
    row = {"id": command.id, "store": store, "gateway": gateway, "state": "requested",
           "seconds": command.seconds, "zone": command.zone.value if command.zone else None,
           "requested_at": now, "requested_by": by, "reported_at": None, "error": None, "report": None}
    async with maker() as session, session.begin():
        await session.execute(insert(Stocktake).values(**row))
    return _json(row)


async def record_result(maker: async_sessionmaker[AsyncSession], store: str, gateway: str,
                        result: StocktakeResult, now: datetime) -> bool:
    """Store a gateway's result (idempotent: a redelivery writes the same). False when the id
    belongs to another store's or gateway's stocktake, which is left as it was."""
    report = None if result.error is not None else json.dumps(
        {k: v for k, v in result.to_json().items() if k not in ("v", "id")}, separators=(",", ":"))
    outcome = {"state": "failed" if result.error is not None else "done", "reported_at": now,
               "error": result.error, "report": report}
    async with maker() as session, session.begin():
        stmt = upsert(session)(Stocktake).values(
            id=result.id, store=store, gateway=gateway, seconds=result.seconds, zone=None,
            requested_at=now, requested_by=None, **outcome)
        await session.execute(stmt.on_conflict_do_update(
            index_elements=["id"], set_=outcome,
            where=(Stocktake.store == store) & (Stocktake.gateway == gateway)))
        owner = (await session.execute(select(Stocktake.store, Stocktake.gateway)
                                       .where(Stocktake.id == result.id))).one()
    if (owner.store, owner.gateway) != (store, gateway):
        log.warning("stocktake result %s from %s/%s ignored: it is %s/%s's", result.id, store, gateway,
                    owner.store, owner.gateway)
        return False
    return True


async def get(maker: async_sessionmaker[AsyncSession], store: str, sid: str) -> dict[str, Any] | None:
    async with maker() as session:
        row = (await session.scalars(select(Stocktake).where(Stocktake.id == sid, Stocktake.store == store))
               ).one_or_none()
    return _json(_columns(row)) if row is not None else None


async def find(maker: async_sessionmaker[AsyncSession], store: str, limit: int = 100) -> list[dict[str, Any]]:
    """A store's stocktakes, newest first."""
    async with maker() as session:
        rows = (await session.scalars(select(Stocktake).where(Stocktake.store == store)
                                      .order_by(Stocktake.requested_at.desc(), Stocktake.id.desc())
                                      .limit(limit))).all()
    return [_json(_columns(r)) for r in rows]


def _columns(row: Stocktake) -> dict[str, Any]:
    return {c.key: getattr(row, c.key) for c in Stocktake.__table__.columns}


def _json(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "store": row["store"], "gateway": row["gateway"], "state": row["state"],
            "seconds": row["seconds"], "zone": row["zone"], "requested_at": iso_utc(row["requested_at"]),
            "requested_by": row["requested_by"], "reported_at": iso_utc(row["reported_at"]),
            "error": row["error"], "report": json.loads(row["report"]) if row["report"] else None}


__all__ = ["STATES", "find", "gateways_of", "get", "known_stores", "record_result", "requested"]
