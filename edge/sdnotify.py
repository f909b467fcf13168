"""Tell systemd how the gateway is doing: READY, WATCHDOG, STATUS, STOPPING (sd_notify(3)).

deploy/systemd/shelfsync-gateway.service runs the gateway as `Type=notify` with `WatchdogSec=`:
systemd waits for READY=1 before it calls the unit started, and restarts the gateway when
WATCHDOG=1 stops arriving. The gateway pings only while its own health check passes, so a wedged
event loop or a stalled pipeline is restarted instead of sitting silently (issue 10).

    notifier = Notifier.from_env()          # a no-op outside systemd
    notifier.ready("publishing to broker.example.com")
    tg.create_task(keep_watchdog(notifier, healthy=lambda: pipeline.age() < 30))
    ...
    notifier.stopping()

The protocol is one datagram of newline-separated KEY=VALUE assignments sent to the unix socket
named by $NOTIFY_SOCKET ('@' = Linux abstract namespace). Written here rather than taken from
PyPI: `sdnotify` (0.3.2, last released 2017) blocks, hides every error and has no watchdog
helper, and `systemd-python` needs libsystemd headers to build on the Pi; the protocol is
twenty lines.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notifier:
    """Where to send notifications. `address` None means "not run by systemd": every call is a
    no-op that returns False, so callers never need to check."""

    address: str | None = None
    # Seconds between watchdog pings (half of $WATCHDOG_USEC), None when the watchdog is off.
    watchdog_period: float | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        return cls(address=_socket_address(env), watchdog_period=_watchdog_period(env))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *assignments: str) -> bool:
        """Send KEY=VALUE assignments in one datagram; True if systemd's socket took it.

        Never raises: a missing or full socket is logged and reported as False, because a
        failed notification must not take the gateway down.
        """
        if self.address is None:
            return False
        payload = "\n".join(assignments).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                # Non-blocking: this runs on the event loop, and a full receive queue means
                # systemd is busy — dropping one ping beats stalling the gateway.
                sock.setblocking(False)
                sock.sendto(payload, self.address)
        except OSError as e:
            log.warning("sd_notify to %r failed: %s", _printable(self.address), e)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """The gateway is up (config loaded, devices opened, publisher started)."""
        return self.send("READY=1", *_status(status))

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """A one-line status for `systemctl status shelfsync-gateway`."""
        return self.send(*_status(text))

    def stopping(self, status: str | None = None) -> bool:
        return self.send("STOPPING=1", *_status(status))


def _status(text: str | None) -> tuple[str, ...]:
    if text is None:
        return ()
    # A newline would start a new assignment inside the datagram (sd_notify(3)).
    return ("STATUS=" + " ".join(text.splitlines()),)


def _socket_address(env: Mapping[str, str]) -> str | None:
    value = env.get("NOTIFY_SOCKET", "")
    if not value:
        return None
    if value.startswith("@"):
        # sd_notify(3): a leading '@' names a socket in the Linux abstract namespace.
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    # systemd ≥ 254 may also hand out vsock: addresses (for VMs); a Pi gateway never gets one.
    log.warning("NOTIFY_SOCKET=%r is not a unix socket; systemd notifications disabled", value)
    return None


def _watchdog_period(env: Mapping[str, str]) -> float | None:
    """sd_watchdog_enabled(3): the watchdog is on when $WATCHDOG_USEC is a positive integer and
    $WATCHDOG_PID, if set, is this process. systemd advises pinging at half the timeout."""
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    return usec / 2 / 1_000_000


async def keep_watchdog(
    notifier: Notifier,
    healthy: Callable[[], bool],
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Ping WATCHDOG=1 every `notifier.watchdog_period` seconds while `healthy()` is true.

    Returns at once when the watchdog is off; otherwise runs until cancelled. When the check
    fails the pings stop, systemd's WatchdogSec runs out and the unit restarts (Restart=on-failure).
    The check runs on the event loop, so a blocked loop stops the pings too. A check that raises
    counts as unhealthy.
    """
    period = notifier.watchdog_period
    if period is None or not notifier.enabled:
        return
    was_healthy = True
    while True:
        try:
            ok = healthy()
        except Exception:
            log.exception("watchdog health check raised; treating the gateway as unhealthy")
            ok = False
        if ok:
            notifier.watchdog()
            if not was_healthy:
                log.info("gateway healthy again; watchdog pings resumed")
                notifier.status("healthy")
        elif was_healthy:
            log.error("gateway unhealthy; withholding watchdog pings so systemd restarts it")
            notifier.status("unhealthy: watchdog pings withheld")
        was_healthy = ok
        await sleep(period)


def _printable(address: str) -> str:
    return "@" + address[1:] if address.startswith("\0") else address
