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

import heapq
import itertools
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

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
    # What watches the bin: "scale" (a load cell under it), "camera" (a camera lane over it) or
    # None (nothing but the till and counts). The default world's bins are all on scales.
    sensor: str | None = "scale"


SCALE: Final = "scale"
CAMERA: Final = "camera"
READER: Final = "reader"
FAULT_CLASSES: Final = (SCALE, READER, CAMERA)
# Lanes one shelf camera watches (firmware_sim/camera.py's default frame): a camera that fails
# blinds all of them at once.
LANES_PER_CAMERA: Final = 12
THEFT_MODELS: Final = ("uniform", "craved")
TAG_POLICIES: Final = ("random", "risk")
_MOST_STOLEN: Final = 0.2  # no product is taken unpaid in more than one hand of five


def stealable(product: Product) -> float:
    """How stealable a product looks: its value density, price (yuan) per litre of its pack —
    valuable and concealable, the two CRAVED attributes a shelf shows. A 98-yuan box of salmon oil
    (0.9 l) rates 111, a 219-yuan 2 kg bag of dry food 41, a 10 kg bag of litter 4."""
    w, h, d = product.size_mm
    return product.price_cents / 100 / (max(w * h * d, 1) / 1e6)


@dataclass(frozen=True, slots=True)
class Fault:
    """A device out of service from `start` until `end`: a scale off (its bin unweighed), the
    door's RFID reader down (nothing read at the door), a camera blocked — every lane it watches."""

    device_class: str  # scale | reader | camera
    device: str  # the bin id of a scale, a camera's id ("cam-1"), "door" for the reader
    start: datetime
    end: datetime
    bins: tuple[str, ...] = ()  # the bins it leaves unwatched (a camera's lanes; a scale's bin)


@dataclass(slots=True)
class Unit:
    """One physical unit of stock. Mutable: the world moves it between zones and bins."""

    uid: int
    gtin: str
    serial: int
    lot: str | None
    expiry: date | None
    zone: str  # floor | backroom | basket | pickup | goback | sold | stolen
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
    """Units leave a bin in a hand: a shopper's, or staff picking an online order or tidying."""

    at: datetime
    bin: str
    gtin: str
    uids: tuple[int, ...]
    by: str = "shopper"  # shopper | staff
    order: str | None = None  # the online order staff picked for


@dataclass(frozen=True, slots=True)
class PutBack:
    """Units laid on a bin: a shopper changing their mind (maybe on the wrong bin), or staff
    returning go-backs and misplaced units to their home bin."""

    at: datetime
    bin: str  # where it was put, which may not be its home bin
    gtin: str
    uids: tuple[int, ...]
    misplaced: bool
    by: str = "shopper"


@dataclass(frozen=True, slots=True)
class Sale:
    at: datetime
    txn: str
    lines: tuple[SaleLine, ...]
    uids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Void:
    """Lines scanned and then voided at the till: the shopper left the units there (go-backs)."""

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
class CarriedIn:
    """Units carried in through the shop's door: a customer bringing a return to the till (still
    the customer's until the till takes it back), or staff carrying a transfer in."""

    at: datetime
    uids: tuple[int, ...]
    by: str  # customer | staff


@dataclass(frozen=True, slots=True)
class Transfer:
    """Units from another of the chain's stores, carried in by staff and booked into the backroom
    by the back office (a `transfer_in`, with the lot they came with)."""

    at: datetime
    ref: str
    gtin: str
    lot: str
    expiry: date | None
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
    """A shopper walked out with units they picked (at `picked_at`) without paying."""

    at: datetime
    bin: str
    gtin: str
    uids: tuple[int, ...]
    picked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OnlineOrder:
    """An order placed online for pickup: staff pick it in store, the customer collects and pays
    at the till (a Sale whose txn is the order id)."""

    at: datetime
    order: str
    lines: tuple[SaleLine, ...]


Event = Pick | PutBack | Sale | Void | Return | Restock | Delivery | Theft | OnlineOrder | CarriedIn | Transfer


@dataclass(frozen=True, slots=True)
class WorldConfig:
    """How the shop trades. The defaults are the simple shop the device simulators grew up with
    (a shopper picks and pays in the same instant, staff rounds at random); `trading()` is the
    realistic day the reconciler is measured on."""

    bins: int = 12
    shoppers_per_hour: float = 40.0
    tagged_share: float = 1.0  # share of units carrying an RFID tag
    theft: float = 0.0  # share of picks walked out unpaid
    misplace: float = 0.0  # share of put-backs on a wrong bin
    put_back: float = 0.08  # share of picks put back instead of bought
    returns_per_hour: float = 0.5
    deliveries_per_day: float = 2.0  # random deliveries (when `replenish` is off)
    backroom_units: tuple[int, int] = (10, 30)  # per product, at start (when `replenish` is off)
    # --- the realistic day (all off by default) ---
    trip_minutes: float = 0.0  # median time in the shop; 0: pick and pay in one instant
    trip_max_minutes: float = 20.0  # a small shop: nobody browses longer than this
    queue_minutes: float = 0.0  # mean wait at the till (at most 4 x this)
    abandon: float = 0.0  # share of picks abandoned: half voided at the till, half left on a shelf
    online_orders_per_hour: float = 0.0
    open_hours: tuple[int, int] | None = None  # (9, 21): shoppers and staff rounds only then
    staff_round_minutes: float = 0.0  # 0: rounds at random, 4 an hour; else every N minutes
    tidy: bool = False  # staff return go-backs and misplaced units on every other round
    replenish: bool = False  # a delivery before opening tops each SKU up to `cover_days`
    cover_days: float = 2.0
    popularity: bool = False  # cheap, light products sell more often and in bigger handfuls
    # A customer brings a return in through the door and is at the till this many minutes later
    # (on average; 0: the same instant).
    return_walk_minutes: float = 0.0
    transfers_per_day: float = 0.0  # staff carry units in from another store (opening hours)
    # --- a real-sized shop (all off by default: the 16-product catalogue above) ---
    # skus > 0: the catalogue is the 16 products plus generated ones (from the seed) up to `skus`,
    # one shelf bin each (`bins` is then ignored); `scale_bins` of them on scales, `camera_lanes`
    # under cameras, the rest watched by nothing; `tagged_share` is then the share of SKUs whose
    # every unit carries an RFID tag (rather than a share of units).
    skus: int = 0
    scale_bins: int = 0
    camera_lanes: int = 0
    # One device of this class fails each trading day for `fault_hours` (see StoreWorld.faults).
    fault: str | None = None
    fault_hours: float = 4.0
    # What thieves take (a real-sized shop): "uniform", any pick alike with probability `theft`;
    # "craved", in proportion to how stealable the product is — valuable and concealable (its price
    # per litre, `stealable`) times a factor of its own nobody in the shop knows (lognormal,
    # sigma 0.8), the mean over picks kept at `theft` (one hand at most 20 %). Theft rates of
    # products follow their CRAVED attributes (Clarke 1999, "Hot products"; measured over 7,468
    # products in 204 supermarkets by Smith 2014, Security Journal: small, expensive goods most).
    thefts: str = "uniform"
    # Which SKUs carry source tags (a real-sized shop): "random", or "risk": the `tagged_share` of
    # them a merchandiser rates most stealable from what can be seen (price and size), as shops
    # tag their hot products.
    tag_by: str = "random"

    @classmethod
    def trading(cls, **overrides: Any) -> WorldConfig:
        """A realistic trading day in a small pet shop (the figures in README 'Accuracy')."""
        base: dict[str, Any] = dict(
            bins=24, shoppers_per_hour=30.0, theft=0.01, misplace=0.0, put_back=0.08,
            returns_per_hour=0.3, trip_minutes=8.0, trip_max_minutes=20.0, queue_minutes=1.0,
            abandon=0.01, online_orders_per_hour=1.0, open_hours=(9, 21), staff_round_minutes=30.0,
            tidy=True, replenish=True, cover_days=2.0, popularity=True, return_walk_minutes=2.0,
            transfers_per_day=1.0)
        base.update(overrides)
        return cls(**base)

    @classmethod
    def large(cls, skus: int = 800, shoppers_per_day: float = 400.0, **overrides: Any) -> WorldConfig:
        """A real-sized pet shop on the trading day: `skus` products, about one in eight on a scale
        (at least 100), one in twenty under a camera lane (at least 40), RFID source tags on 30 %
        of the SKUs (those rated most stealable), thieves taking what is most stealable,
        `shoppers_per_day` over the 12 opening hours."""
        base: dict[str, Any] = dict(
            skus=skus, scale_bins=min(skus, max(100, skus // 8)),
            camera_lanes=min(max(0, skus - max(100, skus // 8)), max(40, skus // 20)),
            tagged_share=0.3, thefts="craved", tag_by="risk", shoppers_per_hour=shoppers_per_day / 12.0,
            online_orders_per_hour=max(1.0, shoppers_per_day / 150.0),
            returns_per_hour=max(0.3, shoppers_per_day / 1000.0))
        base.update(overrides)
        return cls.trading(**base)


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


# The generated range of a real-sized shop: category -> (package, product lines, pack sizes in grams
# with the unit's width/height/depth in mm, shelf life in days, price in cents per kg).
_RANGE: Final[dict[str, tuple[tuple[str, tuple[str, ...], tuple[tuple[float, tuple[int, int, int]], ...],
                                    int | None, tuple[int, int]], ...]]] = {
    "dry_food": (("bag", ("Adult Chicken", "Puppy Lamb & Rice", "Senior Turkey", "Kitten Salmon",
                          "Grain-free Duck", "Light Whitefish", "Large Breed Beef", "Sensitive Lamb"),
                  ((400, (120, 190, 50)), (1500, (180, 280, 80)), (2000, (200, 300, 90)),
                   (3000, (230, 360, 100)), (7000, (300, 450, 120)), (12000, (380, 580, 140))),
                  540, (500, 2400)),),
    "wet_food": (("can", ("Chicken Pate", "Beef Chunks", "Tuna & Prawn", "Lamb Stew", "Rabbit Terrine"),
                  ((85, (60, 40, 60)), (185, (65, 80, 65)), (400, (75, 110, 75)), (800, (100, 120, 100))),
                  1095, (600, 3000)),
                 ("pouch", ("Salmon in Gravy", "Chicken in Jelly", "Turkey Strips", "Ocean Fish"),
                  ((85, (90, 130, 10)), (100, (95, 140, 12)), (12 * 85, (260, 140, 110))),
                  720, (700, 2500))),
    "treats": (("pouch", ("Freeze-dried Liver", "Chicken Jerky", "Salmon Bites", "Catnip Crunchies",
                          "Training Minis"), ((30, (100, 150, 25)), (50, (120, 170, 30)), (100, (140, 200, 40)),
                                              (250, (170, 240, 50))), 365, (4000, 15000)),
               ("box", ("Dental Chews", "Rawhide Rolls", "Biscuits", "Chew Sticks"),
                ((180, (160, 90, 40)), (500, (200, 140, 60)), (1000, (250, 180, 80))), 365, (1500, 6000))),
    "litter": (("bag", ("Clumping Clay", "Silica Crystals", "Pine Pellets", "Tofu Clumping", "Paper Pellets"),
                ((2500, (250, 330, 100)), (5000, (300, 420, 110)), (10000, (350, 500, 120)),
                 (15000, (400, 560, 140))), None, (150, 900)),),
    "toy": (("toy", ("Chew Ring", "Rope Tug", "Squeaky Ball", "Feather Wand", "Laser Pointer", "Tunnel",
                     "Puzzle Feeder", "Catnip Mouse"),
             ((35, (40, 200, 20)), (80, (60, 60, 60)), (140, (70, 90, 70)), (300, (150, 100, 80))),
             None, (8000, 60000)),),
    "accessory": (("box", ("Steel Bowl", "Ceramic Bowl", "Nylon Collar", "Leash 1.5 m", "Grooming Brush",
                           "Nail Clipper", "Water Fountain Filter", "Poop Bags 120", "Flea Comb",
                           "Salmon Oil", "Vitamin Paste", "Ear Cleaner"),
                   ((60, (80, 150, 30)), (150, (100, 150, 40)), (320, (160, 70, 160)), (600, (200, 120, 150))),
                   None, (5000, 40000)),),
}
_BRANDS: Final = ("Royal Canin", "Purina", "Hill's", "Orijen", "Acana", "Whiskas", "Pedigree", "Ziwi Peak",
                  "Applaws", "Catit", "Kong", "Trixie", "Petkit", "Ever Clean", "Grizzly", "Carnilove",
                  "Brit", "Animonda", "Vitakraft", "Beaphar")
_SPECIES: Final = ("Dog", "Cat", "Puppy", "Kitten")
# How many SKUs of each category a pet shop's range holds, per 100.
_MIX: Final = (("dry_food", 22), ("wet_food", 26), ("treats", 18), ("litter", 6), ("toy", 14), ("accessory", 14))


def large_catalog(skus: int, seed: int) -> tuple[Product, ...]:
    """The 16 products of `catalog()` and `skus - 16` more drawn from the seed: a pet shop's range
    in realistic proportions (food, treats, litter, toys, accessories), with unit weights, pack
    sizes, prices and valid GTIN-14s (item references from 100 up) under the same prefix."""
    base = catalog()
    if skus <= len(base):
        return base[:skus]
    if skus > 99_000:
        raise ValueError(f"skus must be at most 99000 (5-digit item references), got {skus}")
    rng = random.Random(f"catalog:{seed}")
    cats = [c for c, n in _MIX for _ in range(n)]
    out = list(base)
    seen = {p.name + p.brand for p in base}
    ref = 100
    while len(out) < skus:
        category = rng.choice(cats)
        package, lines, packs, life, per_kg = rng.choice(_RANGE[category])
        grams, size = rng.choice(packs)
        brand = rng.choice(_BRANDS)
        species = rng.choice(_SPECIES)
        weight = f"{grams / 1000:g} kg" if grams >= 1000 else f"{grams:g} g"
        name = f"{species} {rng.choice(lines)} {weight}"
        if name + brand in seen:
            name = f"{name} ({len(out)})"
        seen.add(name + brand)
        price = max(99, int(round(rng.uniform(*per_kg) * max(grams, 50) / 1000 / 10) * 10 - 1))
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        out.append(Product(make_gtin14(COMPANY_PREFIX, ref), name, brand, category, package, float(grams),
                           colour, life, price, size))
        ref += 1
    return tuple(out)


def _aisle_name(k: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA, ...: aisle letters for as many aisles as a shop has."""
    name = ""
    k += 1
    while k:
        k, r = divmod(k - 1, 26)
        name = chr(ord("A") + r) + name
    return name


# Heap entries: (when, sequence, what, payload). The sequence breaks ties in scheduling order, so the
# world is a pure function of its seed however `advance` is sliced.
(_ARRIVE, _PICK, _PUT_BACK, _LEAVE, _RETURN, _ROUND, _DELIVERY, _ORDER, _ORDER_PICK, _COLLECT, _REFILL,
 _TIDY_BIN, _HOME, _TOTE, _TILL_RETURN, _TRANSFER) = range(16)
BASKET: Final = "basket"  # in a shopper's hands, not paid yet: still the shop's stock
PICKUP: Final = "pickup"  # picked for an online order, waiting for the customer
GOBACK: Final = "goback"  # voided at the till, waiting for staff to reshelve
HELD: Final = (BASKET, PICKUP, GOBACK)


@dataclass(slots=True)
class _Hand:
    """One planned pick of a shopper's trip and what becomes of it."""

    bin: str
    at: datetime
    qty: int
    fate: str  # buy | put_back | theft | void | dump
    back_at: datetime
    where: str | None  # the bin a put-back or dump lands on
    units: list[Unit] = field(default_factory=list)


@dataclass(slots=True)
class _Trip:
    hands: list[_Hand]
    leave_at: datetime


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
        c = self.config
        if c.open_hours is not None and not 0 <= c.open_hours[0] < c.open_hours[1] <= 24:
            raise ValueError(f"open_hours must be (open, close) within 0..24, got {c.open_hours}")
        if c.put_back + c.theft + c.abandon > 1:
            raise ValueError("put_back + theft + abandon must be at most 1")
        # Mix the store id into the seed so stores of one demo differ but stay reproducible.
        self._rng = random.Random(f"{self.seed}:{self.store}")
        # What comes in by the door draws from its own generator, so a shop with returns walked in
        # and transfers trades the same day otherwise as one without.
        self._door_rng = random.Random(f"door:{self.seed}:{self.store}")
        self._transfers = 0
        self.now = self.start
        if c.skus < 0 or c.scale_bins < 0 or c.camera_lanes < 0:
            raise ValueError("skus, scale_bins and camera_lanes must be >= 0")
        if c.skus and c.scale_bins + c.camera_lanes > c.skus:
            raise ValueError(f"scale_bins + camera_lanes ({c.scale_bins} + {c.camera_lanes}) exceed skus ({c.skus})")
        if c.fault is not None and c.fault not in FAULT_CLASSES:
            raise ValueError(f"fault must be one of {', '.join(FAULT_CLASSES)}, got {c.fault!r}")
        if c.fault is not None and not 0 < c.fault_hours <= 24:
            raise ValueError(f"fault_hours must be in (0, 24], got {c.fault_hours}")
        if c.thefts not in THEFT_MODELS:
            raise ValueError(f"thefts must be one of {', '.join(THEFT_MODELS)}, got {c.thefts!r}")
        if c.tag_by not in TAG_POLICIES:
            raise ValueError(f"tag_by must be one of {', '.join(TAG_POLICIES)}, got {c.tag_by!r}")
        products = large_catalog(c.skus, self.seed) if c.skus else catalog()
        self._weight_total: float | None = None
        self._theft_p: dict[str, float] = {}  # per SKU, where thieves choose (`thefts` "craved")
        self.tagged_skus: frozenset[str] = frozenset()
        self.products: dict[str, Product] = {p.gtin: p for p in products}
        self.bins: dict[str, Bin] = {}
        self.units: dict[int, Unit] = {}
        self._at: dict[tuple[str, str | None], dict[int, Unit]] = {}  # (zone, bin) -> units
        self._n: dict[tuple[str, str], int] = {}  # (gtin, zone) -> units
        self._next_uid = 1
        self._next_serial: dict[str, int] = {}
        self._txn = 0
        self._lot_no = 0
        self._orders = 0
        self._rounds = 0
        self._sold: list[int] = []  # uids sold, candidates for returns
        self._queue: list[tuple[datetime, int, int, object]] = []
        self._seq = itertools.count()
        self._plan_bins(products)
        self._stock_opening()
        self._schedule_first()

    # --- construction -------------------------------------------------------------------

    def _plan_bins(self, products: tuple[Product, ...]) -> None:
        if self.config.skus:
            return self._plan_large(products)
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
        self._home: dict[str, list[str]] = {}
        for b in self.bins.values():
            self._home.setdefault(b.gtin, []).append(b.id)

    def _plan_large(self, products: tuple[Product, ...]) -> None:
        """One bin per SKU, 8 to a shelf, 5 shelves to an aisle bay. Scales go under food, treats
        and litter (what is weighed well); camera lanes over the rest first (toys, accessories,
        boxes in facings); both chosen from the seed by their own generator, as are the SKUs that
        carry RFID tags."""
        c = self.config
        plan = random.Random(f"plan:{self.seed}:{self.store}")
        per_shelf, shelves = 8, 5
        for i, product in enumerate(products):
            bay = i // (per_shelf * shelves)
            shelf = (i // per_shelf) % shelves + 1
            position = i % per_shelf + 1
            capacity = max(4, min(24, int(6000 / max(product.unit_grams, 50)) + 4))
            bin_id = f"{_aisle_name(bay)}{shelf}-{position}"
            self.bins[bin_id] = Bin(bin_id, _aisle_name(bay), shelf, position, product.gtin, capacity,
                                    facings=1 + (product.size_mm[0] < 100), refill_at=max(1, capacity // 4),
                                    sensor=None)
        ids = list(self.bins)
        weighable = [b for b in ids if self.products[self.bins[b].gtin].category
                     in ("dry_food", "wet_food", "treats", "litter")]
        scaled = set(plan.sample(weighable, k=min(c.scale_bins, len(weighable))))
        rest = [b for b in ids if b not in scaled]
        if len(scaled) < c.scale_bins:
            scaled |= set(plan.sample(rest, k=c.scale_bins - len(scaled)))
            rest = [b for b in ids if b not in scaled]
        visual = [b for b in rest if self.products[self.bins[b].gtin].category in ("toy", "accessory")]
        lanes = set(plan.sample(visual, k=min(c.camera_lanes, len(visual))))
        if len(lanes) < c.camera_lanes:
            lanes |= set(plan.sample([b for b in rest if b not in lanes], k=c.camera_lanes - len(lanes)))
        for b in ids:
            sensor = SCALE if b in scaled else CAMERA if b in lanes else None
            self.bins[b] = replace(self.bins[b], sensor=sensor)
        gtins = sorted(p.gtin for p in products)
        k = round(c.tagged_share * len(gtins))
        if c.tag_by == "risk":
            self.tagged_skus = frozenset(sorted(gtins, key=lambda g: (-stealable(self.products[g]), g))[:k])
        else:
            self.tagged_skus = frozenset(plan.sample(gtins, k=k))
        self._home = {}
        for bin_ in self.bins.values():
            self._home.setdefault(bin_.gtin, []).append(bin_.id)
        if c.thefts == "craved":
            # Each SKU's own appeal to thieves, from its own generator (the rest of the world is
            # drawn as with uniform thefts); scaled so a pick is stolen with probability `theft`
            # on average over the picks the shoppers make.
            appeal = {g: stealable(self.products[g]) * random.Random(f"appeal:{self.seed}:{self.store}:{g}")
                      .lognormvariate(0.0, 0.8) for g in gtins}
            picks = {b.gtin: self._weight(b) * self._mean_hand(b.gtin) for b in self.bins.values()}
            mean = sum(picks[g] * appeal[g] for g in gtins) / sum(picks.values())
            self._theft_p = {g: min(_MOST_STOLEN, c.theft * appeal[g] / mean) for g in gtins}

    def _new_lot(self, product: Product, rng: random.Random | None = None) -> tuple[str, date | None]:
        self._lot_no += 1
        lot = f"L{self.now:%y%m%d}{self._lot_no:03d}"
        if product.shelf_life_days is None:
            return lot, None
        remaining = (rng or self._rng).randint(product.shelf_life_days // 4, product.shelf_life_days)
        return lot, (self.now + timedelta(days=remaining)).date()

    def _make_units(self, gtin: str, n: int, lot: str | None, expiry: date | None, zone: str,
                    bin_id: str | None, rng: random.Random | None = None) -> list[Unit]:
        made = []
        for _ in range(n):
            serial = self._next_serial.get(gtin, 1000)
            self._next_serial[gtin] = serial + 1
            unit = Unit(self._next_uid, gtin, serial, lot, expiry, zone, bin_id,
                        tagged=(gtin in self.tagged_skus if self.config.skus
                                else (rng or self._rng).random() < self.config.tagged_share))
            self.units[unit.uid] = unit
            self._at.setdefault((zone, bin_id), {})[unit.uid] = unit
            self._n[(gtin, zone)] = self._n.get((gtin, zone), 0) + 1
            self._next_uid += 1
            made.append(unit)
        return made

    def _move(self, unit: Unit, zone: str, bin_id: str | None = None) -> None:
        """The only way a unit changes place (keeps the per-place index true)."""
        del self._at[(unit.zone, unit.bin)][unit.uid]
        self._n[(unit.gtin, unit.zone)] -= 1
        unit.zone, unit.bin = zone, bin_id
        self._at.setdefault((zone, bin_id), {})[unit.uid] = unit
        self._n[(unit.gtin, zone)] = self._n.get((unit.gtin, zone), 0) + 1

    def _stock_opening(self) -> None:
        lo, hi = self.config.backroom_units
        stocked: set[str] = set()
        for b in self.bins.values():
            product = self.products[b.gtin]
            lot, expiry = self._new_lot(product)
            self._make_units(b.gtin, self._rng.randint(b.capacity // 2, b.capacity), lot, expiry, FLOOR, b.id)
        for b in self.bins.values():
            if b.gtin in stocked:
                continue
            stocked.add(b.gtin)
            product = self.products[b.gtin]
            lot, expiry = self._new_lot(product)
            n = (max(0, self._target(b.gtin) - self.on_hand(b.gtin)) if self.config.replenish
                 else self._rng.randint(lo, hi))
            self._make_units(b.gtin, n, lot, expiry, BACKROOM, None)

    # --- truth --------------------------------------------------------------------------

    def bin_units(self, bin_id: str) -> list[Unit]:
        """Units lying on a bin (its own product and anything misplaced there)."""
        return list(self._at.get((FLOOR, bin_id), {}).values())

    def zone_units(self, zone: str) -> list[Unit]:
        return [u for (z, _), units in self._at.items() if z == zone for u in units.values()]

    def on_hand(self, gtin: str, zone: str | None = None) -> int:
        """Units on the shelves (floor) and in the backroom; see `stock` for units in hands."""
        zones = (FLOOR, BACKROOM) if zone is None else (zone,)
        return sum(self._n.get((gtin, z), 0) for z in zones)

    def stock(self, gtin: str) -> dict[str, int]:
        """What the shop owns of a GTIN as its book should hold it: `floor` counts units on the
        shelves, in baskets, picked for online orders and in the go-back tote (all unsold shop
        stock in the sales area), `backroom` the rest."""
        floor = sum(self._n.get((gtin, z), 0) for z in (FLOOR, *HELD))
        back = self._n.get((gtin, BACKROOM), 0)
        return {"floor": floor, "backroom": back, "on_hand": floor + back}

    def snapshot(self) -> dict[tuple[str, str, str | None, str | None], int]:
        """Ground truth at this instant: (gtin, zone, bin, lot) -> units, for every unit the shop
        still owns (floor, backroom, basket, pickup, goback)."""
        out: dict[tuple[str, str, str | None, str | None], int] = {}
        for (zone, bin_id), units in self._at.items():
            if zone in (SOLD, STOLEN):
                continue
            for u in units.values():
                key = (u.gtin, zone, bin_id, u.lot)
                out[key] = out.get(key, 0) + 1
        return out

    def stock_by_lot(self) -> dict[tuple[str, str, str | None], int]:
        """(gtin, zone, lot) -> units, for floor and backroom."""
        out: dict[tuple[str, str, str | None], int] = {}
        for zone in (FLOOR, BACKROOM):
            for u in self.zone_units(zone):
                key = (u.gtin, zone, u.lot)
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

    def daily_demand(self, gtin: str) -> float:
        """Expected units of a GTIN picked by shoppers in one trading day (for replenishment)."""
        c = self.config
        hours = 24.0 if c.open_hours is None else c.open_hours[1] - c.open_hours[0]
        if self._weight_total is None:  # (the planogram does not change: summed once)
            self._weight_total = sum(self._weight(b) for b in self.bins.values())
        total = self._weight_total
        per_trip = sum(_BINS_PER_TRIP) / len(_BINS_PER_TRIP)
        return sum(c.shoppers_per_hour * hours * per_trip * self._weight(self.bins[b]) / total
                   * self._mean_hand(gtin) for b in self._home.get(gtin, []))

    def sensed_by(self, sensor: str | None) -> list[Bin]:
        """The bins a class of device watches ("scale", "camera"; None: the unsensed ones)."""
        return [b for b in self.bins.values() if b.sensor == sensor]

    def cameras(self) -> dict[str, tuple[str, ...]]:
        """The shop's shelf cameras and the lanes each watches: the camera-lane bins in id order,
        LANES_PER_CAMERA to a camera ("cam-1", "cam-2", ...; the last may watch fewer)."""
        lanes = sorted(b.id for b in self.sensed_by(CAMERA))
        return {f"cam-{i // LANES_PER_CAMERA + 1}": tuple(lanes[i:i + LANES_PER_CAMERA])
                for i in range(0, len(lanes), LANES_PER_CAMERA)}

    def faults(self, day: date) -> list[Fault]:
        """The device fault of a trading day (with `config.fault` set; else none): one device of
        that class — a scale, the door's reader, a camera and every lane it watches — goes down at
        a time drawn within opening hours and stays down `fault_hours`.
        A pure function of (seed, store, day): every process sees the same faults."""
        c = self.config
        if c.fault is None:
            return []
        devices: dict[str, tuple[str, ...]] = (
            {"door": ()} if c.fault == READER else self.cameras() if c.fault == CAMERA
            else {b.id: (b.id,) for b in self.sensed_by(c.fault)})
        if not devices:
            return []
        rng = random.Random(f"fault:{self.seed}:{self.store}:{day.isoformat()}:{c.fault}")
        opens, closes = c.open_hours or (0, 24)
        latest = max(float(opens), closes - min(c.fault_hours, closes - opens))
        start = datetime(day.year, day.month, day.day, tzinfo=self.start.tzinfo) + timedelta(
            hours=rng.uniform(opens, latest))
        device = rng.choice(list(devices))
        return [Fault(c.fault, device, start, start + timedelta(hours=c.fault_hours), devices[device])]

    def device_down(self, device_class: str, device: str, at: datetime) -> bool:
        """Is that device out of service at `at` (a fault begun that day or the day before)?
        `device` is the fault's device or a bin it leaves unwatched (a lane of a blocked camera)."""
        day = at.date()
        return any(f.device_class == device_class and (f.device == device or device in f.bins)
                   and f.start <= at < f.end
                   for d in (day - timedelta(days=1), day) for f in self.faults(d))

    def _target(self, gtin: str) -> int:
        shelves = sum(self.bins[b].capacity for b in self._home.get(gtin, []))
        return shelves + math.ceil(self.config.cover_days * self.daily_demand(gtin))

    # --- time ---------------------------------------------------------------------------

    def _push(self, at: datetime, what: int, payload: object = None) -> None:
        heapq.heappush(self._queue, (at, next(self._seq), what, payload))

    def _is_open(self, t: datetime) -> bool:
        hours = self.config.open_hours
        return hours is None or hours[0] <= t.hour + t.minute / 60 < hours[1]

    def _next_open(self, t: datetime) -> datetime:
        """The first instant at or after t when the shop is open."""
        hours = self.config.open_hours
        if hours is None or self._is_open(t):
            return t
        opening = t.replace(hour=hours[0], minute=0, second=0, microsecond=0)
        return opening if opening > t else opening + timedelta(days=1)

    def _later(self, t: datetime, per_hour: float, *, open_only: bool,
               rng: random.Random | None = None) -> datetime:
        rng = rng or self._rng
        at = t + timedelta(seconds=rng.expovariate(per_hour / 3600.0))
        if open_only and not self._is_open(at):
            at = self._next_open(at) + timedelta(seconds=rng.expovariate(per_hour / 3600.0))
        return at

    def _schedule_first(self) -> None:
        c = self.config
        if c.shoppers_per_hour > 0:
            self._push(self._later(self.start, c.shoppers_per_hour, open_only=True), _ARRIVE)
        if c.returns_per_hour > 0:
            self._push(self._later(self.start, c.returns_per_hour, open_only=True), _RETURN)
        if c.staff_round_minutes > 0:
            self._push(self._next_round(self.start), _ROUND)
        else:
            self._push(self._later(self.start, 4.0, open_only=True), _ROUND)
        if c.replenish:
            self._push(self._next_delivery(self.start), _DELIVERY)
        elif c.deliveries_per_day > 0:
            self._push(self._later(self.start, c.deliveries_per_day / 24, open_only=False), _DELIVERY)
        if c.online_orders_per_hour > 0:
            self._push(self._later(self.start, c.online_orders_per_hour, open_only=False), _ORDER)
        if c.transfers_per_day > 0:
            self._push(self._later(self.start, c.transfers_per_day / 24, open_only=True, rng=self._door_rng),
                       _TRANSFER)

    def _next_round(self, t: datetime) -> datetime:
        step = timedelta(minutes=self.config.staff_round_minutes)
        day = t.replace(hour=0, minute=0, second=0, microsecond=0)
        at = day + step * math.ceil((t - day) / step)
        if at == t:
            at += step
        while not self._is_open(at):
            at = self._next_open(at)
            at = day + step * math.ceil((at - day) / step)
            day = at.replace(hour=0, minute=0, second=0, microsecond=0)
        return at

    def _next_delivery(self, t: datetime) -> datetime:
        """Deliveries arrive two hours before opening (07:00 for a 09:00 shop)."""
        hour = max(0, (self.config.open_hours or (9, 21))[0] - 2)
        at = t.replace(hour=hour, minute=0, second=0, microsecond=0)
        return at if at > t else at + timedelta(days=1)

    def close_doors(self, within: timedelta = timedelta(minutes=2)) -> datetime:
        """Closing time, announced: nobody else comes in, and the shoppers inside take nothing
        more, lay down what they meant to put back and are at the till within `within`. Staff,
        deliveries, returns and online orders go on. Returns when the last shopper will have left."""
        until = self.now + within
        last = self.now
        queue = []
        for at, seq, what, payload in self._queue:
            if what in (_ARRIVE, _PICK):
                continue  # (a hand not taken yet never is)
            if what == _PUT_BACK:
                if isinstance(payload, _Hand) and not payload.units:
                    continue
                at = min(at, self.now + within / 2)
            elif what in (_LEAVE, _TILL_RETURN):  # (a customer who brought a return in, too)
                at = min(at, until)
                last = max(last, at)
            queue.append((at, seq, what, payload))
        heapq.heapify(queue)
        self._queue = queue
        return last

    def advance(self, to: datetime) -> list[Event]:
        """Run the shop until `to`; return what happened, in time order."""
        events: list[Event] = []
        while self._queue and self._queue[0][0] <= to:
            at, _, what, payload = heapq.heappop(self._queue)
            self.now = at
            events.extend(self._act(what, payload))
        self.now = max(self.now, to)
        return events

    def _act(self, what: int, payload: Any) -> list[Event]:
        c = self.config
        if what == _ARRIVE:
            self._push(self._later(self.now, c.shoppers_per_hour, open_only=True), _ARRIVE)
            return self._arrive()
        if what == _PICK:
            return self._pick(payload)
        if what == _PUT_BACK:
            return self._put_back(payload)
        if what == _LEAVE:
            return self._leave(payload)
        if what == _RETURN:
            self._push(self._later(self.now, c.returns_per_hour, open_only=True), _RETURN)
            return self._return()
        if what == _ROUND:
            if c.staff_round_minutes > 0:
                self._push(self._next_round(self.now), _ROUND)
            else:
                self._push(self._later(self.now, 4.0, open_only=True), _ROUND)
            return self._restock_round()
        if what == _DELIVERY:
            if c.replenish:
                self._push(self._next_delivery(self.now), _DELIVERY)
                return self._replenish()
            self._push(self._later(self.now, c.deliveries_per_day / 24, open_only=False), _DELIVERY)
            return self._delivery()
        if what == _ORDER:
            self._push(self._later(self.now, c.online_orders_per_hour, open_only=False), _ORDER)
            return self._order()
        if what == _ORDER_PICK:
            return self._order_pick(*payload)
        if what == _REFILL:
            return self._refill()
        if what == _TIDY_BIN:
            return self._tidy_bin(payload)
        if what == _HOME:
            return self._home_units(payload)
        if what == _TOTE:
            return self._tote()
        if what == _TILL_RETURN:
            return self._till_return(payload)
        if what == _TRANSFER:
            self._push(self._later(self.now, c.transfers_per_day / 24, open_only=True, rng=self._door_rng),
                       _TRANSFER)
            return self._transfer()
        return self._collect(*payload)

    def _take(self, units: Iterable[Unit], n: int) -> list[Unit]:
        # Shoppers take from the front: oldest expiry first is what staff face up (FEFO).
        ordered = sorted(units, key=lambda u: (u.expiry or date.max, u.uid))
        return ordered[:n]

    # --- shoppers -----------------------------------------------------------------------

    def _weight(self, b: Bin) -> float:
        if not self.config.popularity:
            return 1.0
        return float((100.0 / self.products[b.gtin].unit_grams) ** 0.5)

    def _hands(self, gtin: str) -> tuple[int, ...]:
        if not self.config.popularity:
            return (1, 1, 1, 2, 2, 3, 4)
        package = self.products[gtin].package
        return (1, 1, 2, 2, 3, 4, 6) if package in ("can", "pouch") else (
            (1, 1, 1, 1, 2) if package == "bag" else (1, 1, 1, 2))

    def _mean_hand(self, gtin: str) -> float:
        hands = self._hands(gtin)
        return sum(hands) / len(hands)

    def _choose_bins(self, k: int) -> list[Bin]:
        rng, pool = self._rng, list(self.bins.values())
        if not self.config.popularity:
            return rng.sample(pool, k=min(len(pool), k))
        chosen: list[Bin] = []
        for _ in range(min(len(pool), k)):
            b = rng.choices(pool, weights=[self._weight(x) for x in pool])[0]
            pool.remove(b)
            chosen.append(b)
        return chosen

    def _other_bin(self, b: str) -> str:
        return self._rng.choice([x for x in self.bins if x != b])

    def _arrive(self) -> list[Event]:
        """A shopper comes in: the whole trip is drawn now, and its steps are scheduled."""
        rng, c = self._rng, self.config
        trip_s = 0.0
        if c.trip_minutes > 0:
            trip_s = 60 * min(c.trip_max_minutes, max(1.0, rng.lognormvariate(math.log(c.trip_minutes), 0.5)))
        queue_s = 60 * min(4 * c.queue_minutes, rng.expovariate(1 / c.queue_minutes)) if c.queue_minutes else 0.0
        leave_at = self.now + timedelta(seconds=trip_s + queue_s)
        hands: list[_Hand] = []
        for b in self._choose_bins(rng.choice(_BINS_PER_TRIP)):
            at = self.now + timedelta(seconds=rng.uniform(0, trip_s))
            qty = rng.choice(self._hands(b.gtin))
            roll = rng.random()
            theft = self._theft_p.get(b.gtin, c.theft)
            back_at, where, fate = at, None, "buy"
            if roll < c.put_back:
                fate = "put_back"
                back_at = at + timedelta(seconds=rng.uniform(0, (leave_at - at).total_seconds() - queue_s))
                where = self._other_bin(b.id) if rng.random() < c.misplace and len(self.bins) > 1 else b.id
            elif roll < c.put_back + theft:
                fate = "theft"
            elif roll < c.put_back + theft + c.abandon:
                if rng.random() < 0.5:
                    fate = "void"
                else:
                    fate = "dump"  # left on another shelf on the way to the till
                    back_at = at + timedelta(seconds=rng.uniform(0, (leave_at - at).total_seconds() - queue_s))
                    where = self._other_bin(b.id) if len(self.bins) > 1 else b.id
            hands.append(_Hand(b.id, at, qty, fate, back_at, where))
        trip = _Trip(hands, leave_at)
        for hand in hands:
            self._push(hand.at, _PICK, hand)
            if hand.where is not None:
                self._push(hand.back_at, _PUT_BACK, hand)
        self._push(leave_at, _LEAVE, trip)
        return []

    def _pick(self, hand: _Hand) -> list[Event]:
        b = self.bins[hand.bin]
        on_shelf = [u for u in self.bin_units(b.id) if u.gtin == b.gtin]
        hand.units = self._take(on_shelf, min(len(on_shelf), hand.qty))
        if not hand.units:
            return []
        for u in hand.units:
            self._move(u, BASKET)
        return [Pick(self.now, b.id, b.gtin, tuple(u.uid for u in hand.units))]

    def _put_back(self, hand: _Hand) -> list[Event]:
        if not hand.units or hand.where is None:
            return []
        for u in hand.units:
            self._move(u, FLOOR, hand.where)
        gtin = self.bins[hand.bin].gtin
        return [PutBack(self.now, hand.where, gtin, tuple(u.uid for u in hand.units), hand.where != hand.bin)]

    def _leave(self, trip: _Trip) -> list[Event]:
        events: list[Event] = []
        paid: list[Unit] = []
        voided: list[Unit] = []
        for hand in trip.hands:
            if not hand.units:
                continue
            if hand.fate == "theft":
                for u in hand.units:
                    self._move(u, STOLEN)
                events.append(Theft(self.now, hand.bin, hand.units[0].gtin, tuple(u.uid for u in hand.units),
                                    picked_at=hand.at))
            elif hand.fate == "void":
                voided.extend(hand.units)
            elif hand.fate == "buy":
                paid.extend(hand.units)
        if voided:
            for u in voided:
                self._move(u, GOBACK)
            self._txn += 1
            events.append(Void(self.now, f"V{self._txn:06d}", self._lines(voided), tuple(u.uid for u in voided)))
        if paid:
            for u in paid:
                self._move(u, SOLD)
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
        """A customer brings a unit back: carried in through the door, then taken back at the till."""
        if not self._sold:
            return []
        uid = self._sold.pop(self._rng.randrange(len(self._sold)))
        came = CarriedIn(self.now, (uid,), "customer")
        walk = self.config.return_walk_minutes
        if walk <= 0:
            return [came, *self._till_return(uid)]
        self._push(self.now + timedelta(minutes=self._door_rng.uniform(0.5, 1.5) * walk), _TILL_RETURN, uid)
        return [came]

    def _till_return(self, uid: int) -> list[Event]:
        unit = self.units[uid]
        self._move(unit, BACKROOM)  # returns are checked in the backroom first
        self._txn += 1
        return [Return(self.now, f"R{self._txn:06d}", self._lines([unit]), (uid,))]

    # --- online orders ------------------------------------------------------------------

    def _order(self) -> list[Event]:
        rng = self._rng
        self._orders += 1
        order = f"W{self._orders:06d}"
        lines = tuple(SaleLine(b.gtin, rng.choice((1, 1, 2, 3)), None, None)
                      for b in self._choose_bins(rng.choice((1, 1, 2))))
        # Staff pick it 10-45 minutes later, once the shop is open.
        pick_at = self._next_open(self.now + timedelta(minutes=rng.uniform(10, 45)))
        if pick_at != self.now and not self._is_open(self.now):
            pick_at += timedelta(minutes=rng.uniform(10, 45))
        self._push(pick_at, _ORDER_PICK, (order, lines))
        return [OnlineOrder(self.now, order, lines)]

    def _order_pick(self, order: str, lines: tuple[SaleLine, ...]) -> list[Event]:
        events: list[Event] = []
        picked: list[Unit] = []
        for line in lines:
            need = line.qty
            for bin_id in sorted(self._home.get(line.gtin, []), key=lambda x: -len(self.bin_units(x))):
                on_shelf = [u for u in self.bin_units(bin_id) if u.gtin == line.gtin]
                taken = self._take(on_shelf, min(need, len(on_shelf)))
                if not taken:
                    continue
                for u in taken:
                    self._move(u, PICKUP)
                need -= len(taken)
                picked.extend(taken)
                events.append(Pick(self.now, bin_id, line.gtin, tuple(u.uid for u in taken), by="staff", order=order))
                if not need:
                    break
        # The customer collects 1-8 hours later, in opening hours; what was short is not charged.
        collect = self._next_open(self.now + timedelta(hours=self._rng.uniform(1, 8)))
        self._push(collect, _COLLECT, (order, tuple(u.uid for u in picked)))
        return events

    def _collect(self, order: str, uids: tuple[int, ...]) -> list[Event]:
        if not uids:
            return []
        units = [self.units[uid] for uid in uids]
        for u in units:
            self._move(u, SOLD)
            self._sold.append(u.uid)
        return [Sale(self.now, order, self._lines(units), uids)]

    # --- staff --------------------------------------------------------------------------

    def _transfer(self) -> list[Event]:
        """Staff carry in a few units of one product from another store, into the backroom."""
        rng = self._door_rng
        gtin = rng.choice(sorted(self._home))
        lot, expiry = self._new_lot(self.products[gtin], rng)
        units = self._make_units(gtin, rng.randint(2, 6), lot, expiry, BACKROOM, None, rng)
        self._transfers += 1
        uids = tuple(u.uid for u in units)
        return [CarriedIn(self.now, uids, "staff"),
                Transfer(self.now, f"TRF-{self.store}-{self._transfers:04d}", gtin, lot, expiry, uids)]

    def _delivery(self) -> list[Event]:
        gtin = self._rng.choice(sorted({b.gtin for b in self.bins.values()}))
        product = self.products[gtin]
        lot, expiry = self._new_lot(product)
        units = self._make_units(gtin, self._rng.randint(6, 24), lot, expiry, BACKROOM, None)
        return [Delivery(self.now, gtin, lot, expiry, tuple(u.uid for u in units))]

    def _replenish(self) -> list[Event]:
        """Before opening: each SKU below its target gets a delivery in whole cases of 6."""
        events: list[Event] = []
        for gtin in sorted(self._home):
            have = self.stock(gtin)["on_hand"]
            short = self._target(gtin) - have
            if short <= 0:
                continue
            lot, expiry = self._new_lot(self.products[gtin])
            units = self._make_units(gtin, 6 * math.ceil(short / 6), lot, expiry, BACKROOM, None)
            events.append(Delivery(self.now, gtin, lot, expiry, tuple(u.uid for u in units)))
        return events

    def _restock_round(self) -> list[Event]:
        """Staff walk the aisles: every other round they first take misplaced units and the
        go-back tote home, then they fill every bin at or below its refill level."""
        self._rounds += 1
        if self.config.tidy and self._rounds % 2 == 0:
            # One pair of hands, one thing at a time: the tidy walk bin by bin (15 s each), the
            # go-back tote, then the refills.
            # (In a real-sized shop a glance per bin, 2 s, else the walk outlasts the round.)
            step = timedelta(seconds=2 if self.config.skus else 15)
            for i, b in enumerate(self.bins):
                self._push(self.now + i * step, _TIDY_BIN, b)
            tote_at = self.now + len(self.bins) * step
            self._push(tote_at, _TOTE)
            self._push(tote_at + timedelta(minutes=self._rng.uniform(3, 6)), _REFILL)
            return []
        return self._refill()

    def _refill(self) -> list[Event]:
        events: list[Event] = []
        # The backroom by product, gathered once per round (a real-sized shop has tens of
        # thousands of units there); `_take` orders them, so the grouping changes nothing.
        backroom: dict[str, list[Unit]] = {}
        for u in self.zone_units(BACKROOM):
            backroom.setdefault(u.gtin, []).append(u)
        for b in self.bins.values():
            on_shelf = [u for u in self.bin_units(b.id) if u.gtin == b.gtin]
            if len(on_shelf) > b.refill_at:
                continue
            back = [u for u in backroom.get(b.gtin, []) if u.zone == BACKROOM]
            moved = self._take(back, b.capacity - len(on_shelf))
            if not moved:
                continue
            for u in moved:
                self._move(u, FLOOR, b.id)
            events.append(Restock(self.now, b.id, b.gtin, tuple(u.uid for u in moved)))
        return events

    def _tidy_bin(self, bin_id: str) -> list[Event]:
        """Lift whatever does not belong on a bin; it goes home five seconds later."""
        events: list[Event] = []
        foreign: dict[str, list[Unit]] = {}
        for u in self.bin_units(bin_id):
            if u.gtin != self.bins[bin_id].gtin:
                foreign.setdefault(u.gtin, []).append(u)
        for gtin, units in sorted(foreign.items()):
            for u in units:
                self._move(u, GOBACK)  # in the staff member's hands on the way home
            events.append(Pick(self.now, bin_id, gtin, tuple(u.uid for u in units), by="staff"))
            self._push(self.now + timedelta(seconds=5), _HOME, tuple(u.uid for u in units))
        return events

    def _home_units(self, uids: tuple[int, ...]) -> list[Event]:
        units = [self.units[uid] for uid in uids if self.units[uid].zone == GOBACK]
        if not units:
            return []
        gtin = units[0].gtin
        homes = self._home.get(gtin)
        if not homes:
            for u in units:
                self._move(u, BACKROOM)
            return []
        for u in units:
            self._move(u, FLOOR, homes[0])
        return [PutBack(self.now, homes[0], gtin, tuple(u.uid for u in units), False, by="staff")]

    def _tote(self) -> list[Event]:
        """The go-back tote from the till: each product home in turn, ten seconds apart."""
        stray: dict[str, list[int]] = {}
        for u in self.zone_units(GOBACK):
            stray.setdefault(u.gtin, []).append(u.uid)
        for i, (_, uids) in enumerate(sorted(stray.items())):
            self._push(self.now + timedelta(seconds=10 * i), _HOME, tuple(uids))
        return []


_BINS_PER_TRIP: Final = (1, 1, 1, 2, 2, 3)
