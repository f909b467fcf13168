"""Why was it shrink? Each false shrink of a `shelfsync bench accuracy` run, with its cause from the
world's truth.

Runs the real-sized shop as the bench does (`--skus 800 --shoppers 400 --days 3`, door antennas
at 0.97, the count at 22:00, cameras in the fusion, tags known, unseen picks of untagged SKUs
waiting 85 minutes), scores the shrinks against the thefts as the bench's `score` does (a
shrink matches thefts of its SKU picked within 25 minutes of it; units), and for every shrink unit no
theft matched follows the units of the world's pick it was booked for — the pick on its bin
within seconds of the pick the reconciler saw — to what became of them:

- `phantom`: the world made no pick there then (a fall the detector or a lane read of nothing);
- `staff-order`, `staff-tidy`: a staff pick (an online order, a stray lifted) taken for a hand;
- `put-back-own`, `put-back-scaled`, `put-back-unwatched`: put back on its own bin, on another
  scaled bin, or on a bin nothing watches (with how long until a tidy round brought it home);
- `sold-late`, `sold-in-time`: paid for after the pick's wait ran out, or within it (a sale that
  claimed another pick);
- `voided`, `stolen-unmatched`, `exit-*` (booked on a door read: what the unit read was).

Example:
    python -m tests.benchmarks.explain_shrinks --seeds 13 2 4 --json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from edge.fusion.domain import BinChange, LaneChange, OddWeight
from edge.shelf.detector import DetectorConfig
from firmware_sim.world import (
    CAMERA,
    SCALE,
    Pick,
    PutBack,
    Sale,
    Theft,
    Void,
    WorldConfig,
)
from shared.contract import Kind
from tests.benchmarks.bench_accuracy import UNSEEN_LARGE_MIN
from tests.reconcile.trading import Run, matches, simulate

NEAR_S = 20.0  # a reconciler's pick is the world's pick on that bin within this many seconds


def false_shrinks(run: Run) -> list[tuple[Any, int]]:
    """(shrink delta, units of it no theft matched), matched as `trading.score` matches them."""
    found: Counter[str] = Counter()
    for d, _, k in matches(run):
        found[d.id] += k
    return [(d, -d.qty - found[d.id]) for d in run.deltas if d.kind is Kind.SHRINK and -d.qty > found[d.id]]


def _fate(run: Run, uids: tuple[int, ...], after: datetime) -> list[tuple[datetime, str, Any]]:
    """What happened to these units after `after`, in order: (when, what, the event)."""
    out: list[tuple[datetime, str, Any]] = []
    want = set(uids)
    for e in run.log:
        if e.at < after or not want & set(getattr(e, "uids", ())):
            continue
        if isinstance(e, Sale):
            out.append((e.at, "sold", e))
        elif isinstance(e, Void):
            out.append((e.at, "voided", e))
        elif isinstance(e, Theft):
            out.append((e.at, "stolen", e))
        elif isinstance(e, PutBack):
            out.append((e.at, "put", e))
        elif isinstance(e, Pick):
            out.append((e.at, "lifted", e))
    return out


def explain(run: Run, wait: timedelta) -> list[dict[str, Any]]:
    world = run.world
    assert world is not None, "simulate(..., record=True)"
    sensor = {b.id: b.sensor for b in world.bins.values()}
    picks = [e for e in run.log if isinstance(e, Pick)]
    found = []
    for d, units in false_shrinks(run):
        ev = d.evidence or {}
        row: dict[str, Any] = {"sku": d.sku, "units": units, "bin": d.bin, "shrink_at": d.occurred_at.isoformat(),
                               "detected": run.detected_at[d.id].isoformat(),
                               "sensor": sensor.get(d.bin or ""), "retracted": False,
                               "via": "door" if "exit_epc" in ev else "window"}
        row["retracted"] = any(x.kind is Kind.ADJUST and x.evidence and x.evidence.get("retracts") == d.id
                               for x in run.deltas)
        if "exit_epc" in ev:
            uid = int(str(ev["exit_epc"]).rsplit(".", 1)[1])
            fate = _fate(run, (uid,), d.occurred_at - timedelta(hours=2))
            row["cause"] = "exit-" + (fate[0][1] if fate else "unknown")
            row["fate"] = [(t.isoformat(), w) for t, w, _ in fate]
            found.append(row)
            continue
        pick_at = datetime.fromisoformat(str(ev.get("pick_at", d.occurred_at.isoformat())))
        near = [p for p in picks if p.bin == d.bin and abs((p.at - pick_at).total_seconds()) <= NEAR_S]
        row["pick_at"] = pick_at.isoformat()
        if not near:
            row["cause"] = "phantom"
            obs = [o for o in run.seen if getattr(o, "bin", None) == d.bin
                   and abs((o.at - pick_at).total_seconds()) <= 3600]
            row["observed"] = [(o.at.isoformat(), type(o).__name__,
                                getattr(o, "delta", None), getattr(o, "delta_g", None), getattr(o, "count", None))
                               for o in obs if isinstance(o, BinChange | OddWeight | LaneChange)]
            row["world_near"] = [(e.at.isoformat(), type(e).__name__, getattr(e, "by", ""), len(getattr(e, "uids", ())))
                                 for e in run.log if getattr(e, "bin", None) == d.bin
                                 and abs((e.at - pick_at).total_seconds()) <= 3600]
            found.append(row)
            continue
        p = min(near, key=lambda p: abs((p.at - pick_at).total_seconds()))
        row["world_pick"] = {"at": p.at.isoformat(), "by": p.by, "order": p.order, "units": len(p.uids)}
        if p.by == "staff":
            row["cause"] = "staff-order" if p.order else "staff-tidy"
            found.append(row)
            continue
        fate = _fate(run, p.uids, p.at + timedelta(seconds=0.001))
        row["fate"] = [(t.isoformat(), w, getattr(e, "bin", None), sensor.get(getattr(e, "bin", "") or ""),
                        getattr(e, "by", None), round((t - p.at).total_seconds() / 60, 1)) for t, w, e in fate]
        first = fate[0] if fate else None
        if first is None:
            row["cause"] = "unknown"
        elif first[1] == "sold":
            row["cause"] = "sold-late" if first[0] - p.at > wait else "sold-in-time"
        elif first[1] == "put":
            where = first[2].bin
            row["cause"] = ("put-back-own" if where == p.bin else
                            "put-back-scaled" if sensor.get(where) == SCALE else
                            "put-back-camera" if sensor.get(where) == CAMERA else "put-back-unwatched")
            home = next((t for t, w, e in fate[1:] if w == "put"), None)
            row["home_after_min"] = round((home - p.at).total_seconds() / 60, 1) if home else None
        elif first[1] == "stolen":
            row["cause"] = "stolen-unmatched"
        else:
            row["cause"] = first[1]
        found.append(row)
    return found


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[13])
    ap.add_argument("--skus", type=int, default=800)
    ap.add_argument("--shoppers", type=float, default=400.0)
    ap.add_argument("--days", type=float, default=3.0)
    ap.add_argument("--portal", type=float, default=0.97)
    ap.add_argument("--unseen-minutes", type=float, default=UNSEEN_LARGE_MIN)
    ap.add_argument("--json", action="store_true", help="one JSON object per false shrink")
    args = ap.parse_args(argv)
    total: Counter[str] = Counter()
    wait = timedelta(minutes=args.unseen_minutes)
    for seed in args.seeds:
        run = simulate(args.days, seed, 0.01, 0.02, portal=args.portal, nightly=22,
                       detector=DetectorConfig(min_delta_g=20.0), unseen_window=wait,
                       config=WorldConfig.large(args.skus, args.shoppers), record=True)
        rows = explain(run, wait)
        flagged = sum(-d.qty for d in run.deltas if d.kind is Kind.SHRINK)
        per: Counter[str] = Counter()
        for r in rows:
            per[r["cause"]] += r["units"]
            total[r["cause"]] += r["units"]
            if args.json:
                print(json.dumps({"seed": seed, **r}, default=str))
        print(f"seed {seed}: {flagged} units flagged, {sum(per.values())} false: {dict(per)}", file=sys.stderr)
        if not args.json:
            for r in rows:
                print(f"  seed {seed} {r['cause']:20} {r['units']} x {r['sku']} bin {r['bin']} ({r['sensor']}) "
                      f"pick {r.get('pick_at', r['shrink_at'])[11:19]} retracted={r['retracted']} "
                      f"{r.get('fate') or r.get('observed') or ''} {r.get('world_near', '')}")
    print(f"all seeds: {dict(total)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
