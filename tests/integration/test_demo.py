"""The README's demo command works: stores trade, the ledger equals the world's truth, and every
simulated platform holds what its channel may sell; it names the console and a token that signs in,
and `--stay` keeps it all running after the summary until Ctrl-C."""

from __future__ import annotations

import http.cookiejar
import json
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.parse
import urllib.request
from pathlib import Path

import pytest


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


def test_the_demo_prints_the_console_and_a_token_that_signs_in_and_stays_until_ctrl_c() -> None:
    """While it runs the demo names the console's address and a token; the address answers and the
    token signs in; with --stay everything keeps running after the summary until Ctrl-C (SIGINT)."""
    demo = subprocess.Popen([sys.executable, "-m", "shelfsync.cli", "demo", "--stores", "1", "--minutes", "0.25",
                             "--no-platforms", "--stay"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    err: queue.Queue[str] = queue.Queue()
    out: queue.Queue[str] = queue.Queue()
    readers = [threading.Thread(target=lambda s=stream, q=q: [q.put(line) for line in s])
               for stream, q in ((demo.stderr, err), (demo.stdout, out))]
    for reader in readers:
        reader.start()
    seen: list[str] = []
    try:
        url, token = _console_named(err, seen, deadline=time.monotonic() + 120)
        with urllib.request.urlopen(url, timeout=10) as r:  # the address answers: the sign-in page
            assert r.status == 200 and 'name="token"' in r.read().decode()
        assert _signed_in_overview(url, token, "sh-0001"), "the printed token did not sign in"
        deadline = time.monotonic() + 180
        summary = []
        while not any(line.startswith("total:") for line in summary):
            summary.append(out.get(timeout=max(0.1, deadline - time.monotonic())))
        assert "0 mismatches" in summary[-1], summary
        while "Ctrl-C" not in (line := err.get(timeout=30)):
            seen.append(line)
        assert demo.poll() is None  # after the summary, still running ...
        assert _signed_in_overview(url, token, "sh-0001")  # ... and the console still answers
        demo.send_signal(signal.SIGINT)
        assert demo.wait(60) == 0
        with pytest.raises(OSError):  # everything it started has stopped
            urllib.request.urlopen(url, timeout=5)
    finally:
        if demo.poll() is None:
            demo.kill()
        demo.wait()
        for reader in readers:  # they end at the pipes' end
            reader.join(10)
        for stream in (demo.stdout, demo.stderr):
            if stream is not None:
                stream.close()


def _console_named(err: queue.Queue[str], seen: list[str], deadline: float) -> tuple[str, str]:
    while True:
        line = err.get(timeout=max(0.1, deadline - time.monotonic()))
        seen.append(line)
        found = re.search(r"the console: (http://\S+/)\s+\(sign in with the token (\S+)\)", line)
        if found:
            return found.group(1), found.group(2)


def _signed_in_overview(url: str, token: str, store: str) -> bool:
    """Sign in as the console's form does (its double-submit cookie) and open the overview."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with opener.open(url + "signin", timeout=10) as r:
        csrf = re.search(r'name="csrf" value="([^"]+)"', r.read().decode())
    assert csrf is not None
    form = urllib.parse.urlencode({"csrf": csrf.group(1), "token": token, "next": "/"}).encode()
    with opener.open(url + "signin", data=form, timeout=10) as r:  # 303 → the overview
        page = r.read().decode()
        return r.status == 200 and r.url == url and store in page


def test_with_store_sim_the_devices_stay_up_after_the_summary(tmp_path: Path) -> None:
    """`--stay --store-sim` keeps each store's simulated scales and RFID reader serving after the
    summary (the shelf map does not turn to "sensor down" while someone looks at it)."""
    demo = subprocess.Popen([sys.executable, "-m", "shelfsync.cli", "demo", "--store-sim", "--stores", "1",
                             "--minutes", "0.25", "--no-platforms", "--stay", "--workdir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    err: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [err.put(line) for line in demo.stderr or ()])
    reader.start()
    try:
        deadline = time.monotonic() + 240
        while "Ctrl-C" not in err.get(timeout=max(0.1, deadline - time.monotonic())):
            assert demo.poll() is None, "the demo ended"
        devices = tomllib.loads((tmp_path / "sh-0001.sim.toml").read_text())
        host, port = devices["shelf"]["bus"][0]["tcp"].rsplit(":", 1)
        rfid = devices["rfid"]["reader"][0]
        for address in ((host, int(port)), (rfid["host"], int(rfid["port"]))):
            with socket.create_connection(address, timeout=5):  # refused once the simulator has gone
                pass
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)
        demo.wait(60)
        reader.join(10)
        if demo.stderr is not None:
            demo.stderr.close()
