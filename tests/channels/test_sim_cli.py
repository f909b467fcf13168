"""`shelfsync sim platform` as an OS process: serves its kind, answers --help with examples."""

from __future__ import annotations

import os
import subprocess

import pytest

from cloud.channels.base import Listing
from cloud.channels.config import ChannelConfig, Secret
from cloud.channels.platforms import adapter_for
from firmware_sim import procs
from firmware_sim.platforms import api_url


def test_help_has_an_example() -> None:
    out = subprocess.run(procs.shelfsync("sim", "platform", "--help"), capture_output=True, text=True,
                         check=True).stdout
    assert "shelfsync sim platform --kind taobao --port" in out


def test_a_bad_kind_is_a_clear_error() -> None:
    run = subprocess.run(procs.shelfsync("sim", "platform", "--kind", "ebay", "--port", "1"),
                         capture_output=True, text=True)
    assert run.returncode == 2 and "invalid choice" in run.stderr


@pytest.mark.parametrize("kind", ["pdd", "wechat"])
async def test_the_process_serves_its_platform(tmp_path, kind: str) -> None:
    port = procs.free_port()
    proc = procs.Proc(f"sim-{kind}", procs.shelfsync("sim", "platform", "--kind", kind, "--port", str(port),
                                                     "--secret", "cli-secret"), tmp_path / "sim.log").start()
    try:
        procs.wait_port(port, proc)
        adapter = adapter_for(ChannelConfig(kind, kind, api_url(kind, port), app_key="sim-app",
                                            secret=Secret("cli-secret"), session=Secret("sim-session")))
        listing = Listing(kind, "04000000000017", "123", "456")
        try:
            await adapter.set_stock(listing, 12, previous=None, key="k")
            assert await adapter.get_stock(listing) == 12
        finally:
            await adapter.close()
    finally:
        proc.stop()


def test_buyers_need_a_token() -> None:
    run = subprocess.run(procs.shelfsync("sim", "platform", "--kind", "jd", "--port", "1", "--buyers",
                                         "http://127.0.0.1:1"), capture_output=True, text=True,
                         env={k: v for k, v in os.environ.items() if k != "SHELFSYNC_CLOUD_TOKEN"})
    assert run.returncode == 2 and "--buyers needs --token" in run.stderr


def test_bench_sync_has_help_with_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.benchmarks import bench_sync

    with pytest.raises(SystemExit):
        bench_sync.main(["--help"])
    out = capsys.readouterr().out
    assert "shelfsync bench sync --json" in out and "--outage" in out
