"""The shelf settings head office sets per store in the console — a bin's or a product's name and
refill threshold, overriding what the gateway's TOML says — their version, and what each gateway
of the store applied.

Every change bumps the store's version in the same transaction (the version row is locked first,
so two changes at once get two versions) and is audited there. The whole set, with its version,
is what the `settings` command carries (contract.ShelfSettings); cloud/shelf_settings.py sends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import audit
from cloud.db.engines import upsert
from cloud.db.models import Gateway, GatewaySettingsState, ShelfSetting, StoreSettingsVersion
from shared.contract import ShelfRule, ShelfSettings

KINDS = ("bin", "sku")


@dataclass(frozen=True, slots=True)
class SettingRow:
    kind: str  # bin | sku
    key: str  # the bin id or the GTIN-14
    product: str | None
    refill_at: int | None


@dataclass(frozen=True, slots=True)
class GatewaySync:
    """Whether one gateway of the store runs the settings the cloud holds."""

    gateway: str
    state: str | None  # online | offline | None
    applied: int | None  # None: its status never said (a gateway without staff alerts, or older)
    reported_at: datetime | None
    sent: int | None
    sent_at: datetime | None

    def behind(self, version: int) -> bool:
        return version > 0 and (self.applied or 0) < version


async def version_of(session: AsyncSession, store: str) -> int:
    found = await session.get(StoreSettingsVersion, store)
    return found.version if found is not None else 0


async def rows_of(session: AsyncSession, store: str) -> list[SettingRow]:
    found = await session.scalars(select(ShelfSetting).where(ShelfSetting.store == store)
                                  .order_by(ShelfSetting.kind, ShelfSetting.key))
    return [SettingRow(r.kind, r.key, r.product, r.refill_at) for r in found.all()]


async def command(session: AsyncSession, store: str) -> ShelfSettings | None:
    """The `settings` command for the store's gateways; None while nothing was ever set."""
    version = await version_of(session, store)
    if not version:
        return None
    rows = await rows_of(session, store)
    return ShelfSettings(version,
                         bins={r.key: ShelfRule(r.product, r.refill_at) for r in rows if r.kind == "bin"},
                         products={r.key: ShelfRule(r.product, r.refill_at) for r in rows if r.kind == "sku"})


async def put(session: AsyncSession, store: str, kind: str, key: str, product: str | None,
              refill_at: int | None, by: str, now: datetime) -> int | None:
    """Set (or, with neither value, remove) one bin's or product's setting in the caller's
    transaction, audited; the store's new version, or None when nothing changed."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    await _lock_version(session, store, now)
    old = await session.get(ShelfSetting, (store, kind, key))
    before = {"product": old.product, "refill_at": old.refill_at} if old is not None else None
    after = {"product": product, "refill_at": refill_at} if product is not None or refill_at is not None \
        else None
    if before == after:
        return None
    if after is None:
        await session.execute(delete(ShelfSetting).where(
            ShelfSetting.store == store, ShelfSetting.kind == kind, ShelfSetting.key == key))
    else:
        stmt = upsert(session)(ShelfSetting).values(store=store, kind=kind, key=key, **after)
        await session.execute(stmt.on_conflict_do_update(index_elements=["store", "kind", "key"], set_=after))
    await audit.record(session, by, "shelf.put", f"{kind}:{store}/{key}", before, after, at=now)
    version: int = (await session.execute(
        update(StoreSettingsVersion).where(StoreSettingsVersion.store == store)
        .values(version=StoreSettingsVersion.version + 1, changed_at=now)
        .returning(StoreSettingsVersion.version))).scalar_one()
    return version


async def _lock_version(session: AsyncSession, store: str, now: datetime) -> None:
    """The store's version row, made if missing and locked (PostgreSQL; SQLite has one writer)."""
    await session.execute(upsert(session)(StoreSettingsVersion)
                          .values(store=store, version=0, changed_at=now).on_conflict_do_nothing())
    await session.execute(select(StoreSettingsVersion).where(StoreSettingsVersion.store == store)
                          .with_for_update())


async def gateways(session: AsyncSession, store: str) -> list[GatewaySync]:
    """Every gateway of the store the cloud has heard from, with the settings it applied."""
    q = (select(Gateway, GatewaySettingsState)
         .outerjoin(GatewaySettingsState, (GatewaySettingsState.store == Gateway.store)
                    & (GatewaySettingsState.gateway == Gateway.gateway))
         .where(Gateway.store == store).order_by(Gateway.gateway))
    return [GatewaySync(g.gateway, g.state, s.applied if s else None, s.reported_at if s else None,
                        s.sent if s else None, s.sent_at if s else None)
            for g, s in (await session.execute(q)).all()]


async def reported(session: AsyncSession, store: str, gateway: str, applied: int,
                   now: datetime) -> GatewaySync:
    """Keep the version a gateway's status says it applied; its row as it is now."""
    stmt = upsert(session)(GatewaySettingsState).values(store=store, gateway=gateway, applied=applied,
                                                         reported_at=now)
    await session.execute(stmt.on_conflict_do_update(index_elements=["store", "gateway"],
                                                     set_={"applied": applied, "reported_at": now}))
    row = await session.get(GatewaySettingsState, (store, gateway), populate_existing=True)
    assert row is not None
    return GatewaySync(gateway, None, row.applied, row.reported_at, row.sent, row.sent_at)


async def sent(session: AsyncSession, store: str, gateway: str, version: int, now: datetime) -> None:
    stmt = upsert(session)(GatewaySettingsState).values(store=store, gateway=gateway, sent=version,
                                                         sent_at=now)
    await session.execute(stmt.on_conflict_do_update(index_elements=["store", "gateway"],
                                                     set_={"sent": version, "sent_at": now}))


__all__ = ["KINDS", "GatewaySync", "SettingRow", "command", "gateways", "put", "reported", "rows_of", "sent",
           "version_of"]
