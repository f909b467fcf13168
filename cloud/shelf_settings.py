"""Bringing every gateway of a store up to the shelf settings head office set in the console.

Two ways, so that a change reaches a gateway however long it was away:

1. **At once**: after a change commits, the `settings` command (the store's whole set and its
   version) goes to each of the store's gateways on cmd/{gw}/settings, QoS 1. A gateway that is
   offline gets it from its persistent broker session when it comes back.
2. **When a gateway is behind**: a gateway's status says which version it applied
   (settings_version). When that is older than the store's, the command is sent again — the broker
   may have lost the session and its queue (a broker restarted without its store, a session past
   its expiry), or the gateway's book may have been replaced. At most once per `RESEND_AFTER` per
   gateway: a status that arrives while the command is on its way does not double it.

A gateway applies only a version newer than its own, so a command sent twice changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.db import shelf_settings
from shared import contract
from shared.contract import GatewayStatus
from shared.mqtt import MqttError

log = logging.getLogger(__name__)

RESEND_AFTER = timedelta(seconds=10)
COMMAND = "settings"

Send = Callable[[str, str, str, bytes], Awaitable[None]]  # Ingest.command(store, gateway, name, payload)


async def send(maker: async_sessionmaker[AsyncSession], send_command: Send | None, store: str,
               only: str | None = None) -> list[str]:
    """Send the store's settings to its gateways (or gateway `only`); the gateways reached. A
    worker without a broker session, or a broker that is away, sends nothing: the gateways' next
    statuses bring them up to date through whichever worker has one."""
    async with maker() as session:
        settings = await shelf_settings.command(session, store)
        known = [g.gateway for g in await shelf_settings.gateways(session, store)]
    if settings is None or send_command is None:
        return []
    payload = contract.encode(settings)
    reached = []
    for gateway in known if only is None else [only]:
        try:
            await send_command(store, gateway, COMMAND, payload)
        except MqttError as e:
            log.warning("settings v%d for %s/%s not sent: %s", settings.version, store, gateway, e)
            continue
        reached.append(gateway)
    if reached:
        async with maker() as session, session.begin():
            now = datetime.now(UTC)
            for gateway in reached:
                await shelf_settings.sent(session, store, gateway, settings.version, now)
    return reached


def follow(maker: async_sessionmaker[AsyncSession],
           send_command: Send) -> Callable[[GatewayStatus], Awaitable[None]]:
    """The ingest's status hook: keep what each gateway applied, and send again to one behind."""

    async def on_status(status: GatewayStatus) -> None:
        if status.settings_version is None or status.state is not contract.GatewayState.ONLINE:
            return  # a gateway without staff alerts (or older), or its last will
        now = datetime.now(UTC)
        async with maker() as session, session.begin():
            state = await shelf_settings.reported(session, status.store, status.gateway,
                                                  status.settings_version, now)
            version = await shelf_settings.version_of(session, status.store)
        if not state.behind(version):
            return
        if state.sent == version and state.sent_at is not None and now - state.sent_at < RESEND_AFTER:
            return  # on its way
        log.info("%s/%s runs settings v%d of v%d: sending again", status.store, status.gateway,
                 status.settings_version, version)
        await send(maker, send_command, status.store, status.gateway)

    return on_status


__all__ = ["COMMAND", "RESEND_AFTER", "follow", "send"]
