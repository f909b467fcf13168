"""A staff handheld: scans the units picked for an online order, and those carried from the
backroom onto a shelf, and tells the gateway.

When staff pick an order in the shop, they scan each product as they take it, as a real
handheld does: the pack's GS1 DataMatrix when it carries a lot (`]d2` symbology identifier, AI
(01) GTIN, (17) expiry, (10) lot — GS1 General Specifications §5.5.3: a variable-length AI last
needs no FNC1 after it), else its EAN-13 barcode; and key the quantity. Each scan goes to the
gateway's `POST /v1/picks` with the order, the time and the staff id, and an id of its own, so a
handheld that resends after a dropped connection is answered "duplicate". A refill is scanned the
same way, with the shelf label of the bin filled, to `POST /v1/refills`.

It speaks HTTP only (imports nothing from edge or cloud), like the tills (firmware_sim/pos.py),
whose client it shares for retries.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from firmware_sim.pos import ts
from firmware_sim.world import Pick, Restock, StoreWorld

PICKS_PATH = "/v1/picks"
REFILLS_PATH = "/v1/refills"


def scanned_code(gtin: str, lot: str | None, expiry: date | None) -> str:
    """What the handheld's scanner sends for one pack."""
    if lot is None:
        return gtin[1:] if gtin.startswith("0") else gtin  # the EAN-13 on the pack
    expiry_ai = f"17{expiry:%y%m%d}" if expiry is not None else ""
    return f"]d201{gtin}{expiry_ai}10{lot}"


class Handheld:
    """One staff member's handheld: numbers its scans."""

    def __init__(self, store: str, staff: str = "staff-01") -> None:
        self.store, self.staff = store, staff
        self.scans = 0

    def requests_for(self, pick: Pick, world: StoreWorld) -> list[tuple[str, dict[str, Any]]]:
        """(path, body) per pack scanned for an order pick: one per lot, with its quantity."""
        if pick.by != "staff" or pick.order is None:
            return []
        lots = Counter((world.units[uid].lot, world.units[uid].expiry) for uid in pick.uids)
        out = []
        for (lot, expiry), qty in sorted(lots.items(), key=str):
            self.scans += 1
            out.append((PICKS_PATH, {
                "scan": f"{self.store}-{self.staff}-{self.scans:06d}", "order": pick.order,
                "at": ts(pick.at), "sku": scanned_code(pick.gtin, lot, expiry), "qty": qty,
                "staff": self.staff}))
        return out

    def refills_for(self, restock: Restock, world: StoreWorld) -> list[tuple[str, dict[str, Any]]]:
        """(path, body) per pack scanned as staff fill a bin from the backroom: one per lot."""
        lots = Counter((world.units[uid].lot, world.units[uid].expiry) for uid in restock.uids)
        out = []
        for (lot, expiry), qty in sorted(lots.items(), key=str):
            self.scans += 1
            out.append((REFILLS_PATH, {
                "scan": f"{self.store}-{self.staff}-{self.scans:06d}", "at": ts(restock.at),
                "sku": scanned_code(restock.gtin, lot, expiry), "qty": qty, "staff": self.staff,
                "bin": restock.bin}))
        return out
