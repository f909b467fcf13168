"""`procs.stop_all`: the processes a demo started stop together, within one timeout, and one that
ignores SIGTERM is killed — real OS processes, no mocks."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from firmware_sim import procs

# Takes SIGTERM by sleeping `delay` seconds before it exits (a process flushing on its way out);
# a negative delay: ignores SIGTERM altogether. Prints "up" once its handler is in place.
_SLOW = """
import signal, sys, time
delay = float(sys.argv[1])
if delay < 0:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
else:
    signal.signal(signal.SIGTERM, lambda *_: (time.sleep(delay), sys.exit(0)))
print("up", flush=True)
while True:
    time.sleep(0.1)
"""


def _start(tmp_path: Path, name: str, delay: float) -> procs.Proc:
    log = tmp_path / f"{name}.log"
    p = procs.Proc(name, [sys.executable, "-c", _SLOW, str(delay)], log).start()
    deadline = time.monotonic() + 30
    while "up" not in (log.read_text() if log.exists() else ""):
        assert p.alive and time.monotonic() < deadline, p.tail()
        time.sleep(0.05)
    return p


def test_slow_stoppers_stop_together_and_one_that_ignores_sigterm_is_killed(tmp_path: Path) -> None:
    slow = [_start(tmp_path, f"slow{i}", 2.0) for i in range(3)]
    deaf = _start(tmp_path, "deaf", -1)
    popens = [p.popen for p in [*slow, deaf]]
    began = time.monotonic()
    procs.stop_all([*slow, deaf], timeout=4.0)
    took = time.monotonic() - began
    # One after another the three would take 6 s and the deaf one 4 s more.
    assert took < 6.0, f"stop_all took {took:.1f} s"
    assert all(p.popen is None and not p.alive for p in [*slow, deaf])
    assert [p.returncode for p in popens if p is not None] == [0, 0, 0, -9]  # the deaf one: SIGKILL
