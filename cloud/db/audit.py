"""The audit log: every change of the chain's settings — who made it, when, what, before → after.

    await audit.record(session, audit.actor(who.name, who.role), "channel.put", "channel:taobao",
                       before, after)

`record` adds its entry in the caller's session and so in the caller's transaction: the entry is
committed exactly when the change it describes is, and rolled back with it. Whoever changes a
setting (the API's PUTs in cloud/api/admin.py, the console's Setup and other pages) records it
there. `before` is None for something new, `after` None for something removed; a "change" that
leaves every value as it was is not recorded. Values are stored as JSON (keys sorted), so the
audit page can show which fields changed.

The table is append-only: migration 0006 makes the database refuse UPDATE and DELETE on it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cloud.db.models import AuditEntry

MAX_LIMIT = 500


def actor(name: str, role: str) -> str:
    """How an entry names who made a change: the token's name and its role, "admin (hq)"."""
    return f"{name} ({role})"


def _json(values: Mapping[str, Any] | None) -> str | None:
    if values is None:
        return None
    return json.dumps(dict(values), sort_keys=True, ensure_ascii=False, default=str, separators=(",", ":"))


async def record(session: AsyncSession, who: str, action: str, target: str,
                 before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, *,
                 at: datetime | None = None) -> bool:
    """Add one entry in the caller's transaction (when = now, UTC); False when nothing changed."""
    old, new = _json(before), _json(after)
    if old == new:
        return False
    session.add(AuditEntry(at=at or datetime.now(UTC), who=who[:128], action=action[:64], target=target[:256],
                           before=old, after=new))  # flushed with the change (autoflush, commit)
    return True


@dataclass(frozen=True, slots=True)
class Change:
    field: str
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class AuditView:
    id: int
    at: datetime
    who: str
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None

    @property
    def changes(self) -> list[Change]:
        """The fields whose value differs, in name order (every field of a new or removed thing)."""
        old, new = self.before or {}, self.after or {}
        return [Change(k, old.get(k), new.get(k)) for k in sorted(old.keys() | new.keys())
                if old.get(k) != new.get(k) or self.before is None or self.after is None]


def _loads(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    value = json.loads(raw)
    return value if isinstance(value, dict) else {"value": value}


async def entries(session: AsyncSession, *, who: str = "", action: str = "", target: str = "",
                  since: datetime | None = None, until: datetime | None = None, before_id: int | None = None,
                  limit: int = 100) -> list[AuditView]:
    """The newest entries first, filtered: `who` and `target` by the text they contain
    (case-insensitive), `action` exactly, `since` ≤ at < `until`; `before_id` pages further back."""
    q = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(max(1, min(limit, MAX_LIMIT)))
    if who:
        q = q.where(func.lower(AuditEntry.who).contains(who.lower(), autoescape=True))
    if target:
        q = q.where(func.lower(AuditEntry.target).contains(target.lower(), autoescape=True))
    if action:
        q = q.where(AuditEntry.action == action)
    if since is not None:
        q = q.where(AuditEntry.at >= since)
    if until is not None:
        q = q.where(AuditEntry.at < until)
    if before_id is not None:
        q = q.where(AuditEntry.id < before_id)
    return [AuditView(e.id, e.at, e.who, e.action, e.target, _loads(e.before), _loads(e.after))
            for e in (await session.scalars(q)).all()]


async def actions(session: AsyncSession) -> list[str]:
    """Every action the log holds, for the audit page's filter."""
    found = await session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action))
    return list(found.all())


__all__ = ["AuditView", "Change", "actions", "actor", "entries", "record"]
