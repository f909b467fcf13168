"""All stock arithmetic, pure: movements in, balances out (ARCHITECTURE §6).

The unit of ordering is one SKU in one store. Its balances — units per (zone, lot) — are what you
get by applying its movements in (occurred_at, id) order, starting from nothing:

- a count is absolute for its zone (or for its lot, when it names one): it replaces what the book
  held at that instant, so a movement that occurred before the count is absorbed by it however
  late it arrives, and one that occurred after still applies (Square's rule);
- a decrement without a lot consumes lots first-expiry-first-out (FEFO) among the lots that had
  not expired when it occurred; what they do not cover is booked against the unknown lot "" and
  may go negative until a count corrects it. Expired units are never sold, held or shipped in
  place of a unit that names no lot: they leave the book only through a movement that names
  their lot (a till that scanned it: the unit physically left), an expiry write-off (a shrink or
  a negative adjust with reason "expired", which takes expired lots first) or a count;
- a move takes units from its source zone (unexpired lots FEFO, then expired ones, keeping their
  lots) and puts them in the target.

"Expired" is decided from the movement's own time, never from the wall clock: a lot is expired on
a day after its expiry date (it may be sold through its expiry date), and a movement's day is the
UTC date of its occurred_at. The same rule, with today's UTC date, takes expired units out of
`sellable`. So a sale that occurred while a lot was good may take it however late it arrives, and
no unlotted sale can lower the count of expired units: a sale lowers `sellable` by what it sold,
or (naming an expired lot) leaves it as it was; it never raises it.

Because the result is a function of the set of movements, any delivery order and any duplication
give the same balances, and a rebuild from the movements reproduces the cache exactly. The cloud
applies a newer movement incrementally and replays the SKU when an older one arrives late.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Final, Literal

NO_LOT: Final = ""
FLOOR: Final = "floor"
BACKROOM: Final = "backroom"
EXPIRED: Final = "expired"  # the reason of an expiry write-off
WRITE_OFF_KINDS: Final = frozenset({"shrink", "adjust"})


@dataclass(frozen=True, slots=True)
class Move:
    """One movement as the ledger needs it (a stored StockDelta, lot "" when it names none)."""

    id: str
    kind: str
    qty: int
    zone: str
    occurred_at: datetime
    lot: str = NO_LOT
    expiry: date | None = None
    from_zone: str | None = None
    reason: str | None = None  # "expired" on an expiry write-off (stored in the delta's evidence)

    @property
    def order(self) -> tuple[datetime, str]:
        return (self.occurred_at, self.id)

    @property
    def day(self) -> date:
        """The day that decides which lots had expired when this movement occurred."""
        return self.occurred_at.astimezone(UTC).date()

    @property
    def writes_off_expired(self) -> bool:
        return self.reason == EXPIRED and self.kind in WRITE_OFF_KINDS and self.qty < 0


@dataclass(slots=True)
class SkuBook:
    """Units per (zone, lot) for one SKU in one store, and each lot's expiry."""

    qty: dict[tuple[str, str], int] = field(default_factory=dict)
    expiry: dict[str, date | None] = field(default_factory=dict)

    def copy(self) -> SkuBook:
        return SkuBook(dict(self.qty), dict(self.expiry))

    def to_json(self) -> dict[str, object]:
        return {"qty": [[z, lot, q] for (z, lot), q in sorted(self.qty.items())],
                "expiry": {lot: e.isoformat() if e else None for lot, e in sorted(self.expiry.items())}}

    @classmethod
    def from_json(cls, obj: dict[str, object]) -> SkuBook:
        # obj is what to_json wrote (qty: [[zone, lot, n]], expiry: {lot: date}); typed object as JSON is
        qty = {(str(z), str(lot)): int(q) for z, lot, q in obj["qty"]}  # type: ignore[attr-defined]
        expiry = {str(lot): date.fromisoformat(e) if e else None
                  for lot, e in obj["expiry"].items()}  # type: ignore[attr-defined]  # as above
        return cls(qty, expiry)

    def zone_total(self, zone: str) -> int:
        return sum(q for (z, _), q in self.qty.items() if z == zone)

    @property
    def on_hand(self) -> int:
        return sum(self.qty.values())

    def _add(self, zone: str, lot: str, n: int) -> None:
        key = (zone, lot)
        value = self.qty.get(key, 0) + n
        if value:
            self.qty[key] = value
        else:
            self.qty.pop(key, None)

    def _fefo(self, zone: str) -> list[str]:
        """Lots holding stock in a zone, earliest expiry first; no-expiry lots, then "", last."""
        lots = [lot for (z, lot), q in self.qty.items() if z == zone and q > 0 and lot != NO_LOT]
        lots.sort(key=lambda lot: (self.expiry.get(lot) or date.max, lot))
        if self.qty.get((zone, NO_LOT), 0) > 0:
            lots.append(NO_LOT)
        return lots

    def take(self, zone: str, n: int, lot: str = NO_LOT, *, on: date,
             expired: Literal["never", "first", "last"] = "never") -> list[tuple[str, int]]:
        """Remove n units from a zone: the named lot first (expired or not: those units left),
        then lots FEFO among those not expired `on` that day, then the unknown lot.

        `expired` says where lots expired that day come in: never (a sale, a fulfilment, a
        transfer, shrink), first (an expiry write-off) or last (a move: units change zone and
        keep their lot, and the expired ones are the last a person moves)."""
        taken: list[tuple[str, int]] = []
        lots = [x for x in self._fefo(zone) if x != lot and x != NO_LOT]
        good = [x for x in lots if not is_expired(self.expiry.get(x), on)]
        bad = [x for x in lots if is_expired(self.expiry.get(x), on)]
        order = ([lot] if lot != NO_LOT else []) + (bad if expired == "first" else []) + good \
            + (bad if expired == "last" else []) + [NO_LOT]
        for candidate in order:
            if n == 0:
                break
            have = self.qty.get((zone, candidate), 0)
            if have <= 0:
                continue
            k = min(have, n)
            self._add(zone, candidate, -k)
            taken.append((candidate, k))
            n -= k
        if n:
            self._add(zone, NO_LOT, -n)  # more sold than the book held: the book was wrong
            taken.append((NO_LOT, n))
        return taken

    def count(self, zone: str, n: int, lot: str = NO_LOT) -> None:
        if lot != NO_LOT:
            self.qty.pop((zone, lot), None)
            self._add(zone, lot, n)
            return
        # A zone count keeps the n units that FEFO would sell last: the early lots went first.
        keep: dict[str, int] = {}
        remaining = n
        for candidate in reversed(self._fefo(zone)):
            k = min(self.qty[(zone, candidate)], remaining)
            if k:
                keep[candidate] = k
            remaining -= k
        if remaining:
            keep[NO_LOT] = keep.get(NO_LOT, 0) + remaining
        for key in [k for k in self.qty if k[0] == zone]:
            del self.qty[key]
        for candidate, k in keep.items():
            self._add(zone, candidate, k)

    def apply(self, m: Move) -> None:
        if m.lot != NO_LOT and m.expiry is not None:
            self.expiry[m.lot] = m.expiry
        elif m.lot != NO_LOT:
            self.expiry.setdefault(m.lot, None)
        if m.kind == "count":
            self.count(m.zone, m.qty, m.lot)
        elif m.kind == "move":
            assert m.from_zone is not None
            for lot, k in self.take(m.from_zone, m.qty, m.lot, on=m.day, expired="last"):
                self._add(m.zone, lot, k)
        elif m.qty < 0:
            self.take(m.zone, -m.qty, m.lot, on=m.day, expired="first" if m.writes_off_expired else "never")
        else:
            self._add(m.zone, m.lot, m.qty)


def replay(moves: Iterable[Move]) -> SkuBook:
    """The book after every movement, in (occurred_at, id) order: the definition of the ledger."""
    book = SkuBook()
    for m in sorted(moves, key=lambda m: m.order):
        book.apply(m)
    return book


def is_expired(expiry: date | None, today: date) -> bool:
    """A lot may be sold through its expiry date and is expired from the day after."""
    return expiry is not None and expiry < today


def sellable(book: SkuBook, today: date) -> int:
    """on_hand − units of lots expired `today` (may be negative while the book is wrong)."""
    expired = sum(q for (_, lot), q in book.qty.items() if q > 0 and is_expired(book.expiry.get(lot), today))
    return book.on_hand - expired


def available(book: SkuBook, today: date, *, reserved: int = 0, safety: int = 0) -> int:
    """on_hand − reserved − safety stock − expired units; never negative."""
    return max(0, sellable(book, today) - reserved - safety)
