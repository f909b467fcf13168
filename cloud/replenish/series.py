"""What a replenishment series is: one SKU at one location (no heavy imports, so the policy and its
callers need neither pandas nor statsforecast to name one)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Series:
    """One SKU at one location. `listed_on`: first day it was on sale there (None: before history)."""

    sku: str
    location: str
    category: str
    listed_on: date | None = None
