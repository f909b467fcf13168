"""edge/sdnotify.py against a real unix datagram socket standing in for systemd's
$NOTIFY_SOCKET (path and abstract namespace), and the watchdog loop that pings only while the
gateway is healthy."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.sdnotify import Notifier, keep_watchdog

WAIT = 5.0


@pytest.fixture
def systemd_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A datagram socket bound where systemd's would be; yields it and its $NOTIFY_SOCKET value."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = tmp_path / "notify"
    sock.bind(str(path))
    sock.settimeout(WAIT)
    with sock:
        yield sock, str(path)


@pytest.fixture
def abstract_socket() -> Iterator[tuple[socket.socket, str]]:
    name = f"shelfsync-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.setblocking(False)
    with sock:
        yield sock, "@" + name


def test_outside_systemd_every_notification_is_a_quiet_no_op() -> None:
    notifier = Notifier.from_env({})
    assert not notifier.enabled
    assert notifier.ready("up") is False
    assert notifier.watchdog() is False
    assert notifier.watchdog_period is None


def test_ready_with_status_is_one_datagram(systemd_socket: tuple[socket.socket, str]) -> None:
    sock, address = systemd_socket
    notifier = Notifier.from_env({"NOTIFY_SOCKET": address})
    assert notifier.ready("publishing to broker")
    assert sock.recv(4096) == b"READY=1\nSTATUS=publishing to broker"
    assert notifier.stopping()
    assert sock.recv(4096) == b"STOPPING=1"


def test_a_status_cannot_smuggle_another_assignment(
    systemd_socket: tuple[socket.socket, str],
) -> None:
    sock, address = systemd_socket
    Notifier.from_env({"NOTIFY_SOCKET": address}).status("reader down\nREADY=1")
    assert sock.recv(4096) == b"STATUS=reader down READY=1"


async def test_an_abstract_namespace_socket_is_reached(
    abstract_socket: tuple[socket.socket, str],
) -> None:
    sock, address = abstract_socket
    assert address.startswith("@")
    assert Notifier.from_env({"NOTIFY_SOCKET": address}).watchdog()
    data = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(sock, 4096), WAIT)
    assert data == b"WATCHDOG=1"


def test_a_vanished_socket_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "gone")})
    with caplog.at_level(logging.WARNING, logger="edge.sdnotify"):
        assert notifier.ready() is False
    assert "sd_notify" in caplog.text


@pytest.mark.parametrize(
    ("env", "period"),
    [
        ({"WATCHDOG_USEC": "20000000"}, 10.0),
        ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": str(os.getpid())}, 10.0),
        ({"WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_the_watchdog_pings_at_half_its_timeout(env: dict[str, str], period: float | None) -> None:
    assert Notifier.from_env(env).watchdog_period == period


async def test_keep_watchdog_returns_at_once_when_the_watchdog_is_off() -> None:
    await asyncio.wait_for(keep_watchdog(Notifier.from_env({}), healthy=lambda: True), WAIT)


class Ticks:
    """An injected sleep: the watchdog loop waits for the test to tick it."""

    def __init__(self) -> None:
        self.gate: asyncio.Queue[None] = asyncio.Queue()
        self.waiting = asyncio.Event()

    async def sleep(self, _period: float) -> None:
        self.waiting.set()
        await self.gate.get()
        self.waiting.clear()

    async def tick(self) -> None:
        """Let the loop run exactly one more round and wait until it sleeps again."""
        self.waiting.clear()
        self.gate.put_nowait(None)
        await asyncio.wait_for(self.waiting.wait(), WAIT)


async def test_the_watchdog_pings_only_while_the_gateway_is_healthy(
    abstract_socket: tuple[socket.socket, str],
) -> None:
    sock, address = abstract_socket
    loop = asyncio.get_running_loop()
    notifier = Notifier.from_env({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "30000000"})
    health = {"ok": True}
    ticks = Ticks()

    async def recv() -> bytes:
        return await asyncio.wait_for(loop.sock_recv(sock, 4096), WAIT)

    def nothing_sent() -> bool:
        try:
            sock.recv(4096)
        except BlockingIOError:
            return True
        return False

    task = asyncio.create_task(keep_watchdog(notifier, lambda: health["ok"], sleep=ticks.sleep))
    try:
        await asyncio.wait_for(ticks.waiting.wait(), WAIT)
        assert await recv() == b"WATCHDOG=1"
        await ticks.tick()
        assert await recv() == b"WATCHDOG=1"

        health["ok"] = False
        await ticks.tick()
        assert await recv() == b"STATUS=unhealthy: watchdog pings withheld"
        await ticks.tick()
        await ticks.tick()
        assert nothing_sent()  # two more unhealthy rounds: systemd hears nothing

        health["ok"] = True
        await ticks.tick()
        assert await recv() == b"WATCHDOG=1"
        assert await recv() == b"STATUS=healthy"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_health_check_that_raises_counts_as_unhealthy(
    abstract_socket: tuple[socket.socket, str], caplog: pytest.LogCaptureFixture
) -> None:
    sock, address = abstract_socket
    notifier = Notifier.from_env({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "30000000"})
    ticks = Ticks()

    def broken() -> bool:
        raise RuntimeError("pipeline state unreadable")

    task = asyncio.create_task(keep_watchdog(notifier, broken, sleep=ticks.sleep))
    try:
        await asyncio.wait_for(ticks.waiting.wait(), WAIT)
        data = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(sock, 4096), WAIT)
        assert data == b"STATUS=unhealthy: watchdog pings withheld"
        assert "pipeline state unreadable" in caplog.text
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
