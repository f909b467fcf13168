"""`shelfsync bench NAME --help` shows the benchmark's own options, not the dispatcher's; the
latency benchmarks run rounds; `bench fuzz` counts every case."""

from __future__ import annotations

import json

import pytest

from shelfsync import bench


def test_a_benchmarks_help_is_its_own(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        bench.main(["orders", "--help"])
    assert exit_.value.code == 0
    assert "--concurrency" in capsys.readouterr().out


def test_an_unknown_benchmark_lists_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["nope"]) == 2
    assert "orders" in capsys.readouterr().err


def test_a_benchmark_defining_dataclasses_loads(capsys: pytest.CaptureFixture[str]) -> None:
    """dataclasses look their module up in sys.modules while the class is built (bench replenish)."""
    with pytest.raises(SystemExit) as exit_:
        bench.main(["replenish", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "--seed" in out and "--skus" in out and "example" in out


def test_bench_fuzz_runs_the_chosen_target_and_reports_every_case(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["fuzz", "--target", "modbus", "--cases", "60", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    [modbus] = report["targets"].values()
    assert modbus["cases"] == 60 and modbus["accepted"] + modbus["rejected"] == 60
    assert modbus["crashes"] == modbus["hangs"] == 0


@pytest.mark.parametrize("name", ["orders", "e2e", "sync"])
def test_the_latency_benchmarks_run_rounds(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        bench.main([name, "--help"])
    assert "--rounds" in capsys.readouterr().out
