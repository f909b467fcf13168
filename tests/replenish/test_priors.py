"""A sensible start for new products and new stores: the prior's arithmetic (table tests), store
sizes relative to the chain, and end to end on SQLite and PostgreSQL: a store opened two days ago
starts from the chain's rate for the SKU scaled by its configured size."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from cloud.replenish.forecast import _prior_level
from cloud.replenish.plan import PlanSettings
from shared.contract import Kind, Source, StockDelta, Zone
from tests.orders.chain import Api, book
from tests.replenish.ledger_history import A, chain_with_history

# (sku, location, category, size, level or None: new)
CHAIN = [
    ("s1", "a", "food", 1.0, 4.0),
    ("s2", "a", "food", 1.0, 2.0),
    ("s3", "a", "food", 1.0, 3.0),
    ("s1", "b", "food", 2.0, None),   # a new store: the SKU's chain rate per unit of size × 2
    ("s9", "a", "food", 1.0, None),   # a new product: the mean of its category at that store
    ("s9", "c", "food", 0.5, None),   # a new product in a new store: the category per size × 0.5
    ("s7", "a", "toys", 1.0, None),   # a category nobody sells yet: the chain's per-size mean
]


@pytest.mark.parametrize(("row", "expected"), [(3, 8.0), (4, 3.0), (5, 1.5), (6, 3.0)])
def test_the_prior_of_a_new_series(row: int, expected: float) -> None:
    ids = {name: i for i, name in enumerate(sorted({r[k] for r in CHAIN for k in (0, 1, 2)}))}
    level = np.array([r[4] if r[4] is not None else 0.0 for r in CHAIN])
    known = np.array([r[4] is not None for r in CHAIN])
    prior = _prior_level(level, known, np.array([ids[r[0]] for r in CHAIN]), np.array([ids[r[2]] for r in CHAIN]),
                         np.array([ids[r[1]] for r in CHAIN]), np.array([r[3] for r in CHAIN]))
    assert prior[row] == pytest.approx(expected)


def test_the_same_sku_at_stores_of_different_sizes_pools_per_unit_of_size() -> None:
    level = np.array([4.0, 12.0, 0.0])
    known = np.array([True, True, False])
    one = np.zeros(3, dtype=np.int64)
    prior = _prior_level(level, known, one, one, np.array([0, 1, 2]), np.array([1.0, 2.0, 1.5]))
    assert prior[2] == pytest.approx((4 + 12) / (1 + 2) * 1.5)


@pytest.mark.parametrize(("sizes", "locations", "expected"), [
    ({}, ["a", "b"], {"a": 1.0, "b": 1.0}),                                   # none given: all alike
    ({"a": 100, "b": 200, "c": 300}, ["a", "b", "c"], {"a": 0.5, "b": 1.0, "c": 1.5}),  # over the median
    ({"a": 80, "b": 120}, ["a", "b", "new"], {"a": 0.8, "b": 1.2, "new": 1.0}),  # not given: the median
])
def test_store_sizes_are_relative_to_the_median(sizes: dict[str, float], locations: list[str],
                                                expected: dict[str, float]) -> None:
    assert PlanSettings(store_size=sizes).relative_sizes(locations) == pytest.approx(expected)


def test_a_size_that_cannot_be_is_refused() -> None:
    with pytest.raises(ValueError, match="store sizes"):
        PlanSettings(store_size={"a": 0.0})


async def test_a_new_store_starts_from_the_chains_rate_scaled_by_its_size(api: Api) -> None:
    """sh-1 (~5 A a day) and sh-2 (~3 a day), 100 m² each; sh-3 opened two days ago with nothing
    sold yet. At 200 m² it starts from ~8 A a day, at 50 m² from ~2: its order-up-to level follows."""
    await chain_with_history(api, warehouse=False)
    await api.store("sh-3", 31.27, 121.52)
    opened = datetime.now(UTC) - timedelta(days=2)
    await book(api.maker, "sh-3", StockDelta(id=str(uuid.uuid4()), seq=1, sku=A, kind=Kind.COUNT, qty=0,
                                             zone=Zone.FLOOR, occurred_at=opened, source=Source.MANUAL))

    async def level_at_sh3(size: float) -> tuple[int, str]:
        await api.put("/v1/replenishment/settings", {"store_sizes": {"sh-1": 100, "sh-2": 100, "sh-3": size}})
        _, run = await api.post("/v1/replenishment/runs", {"wait": True})
        assert run["status"] == "done", run
        _, got = await api.get(f"/v1/replenishment/suggestions?run={run['id']}&location=sh-3&sku={A}")
        rows = [s for s in got["suggestions"] if s["kind"] != "emergency"]
        assert rows, got
        assert run["summary"]["new_series"] >= 1
        return int(rows[0]["detail"]["order_up_to"]), str(rows[0]["detail"]["method"])

    big, method = await level_at_sh3(200)
    small, _ = await level_at_sh3(50)
    assert method == "prior"
    # 11 days (lead 4 + review 7) of ~8 vs ~2 a day, plus safety stock: about four times as much
    assert 2.5 * small < big, (small, big)
    assert 60 < big < 160, big
