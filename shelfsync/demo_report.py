"""What a demo shop's sensors caught, against what its simulated world did. Pure: values in, a
summary out (`shelfsync demo` reads the ledger and the world, and prints what this returns).

- **Thefts.** Every unit the world's shoppers walked out with unpaid is matched to a `shrink` the
  gateway's reconciler booked for its SKU, the shrink's retractions deducted (a late sale, the
  units coming home): first a shrink whose door evidence names one of the stolen units' EPCs, then
  the shrink of the SKU nearest in time to the pick or the walk-out, within `MATCH_WITHIN`. What
  is left unmatched of a theft is *missed*; shrink units no theft explains are *false* flags.
- **Misplacements.** Units a shopper left on a wrong bin, against the `misplaced` (foreign item)
  alerts the gateway raised.
- **Refills.** Staff restocks in the world, against the `move`s backroom → floor the reconciler
  booked from the scales.
- **Alerts.** The gateway's staff alerts by kind (as the cloud recorded them), and the messages
  that reached the staff webhook.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

# A window shrink is dated at the pick, a door's at the walk-out; a theft's trip lasts at most the
# trading world's 20 minutes and the queue: anything further away is another hand.
MATCH_WITHIN = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class Booked:
    """One movement of the ledger, with its evidence."""

    id: str
    sku: str
    kind: str
    qty: int
    zone: str
    from_zone: str | None
    occurred_at: datetime
    source: str
    bin: str | None
    evidence: Mapping[str, Any]


def booked(rows: Iterable[Mapping[str, Any]]) -> list[Booked]:
    """Movements as the ledger stores them (evidence as JSON text) → Booked."""
    out = []
    for r in rows:
        at = r["occurred_at"]
        when = at if isinstance(at, datetime) else datetime.fromisoformat(str(at).replace("Z", "+00:00"))
        when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)  # SQLite keeps UTC, naive
        evidence = r.get("evidence")
        out.append(Booked(str(r["id"]), str(r["sku"]), str(r["kind"]), int(r["qty"]), str(r["zone"]),
                          r.get("from_zone"), when, str(r["source"]), r.get("bin"),
                          json.loads(evidence) if isinstance(evidence, str) and evidence else {}))
    return out


def _at(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def clock(at: datetime, opened: datetime | None) -> str:
    """A moment of the simulated day as hours and minutes since the shop opened (its simulated
    date and hour mean nothing to a reader), or the time of day without an opening."""
    if opened is None:
        return f"{at:%H:%M:%S}"
    minutes = int((at - opened).total_seconds() // 60)
    return f"{minutes // 60}:{minutes % 60:02d}"


def evidence_words(b: Booked, opened: datetime | None = None) -> str:
    """A shrink's evidence in a line: the tag read at the door, or the scale's pick no sale claimed."""
    e = b.evidence
    if "exit_epc" in e:
        at = _at(str(e.get("exit_at"))) or b.occurred_at
        scale = f", picked from {e['bin']}" if e.get("bin") else ""
        return f"EPC {e['exit_epc']} read leaving by the door at {clock(at, opened)}{scale}"
    if "pick_at" in e:
        at = _at(str(e["pick_at"])) or b.occurred_at
        wait = float(e.get("window_s", 0)) / 60
        return (f"scale {e.get('bin', b.bin)}: {e.get('qty', -b.qty)} picked at {clock(at, opened)}, "
                f"no sale within {wait:.0f} min")
    return f"{b.source} {b.kind} {b.qty} at {clock(b.occurred_at, opened)}"


def _shrinks(moves: list[Booked]) -> dict[str, list[list[Any]]]:
    """Per SKU: [movement, units still standing] for every shrink, its retractions deducted."""
    taken: Counter[str] = Counter()
    for m in moves:
        retracts = m.evidence.get("retracts")
        if m.kind == "adjust" and isinstance(retracts, str):
            taken[retracts] += m.qty
    out: dict[str, list[list[Any]]] = {}
    for m in moves:
        if m.kind == "shrink" and (left := -m.qty - taken[m.id]) > 0:
            out.setdefault(m.sku, []).append([m, left])
    return out


def thefts(stolen: list[Mapping[str, Any]], moves: list[Booked],
           opened: datetime | None = None) -> dict[str, Any]:
    """Each theft with what caught it; the shrink no theft explains (times since `opened`)."""
    open_ = _shrinks(moves)
    rows = []
    for t in sorted(stolen, key=lambda t: str(t["at"])):
        need, found = int(t["qty"]), []
        epcs = {str(e).lower() for e in t.get("epcs", [])}
        picked, left = _at(t.get("picked_at")) or _at(t["at"]), _at(t["at"])
        assert picked is not None and left is not None
        candidates = open_.get(str(t["sku"]), [])

        def distance(c: list[Any], picked: datetime = picked, left: datetime = left) -> timedelta:
            at: datetime = c[0].occurred_at
            return min(abs(at - picked), abs(at - left))

        door = [c for c in candidates if str(c[0].evidence.get("exit_epc", "")).lower() in epcs]
        near = sorted((c for c in candidates if c not in door and distance(c) <= MATCH_WITHIN), key=distance)
        for c in door + near:
            if not need:
                break
            if c[1] <= 0:
                continue
            k = min(need, c[1])
            c[1] -= k
            need -= k
            found.append(evidence_words(c[0], opened))
        rows.append({"at": t["at"], "clock": clock(left, opened), "sku": t["sku"], "bin": t["bin"],
                     "qty": int(t["qty"]),
                     "caught": int(t["qty"]) - need, "tagged": bool(epcs), "evidence": found})
    false = [{"sku": m.sku, "qty": n, "at": m.occurred_at.isoformat(), "evidence": evidence_words(m, opened)}
             for cs in open_.values() for m, n in cs if n > 0]
    units = sum(r["qty"] for r in rows)
    caught = sum(r["caught"] for r in rows)
    return {"thefts": rows, "units": units, "caught": caught, "missed": units - caught,
            "false": false, "false_units": sum(f["qty"] for f in false)}


def refills(restocks: list[Mapping[str, Any]], moves: list[Booked]) -> dict[str, int]:
    """Staff refills in the world against the refills the scales booked (backroom → floor)."""
    from_scales = [m for m in moves if m.kind == "move" and m.from_zone == "backroom" and m.zone == "floor"
                   and m.source == "weight"]
    return {"made": len(restocks), "units": sum(int(r["qty"]) for r in restocks),
            "booked": len(from_scales), "booked_units": sum(m.qty for m in from_scales)}


def misplacements(misplaced: list[Mapping[str, Any]], alerts: Mapping[str, int]) -> dict[str, int]:
    by_shoppers = [m for m in misplaced if m.get("by", "shopper") == "shopper"]
    return {"made": len(by_shoppers), "units": sum(int(m["qty"]) for m in by_shoppers),
            "alerts": int(alerts.get("misplaced", 0))}


def shop_table(s: Mapping[str, Any], names: Mapping[str, str] | None = None) -> list[str]:
    """A store's figures as a short table a newcomer can read; under it each theft with the
    evidence that caught it, each flag nobody stole and the first book figures that differ."""
    t, m, r, a = s["caught"], s["misplacements"], s["refills"], s["alerts"]
    names = names or {}
    book = ("equal" if not s["mismatches"] else f"{len(s['mismatches'])} SKU x zone figures differ")
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(a["raised"].items())) or "none"
    rows = [
        ("book vs truth", f"{s['ledger_units']} vs {s['truth_units']} units: {book}"),
        ("thefts caught", f"{t['caught']} of {t['units']} units stolen ({t['missed']} missed); "
                          f"{t['false_units']} units flagged that nobody stole"),
        ("misplacements", f"{m['units']} units left on a wrong bin; {m['alerts']} foreign-item alerts"),
        ("refills", f"{r['made']} by staff ({r['units']} units); the scales booked {r['booked']} "
                    f"({r['booked_units']} units)"),
        ("alerts sent", f"{a['messages']} messages to staff; raised: {kinds}"),
    ]
    out = [f"{s['store']} ({s.get('name', s['store'])}): {s['transactions']} till transactions, "
           f"{s.get('picks', 0)} handheld picks, {s['deltas']} till deltas"]
    out += [f"  {k:<14} {v}" for k, v in rows]
    for th in t["thefts"]:
        what = names.get(th["sku"], th["sku"])
        out.append(f"    theft at {th['clock']}: {th['qty']} x {what} from {th['bin']}: "
                   + (f"caught {th['caught']}" if th["caught"] else "MISSED"))
        out += [f"        {e}" for e in th["evidence"]]
    for f in t["false"]:
        out.append(f"    flagged, nobody stole it: {f['qty']} x {names.get(f['sku'], f['sku'])}: "
                   f"{f['evidence']}")
    for x in s["mismatches"][:10]:
        out.append(f"    book differs: {names.get(x['sku'], x['sku'])} {x['zone']}: "
                   f"ledger {x['ledger']}, truth {x['truth']}")
    return out
