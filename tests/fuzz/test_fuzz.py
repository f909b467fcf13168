"""A short fuzz run of every target (the long one is `shelfsync bench fuzz`), and the harness's
own rules: what counts as a crash, an unclear rejection and a hang.

The short run uses Hypothesis's engine rather than the bench's seeded byte source, so a failure
here is shrunk to its smallest input before it is reported.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.contract import ContractError
from tests.fuzz import targets
from tests.fuzz.targets import TARGETS, Target, Verdict, close_loop, fuzz, run_case

SHORT = settings(max_examples=150, deadline=None, database=None,
                 suppress_health_check=list(HealthCheck))


@pytest.fixture(autouse=True)
def _one_loop_per_test() -> Iterator[None]:
    yield
    close_loop()


def _check(target: Target, case: Any) -> None:
    with targets._Timer() as timer:
        verdict = run_case(target, case, timer, limit_s=2.0)
    assert verdict.ok, f"{verdict.kind}: {verdict.detail}"


@SHORT
@given(TARGETS["llrp"].inputs)
def test_llrp_frames_never_crash_the_driver(case: Any) -> None:
    _check(TARGETS["llrp"], case)


@SHORT
@given(TARGETS["modbus"].inputs)
def test_modbus_registers_decode_or_are_a_map_error(case: Any) -> None:
    _check(TARGETS["modbus"], case)


@SHORT
@given(TARGETS["pos"].inputs)
def test_a_webhook_body_is_accepted_as_the_cloud_takes_it_or_is_a_clear_400(case: Any) -> None:
    _check(TARGETS["pos"], case)


@SHORT
@given(TARGETS["deltabatch"].inputs)
def test_a_gateway_message_is_one_the_ledger_stores_or_a_dead_letter(case: Any) -> None:
    _check(TARGETS["deltabatch"], case)


def test_the_bench_run_counts_every_case_and_repeats_with_its_seed() -> None:
    first = fuzz(TARGETS["modbus"], 200, seed=5)
    again = fuzz(TARGETS["modbus"], 200, seed=5)
    assert first.cases == 200 and first.accepted + first.rejected + first.crashes + first.hangs == 200
    assert (first.accepted, first.rejected) == (again.accepted, again.rejected)
    assert first.accepted > 0 and first.rejected > 0
    assert first.crashes == first.hangs == 0, first.findings


# --- the harness ----------------------------------------------------------------------------------

def _target(decode: Any, holds: Any = lambda case, value: None) -> Target:
    return Target("t", "a test target", st.integers(), decode, (ContractError,), holds)


def _run(target: Target, case: Any, limit_s: float = 2.0) -> Verdict:
    with targets._Timer() as timer:
        return run_case(target, case, timer, limit_s)


def test_an_exception_other_than_the_documented_one_is_a_crash() -> None:
    verdict = _run(_target(lambda case: {}["nope"]), 1)
    assert verdict.kind == "crash" and verdict.detail.startswith("KeyError at test_fuzz.py")


def test_the_documented_error_is_a_rejection_when_its_message_is_clear() -> None:
    def refuse(case: int) -> None:
        raise ContractError("qty", "must be > 0")

    assert _run(_target(refuse), 1).kind == "rejected"


@pytest.mark.parametrize("problem", ["x" * 400, "two\nlines", " "])
def test_an_unclear_rejection_is_a_crash(problem: str) -> None:
    class Unclear(ContractError):
        def __init__(self) -> None:
            ValueError.__init__(self, problem)
            self.field, self.problem = "f", problem

    def refuse(case: int) -> None:
        raise Unclear()

    verdict = _run(_target(refuse), 1)
    assert verdict.kind == "crash" and "unclear rejection" in verdict.detail


def test_an_accepted_value_that_does_not_hold_is_a_crash() -> None:
    verdict = _run(_target(lambda case: case, holds=lambda case, value: "it is odd" if value % 2 else None), 3)
    assert verdict.kind == "crash" and verdict.detail == "accepted, but it is odd"


def test_a_decoder_that_spins_is_stopped_and_counted_as_a_hang_even_inside_except_exception() -> None:
    def spin(case: int) -> None:
        while True:
            with contextlib.suppress(Exception):  # a decoder's catch-all must not swallow the hang
                sum(range(1000))

    verdict = _run(_target(spin), 1, limit_s=0.2)
    assert verdict.kind == "hang"
    assert _run(_target(lambda case: case), 1).kind == "accepted"  # the timer is disarmed after
