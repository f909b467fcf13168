"""Rough 7-day check of the reconciler against StoreWorld with IDEAL sensors (no load-cell physics).
Not a test and not the accuracy bench. Run: .venv/bin/python tests/reconcile/world_check.py"""
from datetime import timedelta

from edge.contract import Kind, StockDelta
from edge.domain import BinChange, BinInfo, OddWeight, PosLine
from edge.reconcile import Misplacement, Reconciler
from firmware_sim.world import Pick, PutBack, Restock, Sale, StoreWorld, Theft, WorldConfig

w = StoreWorld(seed=1, config=WorldConfig(theft=0.01, misplace=0.02, put_back=0.08))
bins = {b.id: BinInfo(b.id, b.gtin, w.products[b.gtin].unit_grams) for b in w.bins.values()}
r = Reconciler(bins)
evs = w.advance(w.start + timedelta(days=7))
obs, thefts = [], []
cnt = {b: len(w.bin_units(b)) for b in bins}
for e in evs:
    if isinstance(e, Pick): obs.append(BinChange(e.at - timedelta(minutes=3), e.bin, -len(e.uids), 0))
    elif isinstance(e, PutBack):
        if e.misplaced: obs.append(OddWeight(e.at, e.bin, len(e.uids) * w.products[e.gtin].unit_grams))
        else: obs.append(BinChange(e.at, e.bin, len(e.uids), 0))
    elif isinstance(e, Restock): obs.append(BinChange(e.at, e.bin, len(e.uids), 0))
    elif isinstance(e, Sale):
        for i, l in enumerate(e.lines): obs.append(PosLine(e.at, e.txn, i, "sale", l.gtin, l.qty))
    elif isinstance(e, Theft): thefts.append((e.bin, e.at - timedelta(minutes=3), len(e.uids)))
obs.sort(key=lambda o: o.at)
out, detect = [], []
t = w.start
ticks = []
while t < w.start + timedelta(days=7, hours=1):
    ticks.append(t); t += timedelta(minutes=1)
stream = sorted([(o.at, 0, i, o) for i, o in enumerate(obs)] + [(t, 1, i, None) for i, t in enumerate(ticks)], key=lambda x: x[:3])
for at, kind, _, o in stream:
    if o is not None:
        out += r.observe(o); continue
    for d in r.tick(at):
        out.append(d); detect.append((at - d.occurred_at).total_seconds() / 60)
sh = [d for d in out if isinstance(d, StockDelta) and d.kind is Kind.SHRINK]
tset = {(b, t) for b, t, _ in thefts}
tp = sum(1 for d in sh if any(d.bin == b and abs((d.occurred_at - t).total_seconds()) < 0.01 for b, t in tset))
mis = sum(1 for d in out if isinstance(d, Misplacement))
print(f"thefts={len(thefts)} shrink={len(sh)} precision={tp/max(1,len(sh)):.3f} recall={tp/max(1,len(thefts)):.3f}"
      f" median_detect_min={sorted(detect)[len(detect)//2] if detect else None:.1f} misplacements={mis}"
      f" true_misplaced={sum(1 for e in evs if isinstance(e, PutBack) and e.misplaced)}")
print('events', len(evs), 'picks', sum(isinstance(e, Pick) for e in evs), 'sales', sum(isinstance(e, Sale) for e in evs))
for d in sh:
    ok = any(d.bin == b and abs((d.occurred_at - t).total_seconds()) < 0.01 for b, t in tset)
    if not ok:
        at = d.occurred_at + timedelta(minutes=3)
        print('FP', d.bin, d.sku, d.qty, [ (type(e).__name__, getattr(e,'bin',None), getattr(e,'gtin',None), [(l.gtin,l.qty) for l in getattr(e,'lines',())], [w.units[u].gtin for u in e.uids]) for e in evs if abs((e.at-at).total_seconds())<0.01])
print('thefts', thefts)
