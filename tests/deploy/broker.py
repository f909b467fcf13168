"""Start a real Mosquitto with the production files of deploy/mosquitto/ — only the paths, ports
and run-as user are rewritten for a temporary directory — and stop it for certain.

The PKI is made with deploy/mosquitto/make-dev-ca.sh and add-store.sh themselves, so the tests
exercise the scripts an operator runs, not a copy of their commands.
"""

from __future__ import annotations

import ctypes
import getpass
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MOSQUITTO_DIR = REPO / "deploy" / "mosquitto"
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
PROD_DIR = "/etc/mosquitto/shelfsync"


@dataclass(frozen=True)
class Store:
    id: str
    password: str
    cert: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    dir: Path  # stands for /etc/mosquitto/shelfsync
    ca: Path
    cloud_password: str
    stores: dict[str, Store]
    rogue_ca: Path  # a CA the broker has never heard of
    rogue_cert: Path  # CN=sh-a, signed by the rogue CA
    rogue_key: Path


@dataclass(frozen=True)
class Broker:
    password_port: int  # listener 8883: stores, TLS + username/password
    cert_port: int  # listener 8884: stores, mutual TLS, CN = username
    cloud_port: int  # listener 8885: cloud workers, TLS + their own password file
    pki: Pki
    log: Path
    process: subprocess.Popen[bytes]

    def reload(self) -> None:
        """SIGHUP, as `systemctl reload mosquitto` does; returns once the broker has re-read its
        password file and ACL (it logs the reload)."""
        seen = self.log.read_text().count("Reloading config")
        self.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while self.log.read_text().count("Reloading config") == seen:
            if time.monotonic() > deadline:
                raise AssertionError(f"mosquitto did not reload: {self.log.read_text()}")
            time.sleep(0.02)  # polling the log with a deadline


def run(*cmd: str | Path, stdin: str | None = None) -> str:
    done = subprocess.run(
        [str(c) for c in cmd], input=stdin, capture_output=True, text=True, timeout=30, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"{cmd} failed ({done.returncode}): {done.stderr}")
    return done.stdout


def make_pki(root: Path, stores: tuple[str, ...] = ("sh-a", "sh-b")) -> Pki:
    etc = root / "etc"
    run(MOSQUITTO_DIR / "make-dev-ca.sh", etc, "localhost", "127.0.0.1")
    shutil.copy(MOSQUITTO_DIR / "acl", etc / "acl")
    shutil.copy(MOSQUITTO_DIR / "cloud-acl", etc / "cloud-acl")
    made: dict[str, Store] = {}
    for store in stores:
        out = root / "gateways" / store
        password = f"pw-{store}-secret"
        run(MOSQUITTO_DIR / "add-store.sh", "--password", "--cert", "--dir", etc, "--out", out,
            store, stdin=password)
        made[store] = Store(store, password, out / f"{store}.crt", out / f"{store}.key")
    cloud_password = "cloud-secret"
    run("mosquitto_passwd", "-c", "-b", etc / "cloud-passwd", "cloud", cloud_password)
    rogue = root / "rogue"
    run(MOSQUITTO_DIR / "make-dev-ca.sh", rogue, "localhost", "127.0.0.1")
    run(MOSQUITTO_DIR / "add-store.sh", "--cert", "--dir", rogue, "--out", rogue / "out", "sh-a")
    return Pki(etc, etc / "ca.crt", cloud_password, made, rogue / "ca.crt",
               rogue / "out" / "sh-a.crt", rogue / "out" / "sh-a.key")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def render_conf(pki: Pki, ports: tuple[int, int, int], data: Path) -> str:
    """deploy/mosquitto/mosquitto.conf with only location-dependent lines changed. Each rewrite
    must hit, so a reshaped production file fails here rather than testing something else."""
    text = (MOSQUITTO_DIR / "mosquitto.conf").read_text()
    rewrites = [
        (PROD_DIR, str(pki.dir)),
        ("listener 8883\n", f"listener {ports[0]} 127.0.0.1\n"),
        ("listener 8884\n", f"listener {ports[1]} 127.0.0.1\n"),
        ("listener 8885\n", f"listener {ports[2]} 127.0.0.1\n"),
        ("user mosquitto\n", f"user {getpass.getuser()}\n"),
        ("persistence_location /var/lib/mosquitto/\n", f"persistence_location {data}/\n"),
    ]
    for old, new in rewrites:
        assert old in text, f"mosquitto.conf no longer contains {old!r}"
        text = text.replace(old, new)
    return text


def _die_with_parent() -> None:
    """In the child before exec: Linux prctl(PR_SET_PDEATHSIG, SIGKILL), so the broker dies even
    if pytest itself is killed and never reaches the `finally` below."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def running_broker(pki: Pki, workdir: Path) -> Iterator[Broker]:
    data = workdir / "data"
    data.mkdir()
    ports = free_port(), free_port(), free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(render_conf(pki, ports, data))
    log = workdir / "mosquitto.log"
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(conf)], stdout=log_file, stderr=log_file,
            preexec_fn=_die_with_parent,
        )
    try:
        deadline = time.monotonic() + 10
        while not all(_accepts(p) for p in ports):
            if proc.poll() is not None:
                raise AssertionError(f"mosquitto exited {proc.returncode}: {log.read_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"mosquitto did not listen on {ports}: {log.read_text()}")
            time.sleep(0.02)  # polling a port with a deadline, not waiting blind
        yield Broker(ports[0], ports[1], ports[2], pki, log, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
