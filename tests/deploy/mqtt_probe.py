"""A blocking MQTT v5 probe for the broker tests: paho-mqtt 2.x, VERSION2 callbacks, every
broker answer (CONNACK, SUBACK, PUBACK, messages, disconnects) recorded as an event that a test
waits for with a deadline — never a sleep (STYLE.md, Tests).

The probe runs paho's network thread (loop_start) and always stops it on close, so no thread
outlives the test that opened it.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from tests.support.mqtt_clients import release

WAIT = 5.0


@dataclass(frozen=True)
class Event:
    kind: str  # connack | suback | puback | message | disconnect
    mid: int = 0
    reasons: tuple[ReasonCode, ...] = ()
    topic: str = ""
    payload: bytes = b""
    session_present: bool = False  # connack: the broker resumed a stored session


class _TrackingContext(ssl.SSLContext):
    """Remembers the sockets it wraps: paho 2.2 drops the socket unclosed when the TLS handshake
    fails inside connect(), which would leak it (a ResourceWarning, an error under pytest)."""

    wrapped: list[ssl.SSLSocket]

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        sock = super().wrap_socket(*args, **kwargs)
        self.__dict__.setdefault("wrapped", []).append(sock)
        return sock

    def close_all(self) -> None:
        for sock in self.__dict__.get("wrapped", []):
            sock.close()


class Probe:
    """One MQTT v5 client over TLS; username/password or a client certificate."""

    def __init__(
        self,
        client_id: str,
        *,
        ca: Path,
        username: str | None = None,
        password: str | None = None,
        cert: Path | None = None,
        key: Path | None = None,
    ) -> None:
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
        )
        self._tls = _TrackingContext(ssl.PROTOCOL_TLS_CLIENT)
        self._tls.load_verify_locations(cafile=ca)
        if cert is not None:
            self._tls.load_cert_chain(cert, key)
        self.client.tls_set_context(self._tls)
        if username is not None:
            self.client.username_pw_set(username, password)
        self._events: list[Event] = []
        self._cond = threading.Condition()
        self._started = False
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.client.on_disconnect = self._on_disconnect

    # --- paho callbacks (network thread) -------------------------------------------------------
    def _record(self, event: Event) -> None:
        with self._cond:
            self._events.append(event)
            self._cond.notify_all()

    def _on_connect(self, _c: Any, _u: Any, flags: Any, rc: ReasonCode, _p: Any) -> None:
        self._record(Event("connack", reasons=(rc,), session_present=bool(flags.session_present)))

    def _on_subscribe(self, _c: Any, _u: Any, mid: int, rcs: list[ReasonCode], _p: Any) -> None:
        self._record(Event("suback", mid=mid, reasons=tuple(rcs)))

    def _on_publish(self, _c: Any, _u: Any, mid: int, rc: ReasonCode, _p: Any) -> None:
        self._record(Event("puback", mid=mid, reasons=(rc,)))

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._record(Event("message", topic=msg.topic, payload=bytes(msg.payload)))

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, rc: ReasonCode, _p: Any) -> None:
        self._record(Event("disconnect", reasons=(rc,)))

    # --- test-facing API -----------------------------------------------------------------------
    def wait_for(self, match: Callable[[Event], bool], timeout: float = WAIT) -> Event:
        """The first recorded event that `match` accepts; TimeoutError after `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self._events:
                    if match(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no matching event; saw {self._events!r}")
                self._cond.wait(left)

    def connect(
        self, port: int, *, clean_start: bool = True, session_expiry: int = 0
    ) -> ReasonCode:
        """Connect (TCP + TLS handshake raise on failure) and return the CONNACK reason, or the
        DISCONNECT reason when the broker drops the connection before answering."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = session_expiry
        try:
            self.client.connect("127.0.0.1", port, clean_start=clean_start, properties=props)
        except OSError:
            self._tls.close_all()
            raise
        self.client.loop_start()
        self._started = True
        event = self.wait_for(lambda e: e.kind in ("connack", "disconnect"))
        return event.reasons[0]

    def subscribe(self, topic: str) -> ReasonCode:
        _, mid = self.client.subscribe(topic, qos=1)
        return self.wait_for(lambda e: e.kind == "suback" and e.mid == mid).reasons[0]

    def publish(self, topic: str, payload: bytes) -> ReasonCode:
        """Publish at QoS 1 and return the PUBACK reason code."""
        info = self.client.publish(topic, payload, qos=1)
        return self.wait_for(lambda e: e.kind == "puback" and e.mid == info.mid).reasons[0]

    def message(self, topic: str, timeout: float = WAIT) -> Event:
        return self.wait_for(lambda e: e.kind == "message" and e.topic == topic, timeout)

    def messages(self) -> list[Event]:
        with self._cond:
            return [e for e in self._events if e.kind == "message"]

    def events(self, kind: str) -> list[Event]:
        with self._cond:
            return [e for e in self._events if e.kind == kind]

    def close(self) -> None:
        if self._started:
            release(self.client)  # its sockets too, not left to the garbage collector
            self._started = False

    def __enter__(self) -> Probe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_until(done: Callable[[], bool], probes: list[Probe], timeout: float = WAIT) -> None:
    """Wait for a condition spanning several probes (e.g. messages split between two shared
    subscribers): poll `done` on every event any of them records, until a deadline."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met; probes saw {[p.messages() for p in probes]}")
        for probe in probes:
            with probe._cond:
                probe._cond.wait(0.02)
