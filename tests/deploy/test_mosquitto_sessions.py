"""A store cannot disconnect, take over or read another client's broker session (issue 14).

Client ids are one namespace across all of a broker's listeners. A client that connects with an
id already in use disconnects its holder (MQTT 5 §3.1.4: "Session taken over") and, with Clean
Start 0, is handed that session and everything queued in it; with Clean Start 1 it discards it.
A cloud worker's id is predictable (`cloud-<worker id or host name>`: a compose hostname, a
StatefulSet pod name), and so is a gateway's. So the production files must bind each store's
client id to its own username and keep the cloud workers on credentials no store holds.

A real Mosquitto with the files of deploy/mosquitto (tests/deploy/broker.py), paho over MQTT v5
and TLS; the intruder is store sh-b with its own valid credential, on each store listener.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .broker import Broker
from .clients import (
    BAD_CREDENTIALS,
    NOT_AUTHORIZED,
    SHARE,
    cloud,
    cmd_topic,
    forget_session,
    gateway,
    gw_topic,
    is_success,
    store_probe,
)
from .mqtt_probe import Event, Probe, wait_until

# cloud/settings.py: cloud-<worker id or host name>; on Kubernetes the host name is the pod name.
WORKER = "cloud-shelfsync-cloud-0"
# The client id gateways used before ids were bound to usernames: <store>-<gateway>.
VICTIM_GATEWAY = "sh-a-gw-1"
LISTENERS = ("password", "certificate")


def connack(probe: Probe) -> Event:
    return probe.wait_for(lambda e: e.kind == "connack")


def intruder(broker: Broker, listener: str, client_id: str, *, clean_start: bool = True) -> Probe:
    """Store sh-b, with its own valid credential, asking for someone else's client id. The
    broker lets it in (it is a store), but as itself."""
    probe, port = store_probe(broker, "sh-b", client_id, listener)
    assert probe.connect(port, clean_start=clean_start, session_expiry=600) == 0
    return probe


def worker(broker: Broker) -> Probe:
    """A cloud worker with a persistent session, as cloud/ingest.py connects."""
    return cloud(broker, WORKER, clean_start=False, session_expiry=600)


def victim(broker: Broker) -> Probe:
    """Store sh-a's gateway with a persistent session, as edge/delivery/publisher.py connects."""
    return gateway(broker, "sh-a", VICTIM_GATEWAY, clean_start=False, session_expiry=600)


@pytest.fixture(autouse=True)
def no_sessions_left(broker: Broker) -> Iterator[None]:
    """Every session a test may leave (the worker's share, the stores' own) is discarded after
    it, so no later test shares the stream with an offline member."""
    yield
    for client_id in (WORKER, VICTIM_GATEWAY, "sh-a", "sh-b"):
        forget_session(broker, client_id)


@pytest.mark.parametrize("listener", LISTENERS)
def test_a_store_using_a_cloud_workers_client_id_does_not_disconnect_it(
    broker: Broker, listener: str
) -> None:
    with worker(broker) as cloud_worker:
        assert is_success(cloud_worker.subscribe(SHARE))
        with intruder(broker, listener, WORKER) as thief, gateway(broker, "sh-a") as a:
            assert is_success(a.publish(gw_topic("sh-a"), b"after the intruder"))
            # Had the intruder taken the id over, the worker's DISCONNECT (sent before the
            # intruder's CONNACK) would be recorded before anything it receives afterwards.
            assert cloud_worker.message(gw_topic("sh-a")).payload == b"after the intruder"
            assert cloud_worker.events("disconnect") == []
            assert thief.messages() == []


@pytest.mark.parametrize("clean_start", [False, True], ids=["resume", "discard"])
@pytest.mark.parametrize("listener", LISTENERS)
def test_a_store_cannot_take_over_or_discard_an_offline_cloud_workers_queue(
    broker: Broker, listener: str, clean_start: bool
) -> None:
    with worker(broker) as cloud_worker:
        assert is_success(cloud_worker.subscribe(SHARE))
    # The worker is away (a restart, a rolling upgrade): the broker queues its batches.
    with gateway(broker, "sh-a") as a:
        for i in range(3):
            assert is_success(a.publish(gw_topic("sh-a"), f"batch {i}".encode()))
    with intruder(broker, listener, WORKER, clean_start=clean_start) as thief:
        assert not connack(thief).session_present, "the store was handed the worker's session"
    with worker(broker) as back:
        assert connack(back).session_present, "the worker's session is gone"
        wait_until(lambda: len(back.messages()) >= 3, [back])
        assert [m.payload for m in back.messages()] == [f"batch {i}".encode() for i in range(3)]
    assert thief.messages() == []


@pytest.mark.parametrize("listener", LISTENERS)
def test_a_store_using_another_stores_client_id_does_not_disconnect_it(
    broker: Broker, listener: str
) -> None:
    with victim(broker) as a, cloud(broker, "cloud-cmd") as c:
        assert is_success(a.subscribe("shelfsync/v1/store/sh-a/cmd/#"))
        with intruder(broker, listener, VICTIM_GATEWAY) as thief:
            assert is_success(c.publish(cmd_topic("sh-a"), b"for sh-a"))
            assert a.message(cmd_topic("sh-a")).payload == b"for sh-a"
            assert a.events("disconnect") == []
            assert thief.messages() == []


@pytest.mark.parametrize("clean_start", [False, True], ids=["resume", "discard"])
@pytest.mark.parametrize("listener", LISTENERS)
def test_a_store_cannot_take_over_or_read_another_stores_offline_session(
    broker: Broker, listener: str, clean_start: bool
) -> None:
    with victim(broker) as a:
        assert is_success(a.subscribe("shelfsync/v1/store/sh-a/cmd/#"))
    # sh-a's gateway is offline; a command for it waits in its session.
    with cloud(broker, "cloud-cmd") as c:
        assert is_success(c.publish(cmd_topic("sh-a"), b"while you were away"))
    with intruder(broker, listener, VICTIM_GATEWAY, clean_start=clean_start) as thief:
        assert not connack(thief).session_present, "the store was handed sh-a's session"
    with victim(broker) as back:
        assert connack(back).session_present, "sh-a's session is gone"
        assert back.message(cmd_topic("sh-a")).payload == b"while you were away"
    assert thief.messages() == []


@pytest.mark.parametrize("listener", LISTENERS)
def test_a_stores_credential_does_not_open_the_cloud_listener(
    broker: Broker, listener: str
) -> None:
    probe, _ = store_probe(broker, "sh-a", WORKER, listener)
    with probe:
        rc = probe.connect(broker.cloud_port)
    assert rc.value in (NOT_AUTHORIZED, BAD_CREDENTIALS), rc


def test_the_cloud_credential_does_not_open_the_store_listener(broker: Broker) -> None:
    """The cloud's rights (every store's stream) exist only where the cloud's ids are its own."""
    probe = Probe(WORKER, ca=broker.pki.ca, username="cloud", password=broker.pki.cloud_password)
    with probe:
        rc = probe.connect(broker.password_port)
    assert rc.value in (NOT_AUTHORIZED, BAD_CREDENTIALS), rc
