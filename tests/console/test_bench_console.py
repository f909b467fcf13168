"""`shelfsync bench console` at a tiny scale, end to end: the chain generated on PostgreSQL with
books the cloud's rebuild agrees with, a real cloud worker and gateway, every page and partial
timed by the server and the client, every open console hearing every till sale; a second run finds
the chain cached instead of generating it again."""

from __future__ import annotations

import asyncio
import json
import random
import sys

import pytest

from shelfsync import bench
from tests.support import console_chain as chain
from tests.support.services import PG_ADMIN_URL

TINY = ["--stores", "2", "--skus", "80", "--days", "2", "--rounds", "1", "--requests", "1", "--consoles", "4",
        "--sales", "1", "--orders", "5", "--transfers", "2"]


def test_the_console_bench_measures_every_page_and_every_console_hears_the_sale(
        capsys: pytest.CaptureFixture[str]) -> None:
    seed = random.randrange(10**6, 10**7)  # a chain of its own: never another run's cached one
    p = chain.Params(stores=2, skus=80, days=2, seed=seed)
    try:
        assert bench.main(["console", *TINY, "--seed", str(seed), "--pg", PG_ADMIN_URL, "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["chain"]["cached"] is False and report["chain"]["movements"] > 100
        assert report["chain"]["rebuild_sample_mismatches"] == []
        kinds = {f["kind"] for f in report["urls"].values()}
        assert kinds == {"page", "partial", "baseline"}
        for name, f in report["urls"].items():
            if f["kind"] != "baseline":
                assert f["server_p95_ms"]["median"] > 0 and f["client_p95_ms"]["median"] >= f["server_p95_ms"]["median"], name
                assert isinstance(f["meets_target"], bool)
        assert report["urls"]["baseline"]["client_p95_ms"]["median"] > 0
        events = report["live"]["events"]
        assert events["consoles"] == 4 and events["missed"] == 0
        assert 0 < events["till_to_event_p50_ms"]["median"] <= events["till_to_event_p95_ms"]["median"]
        assert report["live"]["refreshing"]["till_to_refreshed_p95_ms"]["median"] > 0

        module = sys.modules["bench_console"]  # as the dispatcher loaded it
        _, info = asyncio.run(module.ensure_chain(p, PG_ADMIN_URL, fresh=False))
        assert info["cached"] is True and "generated" not in info
    finally:
        asyncio.run(chain.drop(PG_ADMIN_URL, p.database))
