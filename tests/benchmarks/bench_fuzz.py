"""`shelfsync bench fuzz`: the decoders outside bytes reach first, fed structured-but-broken input.

Targets (tests/fuzz/targets.py, which the test suite runs briefly too):

  llrp        LLRP frames from a reader -> tag reads: the driver's framing, its report codec
              (`parse_ro_access_report`), EPC decoding, other messages through sllurp
  modbus      a weighing module's registers -> grams: `map_from_config` and `RegisterMap.decode`
  pos         a webhook body -> deltas: the gateway's JSON decoding, `parse_transaction` and
              `parse_movements`; what it accepts must be what the cloud accepts
  deltabatch  an MQTT message -> DeltaBatch: `cloud.ingest.decode_message`; what it accepts must
              be what the ledger's columns hold

Inputs are valid messages mutated (bytes flipped, cut, spliced; fields swapped for other JSON
values, numbers too big for any column, NUL, lone surrogates, other scripts' digits), bombs (deep
nesting, 5,000-digit numbers) and random bytes, drawn by Hypothesis from a seeded byte source.
A case is accepted, rejected with the decoder's documented error (one clear line), a crash (any
other exception, an unclear rejection, or an accepted value that does not hold) or a hang (more
than --limit CPU seconds). The command exits 1 when any target has a crash or a hang.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from tests.fuzz.targets import TARGETS, Report, fuzz


def _progress(report: Report, total: int, started: float) -> None:
    print(f"bench fuzz [{report.target}]: {report.cases:,}/{total:,} cases, {report.crashes} crashes, "
          f"{report.hangs} hangs, {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)


def main(argv: list[str], prog: str = "shelfsync bench fuzz") -> int:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="examples:\n  shelfsync bench fuzz --json\n"
                                            "  shelfsync bench fuzz --target pos --cases 1000000 --seed 7")
    parser.add_argument("--target", choices=sorted(TARGETS), action="append",
                        help="a target to run (repeatable; default: all)")
    parser.add_argument("--cases", type=int, default=100_000, help="cases per target")
    parser.add_argument("--seed", type=int, default=0, help="seed of the byte source (a run repeats)")
    parser.add_argument("--limit", type=float, default=2.0, help="CPU seconds one case may take (a hang)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.cases < 1 or args.limit <= 0:
        parser.error("--cases and --limit must be positive")
    results: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
                               "cases_per_target": args.cases, "seed": args.seed, "targets": {}}
    for name in args.target or sorted(TARGETS):
        started = time.monotonic()
        report = fuzz(TARGETS[name], args.cases, seed=args.seed, limit_s=args.limit,
                      progress=lambda r, s=started: _progress(r, args.cases, s))
        results["targets"][name] = report.as_json()
    failed = any(r["crashes"] or r["hangs"] for r in results["targets"].values())
    if args.json:
        print(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        for name, r in results["targets"].items():
            print(f"{name:>10}: {r['cases']:,} cases in {r['seconds']:.0f}s ({r['cases_per_s']:,}/s): "
                  f"{r['accepted']:,} accepted, {r['rejected']:,} rejected, {r['crashes']} crashes, "
                  f"{r['hangs']} hangs; slowest case {r['slowest_case_ms']} ms")
            for finding in r["findings"]:
                print(f"            {finding}")
    return 1 if failed else 0
