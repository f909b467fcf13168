"""The broker lets no one in where they don't belong (issue 10, ARCHITECTURE §5): a real Mosquitto
started with deploy/mosquitto/mosquitto.conf + acl and a PKI made by its own scripts, probed with
paho-mqtt 2.x over MQTT v5 and TLS."""

from __future__ import annotations

import ssl
from collections.abc import Callable

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
)
from .mqtt_probe import Probe, wait_until


def test_a_gateway_publishes_its_own_stores_deltas(broker: Broker) -> None:
    with gateway(broker, "sh-a") as a:
        assert is_success(a.publish(gw_topic("sh-a"), b"{}"))
        assert is_success(a.publish(gw_topic("sh-a", "status"), b"online"))


def test_store_a_cannot_publish_as_store_b(broker: Broker) -> None:
    with gateway(broker, "sh-a") as a:
        rc = a.publish(gw_topic("sh-b"), b'{"forged": true}')
    assert rc.value == NOT_AUTHORIZED, rc


def test_a_gateway_cannot_forge_commands_even_to_itself(broker: Broker) -> None:
    with gateway(broker, "sh-a") as a:
        assert a.publish(cmd_topic("sh-a"), b"{}").value == NOT_AUTHORIZED
        assert a.publish(cmd_topic("sh-b"), b"{}").value == NOT_AUTHORIZED


def test_a_gateway_reads_its_own_commands_and_never_store_bs(broker: Broker) -> None:
    with gateway(broker, "sh-a") as a, cloud(broker, "cloud-cmd") as c:
        assert is_success(a.subscribe("shelfsync/v1/store/sh-a/cmd/#"))
        # Mosquitto 2.0 grants the subscription and withholds what the ACL denies, so the
        # proof is in delivery: B's command is sent first, A's own second, on one QoS 1 path
        # (MQTT 5 §4.6 ordering). When A's arrives, B's would already have arrived.
        a.subscribe("shelfsync/v1/store/sh-b/cmd/#")
        assert is_success(c.publish(cmd_topic("sh-b"), b"for-b"))
        assert is_success(c.publish(cmd_topic("sh-a"), b"for-a"))
        assert a.message(cmd_topic("sh-a")).payload == b"for-a"
        assert [m.topic for m in a.messages()] == [cmd_topic("sh-a")]


def test_a_gateway_cannot_read_other_stores_deltas(broker: Broker) -> None:
    with gateway(broker, "sh-a") as a, gateway(broker, "sh-b") as b:
        a.subscribe("shelfsync/v1/store/+/gw/#")
        assert is_success(b.publish(gw_topic("sh-b"), b"b-secret"))
        assert is_success(a.publish(gw_topic("sh-a"), b"a-own"))
        # A may write its own gw topics but not read them back either (write-only pattern);
        # wait for the broker to have handled both publishes, then nothing may have arrived.
        c_marker = gw_topic("sh-a", "alerts")
        with cloud(broker, "cloud-watch") as c:
            c.subscribe(c_marker)
            assert is_success(a.publish(c_marker, b"marker"))
            c.message(c_marker)
        assert a.messages() == []


def test_anonymous_clients_are_refused(broker: Broker) -> None:
    with Probe("anon", ca=broker.pki.ca) as anon:
        rc = anon.connect(broker.password_port)
    assert rc.value in (NOT_AUTHORIZED, BAD_CREDENTIALS), rc


def test_a_wrong_password_is_refused(broker: Broker) -> None:
    with Probe("sh-a-gw-1", ca=broker.pki.ca, username="sh-a", password="sh-b's password") as p:
        rc = p.connect(broker.password_port)
    assert rc.value in (NOT_AUTHORIZED, BAD_CREDENTIALS), rc


def test_a_client_trusting_the_wrong_ca_refuses_the_broker(broker: Broker) -> None:
    s = broker.pki.stores["sh-a"]
    probe = Probe("sh-a-gw-1", ca=broker.pki.rogue_ca, username="sh-a", password=s.password)
    with pytest.raises(ssl.SSLCertVerificationError), probe:
        probe.connect(broker.password_port)


def test_the_certificate_cn_is_the_store_so_a_cert_only_writes_its_store(broker: Broker) -> None:
    s = broker.pki.stores["sh-a"]
    # The username offered is ignored: use_identity_as_username takes the CN (sh-a).
    with Probe("sh-a-gw-1", ca=broker.pki.ca, username="sh-b", cert=s.cert, key=s.key) as a:
        assert a.connect(broker.cert_port) == 0
        assert is_success(a.publish(gw_topic("sh-a"), b"{}"))
        assert a.publish(gw_topic("sh-b"), b"{}").value == NOT_AUTHORIZED


def test_the_certificate_listener_refuses_clients_without_a_certificate(broker: Broker) -> None:
    s = broker.pki.stores["sh-a"]
    probe = Probe("sh-a-gw-1", ca=broker.pki.ca, username="sh-a", password=s.password)
    with probe:
        try:
            rc = probe.connect(broker.cert_port)
        except (ssl.SSLError, ConnectionError):
            return  # refused during the handshake (TLS 1.2)
        assert rc.is_failure, rc  # or right after it (TLS 1.3 checks the client later)


def test_a_certificate_from_a_foreign_ca_is_refused(broker: Broker) -> None:
    pki = broker.pki
    probe = Probe("sh-a-gw-1", ca=pki.ca, cert=pki.rogue_cert, key=pki.rogue_key)
    with probe:
        try:
            rc = probe.connect(broker.cert_port)
        except (ssl.SSLError, ConnectionError):
            return
        assert rc.is_failure, rc


def test_cloud_workers_share_the_gateway_stream_each_batch_once(broker: Broker) -> None:
    with cloud(broker, "cloud-w1") as w1, cloud(broker, "cloud-w2") as w2:
        assert is_success(w1.subscribe(SHARE))
        assert is_success(w2.subscribe(SHARE))
        with gateway(broker, "sh-a") as a, gateway(broker, "sh-b") as b:
            for i in range(5):
                assert is_success(a.publish(gw_topic("sh-a"), f"a{i}".encode()))
                assert is_success(b.publish(gw_topic("sh-b"), f"b{i}".encode()))
        expected = {f"{s}{i}".encode() for s in "ab" for i in range(5)}
        wait_until(lambda: len(w1.messages()) + len(w2.messages()) >= len(expected), [w1, w2])
        got = [m.payload for m in w1.messages() + w2.messages()]
        assert sorted(got) == sorted(expected)  # every batch, none twice
        assert w1.messages() and w2.messages()  # the load splits


def test_a_restarted_worker_gets_the_batches_queued_for_it_under_its_client_id(
    broker: Broker,
) -> None:
    """Mosquitto keeps sharing the stream with a worker whose persistent session is offline and
    queues its half (measured: 5 of 10). They come back only to the same client id — which is
    why deploy/ gives cloud workers stable ids (compose hostnames, a k8s StatefulSet)."""

    def worker(client_id: str) -> Probe:
        return cloud(broker, client_id, clean_start=False, session_expiry=600)

    try:
        _share_with_a_restart(broker, worker, SHARE)
    finally:
        # Clean Start discards both persistent sessions, so no later test shares with them.
        for client_id in ("cloud-steady", "cloud-restarting"):
            forget_session(broker, client_id)


def _share_with_a_restart(broker: Broker, worker: Callable[[str], Probe], share: str) -> None:
    with worker("cloud-steady") as steady:
        down = worker("cloud-restarting")
        assert is_success(steady.subscribe(share))
        assert is_success(down.subscribe(share))
        down.close()
        with gateway(broker, "sh-a", "sh-a-gw-2") as a:
            for i in range(10):
                assert is_success(a.publish(gw_topic("sh-a"), f"{i}".encode()))
        with worker("cloud-restarting") as back:
            wait_until(lambda: len(steady.messages()) + len(back.messages()) >= 10, [steady, back])
            got = sorted(m.payload for m in steady.messages() + back.messages())
            assert got == sorted(f"{i}".encode() for i in range(10))
            assert back.messages(), "the queued half went to the restarted session"
