"""The broker's clients as the deploy tests play them: a store gateway on either store listener
and a cloud worker, each connected with the credentials deploy/mosquitto gives it."""

from __future__ import annotations

from paho.mqtt.reasoncodes import ReasonCode

from .broker import Broker
from .mqtt_probe import Probe

NOT_AUTHORIZED = 0x87
BAD_CREDENTIALS = 0x86
# The cloud workers' shared subscription (ARCHITECTURE §5).
SHARE = "$share/cloud/shelfsync/v1/store/+/gw/+/#"


def gw_topic(store: str, kind: str = "deltas") -> str:
    return f"shelfsync/v1/store/{store}/gw/gw-1/{kind}"


def cmd_topic(store: str, command: str = "snapshot") -> str:
    return f"shelfsync/v1/store/{store}/cmd/gw-1/{command}"


def is_success(rc: ReasonCode) -> bool:
    return not rc.is_failure


def store_probe(broker: Broker, store: str, client_id: str, listener: str) -> tuple[Probe, int]:
    """A probe holding `store`'s own credential for one of the store listeners ("password":
    username + password; "certificate": the store's client certificate), and that port."""
    s = broker.pki.stores[store]
    if listener == "password":
        return Probe(client_id, ca=broker.pki.ca, username=store, password=s.password), \
            broker.password_port
    assert listener == "certificate", listener
    return Probe(client_id, ca=broker.pki.ca, cert=s.cert, key=s.key), broker.cert_port


def gateway(
    broker: Broker, store: str, client_id: str | None = None, *, listener: str = "password",
    clean_start: bool = True, session_expiry: int = 0,
) -> Probe:
    """A gateway, connected: username (or certificate CN) = store id."""
    probe, port = store_probe(broker, store, client_id or f"{store}-gw-1", listener)
    assert probe.connect(port, clean_start=clean_start, session_expiry=session_expiry) == 0
    return probe


def cloud_probe(broker: Broker, client_id: str) -> tuple[Probe, int]:
    """A probe holding the cloud workers' credential, and the port the cloud connects to."""
    probe = Probe(client_id, ca=broker.pki.ca, username="cloud", password=broker.pki.cloud_password)
    return probe, broker.cloud_port


def cloud(broker: Broker, client_id: str, *, clean_start: bool = True,
          session_expiry: int = 0) -> Probe:
    """A cloud worker, connected."""
    probe, port = cloud_probe(broker, client_id)
    assert probe.connect(port, clean_start=clean_start, session_expiry=session_expiry) == 0
    return probe


def forget_session(broker: Broker, client_id: str) -> None:
    """Discard whatever persistent session `client_id` has (Clean Start, expiry 0), so no later
    test shares the stream with it. The cloud's credential may use any client id."""
    probe, port = cloud_probe(broker, client_id)
    with probe:
        probe.connect(port)
