"""paho-mqtt driven from the asyncio event loop: no network thread, awaitable PUBACKs, manual acks.

paho's socket is registered with the loop (add_reader/add_writer) and paho's housekeeping runs
from a loop task, the pattern paho documents in examples/loop_asyncio.py. We do not use aiomqtt
because it cannot acknowledge a message after processing it (paho's `manual_ack`), and both the
gateway (PUBACK before marking a delta sent) and the cloud (PUBACK only after the ledger commit)
need exact control over acknowledgements.

This module holds no gateway logic: it is the MQTT transport that edge and cloud both use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger(__name__)


class MqttError(Exception):
    """The broker refused, the connection dropped, or a publish was not acknowledged."""


@dataclass(frozen=True, slots=True)
class BrokerUrl:
    """mqtt://[user[:pass]@]host[:port] or mqtts://…?ca=/path/ca.pem&cert=…&key=…"""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    ca: str | None = None
    cert: str | None = None
    key: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerUrl:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
            raise ValueError(f"broker URL must start with mqtt:// or mqtts://, got {url!r}")
        if not parts.hostname:
            raise ValueError(f"broker URL has no host: {url!r}")
        tls = parts.scheme in ("mqtts", "ssl")
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return cls(
            host=parts.hostname,
            port=parts.port or (8883 if tls else 1883),
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            ca=query.get("ca"),
            cert=query.get("cert"),
            key=query.get("key"),
        )

    def redacted(self) -> str:
        who = f"{self.username}:***@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{who}{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    payload: bytes
    qos: int
    mid: int
    retain: bool


@dataclass(frozen=True, slots=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


class MqttClient:
    """One MQTT v5 connection. Use `async with MqttClient(...) as c:`; reconnecting is the owner's job.

    publish() returns when the broker has acknowledged (PUBACK for QoS 1) and raises MqttError when
    the broker refuses (a v5 reason code >= 0x80, e.g. "Not authorized") or the link drops first.
    With manual_ack=True, received QoS 1 messages are acknowledged only by ack(message).
    """

    def __init__(
        self,
        broker: BrokerUrl,
        client_id: str,
        *,
        clean_start: bool = False,
        session_expiry: int = 7 * 24 * 3600,
        keepalive: int = 30,
        will: Will | None = None,
        manual_ack: bool = False,
        max_inflight: int = 20,
        queue_size: int = 10_000,
    ) -> None:
        self.broker = broker
        self.client_id = client_id
        self._clean_start = clean_start
        self._session_expiry = session_expiry
        self._keepalive = keepalive
        self._will = will
        self._manual_ack = manual_ack
        self._max_inflight = max_inflight
        self.messages: asyncio.Queue[Message] = asyncio.Queue(maxsize=queue_size)
        self.session_present = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: paho.Client | None = None
        self._connected: asyncio.Future[None] | None = None
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._subacks: dict[int, asyncio.Future[list[ReasonCode]]] = {}
        self._misc: asyncio.Task[None] | None = None
        self._sock: Any = None
        self.closed = asyncio.Event()

    # --- lifecycle ------------------------------------------------------------------------

    async def __aenter__(self) -> MqttClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.disconnect()

    def _make_client(self) -> paho.Client:
        c = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=paho.MQTTv5,
            manual_ack=self._manual_ack,
        )
        c.max_inflight_messages_set(self._max_inflight)
        c.max_queued_messages_set(0)
        if self.broker.username is not None:
            c.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            c.tls_set(ca_certs=self.broker.ca, certfile=self.broker.cert, keyfile=self.broker.key,
                      cert_reqs=ssl.CERT_REQUIRED)
        if self._will is not None:
            c.will_set(self._will.topic, self._will.payload, self._will.qos, self._will.retain)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        c.on_message = self._on_message
        c.on_subscribe = self._on_subscribe
        c.on_socket_open = self._on_socket_open
        c.on_socket_close = self._on_socket_close
        c.on_socket_register_write = self._on_socket_register_write
        c.on_socket_unregister_write = self._on_socket_unregister_write
        return c

    async def connect(self, timeout: float = 10.0) -> None:
        self._loop = asyncio.get_running_loop()
        self.closed.clear()
        self._client = self._make_client()
        self._connected = self._loop.create_future()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho 2.1: no annotations
        props.SessionExpiryInterval = self._session_expiry
        client = self._client
        try:
            # The TCP (and TLS) handshake blocks; keep it off the loop. Socket callbacks it fires
            # are marshalled back onto the loop thread.
            rc = await self._loop.run_in_executor(
                None,
                lambda: client.connect(self.broker.host, self.broker.port, self._keepalive,
                                       clean_start=self._clean_start, properties=props),
            )
        except (OSError, ssl.SSLError) as e:
            self._teardown()
            raise MqttError(f"cannot reach broker {self.broker.redacted()}: {e}") from e
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self._teardown()
            raise MqttError(f"connect to {self.broker.redacted()} failed: {paho.error_string(rc)}")
        self._misc = self._loop.create_task(self._misc_loop(), name=f"mqtt-misc-{self.client_id}")
        try:
            await asyncio.wait_for(asyncio.shield(self._connected), timeout)
        except BaseException:
            await self.disconnect()
            raise

    async def disconnect(self) -> None:
        client = self._client
        if client is not None and client.is_connected():
            client.disconnect()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closed.wait(), 2.0)
        self._teardown()
        if self._misc is not None:
            self._misc.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._misc
            self._misc = None

    def _teardown(self) -> None:
        if self._sock is not None and self._loop is not None:
            self._loop.remove_reader(self._sock)
            self._loop.remove_writer(self._sock)
            self._sock = None
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                sock = client.socket()
                if sock is not None:
                    sock.close()
        self._fail_pending(MqttError("connection closed"))
        self.closed.set()

    def _fail_pending(self, error: Exception) -> None:
        futures: list[asyncio.Future[Any]] = [*self._pending.values(), *self._subacks.values()]
        for fut in futures:
            if not fut.done():
                fut.set_exception(error)
                fut.exception()  # mark retrieved: a caller may already have gone away
        self._pending.clear()
        self._subacks.clear()
        if self._connected is not None and not self._connected.done():
            self._connected.set_exception(error)
            self._connected.exception()

    @property
    def is_connected(self) -> bool:
        return self._client is not None and self._client.is_connected()

    # --- operations -----------------------------------------------------------------------

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False,
                      timeout: float = 30.0) -> None:
        client = self._require()
        info = client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise MqttError(f"publish to {topic} failed: {paho.error_string(info.rc)}")
        if qos == 0:
            return
        fut = self._pending.get(info.mid)
        if fut is None:  # registered here unless the PUBACK raced in already (it cannot: same thread)
            fut = self._require_loop().create_future()
            self._pending[info.mid] = fut
        await asyncio.wait_for(fut, timeout)

    async def subscribe(self, topic: str, qos: int = 1, timeout: float = 10.0) -> None:
        client = self._require()
        rc, mid = client.subscribe(topic, qos=qos)
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            raise MqttError(f"subscribe to {topic} failed: {paho.error_string(rc)}")
        fut = self._require_loop().create_future()
        self._subacks[mid] = fut
        codes = await asyncio.wait_for(fut, timeout)
        bad = [c for c in codes if c.is_failure]
        if bad:
            raise MqttError(f"subscribe to {topic} refused: {bad[0]}")

    def ack(self, message: Message) -> None:
        """Acknowledge a received message (manual_ack mode); a no-op once the link is gone."""
        if self._client is not None and message.qos > 0:
            self._client.ack(message.mid, message.qos)

    def _require(self) -> paho.Client:
        if self._client is None or not self._client.is_connected():
            raise MqttError("not connected")
        return self._client

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        assert self._loop is not None
        return self._loop

    # --- paho callbacks (always run on the loop thread, except socket-open during connect) --

    def _on_connect(self, client: paho.Client, _u: Any, flags: Any, reason: ReasonCode,
                    _p: Any) -> None:
        fut = self._connected
        if fut is None or fut.done():
            return
        if reason.is_failure:
            fut.set_exception(MqttError(f"broker refused connection: {reason}"))
        else:
            self.session_present = bool(flags.session_present)
            fut.set_result(None)

    def _on_disconnect(self, client: paho.Client, _u: Any, _f: Any, reason: ReasonCode,
                       _p: Any) -> None:
        if client is self._client:
            log.info("mqtt %s disconnected: %s", self.client_id, reason)
            self._fail_pending(MqttError(f"disconnected: {reason}"))
            self.closed.set()

    def _on_publish(self, client: paho.Client, _u: Any, mid: int, reason: ReasonCode,
                    _p: Any) -> None:
        fut = self._pending.pop(mid, None)
        if fut is None:
            fut = self._require_loop().create_future()
            self._pending[mid] = fut  # PUBACK before publish() registered: keep the outcome
        if fut.done():
            return
        if reason.is_failure:
            fut.set_exception(MqttError(f"broker refused publish: {reason}"))
        else:
            fut.set_result(None)

    def _on_subscribe(self, client: paho.Client, _u: Any, mid: int, codes: list[ReasonCode],
                      _p: Any) -> None:
        fut = self._subacks.pop(mid, None)
        if fut is not None and not fut.done():
            fut.set_result(codes)

    def _on_message(self, client: paho.Client, _u: Any, msg: paho.MQTTMessage) -> None:
        message = Message(msg.topic, bytes(msg.payload), msg.qos, msg.mid, msg.retain)
        try:
            self.messages.put_nowait(message)
        except asyncio.QueueFull:
            # Not acknowledged, so the broker redelivers it after we reconnect.
            log.error("mqtt %s inbound queue full; dropping link to get redelivery", self.client_id)
            client.disconnect()

    def _on_socket_open(self, client: paho.Client, _u: Any, sock: Any) -> None:
        loop = self._require_loop()

        def register() -> None:
            self._sock = sock
            loop.add_reader(sock, self._read)

        if _on_loop_thread(loop):
            register()
        else:
            loop.call_soon_threadsafe(register)

    def _on_socket_close(self, client: paho.Client, _u: Any, sock: Any) -> None:
        loop = self._require_loop()
        if self._sock is sock:
            loop.remove_reader(sock)
            loop.remove_writer(sock)
            self._sock = None

    def _on_socket_register_write(self, client: paho.Client, _u: Any, sock: Any) -> None:
        loop = self._require_loop()
        if _on_loop_thread(loop):
            loop.add_writer(sock, self._write)
        else:
            loop.call_soon_threadsafe(loop.add_writer, sock, self._write)

    def _on_socket_unregister_write(self, client: paho.Client, _u: Any, sock: Any) -> None:
        self._require_loop().remove_writer(sock)

    def _read(self) -> None:
        if self._client is not None:
            self._client.loop_read(max_packets=100)

    def _write(self) -> None:
        if self._client is not None:
            self._client.loop_write()

    async def _misc_loop(self) -> None:
        while self._client is not None:
            # loop_misc sends PINGREQs and notices a keepalive that lapsed.
            rc = self._client.loop_misc()
            client = self._client
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS and client is not None and not client.is_connected():
                self._fail_pending(MqttError("connection lost"))
                self.closed.set()
            await asyncio.sleep(1.0)


def _on_loop_thread(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
