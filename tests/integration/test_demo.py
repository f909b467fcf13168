"""The README's demo command works: stores trade, the ledger equals the world's truth, and every
simulated platform holds what its channel may sell."""

from __future__ import annotations

import json
import subprocess
import sys


def test_the_demo_ends_with_the_ledger_and_every_platform_true() -> None:
    done = subprocess.run([sys.executable, "-m", "shelfsync.cli", "demo", "--stores", "2", "--minutes", "0.25",
                           "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["total_mismatches"] == 0 and summary["drained"] and summary["total_deltas"] > 0
    platforms = summary["platforms"]
    assert sorted(platforms) == ["douyin", "jd", "pdd", "shopify", "taobao", "wechat"]
    for kind, p in platforms.items():
        assert p["listings"] > 0 and p["in_sync"] == p["listings"], (kind, p)
    # the channels' rules differ, so their listed units do too (douyin caps each listing at 10)
    assert platforms["douyin"]["units"] <= 10 * platforms["douyin"]["listings"]
    assert platforms["jd"]["units"] <= platforms["taobao"]["units"]
