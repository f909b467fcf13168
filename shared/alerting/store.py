"""The alert book in SQLite: alerts, the notifications not yet delivered, the alert states not
yet published on MQTT, and the console's shelf settings. Every change is one transaction, so a
crash between deciding and recording can neither lose nor double a message."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from shared.alerting.rules import (
    Alert,
    Book,
    Notification,
    Role,
)
from shared.contract import (
    ShelfSettings,
    Stream,
    decode_settings,
    encode,
)

log = logging.getLogger(__name__)



class AlertStore:
    """SQLite: the alert book and the queue of notifications not yet delivered."""

    def __init__(self, path: str | Path) -> None:
        self.db = sqlite3.connect(str(path), isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS alert (key TEXT PRIMARY KEY, doc TEXT NOT NULL)")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS queue (id INTEGER PRIMARY KEY AUTOINCREMENT, doc TEXT NOT"
            " NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at REAL NOT NULL DEFAULT 0)"
        )
        self.db.execute("CREATE TABLE IF NOT EXISTS sent (role TEXT, at TEXT)")
        # Alert states for the MQTT `alerts` topic, until the broker acknowledges them.
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS outgoing"
            " (id INTEGER PRIMARY KEY AUTOINCREMENT, payload BLOB NOT NULL)"
        )
        # The console's shelf settings last applied (one row: its JSON as the command carried it).
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS settings (id INTEGER PRIMARY KEY CHECK (id = 1), doc TEXT NOT NULL)"
        )

    def close(self) -> None:
        self.db.close()

    def load_settings(self) -> ShelfSettings | None:
        row = self.db.execute("SELECT doc FROM settings WHERE id = 1").fetchone()
        return decode_settings(row[0]) if row is not None else None

    def save_settings(self, settings: ShelfSettings) -> None:
        self.db.execute("INSERT OR REPLACE INTO settings(id, doc) VALUES (1, ?)",
                        (encode(settings).decode(),))

    def load(self) -> Book:
        alerts = {
            k: Alert.from_json(json.loads(doc)) for k, doc in self.db.execute("SELECT key, doc FROM alert")
        }
        sent = tuple(
            (Role(r), datetime.fromisoformat(at)) for r, at in self.db.execute("SELECT role, at FROM sent")
        )
        return Book(alerts, sent)

    def save(
        self, old: Book, new: Book, notes: Sequence[Notification], outgoing: Sequence[bytes] = ()
    ) -> None:
        """Write the changed alerts and enqueue `notes` (and the `outgoing` MQTT payloads)
        atomically: a crash between deciding and recording cannot lose or double a message."""
        with self.db:
            self.db.execute("BEGIN")
            for k, a in new.alerts.items():
                if old.alerts.get(k) != a:
                    doc = a.to_json() | {"resolved_notified": a.resolved_notified}
                    self.db.execute(
                        "INSERT OR REPLACE INTO alert(key, doc) VALUES (?, ?)", (k, json.dumps(doc))
                    )
            if new.sent != old.sent:
                self.db.execute("DELETE FROM sent")
                self.db.executemany(
                    "INSERT INTO sent VALUES (?, ?)", [(str(r), at.isoformat()) for r, at in new.sent]
                )
            for n in notes:
                doc = {
                    "key": n.key,
                    "role": str(n.role),
                    "event": n.event,
                    "title": n.title,
                    "body": n.body,
                    "urgent": n.urgent,
                }
                self.db.execute("INSERT INTO queue(doc) VALUES (?)", (json.dumps(doc),))
            self.db.executemany("INSERT INTO outgoing(payload) VALUES (?)", [(p,) for p in outgoing])

    def due(self, now: float) -> list[tuple[int, Notification, int, frozenset[str]]]:
        """Notifications to try now: (queue id, notification, tries so far, targets reached)."""
        rows = self.db.execute(
            "SELECT id, doc, attempts FROM queue WHERE next_at <= ? ORDER BY id", (now,)
        ).fetchall()
        out = []
        for i, doc, attempts in rows:
            d = json.loads(doc)
            n = Notification(d["key"], Role(d["role"]), d["event"], d["title"], d["body"], d["urgent"])
            out.append((i, n, attempts, frozenset(d.get("reached", ()))))
        return out

    def delivered(self, qid: int) -> None:
        self.db.execute("DELETE FROM queue WHERE id = ?", (qid,))

    def retry(self, qid: int, attempts: int, next_at: float, reached: Collection[str] = ()) -> None:
        """Try again at `next_at`, only the targets not in `reached` (target_id of each URL)."""
        with self.db:
            self.db.execute("BEGIN")
            (doc,) = self.db.execute("SELECT doc FROM queue WHERE id = ?", (qid,)).fetchone()
            doc = json.dumps(json.loads(doc) | {"reached": sorted(reached)})
            self.db.execute("UPDATE queue SET attempts = ?, next_at = ?, doc = ? WHERE id = ?",
                            (attempts, next_at, doc, qid))

    def pending(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM queue").fetchone()[0])

    def unpublished(self, limit: int) -> list[tuple[int, bytes]]:
        rows = self.db.execute("SELECT id, payload FROM outgoing ORDER BY id LIMIT ?", (limit,))
        return [(int(i), bytes(p)) for i, p in rows]

    def published(self, upto: int) -> None:
        self.db.execute("DELETE FROM outgoing WHERE id <= ?", (upto,))

    def unpublished_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM outgoing").fetchone()[0])


@dataclass
class AlertFeed:
    """The alert book's MQTT queue as the publisher's `Feed` (edge/delivery/publisher.py)."""

    store: AlertStore
    stream: Stream = Stream.ALERTS
    queued: asyncio.Event = field(default_factory=asyncio.Event)

    def unpublished(self, limit: int) -> list[tuple[int, bytes]]:
        return self.store.unpublished(limit)

    def published(self, upto: int) -> None:
        self.store.published(upto)


