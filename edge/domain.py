"""Observation values the reconciler consumes (ARCHITECTURE §7). Pure values, no I/O.

Device adapters turn their own events (edge/shelf_events.WeightEvent and UnexplainedWeight, POS
lines) into these; the reconciler never sees a device type, so it can be tested on tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class BinInfo:
    """Planogram: which SKU a bin holds and what one unit weighs."""

    bin: str
    sku: str
    unit_g: float


@dataclass(frozen=True, slots=True)
class PosLine:
    """One POS line: kind "sale" or "return"; qty is a positive count (POS is the authority)."""

    at: datetime
    txn: str
    line: int
    kind: str
    sku: str
    qty: int


@dataclass(frozen=True, slots=True)
class BinChange:
    """A weight change explained by whole units (shelf_events.WeightEvent): delta < 0 is a pick."""

    at: datetime
    bin: str
    delta: int
    count: int


@dataclass(frozen=True, slots=True)
class OddWeight:
    """A weight change not explained by the bin's own unit (shelf_events.UnexplainedWeight)."""

    at: datetime
    bin: str
    delta_g: float


Observation = PosLine | BinChange | OddWeight
