"""Real services for tests: a private Mosquitto per test, a fresh PostgreSQL database, free ports."""

from __future__ import annotations

import atexit
import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

# The same port helpers the demo and benchmarks use to start the system.
from firmware_sim.procs import free_port, mosquitto_binary, wait_port

PG_ADMIN_URL = os.environ.get("SHELFSYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass
class Mosquitto:
    """A private broker on a free port, with persistence so sessions survive a restart."""

    workdir: Path
    port: int
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence true\n"
            f"persistence_location {self.workdir}/\n"
            "max_queued_messages 100000\n"
            "max_inflight_messages 100\n"
            f"log_dest file {self.workdir}/mosquitto.log\n"
        )
        self.proc = subprocess.Popen([mosquitto_binary(), "-c", str(conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None


@contextlib.contextmanager
def mosquitto(workdir: Path) -> Iterator[Mosquitto]:
    workdir.mkdir(parents=True, exist_ok=True)
    broker = Mosquitto(workdir, free_port())
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


_templates: dict[str, str] = {}  # admin URL → the name of this process's migrated template
_dropping: list[subprocess.Popen[bytes]] = []  # DROP DATABASEs still running (drop_later)


@atexit.register
def _dropped() -> None:
    for p in _dropping:
        p.wait()


def migrated_template(admin: str = PG_ADMIN_URL) -> str:
    """The name of a database at the head of this checkout's migrations, made by the first call in
    this process (each pytest worker has its own, so no other session is ever connected to it, as
    copying it requires) and dropped when the process exits."""
    if admin not in _templates:
        from cloud.db.migrate import upgrade  # the tests' code under test, not this module's

        name = f"shelfsync_template_{uuid.uuid4().hex[:12]}"
        _psql(f"CREATE DATABASE {name}", admin)
        atexit.register(_drop, name, admin)
        upgrade(f"{admin.rsplit('/', 1)[0]}/{name}")
        _templates[admin] = name
    return _templates[admin]


def _psql_args(sql: str, admin: str) -> list[str]:
    return ["psql", admin, "-q", "-v", "ON_ERROR_STOP=1", "-c", sql]


def _psql(sql: str, admin: str = PG_ADMIN_URL) -> None:
    subprocess.run(_psql_args(sql, admin), check=True, capture_output=True)


@contextlib.contextmanager
def postgres_database(admin: str = PG_ADMIN_URL, prefix: str = "shelfsync_test", *,
                      migrated: bool = False, drop_later: bool = False) -> Iterator[str]:
    """A new, empty database on the PostgreSQL that `admin` reaches; dropped afterwards.

    migrated: instead, a copy of a database this process brought to the head of the migrations
    once (`migrated_template`); copying it is quicker than migrating a new one, and the cloud's own
    `upgrade` at start then finds nothing to do.
    drop_later: the DROP runs beside whatever comes next (the process waits for every one before it
    exits) instead of holding up the caller: nothing reads a database after its test.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    _psql(f"CREATE DATABASE {name}" + (f" TEMPLATE {migrated_template(admin)}" if migrated else ""), admin)
    base = admin.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        if drop_later:
            _dropping.append(subprocess.Popen(_psql_args(_drop_sql(name), admin), stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL))
            _dropping[:] = [p for p in _dropping if p.poll() is None]
        else:
            _drop(name, admin)


def _drop_sql(name: str) -> str:
    return f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"


def _drop(name: str, admin: str) -> None:
    with contextlib.suppress(subprocess.CalledProcessError):
        _psql(_drop_sql(name), admin)


@contextlib.contextmanager
def scratch_ledger(backend: str, workdir: Path, admin: str = PG_ADMIN_URL) -> Iterator[str]:
    """A benchmark's ledger URL: a SQLite file in `workdir`, or a scratch PostgreSQL database."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'ledger.db'}"
        return
    with postgres_database(admin, "shelfsync_bench") as url:
        yield url
