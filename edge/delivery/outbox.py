"""The durable outbox: every delta the gateway makes is on disk before anyone is told "done".

SQLite in WAL mode with synchronous=FULL, so a committed append survives kill -9 and power loss.
One writer thread owns the connection; appends queued while it commits are committed together in
the next transaction (group commit), so many POS requests share one fsync.

`seq` is the table's AUTOINCREMENT rowid: strictly increasing per gateway and never reused, even
after sent rows are purged (SQLite keeps the high-water mark in sqlite_sequence). A source key
(e.g. "pos:T1001") makes an append idempotent: the same key appends nothing a second time.
Rows are marked sent only after the broker's PUBACK; unsent rows are never purged.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.contract import StockDelta

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS deltas (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    id         TEXT NOT NULL UNIQUE,
    body       TEXT NOT NULL,          -- the delta's JSON object without "seq"
    created_at REAL NOT NULL,
    sent_at    REAL
);
CREATE INDEX IF NOT EXISTS deltas_unsent ON deltas(seq) WHERE sent_at IS NULL;
CREATE TABLE IF NOT EXISTS source_keys (
    key        TEXT PRIMARY KEY,       -- e.g. pos:T1001
    body_hash  TEXT NOT NULL,
    first_seq  INTEGER,
    count      INTEGER NOT NULL,
    created_at REAL NOT NULL
);
"""


KEY_RETENTION_S = 60 * 86400


class OutboxError(Exception):
    """The outbox could not store or read deltas (disk full, corrupt file, closed)."""


class SourceKeyConflict(OutboxError):
    """The same source key was already used for a different body."""


@dataclass(frozen=True, slots=True)
class Appended:
    seqs: tuple[int, ...]
    duplicate: bool


@dataclass(frozen=True, slots=True)
class Pending:
    seq: int
    body: str  # JSON object without seq

    def wire_json(self) -> str:
        """The delta's JSON object with its seq, spliced without re-encoding the rest."""
        return '{"seq":%d,%s' % (self.seq, self.body[1:])


def body_hash(payload: object) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


@dataclass
class _Job:
    kind: str
    args: tuple[Any, ...]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


class Outbox:
    """Async facade over one SQLite file, served by a single writer thread."""

    def __init__(self, path: Path | str, *, sent_retention_s: float = 7 * 86400) -> None:
        self.path = Path(path)
        self.sent_retention_s = sent_retention_s
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._open_error: BaseException | None = None
        self.appended = asyncio.Event()  # set after each append commit; the publisher waits on it
        self._depth = 0
        self.appended_total = 0  # deltas committed since start (not counting duplicates)
        self.oldest_unsent_age_s = 0.0  # refreshed by stats()
        # Reads run on their own connection and thread (WAL lets them proceed during a commit),
        # so the publisher never waits behind a POS request's fsync.
        self._reads: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._reader: threading.Thread | None = None

    # --- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="outbox-writer", daemon=True)
        self._thread.start()
        await asyncio.get_running_loop().run_in_executor(None, self._ready.wait)
        if self._open_error is not None:
            raise OutboxError(f"cannot open outbox {self.path}: {self._open_error}") from self._open_error
        self._depth = await self._call("depth")
        self._reader = threading.Thread(target=self._read_loop, name="outbox-reader", daemon=True)
        self._reader.start()

    async def close(self) -> None:
        if self._reader is not None:
            self._reads.put(None)
            await asyncio.get_running_loop().run_in_executor(None, self._reader.join)
            self._reader = None
        if self._thread is not None:
            self._jobs.put(None)
            await asyncio.get_running_loop().run_in_executor(None, self._thread.join)
            self._thread = None

    async def __aenter__(self) -> Outbox:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def depth(self) -> int:
        """Unsent deltas, as of the last commit."""
        return self._depth

    # --- operations -----------------------------------------------------------------------

    async def append(self, deltas: Sequence[StockDelta], *, source_key: str | None = None,
                     source_hash: str = "") -> Appended:
        """Durably store deltas (their `seq` is ignored: the outbox assigns it). Idempotent on key."""
        bodies = []
        for d in deltas:
            obj = d.to_json()
            del obj["seq"]
            bodies.append((d.id, json.dumps(obj, separators=(",", ":"), ensure_ascii=False)))
        result: Appended = await self._call("append", bodies, source_key, source_hash)
        return result

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    async def pending(self, limit: int = 500, after: int = 0) -> list[Pending]:
        """Unsent deltas with seq > after, oldest first."""
        if self._reader is None:
            raise OutboxError("outbox is not open")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[list[Pending]] = loop.create_future()
        self._reads.put(_Job("pending", (limit, after), fut, loop))
        return await fut

    async def mark_sent(self, seqs: Sequence[int]) -> None:
        await self._call("mark_sent", tuple(seqs))

    def mark_sent_soon(self, seqs: Sequence[int]) -> None:
        """Queue mark_sent without waiting; a failure is logged (it only causes a resend)."""
        fut = self._call("mark_sent", tuple(seqs))
        fut.add_done_callback(_log_failure)

    async def requeue(self, from_seq: int) -> int:
        """Mark every sent delta from `from_seq` on as unsent again; returns how many."""
        count: int = await self._call("requeue", from_seq)
        return count

    async def last_sent_seq(self) -> int:
        seq: int = await self._call("last_sent_seq")
        return seq

    async def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("stats")
        return result

    def _call(self, kind: str, *args: Any) -> asyncio.Future[Any]:
        if self._thread is None:
            raise OutboxError("outbox is not open")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        self._jobs.put(_Job(kind, args, fut, loop))
        return fut

    # --- the writer thread ----------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # fsync at every commit: a 200 means on disk
        db.execute("PRAGMA busy_timeout=5000")
        db.executescript(SCHEMA)
        return db

    def _run(self) -> None:
        try:
            db = self._connect()
        except (sqlite3.Error, OSError) as e:
            self._open_error = e
            self._ready.set()
            return
        self._ready.set()
        last_purge = 0.0
        try:
            while True:
                job = self._jobs.get()
                if job is None:
                    return
                batch = [job]
                # Group commit: take every append already waiting, commit them as one.
                if job.kind == "append":
                    while len(batch) < 256:
                        try:
                            nxt = self._jobs.get_nowait()
                        except queue.Empty:
                            break
                        if nxt is None:
                            self._jobs.put(None)
                            break
                        if nxt.kind != "append":
                            self._serve(db, [*batch])
                            batch = [nxt]
                            break
                        batch.append(nxt)
                self._serve(db, batch)
                now = time.time()
                if now - last_purge > 3600:
                    last_purge = now
                    self._purge(db, now)
        finally:
            db.close()

    def _serve(self, db: sqlite3.Connection, batch: list[_Job]) -> None:
        try:
            if batch[0].kind == "append":
                results = self._append_group(db, batch)
                for job, res in zip(batch, results, strict=True):
                    _resolve(job, res)
                self._notify_appended(batch[0].loop)
                return
            job = batch[0]
            handler: Callable[..., Any] = getattr(self, "_do_" + job.kind)
            _resolve(job, handler(db, *job.args))
        except (sqlite3.Error, OSError) as e:
            log.error("outbox %s failed: %s", batch[0].kind, e)
            for job in batch:
                _resolve(job, OutboxError(f"outbox {job.kind} failed: {e}"))

    def _append_group(self, db: sqlite3.Connection, batch: list[_Job]) -> list[Any]:
        now = time.time()
        results: list[Any] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for job in batch:
                bodies, key, key_hash = job.args
                results.append(self._append_one(db, bodies, key, key_hash, now))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        fresh = sum(len(r.seqs) for r in results if isinstance(r, Appended) and not r.duplicate)
        self._depth += fresh
        self.appended_total += fresh
        return results

    def _append_one(self, db: sqlite3.Connection, bodies: list[tuple[str, str]], key: str | None,
                    key_hash: str, now: float) -> Appended | OutboxError:
        if key is not None:
            row = db.execute("SELECT body_hash, first_seq, count FROM source_keys WHERE key=?",
                             (key,)).fetchone()
            if row is not None:
                if row[0] != key_hash:
                    return SourceKeyConflict(f"{key} was already recorded with a different body")
                first, n = row[1], row[2]
                seqs = tuple(range(first, first + n)) if first is not None else ()
                return Appended(seqs, duplicate=True)
        new_seqs: list[int] = []
        for delta_id, body in bodies:
            cur = db.execute("INSERT INTO deltas(id, body, created_at) VALUES (?, ?, ?)",
                             (delta_id, body, now))
            new_seqs.append(int(cur.lastrowid or 0))
        if key is not None:
            db.execute("INSERT INTO source_keys VALUES (?, ?, ?, ?, ?)",
                       (key, key_hash, new_seqs[0] if new_seqs else None, len(new_seqs), now))
        return Appended(tuple(new_seqs), duplicate=False)

    def _notify_appended(self, loop: asyncio.AbstractEventLoop) -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(self.appended.set)

    def _do_depth(self, db: sqlite3.Connection) -> int:
        return int(db.execute("SELECT count(*) FROM deltas WHERE sent_at IS NULL").fetchone()[0])

    def _read_loop(self) -> None:
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA busy_timeout=5000")
        except sqlite3.Error as e:
            log.error("outbox reader cannot open %s: %s", self.path, e)
            return
        try:
            while (job := self._reads.get()) is not None:
                try:
                    _resolve(job, self._do_pending(db, *job.args))
                except sqlite3.Error as e:
                    _resolve(job, OutboxError(f"outbox read failed: {e}"))
        finally:
            db.close()

    def _do_pending(self, db: sqlite3.Connection, limit: int, after: int = 0) -> list[Pending]:
        rows = db.execute(
            "SELECT seq, body FROM deltas WHERE sent_at IS NULL AND seq > ? ORDER BY seq LIMIT ?",
            (after, limit),
        ).fetchall()
        return [Pending(int(s), str(b)) for s, b in rows]

    def _do_mark_sent(self, db: sqlite3.Connection, seqs: tuple[int, ...]) -> None:
        # Losing this write to a power cut only causes a resend, which the cloud ignores.
        db.execute("PRAGMA synchronous=NORMAL")
        try:
            db.execute("BEGIN IMMEDIATE")
            cur = db.executemany("UPDATE deltas SET sent_at=? WHERE seq=? AND sent_at IS NULL",
                                 [(time.time(), s) for s in seqs])
            db.execute("COMMIT")
            self._depth = max(0, self._depth - cur.rowcount)
        finally:
            db.execute("PRAGMA synchronous=FULL")

    def _do_requeue(self, db: sqlite3.Connection, from_seq: int) -> int:
        oldest = db.execute("SELECT min(seq) FROM deltas").fetchone()[0]
        if oldest is not None and from_seq < oldest:
            log.warning("resend from seq %d asked, but deltas before %d were purged", from_seq, oldest)
        cur = db.execute("UPDATE deltas SET sent_at=NULL WHERE seq >= ? AND sent_at IS NOT NULL",
                         (from_seq,))
        self._depth += cur.rowcount
        return cur.rowcount

    def _do_last_sent_seq(self, db: sqlite3.Connection) -> int:
        row = db.execute("SELECT max(seq) FROM deltas WHERE sent_at IS NOT NULL").fetchone()
        return int(row[0] or 0)

    def _do_stats(self, db: sqlite3.Connection) -> dict[str, Any]:
        unsent, oldest = db.execute(
            "SELECT count(*), min(created_at) FROM deltas WHERE sent_at IS NULL").fetchone()
        total = db.execute("SELECT count(*) FROM deltas").fetchone()[0]
        last = db.execute("SELECT seq FROM sqlite_sequence WHERE name='deltas'").fetchone()
        self._depth = int(unsent)
        self.oldest_unsent_age_s = (time.time() - oldest) if oldest is not None else 0.0
        return {
            "unsent": int(unsent),
            "oldest_unsent_age_s": (time.time() - oldest) if oldest is not None else 0.0,
            "rows": int(total),
            "last_seq": int(last[0]) if last else 0,
        }

    def _purge(self, db: sqlite3.Connection, now: float) -> None:
        cutoff = now - self.sent_retention_s
        try:
            db.execute("DELETE FROM deltas WHERE sent_at IS NOT NULL AND sent_at < ?", (cutoff,))
            # Keys outlive sent rows: a POS may retry a transaction long after it was sent.
            db.execute("DELETE FROM source_keys WHERE created_at < ?", (now - KEY_RETENTION_S,))
        except sqlite3.Error as e:
            log.warning("outbox purge failed: %s", e)


def _resolve(job: _Job, result: Any) -> None:
    def settle() -> None:
        if job.future.done():
            return
        if isinstance(result, BaseException):
            job.future.set_exception(result)
        else:
            job.future.set_result(result)

    if not job.loop.is_closed():
        job.loop.call_soon_threadsafe(settle)


def _log_failure(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled() and fut.exception() is not None:
        log.warning("outbox: %s", fut.exception())
