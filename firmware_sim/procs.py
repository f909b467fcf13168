"""Start the real system's processes for demos, benchmarks and tests: broker, cloud, gateways.

Everything runs as separate OS processes speaking real protocols, exactly as deployed; this module
only spawns them (through `python -m shelfsync.cli`) and waits for their ports.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


class ProcessError(RuntimeError):
    """A component did not start, or died; the message says which and where its log is."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mosquitto_binary() -> str:
    debian = Path("/usr/sbin/mosquitto")  # not on a normal user's PATH
    found = shutil.which("mosquitto") or (str(debian) if debian.exists() else None)
    if found is None:
        raise ProcessError("mosquitto is not installed: apt-get install mosquitto (or run scripts/setup)")
    return found


@dataclass
class Proc:
    name: str
    args: list[str]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = self.log.open("ab")
        self.popen = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT,
                                      env={**os.environ, **self.env}, start_new_session=True)
        out.close()
        return self

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(sig)

    def kill9(self) -> None:
        if self.popen is not None:
            self.popen.kill()
            self.popen.wait()

    def stop(self, timeout: float = 10.0) -> None:
        self.signal(signal.SIGTERM)
        self.wait_or_kill(time.monotonic() + timeout)

    def wait_or_kill(self, deadline: float) -> None:
        """After `signal`: wait for the process until `deadline` (time.monotonic()), then kill it."""
        if self.popen is None:
            return
        try:
            self.popen.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self.popen = None

    def tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


def stop_all(started: Iterable[Proc], timeout: float = 10.0) -> None:
    """Stop processes together: SIGTERM to each in the order given, then one `timeout` for all of
    them, not one each (a Ctrl-C waits at most `timeout`, however many are slow to go), then
    SIGKILL to whatever still runs."""
    procs = [p for p in started if p.popen is not None]
    for p in procs:
        p.signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in procs:
        p.wait_or_kill(deadline)


def wait_port(port: int, proc: Proc | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive:
            raise ProcessError(f"{proc.name} exited during start:\n{proc.tail()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise ProcessError(f"{proc.name if proc else 'process'} not listening on {port} after {timeout}s")


def wait_http(url: str, proc: Proc | None = None, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive:
            raise ProcessError(f"{proc.name} exited during start:\n{proc.tail()}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as r:
            if r.status == 200:
                return
        time.sleep(0.1)
    raise ProcessError(f"{url} did not answer within {timeout}s")


def shelfsync(*args: str) -> list[str]:
    return [sys.executable, "-m", "shelfsync.cli", *args]


def mosquitto(workdir: Path, port: int | None = None) -> Proc:
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
        f"persistence_location {workdir}/\nmax_queued_messages 1000000\n")
    proc = Proc("mosquitto", [mosquitto_binary(), "-c", str(conf)], workdir / "mosquitto.log")
    proc.start()
    wait_port(port, proc)
    proc.env["PORT"] = str(port)
    return proc


def cloud(workdir: Path, db: str, mqtt: str, token: str, port: int | None = None,
          worker: str = "w1", migrate: bool = True, reuse_port: bool = False,
          extra: tuple[str, ...] = (), env: dict[str, str] | None = None) -> tuple[Proc, int]:
    port = port or free_port()
    args = ["cloud", "--db", db, "--mqtt", mqtt, "--port", str(port), "--worker-id", worker,
            "--log-level", "WARNING"] + ([] if migrate else ["--no-migrate"]) \
        + (["--reuse-port"] if reuse_port else []) + list(extra)
    proc = Proc(f"cloud-{worker}", shelfsync(*args), workdir / f"cloud-{worker}.log",
                env={"SHELFSYNC_ADMIN_TOKEN": token, **(env or {})})
    proc.start()
    wait_http(f"http://127.0.0.1:{port}/healthz", proc, timeout=60)
    return proc, port


def gateway_config(workdir: Path, store: str, mqtt: str, token: str, port: int,
                   status_interval: float = 5.0) -> Path:
    path = workdir / f"{store}.toml"
    path.write_text(
        f'[store]\nid = "{store}"\ngateway = "gw-1"\ndata_dir = "{workdir / store}"\n\n'
        f'[mqtt]\nurl = "{mqtt}"\nkeepalive = 10\nstatus_interval = {status_interval}\n\n'
        f'[http]\nlisten = "127.0.0.1:{port}"\ntoken = "{token}"\n')
    return path


def gateway(config: Path, port: int, name: str) -> Proc:
    proc = Proc(name, shelfsync("gateway", "--config", str(config), "--log-level", "WARNING"),
                config.parent / f"{name}.log")
    proc.start()
    wait_http(f"http://127.0.0.1:{port}/healthz", proc)
    return proc
