"""The chain's replenishment settings in the database (`replenishment_settings`, one row per
setting, its value as JSON; the values and their rules: cloud/replenish/settings.py).

`save` applies a change in the caller's transaction and records each setting that changed in the
audit log (`replenishment_settings.put`, target `replenishment_setting:<name>`), as every other
settings change through the API is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db import audit
from cloud.db.models import ReplenishmentSetting, Store
from cloud.replenish.settings import ReplenishmentSettings, SettingError, parse, stored

ACTION = "replenishment_settings.put"


async def load(session: AsyncSession) -> ReplenishmentSettings:
    """The settings as stored (defaults for those never set)."""
    rows = (await session.execute(select(ReplenishmentSetting.name, ReplenishmentSetting.value))).all()
    return stored({name: json.loads(value) for name, value in rows})


async def save(session: AsyncSession, changes: Mapping[str, Any], by: str,
               now: datetime | None = None) -> ReplenishmentSettings:
    """Apply `changes` (raises settings.SettingError, nothing written); audited per setting."""
    now = now or datetime.now(UTC)
    before = await load(session)
    after = parse(changes, before)
    if "served_by" in changes and after.served_by:
        kinds = dict((await session.execute(select(Store.store, Store.kind).where(
            Store.store.in_({*after.served_by, *after.served_by.values()})))).all())
        for store, house in sorted(after.served_by.items()):
            if kinds.get(store) != "store":
                raise SettingError(f"served_by.{store}", f"the chain has no store {store!r}", 422)
            if kinds.get(house) != "warehouse":
                raise SettingError(f"served_by.{store}", f"{house!r} is not one of the chain's warehouses",
                                   422)
    old, new = before.to_json(), after.to_json()
    for name in changes:
        if old[name] == new[name]:
            continue
        row = await session.get(ReplenishmentSetting, name)
        value = json.dumps(new[name], separators=(",", ":"), sort_keys=True)
        if row is None:
            session.add(ReplenishmentSetting(name=name, value=value, changed_at=now))
        else:
            row.value, row.changed_at = value, now
        await audit.record(session, by, ACTION, f"replenishment_setting:{name}", {name: old[name]},
                           {name: new[name]}, at=now)
    return after


__all__ = ["ACTION", "load", "save"]
