"""The chain's replenishment settings, parsed once into a frozen value (pure: JSON in, values out).

- `promotions` (none): the chain's own promotions beside Double 11 and 618: `{"name", "month",
  "day"}` every year or `{"name", "on": "YYYY-MM-DD"}` once, `before`/`after` days (0–14) and the
  `uplift` the chain expects (above 0, at most 20; a series' own history refines it);
- `fill_rate` (0.98): the target share of demanded units sold, for a category without its own;
  a target is met per location × category at the least stock value (`policy.Pooling`: dear slow
  items hold less, cheap steady ones more), no location × SKU planned below `least_fill_rate`;
- `fill_rates` (none): `{category: target}`, each 0.5–0.999;
- `pooled` (true): false plans every location × SKU to its category's target on its own (more
  stock, no item below target);
- `least_fill_rate` (0.90): with `pooled`, the least any location × SKU is planned for, 0.5–0.999
  (a target below it is planned at the target);
- `store_sizes` (none): `{location: size}` in any one unit (floor area, a factor); new products
  and new stores start from the chain's rates scaled by size over the median size;
- `transfer_km` (50): surplus at other stores within this distance is moved before buying;
- `served_by` (none): `{store: warehouse}`, the warehouse whose region a store is in (else its
  nearest): it supplies the store first, the other regions' warehouses only a store still short;
- `opening_hours` (09:00–21:00): `{"opens", "closes"}` in the chain's time zone; a day with
  nothing sellable for most of them is a stock-out day (its sales are censored demand);
- `nightly_at` (02:00): when the nightly run starts, in the chain's time zone;
- `keep_runs` (90): runs kept with their suggestions; older ones are deleted after each run.

`parse` raises SettingError naming the field (`promotions[1].day`) and the problem.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, time
from typing import Any

from cloud.replenish.policy import DEFAULT_FILL_RATE
from cloud.replenish.promotions import DOUBLE_11, SIX_EIGHTEEN, Promotion, PromotionCalendar

BUILT_IN = (DOUBLE_11, SIX_EIGHTEEN)
MAX_PROMOTIONS = 100
MAX_WINDOW = 14
MAX_UPLIFT = 20.0
LOWEST_FILL_RATE, HIGHEST_FILL_RATE = 0.5, 0.999
MAX_KM = 1000.0
MAX_KEEP_RUNS = 10_000
NAMES = ("promotions", "fill_rate", "fill_rates", "pooled", "least_fill_rate", "store_sizes", "transfer_km",
         "served_by", "opening_hours", "nightly_at", "keep_runs")


class SettingError(ValueError):
    """A value a setting does not take (status 400), or one naming what the chain lacks (422)."""

    def __init__(self, field: str, problem: str, status: int = 400) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem, self.status = field, problem, status


@dataclass(frozen=True)
class ReplenishmentSettings:
    promotions: tuple[Promotion, ...] = ()
    fill_rate: float = DEFAULT_FILL_RATE
    fill_rates: Mapping[str, float] = field(default_factory=dict)
    pooled: bool = True
    least_fill_rate: float = 0.90
    store_sizes: Mapping[str, float] = field(default_factory=dict)
    transfer_km: float = 50.0
    served_by: Mapping[str, str] = field(default_factory=dict)
    opens: time = time(9, 0)
    closes: time = time(21, 0)
    nightly_at: time = time(2, 0)
    keep_runs: int = 90

    @property
    def calendar(self) -> PromotionCalendar:
        """The built-in promotions, then the chain's own."""
        return PromotionCalendar((*BUILT_IN, *self.promotions))

    def to_json(self) -> dict[str, Any]:
        return {"promotions": [_promotion_json(p) for p in self.promotions], "fill_rate": self.fill_rate,
                "fill_rates": dict(sorted(self.fill_rates.items())), "pooled": self.pooled,
                "least_fill_rate": self.least_fill_rate,
                "store_sizes": dict(sorted(self.store_sizes.items())), "transfer_km": self.transfer_km,
                "served_by": dict(sorted(self.served_by.items())),
                "opening_hours": {"opens": f"{self.opens:%H:%M}", "closes": f"{self.closes:%H:%M}"},
                "nightly_at": f"{self.nightly_at:%H:%M}", "keep_runs": self.keep_runs}


def _promotion_json(p: Promotion) -> dict[str, Any]:
    when: dict[str, Any] = {"on": p.on.isoformat()} if p.on else {"month": p.month, "day": p.day}
    return {"name": p.name, **when, "before": p.before, "after": p.after, "uplift": p.default_uplift}


def _number(value: Any, where: str, lo: float, hi: float, *, lo_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise SettingError(where, f"must be a number, not {value!r}")
    if value < lo or (lo_open and value == lo) or value > hi:
        raise SettingError(where, f"must be {'above' if lo_open else 'at least'} {lo:g} and at most {hi:g}"
                                  f", not {value!r}")
    return float(value)


def _integer(value: Any, where: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SettingError(where, f"must be a whole number, not {value!r}")
    if not lo <= value <= hi:
        raise SettingError(where, f"must be {lo}–{hi}, not {value!r}")
    return value


def _clock(value: Any, where: str) -> time:
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
        raise SettingError(where, f"must be a time of day as HH:MM, not {value!r}")
    try:
        return time.fromisoformat(value)
    except ValueError as e:
        raise SettingError(where, f"no such time of day {value!r}") from e


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SettingError(where, "must be a JSON object")
    for key in value:
        if not isinstance(key, str) or not 1 <= len(key) <= 64:
            raise SettingError(where, f"keys must be 1–64 characters, not {key!r}")
    return value


def _promotion(raw: Any, where: str) -> Promotion:
    if not isinstance(raw, Mapping):
        raise SettingError(where, "must be a JSON object")
    extra = set(raw) - {"name", "month", "day", "on", "before", "after", "uplift"}
    if extra:
        raise SettingError(f"{where}.{sorted(extra)[0]}", "not a field of a promotion")
    name = raw.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= 32 or name != name.strip():
        raise SettingError(f"{where}.name", "must be 1–32 characters without leading or trailing spaces")
    if name in {p.name for p in BUILT_IN}:
        raise SettingError(f"{where}.name", f"{name!r} is built in; name the chain's own differently")
    before = _integer(raw.get("before", 0), f"{where}.before", 0, MAX_WINDOW)
    after = _integer(raw.get("after", 0), f"{where}.after", 0, MAX_WINDOW)
    uplift = _number(raw.get("uplift", 1.5), f"{where}.uplift", 0.0, MAX_UPLIFT, lo_open=True)
    if "on" in raw:
        if "month" in raw or "day" in raw:
            raise SettingError(f"{where}.on", "give either on (once) or month and day (every year)")
        try:
            on = date.fromisoformat(raw["on"]) if isinstance(raw["on"], str) else None
        except ValueError:
            on = None
        if on is None:
            raise SettingError(f"{where}.on", f"must be a date as YYYY-MM-DD, not {raw['on']!r}")
        return Promotion(name, on=on, before=before, after=after, default_uplift=uplift)
    if "month" not in raw or "day" not in raw:
        raise SettingError(where, "needs month and day (every year) or on (once)")
    month = _integer(raw["month"], f"{where}.month", 1, 12)
    day = _integer(raw["day"], f"{where}.day", 1, 31)
    try:
        return Promotion(name, month, day, before=before, after=after, default_uplift=uplift)
    except ValueError as e:
        raise SettingError(f"{where}.day", f"no such day {month:02d}-{day:02d}") from e


def parse(changes: Mapping[str, Any], base: ReplenishmentSettings | None = None) -> ReplenishmentSettings:
    """`base` (the defaults if None) with `changes` applied; every value checked."""
    out = base or ReplenishmentSettings()
    for name in changes:
        if name not in NAMES:
            raise SettingError(name, f"no such setting; the settings are {', '.join(NAMES)}")
    new: dict[str, Any] = {}
    if "promotions" in changes:
        raw = changes["promotions"]
        if not isinstance(raw, list) or len(raw) > MAX_PROMOTIONS:
            raise SettingError("promotions", f"must be a list of at most {MAX_PROMOTIONS} promotions")
        promotions = tuple(_promotion(p, f"promotions[{i}]") for i, p in enumerate(raw))
        seen: set[str] = set()
        for i, p in enumerate(promotions):
            if p.name in seen:
                raise SettingError(f"promotions[{i}].name", f"{p.name!r} is named twice")
            seen.add(p.name)
        new["promotions"] = promotions
    if "fill_rate" in changes:
        new["fill_rate"] = _number(changes["fill_rate"], "fill_rate", LOWEST_FILL_RATE, HIGHEST_FILL_RATE)
    if "fill_rates" in changes:
        rates = _mapping(changes["fill_rates"], "fill_rates")
        new["fill_rates"] = {k: _number(v, f"fill_rates.{k}", LOWEST_FILL_RATE, HIGHEST_FILL_RATE)
                             for k, v in rates.items()}
    if "pooled" in changes:
        if not isinstance(changes["pooled"], bool):
            raise SettingError("pooled", f"must be true or false, not {changes['pooled']!r}")
        new["pooled"] = changes["pooled"]
    if "least_fill_rate" in changes:
        new["least_fill_rate"] = _number(changes["least_fill_rate"], "least_fill_rate", LOWEST_FILL_RATE,
                                         HIGHEST_FILL_RATE)
    if "store_sizes" in changes:
        sizes = _mapping(changes["store_sizes"], "store_sizes")
        new["store_sizes"] = {k: _number(v, f"store_sizes.{k}", 0.0, 1e9, lo_open=True)
                              for k, v in sizes.items()}
    if "transfer_km" in changes:
        new["transfer_km"] = _number(changes["transfer_km"], "transfer_km", 0.0, MAX_KM)
    if "served_by" in changes:
        served = _mapping(changes["served_by"], "served_by")
        for store, house in served.items():
            if not isinstance(house, str) or not 1 <= len(house) <= 32:
                raise SettingError(f"served_by.{store}", f"must name a warehouse, not {house!r}")
        new["served_by"] = dict(served)
    if "opening_hours" in changes:
        hours = _mapping(changes["opening_hours"], "opening_hours")
        if set(hours) != {"opens", "closes"}:
            raise SettingError("opening_hours", "must name opens and closes (HH:MM), nothing else")
        opens = _clock(hours["opens"], "opening_hours.opens")
        closes = _clock(hours["closes"], "opening_hours.closes")
        if not opens < closes:
            raise SettingError("opening_hours.closes", "must be after opens (a day's hours, not overnight)")
        new["opens"], new["closes"] = opens, closes
    if "nightly_at" in changes:
        new["nightly_at"] = _clock(changes["nightly_at"], "nightly_at")
    if "keep_runs" in changes:
        new["keep_runs"] = _integer(changes["keep_runs"], "keep_runs", 1, MAX_KEEP_RUNS)
    return replace(out, **new)


def stored(rows: Mapping[str, Any]) -> ReplenishmentSettings:
    """The settings from their stored JSON values (as `to_json` wrote them, one entry per name)."""
    return parse({k: v for k, v in rows.items() if k in NAMES})
