"""The book's floor figure per SKU, as the reconciler has booked it. Pure.

The floor figure is kept as the ledger keeps the floor: the last count (ZoneCount, or its own
`count` delta) plus the floor deltas it emitted dated after that count's cut-off, whenever
they were emitted (every floor movement comes from here). Deltas dated at a count's very
instant are taken as after it (the ledger orders those by id).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from shared.contract import StockDelta, Zone


def floor_change(d: StockDelta) -> int:
    """Units a movement (not a count) puts onto the floor (> 0) or takes off it."""
    return (d.qty if d.zone is Zone.FLOOR else 0) - (d.qty if d.from_zone is Zone.FLOOR else 0)


@dataclass(slots=True)
class FloorBook:
    _figure: dict[str, int] = field(default_factory=dict)  # the book's floor figure per SKU
    _cut_off: dict[str, datetime] = field(default_factory=dict)  # the SKU's last count's occurred_at
    # Floor deltas emitted, dated at or after the last count, for `hold`: a count that arrives
    # after them but is dated before them does not absorb them.
    _since_count: dict[str, list[tuple[datetime, int]]] = field(default_factory=dict)

    def figure(self, sku: str) -> int | None:
        """The floor figure of a SKU (None: no count yet)."""
        return self._figure.get(sku)

    def cut_off(self, sku: str) -> datetime | None:
        """The cut-off of the SKU's last count (None: no count yet)."""
        return self._cut_off.get(sku)

    def at(self, sku: str, at: datetime) -> int:
        """The figure at `at` (not before the last count's cut-off): less what was booked dated
        at or after it."""
        return self._figure[sku] - sum(k for t, k in self._since_count.get(sku, []) if t >= at)

    def count(self, sku: str, at: datetime, qty: int) -> None:
        """An absolute floor count at `at`: the floor figure is it, plus what was emitted dated
        after it. (A count older than the last one changes nothing: the newer one replaces it.)"""
        if sku in self._cut_off and at < self._cut_off[sku]:
            return
        after = [(t, k) for t, k in self._since_count.get(sku, []) if t >= at]
        self._cut_off[sku], self._since_count[sku] = at, after
        self._figure[sku] = qty + sum(k for _, k in after)

    def move(self, sku: str, at: datetime, change: int) -> None:
        """A floor movement of `change` units dated `at`."""
        if sku not in self._figure or at < self._cut_off[sku]:
            return  # no count yet, or the last count absorbs it (cloud/db/ledger.py)
        self._figure[sku] += change
        self._since_count[sku].append((at, change))

    def lapse(self, now: datetime, hold: timedelta) -> None:
        """Forget the movements dated more than `hold` before `now`."""
        for sku, moved in self._since_count.items():
            self._since_count[sku] = [(t, k) for t, k in moved if now - t <= hold]
