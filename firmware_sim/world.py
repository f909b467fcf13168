"""The seeded store world: the ground truth every simulator observes and every test measures against.

A world is a pure function of (store, seed, start, config): a catalog of pet products with valid
GTINs, a planogram of shelf bins, a backroom, every physical unit with its lot and expiry, and a
stream of shoppers and staff acting in simulated time. Two processes that build the same world and
advance it to the same instant hold the same state, which is how separate simulator processes (POS,
LLRP reader, weighing modules, camera) agree on one shop without talking to each other.

Events are drawn one at a time from a single seeded generator in time order, so the state after
`advance(t)` does not depend on how the advance was sliced.

This module imports nothing from edge or cloud: simulators only speak wire protocols.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Final

FLOOR: Final = "floor"
BACKROOM: Final = "backroom"
SOLD: Final = "sold"
STOLEN: Final = "stolen"

# A GS1 company prefix of 7 digits (the 692 range is GS1 China's); item references are 5 digits.
COMPANY_PREFIX: Final = "6923450"
DEFAULT_START: Final = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def gtin_check_digit(body: str) -> int:
    """GS1 General Specifications §7.9.1 (mod-10, weights 3,1 from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def make_gtin14(company_prefix: str, item_ref: int, indicator: int = 0) -> str:
    body = f"{indicator}{company_prefix}{item_ref:05d}"
    return body + str(gtin_check_digit(body))


@dataclass(frozen=True, slots=True)
class Product:
    gtin: str
    name: str
    brand: str
    category: str  # dry_food | wet_food | treats | litter | toy | accessory
    package: str  # bag | can | box | pouch | toy
    unit_grams: float
    colour: tuple[int, int, int]
    shelf_life_days: int | None
    price_cents: int
    size_mm: tuple[int, int, int]  # width, height, depth of one unit


@dataclass(frozen=True, slots=True)
class Bin:
    id: str  # "A1-2": aisle A, shelf 1, position 2
    aisle: str
    shelf: int
    position: int
    gtin: str
    capacity: int
    facings: int
    refill_at: int


@dataclass(slots=True)
class Unit:
    """One physical unit of stock. Mutable: the world moves it between zones and bins."""

    uid: int
    gtin: str
    serial: int
    lot: str | None
    expiry: date | None
    zone: str  # floor | backroom | sold | stolen
    bin: str | None
    tagged: bool


@dataclass(frozen=True, slots=True)
class SaleLine:
    gtin: str
    qty: int
    lot: str | None
    expiry: date | None


@dataclass(frozen=True, slots=True)
class Pick:
    at: datetime
    bin: str
    gtin: str
    uids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PutBack:
    at: datetime
    bin: str  # where it was put, which may not be its home bin
    gtin: str
    uids: tuple[int, ...]
    misplaced: bool


@dataclass(frozen=True, slots=True)
class Sale:
    at: datetime
    txn: str
    lines: tuple[SaleLine, ...]
    uids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Return:
    at: datetime
    txn: str
    lines: tuple[SaleLine, ...]
    uids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Restock:
    at: datetime
    bin: str
    gtin: str
    uids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Delivery:
    at: datetime
    gtin: str
    lot: str
    expiry: date | None
    uids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Theft:
    at: datetime
    bin: str
    gtin: str
    uids: tuple[int, ...]


Event = Pick | PutBack | Sale | Return | Restock | Delivery | Theft


@dataclass(frozen=True, slots=True)
class WorldConfig:
    bins: int = 12
    shoppers_per_hour: float = 40.0
    tagged_share: float = 1.0  # share of units carrying an RFID tag
    theft: float = 0.0  # share of picks walked out unpaid
    misplace: float = 0.0  # share of put-backs on a wrong bin
    put_back: float = 0.08  # share of picks put back instead of bought
    returns_per_hour: float = 0.5
    deliveries_per_day: float = 2.0
    backroom_units: tuple[int, int] = (10, 30)  # per product, at start


# name, brand, category, package, grams, colour, shelf life (days), price (cents), size (mm)
_CATALOG: Final[tuple[tuple[str, str, str, str, float, tuple[int, int, int], int | None, int,
                            tuple[int, int, int]], ...]] = (
    ("Indoor Adult Cat 2 kg", "Royal Canin", "dry_food", "bag", 2000, (200, 40, 50), 540, 21900, (200, 300, 90)),
    ("Mini Adult Dog 2 kg", "Royal Canin", "dry_food", "bag", 2000, (190, 30, 40), 540, 19900, (200, 300, 90)),
    ("Pro Plan Sterilised Salmon 1.5 kg", "Purina", "dry_food", "bag", 1500, (30, 60, 140), 450, 16800, (180, 280, 80)),
    ("Original Cat 1.8 kg", "Orijen", "dry_food", "bag", 1800, (240, 240, 230), 450, 32900, (190, 290, 85)),
    ("Science Diet Adult 1.6 kg", "Hill's", "dry_food", "bag", 1600, (20, 90, 160), 480, 18500, (185, 285, 80)),
    ("Tuna in Jelly 85 g", "Whiskas", "wet_food", "pouch", 85, (120, 40, 140), 720, 550, (90, 130, 10)),
    ("Chicken Chunks 400 g", "Pedigree", "wet_food", "can", 400, (230, 200, 30), 1095, 1290, (75, 110, 75)),
    ("Lamb Recipe Can 185 g", "Ziwi Peak", "wet_food", "can", 185, (40, 110, 60), 1095, 2800, (65, 80, 65)),
    ("Freeze-dried Chicken Treats 50 g", "Orijen", "treats", "pouch", 50, (210, 120, 30), 365, 4500, (120, 170, 30)),
    ("Dental Sticks 7-pack 180 g", "Pedigree", "treats", "box", 180, (240, 210, 40), 365, 1990, (160, 90, 40)),
    ("Clumping Tofu Litter 6 L", "Catit", "litter", "bag", 2500, (150, 200, 160), None, 3900, (250, 330, 100)),
    ("Bentonite Litter 10 kg", "Ever Clean", "litter", "bag", 10000, (60, 60, 160), None, 8900, (350, 500, 120)),
    ("Classic Chew Toy M", "Kong", "toy", "toy", 140, (220, 30, 30), None, 8900, (70, 90, 70)),
    ("Feather Wand", "Catit", "toy", "toy", 35, (140, 60, 180), None, 2500, (40, 200, 20)),
    ("Stainless Bowl 0.5 L", "Petkit", "accessory", "box", 320, (180, 180, 190), None, 4900, (160, 70, 160)),
    ("Salmon Oil 250 ml", "Grizzly", "accessory", "box", 290, (250, 140, 60), 540, 9800, (70, 180, 70)),
)


def catalog() -> tuple[Product, ...]:
    """The pet-product catalog, with valid GTIN-14s under one company prefix."""
    return tuple(
        Product(make_gtin14(COMPANY_PREFIX, 10 + i), name, brand, cat, pkg, grams, colour, life, price, size)
        for i, (name, brand, cat, pkg, grams, colour, life, price, size) in enumerate(_CATALOG)
    )


@dataclass
class StoreWorld:
    """One store: planogram, stock units and a seeded stream of shoppers and staff."""

    store: str = "sh-0001"
    seed: int = 0
    start: datetime = DEFAULT_START
    config: WorldConfig = field(default_factory=WorldConfig)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        # Mix the store id into the seed so stores of one demo differ but stay reproducible.
        self._rng = random.Random(f"{self.seed}:{self.store}")
        self.now = self.start
        products = catalog()
        self.products: dict[str, Product] = {p.gtin: p for p in products}
        self.bins: dict[str, Bin] = {}
        self.units: dict[int, Unit] = {}
        self._next_uid = 1
        self._next_serial: dict[str, int] = {}
        self._txn = 0
        self._lot_no = 0
        self._sold: list[int] = []  # uids sold, candidates for returns
        self._plan_bins(products)
        self._stock_opening()
        self._next_event_at = self.start + self._gap()

    # --- construction -------------------------------------------------------------------

    def _plan_bins(self, products: tuple[Product, ...]) -> None:
        per_shelf = 4
        for i in range(self.config.bins):
            product = products[i % len(products)]
            aisle = chr(ord("A") + i // (per_shelf * 3))
            shelf = (i // per_shelf) % 3 + 1
            position = i % per_shelf + 1
            capacity = max(4, min(24, int(6000 / max(product.unit_grams, 50)) + 4))
            bin_id = f"{aisle}{shelf}-{position}"
            self.bins[bin_id] = Bin(bin_id, aisle, shelf, position, product.gtin, capacity,
                                    facings=1 + (product.size_mm[0] < 100), refill_at=max(1, capacity // 4))

    def _new_lot(self, product: Product) -> tuple[str, date | None]:
        self._lot_no += 1
        lot = f"L{self.now:%y%m%d}{self._lot_no:03d}"
        if product.shelf_life_days is None:
            return lot, None
        remaining = self._rng.randint(product.shelf_life_days // 4, product.shelf_life_days)
        return lot, (self.now + timedelta(days=remaining)).date()

    def _make_units(self, gtin: str, n: int, lot: str | None, expiry: date | None, zone: str,
                    bin_id: str | None) -> list[Unit]:
        made = []
        for _ in range(n):
            serial = self._next_serial.get(gtin, 1000)
            self._next_serial[gtin] = serial + 1
            unit = Unit(self._next_uid, gtin, serial, lot, expiry, zone, bin_id,
                        tagged=self._rng.random() < self.config.tagged_share)
            self.units[unit.uid] = unit
            self._next_uid += 1
            made.append(unit)
        return made

    def _stock_opening(self) -> None:
        lo, hi = self.config.backroom_units
        stocked: set[str] = set()
        for b in self.bins.values():
            product = self.products[b.gtin]
            lot, expiry = self._new_lot(product)
            self._make_units(b.gtin, self._rng.randint(b.capacity // 2, b.capacity), lot, expiry, FLOOR, b.id)
            if b.gtin not in stocked:
                stocked.add(b.gtin)
                lot, expiry = self._new_lot(product)
                self._make_units(b.gtin, self._rng.randint(lo, hi), lot, expiry, BACKROOM, None)

    # --- truth --------------------------------------------------------------------------

    def bin_units(self, bin_id: str) -> list[Unit]:
        return [u for u in self.units.values() if u.zone == FLOOR and u.bin == bin_id]

    def zone_units(self, zone: str) -> list[Unit]:
        return [u for u in self.units.values() if u.zone == zone]

    def on_hand(self, gtin: str, zone: str | None = None) -> int:
        zones = (FLOOR, BACKROOM) if zone is None else (zone,)
        return sum(1 for u in self.units.values() if u.gtin == gtin and u.zone in zones)

    def stock_by_lot(self) -> dict[tuple[str, str, str | None], int]:
        """(gtin, zone, lot) -> units, for floor and backroom."""
        out: dict[tuple[str, str, str | None], int] = {}
        for u in self.units.values():
            if u.zone in (FLOOR, BACKROOM):
                key = (u.gtin, u.zone, u.lot)
                out[key] = out.get(key, 0) + 1
        return out

    def lot_expiry(self) -> dict[str, date | None]:
        return {u.lot: u.expiry for u in self.units.values() if u.lot is not None}

    def truth(self) -> dict[str, object]:
        """Ground truth as JSON-ready data: per GTIN, units on the floor and in the backroom."""
        items = {}
        for gtin in sorted(self.products):
            floor, back = self.on_hand(gtin, FLOOR), self.on_hand(gtin, BACKROOM)
            if floor or back:
                items[gtin] = {"floor": floor, "backroom": back, "on_hand": floor + back}
        return {"store": self.store, "at": self.now.isoformat(), "items": items}

    def sgtin(self, unit: Unit) -> tuple[str, str, int]:
        """(company prefix, item reference with indicator digit, serial) for an SGTIN-96 EPC."""
        return unit.gtin[1:8], unit.gtin[0] + unit.gtin[8:13], unit.serial

    # --- time ---------------------------------------------------------------------------

    def _gap(self) -> timedelta:
        c = self.config
        rate_per_hour = c.shoppers_per_hour + c.returns_per_hour + c.deliveries_per_day / 24 + 4.0
        return timedelta(seconds=self._rng.expovariate(rate_per_hour / 3600.0))

    def advance(self, to: datetime) -> list[Event]:
        """Run the shop until `to`; return what happened, in time order."""
        events: list[Event] = []
        while self._next_event_at <= to:
            self.now = self._next_event_at
            events.extend(self._act())
            self._next_event_at = self.now + self._gap()
        self.now = max(self.now, to)
        return events

    def _act(self) -> list[Event]:
        c = self.config
        total = c.shoppers_per_hour + c.returns_per_hour + c.deliveries_per_day / 24 + 4.0
        roll = self._rng.random() * total
        if roll < c.shoppers_per_hour:
            return self._shopper()
        roll -= c.shoppers_per_hour
        if roll < c.returns_per_hour:
            return self._return()
        roll -= c.returns_per_hour
        if roll < c.deliveries_per_day / 24:
            return self._delivery()
        return self._restock_round()

    def _take(self, units: Iterable[Unit], n: int) -> list[Unit]:
        # Shoppers take from the front: oldest expiry first is what staff face up (FEFO).
        ordered = sorted(units, key=lambda u: (u.expiry or date.max, u.uid))
        return ordered[:n]

    def _shopper(self) -> list[Event]:
        rng, c = self._rng, self.config
        basket: list[tuple[Bin, list[Unit]]] = []
        events: list[Event] = []
        for b in rng.sample(list(self.bins.values()), k=min(len(self.bins), rng.choice((1, 1, 1, 2, 2, 3)))):
            on_shelf = self.bin_units(b.id)
            if not on_shelf:
                continue
            taken = self._take(on_shelf, min(len(on_shelf), rng.choice((1, 1, 1, 2, 2, 3, 4))))
            for u in taken:
                u.zone, u.bin = "basket", None
            events.append(Pick(self.now, b.id, b.gtin, tuple(u.uid for u in taken)))
            basket.append((b, taken))
        paid: list[Unit] = []
        for b, taken in basket:
            roll = rng.random()
            if roll < c.put_back:
                if rng.random() < c.misplace and len(self.bins) > 1:
                    where = rng.choice([x for x in self.bins if x != b.id])
                else:
                    where = b.id
                for u in taken:
                    u.zone, u.bin = FLOOR, where
                events.append(PutBack(self.now, where, b.gtin, tuple(u.uid for u in taken), where != b.id))
            elif roll < c.put_back + c.theft:
                for u in taken:
                    u.zone = STOLEN
                events.append(Theft(self.now, b.id, b.gtin, tuple(u.uid for u in taken)))
            else:
                paid.extend(taken)
        if paid:
            for u in paid:
                u.zone = SOLD
                self._sold.append(u.uid)
            self._txn += 1
            events.append(Sale(self.now, f"T{self._txn:06d}", self._lines(paid), tuple(u.uid for u in paid)))
        return events

    def _lines(self, units: list[Unit]) -> tuple[SaleLine, ...]:
        counts: dict[tuple[str, str | None, date | None], int] = {}
        for u in units:
            key = (u.gtin, u.lot, u.expiry)
            counts[key] = counts.get(key, 0) + 1
        return tuple(SaleLine(g, n, lot, exp) for (g, lot, exp), n in sorted(counts.items(), key=str))

    def _return(self) -> list[Event]:
        if not self._sold:
            return []
        uid = self._sold.pop(self._rng.randrange(len(self._sold)))
        unit = self.units[uid]
        unit.zone, unit.bin = BACKROOM, None  # returns are checked in the backroom first
        self._txn += 1
        return [Return(self.now, f"R{self._txn:06d}", self._lines([unit]), (uid,))]

    def _delivery(self) -> list[Event]:
        gtin = self._rng.choice(sorted({b.gtin for b in self.bins.values()}))
        product = self.products[gtin]
        lot, expiry = self._new_lot(product)
        units = self._make_units(gtin, self._rng.randint(6, 24), lot, expiry, BACKROOM, None)
        return [Delivery(self.now, gtin, lot, expiry, tuple(u.uid for u in units))]

    def _restock_round(self) -> list[Event]:
        """Staff walk the aisles and fill every bin at or below its refill level."""
        events: list[Event] = []
        for b in self.bins.values():
            on_shelf = self.bin_units(b.id)
            if len(on_shelf) > b.refill_at:
                continue
            back = [u for u in self.zone_units(BACKROOM) if u.gtin == b.gtin]
            moved = self._take(back, b.capacity - len(on_shelf))
            if not moved:
                continue
            for u in moved:
                u.zone, u.bin = FLOOR, b.id
            events.append(Restock(self.now, b.id, b.gtin, tuple(u.uid for u in moved)))
        return events
