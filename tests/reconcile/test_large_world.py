"""A real-sized shop (WorldConfig.large): deterministic per seed, the stated mix of sensors, device
faults that take the named class down for the stated time, and the accuracy bench's --skus run."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest

from edge.fusion.domain import UnexplainedWeight, WeightEvent
from firmware_sim.world import (
    CAMERA,
    LANES_PER_CAMERA,
    SCALE,
    Pick,
    Sale,
    StoreWorld,
    Theft,
    WorldConfig,
    catalog,
    gtin_check_digit,
    large_catalog,
    stealable,
)
from tests.benchmarks import bench_accuracy
from tests.reconcile.trading import START, Sensors, Shelves


def _world(seed: int, **kw: object) -> StoreWorld:
    return StoreWorld(seed=seed, start=START, config=WorldConfig.large(800, 400, **kw))


def test_the_large_world_is_the_same_per_seed_and_differs_between_seeds() -> None:
    a, b, c = _world(3), _world(3), _world(4)
    assert a.products == b.products and a.bins == b.bins and a.tagged_skus == b.tagged_skus
    day = START + timedelta(days=1)
    assert a.advance(day) == b.advance(day)
    assert a.snapshot() == b.snapshot()
    assert [p.name for p in a.products.values()] != [p.name for p in c.products.values()]


def test_the_large_world_has_the_stated_mix() -> None:
    w = _world(1)
    assert len(w.products) == 800 and len(w.bins) == 800
    assert len({b.id for b in w.bins.values()}) == 800
    sensors = Counter(b.sensor for b in w.bins.values())
    assert sensors[SCALE] >= 100 and sensors[CAMERA] >= 40 and sensors[None] > 800 // 2
    assert 0.25 <= len(w.tagged_skus) / 800 <= 0.35
    assert all(u.tagged == (u.gtin in w.tagged_skus) for u in w.units.values())
    for p in w.products.values():
        assert len(p.gtin) == 14 and int(p.gtin[-1]) == gtin_check_digit(p.gtin[:-1])
        assert p.unit_grams > 0 and p.price_cents > 0
    assert {p.category for p in w.products.values()} == {
        "dry_food", "wet_food", "treats", "litter", "toy", "accessory"}
    assert large_catalog(800, 1)[:16] == catalog()  # the small shop's range is part of it
    # Scales sit under what weighs well; camera lanes over toys and accessories.
    assert all(w.products[b.gtin].category not in ("toy", "accessory") for b in w.sensed_by(SCALE))
    assert all(w.products[b.gtin].category in ("toy", "accessory") for b in w.sensed_by(CAMERA))
    # 200-600 shoppers a day: a day's till sales (each trip pays at most once) are in that range.
    events = w.advance(START + timedelta(days=1))
    till = [e for e in events if isinstance(e, Sale) and e.txn.startswith("T")]
    assert 200 <= len(till) <= 600
    assert len({e.gtin for e in events if isinstance(e, Pick)}) > 200  # the range sells, not 16 SKUs


def test_the_shop_tags_what_looks_most_stealable_and_thieves_take_it_more() -> None:
    """Tags go on the 30 % of SKUs with the highest price per litre; thieves choose by that and a
    factor of each SKU's own nobody in the shop knows, the mean over picks kept at `theft`."""
    w = _world(5)
    rated = sorted(w.products.values(), key=lambda p: -stealable(p))
    assert w.tagged_skus == frozenset(p.gtin for p in rated[:240])
    assert stealable(w.products[catalog()[15].gtin]) > 2 * stealable(w.products[catalog()[0].gtin])
    events = w.advance(START + timedelta(days=3))
    picked = sum(len(e.uids) for e in events if isinstance(e, Pick) and e.order is None)
    stolen = [e for e in events if isinstance(e, Theft)]
    units = sum(len(e.uids) for e in stolen)
    on_tagged = sum(len(e.uids) for e in stolen if e.gtin in w.tagged_skus)
    assert 0.004 <= units / picked <= 0.02, (units, picked)  # about the 1 % asked
    assert on_tagged / units >= 0.5, (on_tagged, units)  # on 30 % of the SKUs
    # Uniform thefts and random tags: the tags no more likely on stolen goods than on the rest.
    u = _world(5, thefts="uniform", tag_by="random")
    stolen_u = [e for e in u.advance(START + timedelta(days=3)) if isinstance(e, Theft)]
    share_u = sum(len(e.uids) for e in stolen_u if e.gtin in u.tagged_skus) / sum(len(e.uids) for e in stolen_u)
    assert share_u < on_tagged / units - 0.2, (share_u, on_tagged / units)
    with pytest.raises(ValueError, match="thefts must be one of"):
        _world(5, thefts="random")
    with pytest.raises(ValueError, match="tag_by must be one of"):
        _world(5, tag_by="price")


def test_the_default_world_keeps_its_sixteen_skus() -> None:
    w = StoreWorld(seed=1, start=START, config=WorldConfig.trading())
    assert len(w.products) == 16 and all(b.sensor == SCALE for b in w.bins.values())
    assert w.faults(START.date()) == []


@pytest.mark.parametrize(("device_class", "hours"), [("scale", 3.0), ("reader", 4.0), ("camera", 2.5)])
def test_a_fault_takes_one_device_of_its_class_down_for_the_stated_time(device_class: str, hours: float) -> None:
    w = _world(2, fault=device_class, fault_hours=hours)
    for d in range(3):
        day = (START + timedelta(days=d)).date()
        (f,) = w.faults(day)
        assert f.device_class == device_class and f.end - f.start == timedelta(hours=hours)
        assert f.start.date() == day and f.start.hour >= 9 and f.end.hour + f.end.minute / 60 <= 21
        if device_class == "reader":
            assert f.device == "door"
        elif device_class == "camera":  # a camera: every lane it watches is blind
            assert f.bins == w.cameras()[f.device] and 1 < len(f.bins) <= LANES_PER_CAMERA
            assert all(w.bins[b].sensor == "camera" and w.device_down("camera", b, f.start) for b in f.bins)
        else:
            assert w.bins[f.device].sensor == device_class and f.bins == (f.device,)
        assert w.device_down(device_class, f.device, f.start)
        assert w.device_down(device_class, f.device, f.end - timedelta(seconds=1))
        assert not w.device_down(device_class, f.device, f.end)
        assert not w.device_down(device_class, f.device, f.start - timedelta(seconds=1))
        other = "door" if device_class != "reader" else next(iter(w.bins))
        assert not w.device_down(device_class, other, f.start)
    assert _world(2).faults(START.date()) == []


def test_the_shops_cameras_share_its_lanes_out_whole() -> None:
    w = _world(3)
    cams = w.cameras()
    lanes = [b for ls in cams.values() for b in ls]
    assert sorted(lanes) == sorted(b.id for b in w.sensed_by(CAMERA)) and len(set(lanes)) == len(lanes)
    assert len(cams) == -(-len(lanes) // LANES_PER_CAMERA) >= 2


def test_a_reader_fault_silences_the_door_and_a_scale_fault_its_bin(monkeypatch: pytest.MonkeyPatch) -> None:
    w = _world(5, fault="reader", fault_hours=6.0)
    shelves = Shelves(w, 5, "real")
    sensors = Sensors(w, shelves, 5, portal=1.0)
    (f,) = w.faults(START.date())
    tagged = next(u for u in w.units.values() if u.tagged)
    untagged = next(u for u in w.units.values() if not u.tagged)
    assert sensors._through_door(f.start + timedelta(minutes=1), (tagged.uid,), out=True) == []
    assert len(sensors._through_door(f.end + timedelta(minutes=1), (tagged.uid,), out=True)) == 1
    assert sensors._through_door(f.end + timedelta(minutes=1), (untagged.uid,), out=True) == []
    assert len(shelves.bins) == len(w.sensed_by(SCALE))  # only scaled bins have a load cell

    ws = _world(5, fault="scale", fault_hours=2.0)
    shelves = Shelves(ws, 5, "real")
    (f,) = ws.faults(START.date())
    b = shelves.bins[f.device]
    assert shelves._off(f.device, f.start.timestamp() - 60, f.end.timestamp() + 60) == [
        (f.start.timestamp(), f.end.timestamp())]
    fed: list[float] = []
    real_feed = b.det.feed

    def feed(t: float, g: float, ok: bool) -> WeightEvent | UnexplainedWeight | None:
        fed.append(t)
        return real_feed(t, g, ok)

    monkeypatch.setattr(b.det, "feed", feed)
    b.active_to = f.end.timestamp() + 30
    shelves._sample(b, f.end.timestamp() + 30)
    assert fed and all(not f.start.timestamp() <= t < f.end.timestamp() for t in fed)
    assert any(t >= f.end.timestamp() for t in fed)


def test_the_bench_runs_a_large_shop_for_a_short_period_and_reports_per_seed(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_accuracy.main(["--skus", "200", "--shoppers", "300", "--stores", "2", "--days", "0.4",
                                "--seed", "7", "--faults", "reader", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["skus_per_store"] == 200 and 0 < res["sensed_skus_per_store"] < 200
    assert [p["seed"] for p in res["per_seed"]] == [7, 8]
    for p in res["per_seed"]:
        assert 0 <= p["accuracy"] <= 1 and 0 <= p["accuracy_sensed"] <= 1
    # The stores' own sensed SKUs weigh the pooled figure: it lies between the stores' figures.
    sensed = sorted(p["accuracy_sensed"] for p in res["per_seed"])
    assert sensed[0] - 1e-9 <= res["accuracy_sensed"] <= sensed[-1] + 1e-9
    assert res["faults"] == "reader" and res["world_events"] > 0


def test_the_bench_refuses_bad_large_shop_flags(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--skus", "5"], ["--faults", "scale"], ["--skus", "800", "--shoppers", "-1"],
                 ["--skus", "800", "--faults", "laser"], ["--thefts", "craved"],
                 ["--skus", "800", "--tag-by", "price"]):
        with pytest.raises(SystemExit) as exc:
            bench_accuracy.main(argv)
        assert exc.value.code == 2
    assert "--skus" in capsys.readouterr().err
