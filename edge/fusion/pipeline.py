"""The gateway's seam to the reconciler: POS sales and shelf events in, reconciled deltas out.

In `shelfsync gateway` only with a `[reconcile]` section (`attach_reconciler`, below):

- The POS webhook keeps booking sales itself: a sale is committed to the outbox before the till
  hears "200" (edge/http.py). `on_sales` gets those committed deltas and hands them to the
  reconciler as POS lines with `emit_sales=False`, so they confirm picks and retract shrink but are
  never booked a second time.
- `on_observation` takes what the shelf driver emits (`shelf_events.WeightEvent` and
  `UnexplainedWeight`) and turns it into the reconciler's observations.
- `run()` ticks the reconciler on the wall clock and appends what it decides (shrink, restock
  moves, retractions) to the outbox. Delta ids are uuid5 of the evidence, so the same
  observations replayed after a restart give the same ids and the ledger books nothing twice.

Committed counts (`on_counts`: the back office's counts posted to /v1/stock/movements, and RFID
stocktakes) give the reconciler the book's floor figure, so it can re-anchor on the scales.

With an antenna over the door (zone "exit" in [[rfid.reader]]), `on_exit` gets every tag read
there and the reconciler runs with `portal` on: a unit leaving that no sale paid for is shrink
within a minute.

What it does not have yet: online order picks scanned on staff handhelds (`OrderLine`); without
them a pick made for a pickup order hours before the customer pays is shrink after the window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from edge.fusion.domain import (
    BinChange,
    BinInfo,
    BinLevel,
    ExitRead,
    Observation,
    OddWeight,
    PosLine,
    UnexplainedWeight,
    WeightEvent,
    ZoneCount,
)
from edge.fusion.reconciler import Misplacement, Reconciler
from edge.rfid.driver import TagRead
from shared.contract import Kind, StockDelta, Zone
from shared.toml_tables import check_keys

log = logging.getLogger("shelfsync.pipeline")

Append = Callable[[Sequence[StockDelta]], Awaitable[object]]


def pos_line(delta: StockDelta) -> PosLine | None:
    """A committed POS delta as the reconciler's POS line; None for what is not a till line.
    Refs are "<txn>/<line>" (edge/pos.py), or "order:<id>:<txn>/<line>" for a pickup."""
    if delta.kind not in (Kind.SALE, Kind.RETURN) or delta.ref is None:
        return None
    txn, _, line = delta.ref.rpartition("/")
    if not txn or not line.isdigit():
        log.warning("POS delta %s: ref %r is not <txn>/<line>; not reconciled", delta.id, delta.ref)
        return None
    return PosLine(delta.occurred_at, txn, int(line), delta.kind.value, delta.sku, abs(delta.qty))


class Pipeline:
    """One store's reconciler between the POS, the shelves and the outbox."""

    def __init__(self, bins: dict[str, BinInfo], append: Append, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 reconciler: Reconciler | None = None) -> None:
        self.reconciler = reconciler or Reconciler(bins)
        self.reconciler.emit_sales = False  # the webhook has booked them already
        self.append, self.clock = append, clock
        self.findings: list[Misplacement] = []
        self._queue: list[StockDelta] = []
        self._wake = asyncio.Event()
        self.tick_s = 10.0

    def on_sales(self, deltas: Sequence[StockDelta]) -> None:
        """Committed POS deltas (the webhook's `on_sales` hook)."""
        for d in deltas:
            line = pos_line(d)
            if line is not None:
                self._feed(line)

    def on_counts(self, deltas: Sequence[StockDelta]) -> None:
        """Committed absolute counts (an RFID stocktake, the back office's opening count): the
        floor's total per SKU becomes the reconciler's floor figure, which re-anchoring on the
        scales needs. Counts by lot add up to the SKU's floor (a count names every lot it saw)."""
        floor: dict[str, tuple[datetime, int]] = {}
        for d in deltas:
            if d.kind is Kind.COUNT and d.zone is Zone.FLOOR:
                at, n = floor.get(d.sku, (d.occurred_at, 0))
                floor[d.sku] = (max(at, d.occurred_at), n + d.qty)
        for sku, (at, n) in floor.items():
            self._feed(ZoneCount(at, sku, Zone.FLOOR.value, n))

    def on_observation(self, observation: object) -> None:
        """What the shelf driver reports; anything else (availability, camera counts) is ignored."""
        if getattr(observation, "bin", None) not in self.reconciler.bins:
            return
        if isinstance(observation, WeightEvent):
            self._feed(BinChange(observation.at, observation.bin, observation.delta_count,
                                 observation.count, observation.delta_g))
        elif isinstance(observation, BinLevel):
            self._feed(observation)
        elif isinstance(observation, UnexplainedWeight):
            self._feed(OddWeight(observation.at, observation.bin, observation.delta_g))

    def on_exit(self, read: TagRead) -> None:
        """A tag read by an antenna over the door."""
        self._feed(ExitRead(read.at, read.gtin, read.epc))

    def _feed(self, obs: Observation) -> None:
        try:
            self._take(self.reconciler.observe(obs))
        except (KeyError, ValueError) as e:  # a bad observation is logged, never fatal
            log.warning("reconciler: %s rejected: %s", obs, e)

    def _take(self, out: list[StockDelta | Misplacement]) -> None:
        for o in out:
            if isinstance(o, Misplacement):
                self.findings.append(o)
                log.info("misplaced: %d x %s on bin %s (home %s)", o.qty, o.sku, o.bin, o.home_bin)
            else:
                self._queue.append(o)
        if self._queue:
            self._wake.set()

    def tick(self) -> None:
        self._take(self.reconciler.tick(self.clock()))

    async def flush(self) -> int:
        """Append what is queued to the outbox; returns how many deltas went."""
        batch, self._queue = self._queue, []
        self._wake.clear()
        if not batch:
            return 0
        try:
            await self.append(batch)
        except Exception:
            self._queue = batch + self._queue  # the outbox keeps nothing half: try again later
            raise
        return len(batch)

    async def run(self, tick_s: float | None = None) -> None:
        """Tick every `tick_s` and flush whenever something was decided."""
        tick_s = self.tick_s if tick_s is None else tick_s
        while True:
            self.tick()
            try:
                await self.flush()
            except Exception as e:  # the outbox is away: keep the deltas, retry next tick
                log.warning("reconciler: outbox append failed, retrying: %s", e)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), tick_s)


class ReconcileConfigError(ValueError):
    """The [reconcile] section of the store config is malformed."""


SalesHook = Callable[[tuple[StockDelta, ...]], None]


def parse_reconcile_section(section: object) -> tuple[float, float, float]:
    """(window_s, tick_s, exit_grace_s) from the [reconcile] section; ReconcileConfigError names
    what is wrong."""
    keys = {"window_s", "tick_s", "exit_grace_s"}
    if not isinstance(section, dict):
        raise ReconcileConfigError(f"[reconcile] must be a table, got {section!r}")
    check_keys(section, keys, "[reconcile]", error=ReconcileConfigError)
    values = section.get("window_s", 1500), section.get("tick_s", 10), section.get("exit_grace_s", 60)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in values):
        raise ReconcileConfigError(
            f"[reconcile] {', '.join(sorted(keys))} must be numbers > 0, got {section!r}")
    return float(values[0]), float(values[1]), float(values[2])
