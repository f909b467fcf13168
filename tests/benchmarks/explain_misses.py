"""Why was it missed? Each stolen unit of a sensed SKU that no shrink matched in a `shelfsync bench
accuracy` run, with what the sensors saw of the theft and what the reconciler did with its pick.

Runs the real-sized shop as the bench does (`--skus 800 --shoppers 400 --days 3`, door antennas at
0.97, the count at 22:00, cameras in the fusion, tags known, unseen picks of untagged SKUs waiting
85 minutes), scores the shrinks against the thefts as the bench's `score` does, and follows every
pick the reconciler made (a `Reconciler` that keeps a diary of its picks: made, claimed, put back,
settled by a count, booked as shrink) to tell, for each missed unit:

- what watches its SKU: `scale`, `camera` (a lane), `tagged` (read at the door), or a pair;
- the cause, as `<the pick>/<the door>`:
  - the pick: `lane-row-full` (no pick seen, and none could be: the lane counts its front row and
    the bin held more than a row after the pick), `pick-unseen` (no pick within `NEAR_S` of the
    world's pick otherwise), or `pick-<what first took its units>`: `pos-sale` (a till line
    claimed it), `order`, `pos-void`, `scale-rise` / `lane-rise` (a put-back undid it),
    `found-by-count` (a count found as many units as the book: dropped), `counted-missing`,
    `tick:shrink`, `shrink-matched-elsewhere` (booked, but scored to another theft), `waiting`;
  - the door: `no-tag` (its units carry none), `door-read-shrunk`, `door-read-taken-as-paid` (a read no shrink came of: a sale of
    the SKU paid for it), `door-did-not-read-all` / `-some` (of a tagged hand), and
    `door-shrink-outside-match` (a door's shrink dated more than `MATCH_S` from the pick).

Example:
    python -m tests.benchmarks.explain_misses --seeds 1 2 3
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from edge.fusion.domain import BinChange, ExitRead, LaneChange, Observation, OrderLine, PosLine, ZoneCount
from edge.fusion.reconciler import Reconciler
from edge.shelf.detector import DetectorConfig
from firmware_sim.world import CAMERA, SCALE, Pick, PutBack, Restock, WorldConfig
from shared.contract import Kind, StockDelta
from tests.benchmarks.bench_accuracy import UNSEEN_LARGE_MIN
from tests.reconcile.trading import MATCH_S, Lanes, Run, matches, score, simulate

NEAR_S = 20.0  # the reconciler's pick of a hand: made within this many seconds of the world's pick


@dataclass
class Diary:
    at: datetime
    bin: str
    sku: str
    qty: int
    steps: list[tuple[str, str, int]] = field(default_factory=list)  # (when, what, units taken)
    shrinks: list[str] = field(default_factory=list)


class DiaryReconciler(Reconciler):
    """The reconciler, keeping a diary of every pick it makes and what takes it."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.diary: dict[int, tuple[Any, Diary]] = {}
        self.exit_reads: dict[str, datetime] = {}

    def _snap(self) -> dict[int, tuple[int, bool, bool]]:
        return {id(p): (p.qty, p.found is not None, p.counted is not None) for p in self._picks}

    def _note(self, before: dict[int, tuple[int, bool, bool]], what: str, at: datetime,
              out: list[Any]) -> None:
        now = {id(p): p for p in self._picks}
        for p in self._picks:
            if id(p) not in before and id(p) not in self.diary:
                self.diary[id(p)] = (p, Diary(p.at, p.bin, p.sku, p.qty, [(at.isoformat(), "made:" + what, 0)]))
        shrinks = [d for d in out if isinstance(d, StockDelta) and d.kind is Kind.SHRINK]
        for pid, (qty, found, counted) in before.items():
            entry = self.diary.get(pid)
            if entry is None:
                continue
            p, diary = entry
            gone = pid not in now
            left = 0 if gone else p.qty
            shrunk = [d for d in shrinks if d.evidence and d.evidence.get("pick_at") == p.at.isoformat()
                      and d.bin == p.bin]
            for d in shrunk:
                diary.shrinks.append(d.id)
            if left != qty:
                tag = what + (":shrink" if shrunk else "")
                diary.steps.append((at.isoformat(), tag, qty - left))
            if not found and p.found is not None:
                diary.steps.append((at.isoformat(), "found-by-count", 0))
            if not counted and p.counted is not None:
                diary.steps.append((at.isoformat(), "counted-missing", 0))

    def observe(self, obs: Observation) -> list[Any]:
        before = self._snap()
        out = super().observe(obs)
        what = type(obs).__name__
        if isinstance(obs, PosLine):
            what = "pos-" + obs.kind
        elif isinstance(obs, BinChange):
            what = "scale-" + ("rise" if obs.delta > 0 else "fall")
        elif isinstance(obs, LaneChange):
            what = "lane-" + ("rise" if obs.delta > 0 else "fall")
        elif isinstance(obs, ExitRead):
            self.exit_reads.setdefault(obs.epc, obs.at)
        elif isinstance(obs, OrderLine):
            what = "order"
        elif isinstance(obs, ZoneCount):
            what = "count"
        self._note(before, what, obs.at, out)
        return out

    def tick(self, now: datetime) -> list[Any]:
        before = self._snap()
        out = super().tick(now)
        self._note(before, "tick", now, out)
        return out


def matched(run: Run) -> dict[int, int]:
    """Units of each theft (by its index) that shrinks matched, as `trading.score` matches them."""
    index = {id(t): i for i, t in enumerate(run.thefts)}
    got: dict[int, int] = {}
    for _, t, k in matches(run):
        got[index[id(t)]] = got.get(index[id(t)], 0) + k
    return got


def units_before(run: Run, bin_id: str, picked_at: datetime) -> int:
    """Units on a bin just before the pick at `picked_at`: its units at the end, with every later
    pick, put-back and refill of the bin undone."""
    assert run.world is not None
    n = len(run.world.bin_units(bin_id))
    for e in reversed(run.log):
        if isinstance(e, Pick | PutBack | Restock) and e.bin == bin_id:
            if e.at < picked_at:
                break
            n += len(e.uids) if isinstance(e, Pick) else -len(e.uids)
    return n


def explain(run: Run, rec: DiaryReconciler, slots: dict[str, int]) -> list[dict[str, Any]]:
    world = run.world
    assert world is not None
    store = world.store
    got = matched(run)
    shrinks = {d.id: d for d in run.deltas if d.kind is Kind.SHRINK}
    exit_shrinks = {str(d.evidence["exit_epc"]): d for d in shrinks.values() if d.evidence and "exit_epc" in d.evidence}
    rows = []
    for i, t in enumerate(run.thefts):
        if t.gtin not in run.sensed_skus or t.picked_at is None:
            continue
        missed = len(t.uids) - got.get(i, 0)
        if not missed:
            continue
        sensor = world.bins[t.bin].sensor
        tagged = all(world.units[u].tagged for u in t.uids)
        watch = "+".join(x for x in (sensor if sensor in (SCALE, CAMERA) else "", "tagged" if tagged else "") if x)
        reads = {u: rec.exit_reads.get(f"{store}.{u}") for u in t.uids}
        read_shrunk = {u: f"{store}.{u}" in exit_shrinks for u in t.uids}
        near = [d for _, d in rec.diary.values()
                if d.bin == t.bin and abs((d.at - t.picked_at).total_seconds()) <= NEAR_S]
        row: dict[str, Any] = {
            "theft_picked": t.picked_at.isoformat(), "left": t.at.isoformat(), "sku": t.gtin, "bin": t.bin,
            "units": len(t.uids), "missed": missed, "watch": watch,
            "linger_min": round((t.at - t.picked_at).total_seconds() / 60, 1),
            "door_read": sum(1 for v in reads.values() if v is not None),
            "door_shrink": sum(read_shrunk.values()),
            "picks": [{"at": d.at.isoformat(), "qty": d.qty, "steps": d.steps, "shrinks": [
                {"at": shrinks[s].occurred_at.isoformat(), "qty": -shrinks[s].qty,
                 "off_min": round((shrinks[s].occurred_at - t.picked_at).total_seconds() / 60, 1)}
                for s in d.shrinks if s in shrinks]} for d in near],
        }
        # Shrinks of the SKU that could have been this theft's, and why they did not match it.
        row["sku_shrinks"] = [{"at": d.occurred_at.isoformat(), "qty": -d.qty,
                               "off_min": round((d.occurred_at - t.picked_at).total_seconds() / 60, 1),
                               "via": "door" if d.evidence and "exit_epc" in d.evidence else "pick"}
                              for d in shrinks.values() if d.sku == t.gtin
                              and abs((d.occurred_at - t.picked_at).total_seconds()) <= 6 * 3600]
        row["observed"] = [(o.at.isoformat()[11:19], type(o).__name__, getattr(o, "delta", None),
                            getattr(o, "count", None)) for o in run.seen if getattr(o, "bin", None) == t.bin
                           and -60 <= (o.at - t.picked_at).total_seconds() <= 120]
        if sensor == CAMERA:  # a lane sees its front row: a pick from a fuller bin changes nothing it shows
            before = units_before(run, t.bin, t.picked_at)
            row["lane"] = {"row": slots.get(t.bin), "units_before": before,
                           "hidden": before - len(t.uids) >= slots.get(t.bin, 0)}
        row["cause"] = cause(row)
        rows.append(row)
    return rows


def cause(row: dict[str, Any]) -> str:
    """The missed units' cause, from what the sensors saw and what became of the pick."""
    picks = row["picks"]
    if any(s["via"] == "door" and abs(s["off_min"]) * 60 > MATCH_S for s in row["sku_shrinks"]):
        return "door-shrink-outside-match"
    if "tagged" not in row["watch"]:
        door = "no-tag"
    elif row["door_read"] > row["door_shrink"]:
        door = "door-read-taken-as-paid"
    elif row["door_read"] < row["units"]:
        door = "door-did-not-read" + ("-all" if not row["door_read"] else "-some")
    else:
        door = "door-read-shrunk"
    if not picks:
        seen = "lane-row-full" if row.get("lane", {}).get("hidden") else "pick-unseen"
        return f"{seen}/{door}"
    steps = [s for p in picks for s in p["steps"][1:]]
    first = next((s[1] for s in steps if s[2] > 0 or s[1] in ("found-by-count", "counted-missing")), "waiting")
    if any(p["shrinks"] for p in picks):
        first = "shrink-matched-elsewhere"
    return f"pick-{first}/{door}"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1])
    ap.add_argument("--skus", type=int, default=800)
    ap.add_argument("--shoppers", type=float, default=400.0)
    ap.add_argument("--days", type=float, default=3.0)
    ap.add_argument("--portal", type=float, default=0.97)
    ap.add_argument("--unseen-minutes", type=float, default=UNSEEN_LARGE_MIN)
    ap.add_argument("--tagged-share", type=float, default=0.3, help="the share of SKUs tagged (the bench's default 0.3)")
    ap.add_argument("--json", action="store_true", help="one JSON object per missed theft")
    args = ap.parse_args(argv)
    total: Counter[str] = Counter()
    made: list[DiaryReconciler] = []

    def diary_reconciler(*a: Any, **kw: Any) -> DiaryReconciler:
        r = DiaryReconciler(*a, **kw)
        made.append(r)
        return r

    for seed in args.seeds:
        made.clear()
        run = simulate(args.days, seed, 0.01, 0.02, portal=args.portal, nightly=22,
                       detector=DetectorConfig(min_delta_g=20.0),
                       unseen_window=timedelta(minutes=args.unseen_minutes),
                       config=WorldConfig.large(args.skus, args.shoppers, tagged_share=args.tagged_share), record=True,
                       reconciler=diary_reconciler)
        res = score([run])
        world = run.world
        assert world is not None
        slots = Lanes(world, seed).slots if world.sensed_by(CAMERA) else {}
        rows = explain(run, made[0], slots)
        per: Counter[str] = Counter()
        for r in rows:
            per[f"{r['watch']}: {r['cause']}"] += r["missed"]
            total[f"{r['watch']}: {r['cause']}"] += r["missed"]
            print(json.dumps({"seed": seed, **r}, default=str) if args.json else
                  f"seed {seed} {r['watch']:12} {r['cause']:40} {r['missed']}/{r['units']} {r['sku']} "
                  f"picked {r['theft_picked'][5:19]} linger {r['linger_min']} door {r['door_read']} "
                  f"picks {r['picks']} sku_shrinks {r['sku_shrinks']} observed {r['observed']} {r.get('lane', '')}", flush=True)
        print(f"seed {seed}: stolen sensed {res['shrink_units_stolen_sensed']}, recall_sensed "
              f"{res['shrink_recall_sensed']}, precision {res['shrink_precision']}, missed {sum(per.values())}: "
              f"{dict(per)}", file=sys.stderr, flush=True)
    print(f"all seeds: {dict(total)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
