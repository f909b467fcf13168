"""A channel without an API (a small platform, a community-group seller) gets its figures as a
spreadsheet: downloaded from Setup, or written on a schedule to the export directory.

The figures are the platform pushes' own: availability.listing_figures, the same per-listing
quantity `GET /v1/channels/{channel}/availability` answers and the platform sync pushes. One row per
listing: the channel's SKU and item ids, our GTIN, the product's name and the quantity to show.

Formats: CSV (UTF-8 with a byte-order mark, so Excel shows Chinese names) and .xlsx through
XlsxWriter. Why XlsxWriter rather than openpyxl: it only writes, which is all this needs, has no
dependencies, is released steadily (openpyxl's last release is from 2024), and writes a sheet in
memory row by row; GTINs go in as text cells, so their leading zeros stay.

Schedule: a channel's `every_s` (set in Setup) asks for a file every so often in the directory
`shelfsync cloud --export-dir` names (chosen by whoever runs the service: a browser never picks a
path on the server). Files are `{channel}.csv` and `{channel}.xlsx`, replaced whole (written beside
and renamed), so a reader never sees half a file. A run is claimed by a conditional UPDATE of the
channel's `last_run_at`, the same on SQLite and PostgreSQL, so of several workers sharing the
directory only one writes each time. Each run's time, row count and error are kept; Setup shows them.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import xlsxwriter
from aiohttp import web
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.channels.availability import listing_figures
from cloud.db import audit
from cloud.db.engines import upsert
from cloud.db.models import Channel, ChannelExport, Product
from cloud.keys import MAKER

log = logging.getLogger(__name__)

COLUMNS = ("channel", "channel_sku", "item_id", "sku", "name", "qty", "as_of")
FORMATS = ("csv", "xlsx")
MIN_EVERY_S = 60
MAX_EVERY_S = 7 * 86400


@dataclass(frozen=True, slots=True)
class ExportRow:
    channel: str
    channel_sku: str
    item_id: str
    sku: str
    name: str
    qty: int


async def rows(maker: async_sessionmaker[AsyncSession], channel: str) -> list[ExportRow]:
    """The channel's figures now, one row per listing, by its SKU id."""
    figures = await listing_figures(maker, channel=channel)
    async with maker() as session:
        names = dict((await session.execute(select(Product.sku, Product.name).where(
            Product.sku.in_(sorted({f.sku for f in figures}))))).all()) if figures else {}
    return [ExportRow(f.channel, f.sku_id, f.item_id, f.sku, names.get(f.sku, ""), f.qty)
            for f in sorted(figures, key=lambda f: f.sku_id)]


def _cells(row: ExportRow, at: datetime) -> dict[str, Any]:
    return {"channel": row.channel, "channel_sku": row.channel_sku, "item_id": row.item_id, "sku": row.sku,
            "name": row.name, "qty": row.qty, "as_of": at.strftime("%Y-%m-%dT%H:%M:%SZ")}


def to_csv(found: Sequence[ExportRow], at: datetime) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for r in found:
        cells = _cells(r, at)
        writer.writerow([cells[c] for c in COLUMNS])
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(found: Sequence[ExportRow], at: datetime) -> bytes:
    """One sheet, a header row, text cells for ids and GTINs, a number cell for the quantity."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_numbers": False})
    sheet = book.add_worksheet("stock")
    bold = book.add_format({"bold": True})
    for c, name in enumerate(COLUMNS):
        sheet.write_string(0, c, name, bold)
    for r, row in enumerate(found, start=1):
        cells = _cells(row, at)
        for c, name in enumerate(COLUMNS):
            value = cells[name]
            if name == "qty":
                sheet.write_number(r, c, value)
            else:
                sheet.write_string(r, c, str(value))
    sheet.set_column(0, 3, 16)
    sheet.set_column(4, 4, 36)
    sheet.set_column(6, 6, 22)
    sheet.freeze_panes(1, 0)
    book.close()
    return out.getvalue()


def render(found: Sequence[ExportRow], at: datetime, kind: str) -> bytes:
    if kind not in FORMATS:
        raise ValueError(f"kind must be one of {FORMATS}")
    return to_csv(found, at) if kind == "csv" else to_xlsx(found, at)


# --- the schedule -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class ExportState:
    channel: str
    every_s: int | None
    last_run_at: datetime | None
    last_ok: bool | None
    last_rows: int | None
    last_error: str | None


async def states(session: AsyncSession) -> dict[str, ExportState]:
    found = (await session.scalars(select(ChannelExport))).all()
    return {e.channel: ExportState(e.channel, e.every_s, e.last_run_at, e.last_ok, e.last_rows, e.last_error)
            for e in found}


async def set_every(session: AsyncSession, channel: str, every_s: int | None, by: str) -> bool:
    """A channel's schedule (None: download only), in the caller's transaction, audited."""
    old = await session.get(ChannelExport, channel, with_for_update=True)
    before = {"every_s": old.every_s} if old is not None and old.every_s is not None else None
    stmt = upsert(session)(ChannelExport).values(channel=channel, every_s=every_s)
    await session.execute(stmt.on_conflict_do_update(index_elements=["channel"], set_={"every_s": every_s}))
    after = {"every_s": every_s} if every_s is not None else None
    return await audit.record(session, by, "export.put", f"channel:{channel}", before, after)


async def _claim_due(maker: async_sessionmaker[AsyncSession], now: datetime) -> list[str]:
    """The channels whose file is due, each claimed by this worker (last_run_at set to now)."""
    async with maker() as session:
        due = [(e.channel, e.every_s, e.last_run_at) for e in (await session.scalars(
            select(ChannelExport).join(Channel, Channel.name == ChannelExport.channel)
            .where(ChannelExport.every_s.is_not(None)))).all()]
    claimed = []
    for channel, every_s, last in due:
        assert every_s is not None
        if last is not None and now - last < timedelta(seconds=every_s):
            continue
        async with maker() as session, session.begin():
            result = await session.execute(
                update(ChannelExport).where(ChannelExport.channel == channel,
                                            or_(ChannelExport.last_run_at.is_(None),
                                                ChannelExport.last_run_at == last))
                .values(last_run_at=now))
        if getattr(result, "rowcount", 0) == 1:
            claimed.append(channel)
    return claimed


def _write_files(directory: Path, channel: str, files: dict[str, bytes]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for kind, data in files.items():
        final = directory / f"{channel}.{kind}"
        part = directory / f".{channel}.{kind}.part"
        part.write_bytes(data)
        os.replace(part, final)


async def run_due(maker: async_sessionmaker[AsyncSession], directory: Path, now: datetime) -> list[str]:
    """Write every due channel's files; the channels written."""
    written = []
    for channel in await _claim_due(maker, now):
        ok, count, error = False, None, None
        try:
            found = await rows(maker, channel)
            count = len(found)
            files = {kind: render(found, now, kind) for kind in FORMATS}
            await asyncio.to_thread(_write_files, directory, channel, files)
            ok = True
            written.append(channel)
        except OSError as e:  # the directory is not writable, the disk full: shown in Setup
            error = f"{type(e).__name__}: {e}"
            log.warning("export of %s to %s failed: %s", channel, directory, error)
        async with maker() as session, session.begin():
            await session.execute(update(ChannelExport).where(ChannelExport.channel == channel)
                                  .values(last_ok=ok, last_rows=count, last_error=error))
    return written




def scheduler(directory: Path | None, tick_s: float = 15.0) -> Any:
    """The cleanup_ctx that writes due exports every `tick_s` (nothing without a directory)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        if directory is None:
            yield
            return

        async def loop() -> None:
            while True:
                try:
                    await run_due(app[MAKER], directory, datetime.now(UTC))
                except Exception:  # the database is away: the next tick tries again
                    log.exception("exports: a scheduled run failed")
                await asyncio.sleep(tick_s)

        task = asyncio.create_task(loop(), name="channel-exports")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return ctx


__all__ = ["COLUMNS", "FORMATS", "MAX_EVERY_S", "MIN_EVERY_S", "ExportRow", "ExportState", "render", "rows",
           "run_due", "scheduler", "set_every", "states", "to_csv", "to_xlsx"]
