"""The chain's replenishment settings: the values each takes (table tests of `settings.parse`), and
through the API on SQLite and PostgreSQL: stored, hq only, audited, used by the next run (the
chain's own promotion, per-category targets, transfer distance), the nightly time, and old runs
pruned to `keep_runs`."""

from __future__ import annotations

from datetime import date, time
from typing import Any

import pytest

from cloud.db import audit
from cloud.db.replenishment_settings import ACTION
from cloud.keys import REPLENISHMENT
from cloud.replenish.settings import ReplenishmentSettings, SettingError, parse
from tests.orders.chain import Api
from tests.replenish.ledger_history import A, chain_with_history


def test_the_defaults() -> None:
    s = ReplenishmentSettings()
    assert (s.fill_rate, s.transfer_km, s.nightly_at, s.keep_runs) == (0.98, 50.0, time(2), 90)
    assert (s.pooled, s.least_fill_rate) == (True, 0.90)
    assert [p.name for p in s.calendar.promotions] == ["double-11", "618"]


def test_the_chains_own_promotions_come_after_the_built_in_ones() -> None:
    s = parse({"promotions": [{"name": "pet-day", "month": 8, "day": 26, "before": 2, "uplift": 3.0},
                              {"name": "opening", "on": "2027-01-15"}]})
    assert [p.name for p in s.calendar.promotions] == ["double-11", "618", "pet-day", "opening"]
    index = s.calendar.index(date(2026, 8, 23), 5).tolist()
    assert index == [-1, 2, 2, 2, -1]  # 08-24 .. 08-26: two days before, and the day
    assert s.promotions[1].on == date(2027, 1, 15) and s.promotions[1].default_uplift == 1.5
    assert parse(s.to_json()) == s  # what is stored reads back as it was


@pytest.mark.parametrize(("changes", "field", "says"), [
    ({"promotions": [{"name": "618", "month": 6, "day": 18}]}, "promotions[0].name", "built in"),
    ({"promotions": [{"name": "x", "month": 2, "day": 30}]}, "promotions[0].day", "no such day 02-30"),
    ({"promotions": [{"name": "x", "month": 13, "day": 1}]}, "promotions[0].month", "1–12"),
    ({"promotions": [{"name": "x"}]}, "promotions[0]", "month and day"),
    ({"promotions": [{"name": "x", "on": "2027-02-30"}]}, "promotions[0].on", "YYYY-MM-DD"),
    ({"promotions": [{"name": "x", "on": "2027-02-03", "month": 2}]}, "promotions[0].on", "either"),
    ({"promotions": [{"name": "x", "month": 1, "day": 1, "uplift": 0}]}, "promotions[0].uplift", "above 0"),
    ({"promotions": [{"name": "x", "month": 1, "day": 1, "before": 15}]}, "promotions[0].before", "0–14"),
    ({"promotions": [{"name": "x", "month": 1, "day": 1}, {"name": "x", "on": "2027-01-01"}]},
     "promotions[1].name", "twice"),
    ({"fill_rate": 1.0}, "fill_rate", "at most 0.999"),
    ({"fill_rate": True}, "fill_rate", "a number"),
    ({"fill_rates": {"food": 0.3}}, "fill_rates.food", "at least 0.5"),
    ({"fill_rates": [0.9]}, "fill_rates", "JSON object"),
    ({"store_sizes": {"sh-1": 0}}, "store_sizes.sh-1", "above 0"),
    ({"transfer_km": -1}, "transfer_km", "at least 0"),
    ({"pooled": "yes"}, "pooled", "true or false"),
    ({"pooled": 1}, "pooled", "true or false"),
    ({"least_fill_rate": 0.2}, "least_fill_rate", "at least 0.5"),
    ({"opening_hours": {"opens": "21:00", "closes": "09:00"}}, "opening_hours.closes", "after opens"),
    ({"opening_hours": {"opens": "9:00", "closes": "21:00"}}, "opening_hours.opens", "HH:MM"),
    ({"opening_hours": {"opens": "09:00"}}, "opening_hours", "opens and closes"),
    ({"nightly_at": "24:00"}, "nightly_at", "no such time"),
    ({"keep_runs": 0}, "keep_runs", "1–10000"),
    ({"keep_runs": 2.5}, "keep_runs", "whole number"),
    ({"nightly": "02:00"}, "nightly", "no such setting"),
])
def test_a_bad_value_is_refused_naming_its_field(changes: dict[str, Any], field: str, says: str) -> None:
    with pytest.raises(SettingError) as e:
        parse(changes)
    assert e.value.field == field and says in e.value.problem


async def _token(api: Api, name: str, role: str, store: str | None = None) -> str:
    status, body = await api.post("/v1/tokens", {"name": name, "role": role, "store": store})
    assert status == 201, body
    return str(body["token"])


async def test_settings_are_stored_hq_only_validated_and_audited(api: Api) -> None:
    _, before = await api.get("/v1/replenishment/settings")
    assert before["fill_rate"] == 0.98 and before["promotions"] == [] and before["nightly_at"] == "02:00"
    _, after = await api.put("/v1/replenishment/settings", {
        "promotions": [{"name": "pet-day", "month": 8, "day": 26, "uplift": 3}],
        "fill_rates": {"food": 0.99}, "transfer_km": 20, "nightly_at": "03:30", "keep_runs": 5})
    assert after["promotions"] == [{"name": "pet-day", "month": 8, "day": 26, "before": 0, "after": 0,
                                    "uplift": 3.0}]
    assert (after["fill_rates"], after["transfer_km"], after["nightly_at"], after["keep_runs"]) == (
        {"food": 0.99}, 20.0, "03:30", 5)
    _, read = await api.get("/v1/replenishment/settings")
    assert read == after
    status, refused = await api.call("PUT", "/v1/replenishment/settings", {"nightly_at": "25:00"})
    assert status == 400 and refused["field"] == "nightly_at", refused
    status, refused = await api.call("PUT", "/v1/replenishment/settings",
                                     {"promotions": [{"name": "x", "month": 2, "day": 31}]})
    assert status == 400 and refused["field"] == "promotions[0].day" and "02-31" in refused["error"], refused
    finance = await _token(api, "fin", "finance")
    status, _ = await api.call("PUT", "/v1/replenishment/settings", {"keep_runs": 9}, token=finance)
    assert status == 403
    status, seen = await api.get("/v1/replenishment/settings", token=finance)
    assert status == 200 and seen["keep_runs"] == 5
    shop = await _token(api, "shop", "store", "sh-1")
    status, _ = await api.get("/v1/replenishment/settings", token=shop)
    assert status == 403
    async with api.maker() as session:  # the audit log (read by the console's audit page)
        mine = await audit.entries(session, action=ACTION)
    assert {e.target for e in mine} == {f"replenishment_setting:{n}" for n in
                                        ("promotions", "fill_rates", "transfer_km", "nightly_at", "keep_runs")}
    nightly = next(e for e in mine if e.target == "replenishment_setting:nightly_at")
    assert (nightly.before, nightly.after) == ({"nightly_at": "02:00"}, {"nightly_at": "03:30"})
    assert nightly.who == "admin (hq)"
    await api.put("/v1/replenishment/settings", {"keep_runs": 5})  # the same value: nothing to audit
    async with api.maker() as session:
        assert len(await audit.entries(session, action=ACTION)) == len(mine)


async def test_the_next_run_uses_the_transfer_distance_and_per_category_targets(api: Api) -> None:
    await chain_with_history(api)  # sh-1 and sh-2 are ~3.6 km apart; sh-2 has surplus A for sh-1
    _, near = await api.post("/v1/replenishment/runs", {"wait": True})
    _, got = await api.get(f"/v1/replenishment/suggestions?run={near['id']}&kind=transfer&location=sh-1")
    assert any(s["source"] == "sh-2" for s in got["suggestions"]), got
    await api.put("/v1/replenishment/settings", {"transfer_km": 1})
    _, far = await api.post("/v1/replenishment/runs", {"wait": True})
    _, got = await api.get(f"/v1/replenishment/suggestions?run={far['id']}&kind=transfer&location=sh-1")
    assert not any(s["source"] == "sh-2" for s in got["suggestions"]), got

    async def up_to(rate: float) -> int:
        await api.put("/v1/replenishment/settings", {"fill_rate": rate})
        _, run = await api.post("/v1/replenishment/runs", {"wait": True})
        _, got = await api.get(f"/v1/replenishment/suggestions?run={run['id']}&location=wh&kind=purchase")
        return int(got["suggestions"][0]["detail"]["order_up_to"])

    assert await up_to(0.6) < await up_to(0.999)


async def test_pooling_is_a_setting_the_run_plans_with(api: Api) -> None:
    _, after = await api.put("/v1/replenishment/settings", {"pooled": False, "least_fill_rate": 0.8})
    assert (after["pooled"], after["least_fill_rate"]) == (False, 0.8)
    status, refused = await api.call("PUT", "/v1/replenishment/settings", {"pooled": "no"})
    assert status == 400 and refused["field"] == "pooled", refused
    rep = api.app[REPLENISHMENT]
    plan = rep.plan_settings(await rep.chain_settings())
    assert (plan.pooled, plan.least_fill_rate) == (False, 0.8)


async def test_old_runs_are_pruned_to_keep_runs(api: Api) -> None:
    await chain_with_history(api)
    await api.put("/v1/replenishment/settings", {"keep_runs": 2})
    ids = []
    for _ in range(4):
        _, run = await api.post("/v1/replenishment/runs", {"wait": True})
        ids.append(run["id"])
    _, runs = await api.get("/v1/replenishment/runs")
    assert {r["id"] for r in runs["runs"]} == set(ids[-2:])
    status, _ = await api.get(f"/v1/replenishment/suggestions?run={ids[0]}")
    assert status == 404
    _, kept = await api.get(f"/v1/replenishment/suggestions?run={ids[-1]}")
    assert kept["suggestions"]
    assert await api.app[REPLENISHMENT].prune(1) == 1


async def test_the_nightly_time_is_read_from_the_settings(api: Api) -> None:
    rep = api.app[REPLENISHMENT]
    await api.put("/v1/replenishment/settings", {"nightly_at": "04:15"})
    assert rep.changed.is_set()  # the schedule is woken to look again
    assert (await rep.chain_settings()).nightly_at == time(4, 15)


async def test_served_by_names_a_stores_regional_warehouse(api: Api) -> None:
    """Two warehouses: wh (by the stores) and wh-2 (far off). sh-1 is put in wh-2's region: the
    run's transfers to it come from wh-2 and its emergencies are wh-2's region's."""
    await chain_with_history(api)
    await api.put("/v1/stores/wh-2", {"name": "DC 2", "lat": 30.2, "lon": 120.1, "kind": "warehouse"})
    await api.post("/v1/stores/wh-2/receipts", {"ref": "opening-2", "lines": [{"sku": A, "qty": 500}]})
    for refused, field in (({"sh-1": "sh-2"}, "served_by.sh-1"), ({"sh-9": "wh-2"}, "served_by.sh-9")):
        status, body = await api.call("PUT", "/v1/replenishment/settings", {"served_by": refused})
        assert status == 422 and body["field"] == field, body
    _, run = await api.post("/v1/replenishment/runs", {"wait": True})
    _, got = await api.get(f"/v1/replenishment/suggestions?run={run['id']}&kind=transfer&location=sh-1")
    assert {s["source"] for s in got["suggestions"]} <= {"sh-2", "wh"}, got
    await api.put("/v1/replenishment/settings", {"served_by": {"sh-1": "wh-2"}})
    _, run = await api.post("/v1/replenishment/runs", {"wait": True})
    _, got = await api.get(f"/v1/replenishment/suggestions?run={run['id']}&kind=transfer&location=sh-1")
    assert "wh-2" in {s["source"] for s in got["suggestions"]} and "wh" not in {
        s["source"] for s in got["suggestions"]}, got
    _, got = await api.get(f"/v1/replenishment/suggestions?run={run['id']}&kind=purchase")
    assert {s["location"] for s in got["suggestions"]} <= {"wh", "wh-2"}
