"""The gateway's LLRP reader driver: sllurp's protocol state machine on the asyncio loop.

sllurp 3.x runs one blocking socket thread per reader and calls user code on it. The gateway
instead drives sllurp's I/O-free `LLRPClient` (the connect → capabilities → config → ROSpec state
machine and its message codec) from an `asyncio.Protocol`: bytes from the socket are framed here
and handed to `LLRPClient.handleMessage`; what it sends goes to `transport.write`. No threads.

Around that state machine, the driver adds what sllurp lacks (ARCHITECTURE §4, research §1):
- the reader's capabilities before any vendor extension: sllurp sends IMPINJ_ENABLE_EXTENSIONS
  first thing when Impinj options are set, which every other make answers with ERROR_MESSAGE.
  Here sllurp starts with standard settings only; once the capabilities say who made the reader,
  an Impinj gets its extensions (and the search mode) and any other reader the standard
  equivalent (`edge.rfid.vendor`);
- explicit report settings: antenna ID, peak RSSI, first/last-seen timestamps, seen count, and
  "report every N tags" (without N a reader reports only when the AISpec ends, i.e. never);
- a keepalive watchdog: the reader is told to send KEEPALIVE every `keepalive_s`; two silent
  intervals mean a dead or half-open link, and the driver reconnects (the EdgeX policy);
- a setup deadline: a reader that never reaches "inventorying" is reconnected too;
- exponential backoff with jitter between attempts, reset once a session reaches inventorying;
- EPC → GTIN + serial through `edge.rfid.epc`; non-SGTIN and corrupt EPCs are counted and
  skipped, and an undecodable frame is logged and counted, never raised.

Each read becomes a frozen `TagRead` handed to a sink callable (e.g. `queue.put_nowait`).
Several readers run side by side with `RfidSource`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from sllurp.llrp import LLRPClient, LLRPMessage, LLRPReaderConfig, LLRPReaderState

from edge.rfid.epc import CorruptEpc, EpcDecoder, NotSgtin
from edge.rfid.reports import (
    ADD_ROSPEC,
    HEADER,
    MAX_FRAME,
    RO_ACCESS_REPORT,
    RawTagReport,
    ReportError,
    message_type,
    parse_ro_access_report,
)
from edge.rfid.vendor import (
    InventoryPlan,
    ReaderIdentity,
    plan_inventory,
    with_singulation_target,
)
from shared.backoff import Backoff

log = logging.getLogger("shelfsync.rfid")

LLRP_PORT: Final = 5084
EXIT_ZONE: Final = "exit"  # an antenna zone that is not stock: the shop's door (read leaving)
# Two antennas over the door, inside and outside it: the order they read a unit in tells its way
# (edge/rfid/door.py).
DOOR_IN: Final = "door_in"
DOOR_OUT: Final = "door_out"
DOOR_ZONES: Final = frozenset({EXIT_ZONE, DOOR_IN, DOOR_OUT})  # antennas at the door: not stock
STANDARD_PLAN: Final = InventoryPlan()  # no search mode, no target: the reader's own targeting


# --- values ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TagRead:
    """One tag seen by one antenna of one reader (aggregated over a report, see `seen_count`)."""

    reader: str
    epc: str
    gtin: str
    serial: str
    antenna: int
    zone: str
    rssi: int | None  # dBm
    at: datetime  # last seen, reader clock (UTC)
    seen_count: int = 1

    @property
    def location(self) -> str:
        """EdgeX-style location key: <reader>_<antenna>."""
        return f"{self.reader}_{self.antenna}"


@dataclass(frozen=True, slots=True)
class ReaderSettings:
    """How to reach and configure one reader."""

    name: str
    host: str
    port: int = LLRP_PORT
    antennas: tuple[int, ...] = (1, 2, 3, 4)
    zones: Mapping[int, str] = field(
        default_factory=lambda: {1: "floor", 2: "floor", 3: "floor", 4: "backroom"}
    )
    session: int = 2
    # Targeting, in Impinj's search mode numbers (1 single target, 2 dual target, 3 single target
    # with suppression, 5 single target with reset, 6 dual target B→A); None: the reader's own.
    # Other makes get what standard LLRP can say of it (edge.rfid.vendor).
    search_mode: int | None = None
    tag_population: int = 32
    tx_power_dbm: float | None = None  # None: the table's maximum
    mode_identifier: int | None = None
    report_every_n_tags: int = 1
    report_timeout_ms: int = 0
    keepalive_s: float = 10.0
    missed_keepalives: int = 2  # silence for this many intervals → reconnect
    setup_timeout_s: float = 10.0
    connect_timeout_s: float = 5.0
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0

    def __post_init__(self) -> None:
        if not self.antennas or min(self.antennas) < 1:
            raise ValueError("antennas must be a non-empty set of port numbers >= 1")
        if self.session not in (0, 1, 2, 3):
            raise ValueError(f"Gen2 session must be 0..3, got {self.session}")
        if self.report_every_n_tags < 1:
            raise ValueError(
                "report_every_n_tags must be >= 1: without N an LLRP reader never reports"
            )
        if self.keepalive_s <= 0 or self.missed_keepalives < 1:
            raise ValueError("keepalive_s must be > 0 and missed_keepalives >= 1")

    def sllurp_config(self, plan: InventoryPlan = STANDARD_PLAN) -> Any:
        """sllurp's configuration: standard LLRP, amended by the plan for the reader at hand (its
        session, and Impinj's search mode once the reader is known to be an Impinj with its
        extensions enabled)."""
        cfg: dict[str, Any] = {
            "antennas": list(self.antennas),
            "session": self.session if plan.session is None else plan.session,
            "tag_population": self.tag_population,
            "report_every_n_tags": self.report_every_n_tags,
            "report_timeout_ms": self.report_timeout_ms,
            "keepalive_interval": int(self.keepalive_s * 1000),
            "reconnect": False,  # reconnects are ours, with backoff
            "tag_content_selector": {
                # sllurp's defaults leave antenna and RSSI out (research §1): ask explicitly.
                "EnableROSpecID": False,
                "EnableSpecIndex": False,
                "EnableInventoryParameterSpecID": False,
                "EnableAntennaID": True,
                "EnableChannelIndex": False,
                "EnablePeakRSSI": True,
                "EnableFirstSeenTimestamp": True,
                "EnableLastSeenTimestamp": True,
                "EnableTagSeenCount": True,
                "EnableAccessSpecID": False,
            },
        }
        if self.tx_power_dbm is not None:
            cfg["tx_power_dbm"] = self.tx_power_dbm
        if self.mode_identifier is not None:
            cfg["mode_identifier"] = self.mode_identifier
        if plan.impinj_search_mode is not None:
            cfg["impinj_search_mode"] = str(plan.impinj_search_mode)
        return LLRPReaderConfig(cfg)


@dataclass(slots=True)
class ReaderStats:
    """Counters of one reader's driver (mutable; read them, never share them across readers)."""

    connects: int = 0
    sessions: int = 0  # connections that reached inventorying
    disconnects: int = 0
    watchdog_trips: int = 0
    refused: int = 0
    reports: int = 0
    reads: int = 0
    not_sgtin: int = 0
    corrupt_epcs: int = 0
    bad_frames: int = 0
    keepalives: int = 0
    last_error: str | None = None
    manufacturer: int | None = None  # IANA enterprise number from the capabilities (Impinj 25882)
    model: int | None = None
    impinj_extensions: bool = False  # the last session enabled Impinj's extensions


class ReaderRefused(ConnectionError):
    """The reader answered the connection with a failed ConnectionAttemptEvent."""


class ReaderLost(ConnectionError):
    """The link to the reader died (closed, watchdog, setup deadline, unreadable stream)."""


# --- one connection -------------------------------------------------------------------------

TagSink = Callable[[TagRead], None]


class _LLRPConnection(asyncio.Protocol):
    """One TCP session with a reader, driving sllurp's LLRPClient."""

    def __init__(
        self,
        settings: ReaderSettings,
        sink: TagSink,
        stats: ReaderStats,
        decoder: EpcDecoder,
        on_inventorying: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.stats = stats
        self.decoder = decoder
        self.on_inventorying = on_inventorying
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.inventorying = asyncio.Event()
        self.last_heard = asyncio.get_running_loop().time()
        # Standard settings until the capabilities say who made the reader (`_identified`).
        self.client = LLRPClient(settings.sllurp_config(), self._write, self._state_changed)
        self.identity: ReaderIdentity | None = None
        self.plan = InventoryPlan()
        self._held_capabilities: LLRPMessage | None = None  # while Impinj extensions are asked
        # a session that dies after its owner stopped waiting must not log "never retrieved"
        self.done.add_done_callback(lambda f: f.cancelled() or f.exception())

    # sllurp callbacks
    def _write(self, data: bytes) -> None:
        if self.plan.target is not None and message_type(data) == ADD_ROSPEC:
            data = with_singulation_target(data, self.plan.target)
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _state_changed(self, state: int) -> None:
        if state == LLRPReaderState.STATE_INVENTORYING and not self.inventorying.is_set():
            self.inventorying.set()
            self.on_inventorying()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.client.state = LLRPReaderState.STATE_CONNECTING

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(
                ReaderLost(f"connection closed{': ' + str(exc) if exc else ''}")
            )

    def fail(self, error: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(error)
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        self.last_heard = asyncio.get_running_loop().time()
        self.buffer += data
        while len(self.buffer) >= HEADER.size:
            word, length, _msg_id = HEADER.unpack_from(self.buffer)
            if word >> 13 or not HEADER.size <= length <= MAX_FRAME:
                # The stream is out of step: nothing after this can be trusted.
                self.stats.bad_frames += 1
                log.error(
                    "%s: unreadable LLRP header %s; reconnecting",
                    self.settings.name,
                    bytes(self.buffer[:10]).hex(),
                )
                self.fail(ReaderLost("unreadable LLRP frame header"))
                return
            if len(self.buffer) < length:
                return
            frame = bytes(self.buffer[:length])
            del self.buffer[:length]
            self._frame(frame)
            if self.done.done():
                return

    def _frame(self, frame: bytes) -> None:
        if message_type(frame) == RO_ACCESS_REPORT:
            # Reports skip sllurp: its state machine does nothing with them but drop them when
            # not inventorying, and its decoder is the ingest bottleneck (parse_ro_access_report).
            if not self.inventorying.is_set():
                return
            try:
                reports = parse_ro_access_report(frame)
            except (ReportError, struct.error) as e:
                self.stats.bad_frames += 1
                log.warning(
                    "%s: skipping a malformed RO_ACCESS_REPORT (%s): %s",
                    self.settings.name,
                    e,
                    frame[:32].hex(),
                )
                return
            self.stats.reports += 1
            self._tags(reports)
            return
        try:
            msg = LLRPMessage(msgbytes=frame)
        except Exception as e:  # sllurp raises LLRPError, ValueError, struct.error, KeyError…
            self.stats.bad_frames += 1
            log.warning(
                "%s: skipping an LLRP message that does not decode (%s): %s",
                self.settings.name,
                e.__class__.__name__,
                frame[:32].hex(),
            )
            return
        name = msg.getName()
        body = msg.msgdict[name]
        if name == "READER_EVENT_NOTIFICATION":
            attempt = body.get("ReaderEventNotificationData", {}).get("ConnectionAttemptEvent")
            if attempt is not None and attempt.get("Status") not in (
                "Success",
                "Another connection attempted",
            ):
                self.stats.refused += 1
                self.fail(ReaderRefused(f"reader refused the connection: {attempt.get('Status')}"))
                return
        elif name == "KEEPALIVE":
            self.stats.keepalives += 1
        elif name == "ERROR_MESSAGE":
            log.warning(
                "%s: reader sent ERROR_MESSAGE %s", self.settings.name, body.get("LLRPStatus")
            )
        try:
            if self._held_capabilities is not None and name in (
                "IMPINJ_ENABLE_EXTENSIONS_RESPONSE",
                "ERROR_MESSAGE",
            ):
                msg = self._extensions_answered(msg)
            elif (
                name == "GET_READER_CAPABILITIES_RESPONSE"
                and self.identity is None
                and msg.isSuccess()
                and self._identified(msg)
            ):
                return  # held: sllurp gets the capabilities once the extensions are answered
            self.client.handleMessage(msg)
        except Exception as e:  # ReaderConfigurationError and whatever sllurp trips on
            self.stats.last_error = f"{e.__class__.__name__}: {e}"
            log.error("%s: reader setup failed: %s", self.settings.name, self.stats.last_error)
            self.fail(ReaderLost(self.stats.last_error))

    def _identified(self, capabilities: LLRPMessage) -> bool:
        """Plan the inventory for the reader the capabilities describe. True when they are held
        back from sllurp while the reader is asked for Impinj's extensions: sllurp builds its
        ROSpec after them, and it must know the search mode by then."""
        body = capabilities.msgdict["GET_READER_CAPABILITIES_RESPONSE"]
        self.identity = ReaderIdentity.from_capabilities(body)
        self.stats.manufacturer, self.stats.model = self.identity.manufacturer, self.identity.model
        self.plan = plan_inventory(self.settings.search_mode, self.identity)
        self.stats.impinj_extensions = False
        log.info(
            "%s: reader made by %d (model %d, firmware %s); %s",
            self.settings.name,
            self.identity.manufacturer,
            self.identity.model,
            self.identity.firmware,
            "Impinj extensions" if self.plan.impinj_extensions else "standard LLRP",
        )
        if self.settings.search_mode is not None and self.plan == STANDARD_PLAN:
            log.info(
                "%s: search mode %d has no standard LLRP equivalent on this reader; "
                "it chooses its own targeting",
                self.settings.name,
                self.settings.search_mode,
            )
        if not self.plan.impinj_extensions:
            # sllurp builds its ROSpec from its config once it has the capabilities
            self.client.update_config(self.settings.sllurp_config(self.plan))
            return False
        self._held_capabilities = capabilities
        self.client.sendMessage({"IMPINJ_ENABLE_EXTENSIONS": {}})
        return True

    def _extensions_answered(self, reply: LLRPMessage) -> LLRPMessage:
        """Impinj's extensions on (sllurp gets the search mode) or refused (standard LLRP after
        all); either way the held capabilities go on to sllurp."""
        held, self._held_capabilities = self._held_capabilities, None
        assert held is not None and self.identity is not None
        if reply.getName() == "IMPINJ_ENABLE_EXTENSIONS_RESPONSE" and reply.isSuccess():
            self.stats.impinj_extensions = True
        else:
            log.warning(
                "%s: the reader refused Impinj's extensions (%s); going on in standard LLRP",
                self.settings.name,
                reply.msgdict[reply.getName()].get("LLRPStatus"),
            )
            self.plan = plan_inventory(self.settings.search_mode, self.identity, extensions=False)
        self.client.update_config(self.settings.sllurp_config(self.plan))
        return held

    def _tags(self, tags: Sequence[RawTagReport]) -> None:
        s = self.settings
        decode = self.decoder.decode
        zones = s.zones
        for tag in tags:
            try:
                item = decode(tag.epc)
            except NotSgtin:
                self.stats.not_sgtin += 1
                continue
            except CorruptEpc as e:
                self.stats.corrupt_epcs += 1
                log.debug("%s: %s", s.name, e)
                continue
            at = (
                datetime.fromtimestamp(tag.seen_us / 1e6, UTC) if tag.seen_us else datetime.now(UTC)
            )
            self.stats.reads += 1
            self.sink(
                TagRead(
                    s.name,
                    item.epc,
                    item.gtin,
                    item.serial,
                    tag.antenna,
                    zones.get(tag.antenna, "unknown"),
                    tag.rssi,
                    at,
                    tag.seen_count,
                )
            )

    async def stop_politely(self, within: float = 1.0) -> None:
        """Delete the reader's ROSpecs (as sllurp's disconnect does), then close the socket."""
        if self.transport is None or self.transport.is_closing() or self.done.done():
            return
        stopped = asyncio.Event()

        def on_stopped(*_: object) -> None:
            stopped.set()

        with contextlib.suppress(Exception):
            self.client.stopPolitely(onCompletion=on_stopped, disconnect=True)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(within):
                    await stopped.wait()
        self.transport.close()


# --- one reader, forever ------------------------------------------------------------------------


class LLRPReader:
    """Keeps one reader inventorying: connect, configure, watch, reconnect with backoff."""

    def __init__(
        self, settings: ReaderSettings, sink: TagSink, rng: random.Random | None = None
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.stats = ReaderStats()
        self.decoder = EpcDecoder()
        self.backoff = Backoff(
            settings.backoff_initial_s, settings.backoff_max_s, rng=rng or random.Random()
        )
        self.state_changed = asyncio.Event()  # set on every connect/inventorying/disconnect
        self.inventorying = False
        self._conn: _LLRPConnection | None = None

    def _changed(self) -> None:
        self.state_changed.set()
        self.state_changed = asyncio.Event()

    def _now_inventorying(self) -> None:
        self.stats.sessions += 1
        self.inventorying = True
        self.backoff.reset()
        log.info("%s: inventorying", self.settings.name)
        self._changed()

    async def wait_for(self, predicate: Callable[[LLRPReader], bool], within: float = 10.0) -> None:
        """Wait until `predicate(self)` holds, woken by the driver's own state changes and reads."""
        async with asyncio.timeout(within):
            while not predicate(self):
                await self.state_changed.wait()

    async def run(self) -> None:
        """Run until cancelled. Never raises for reader trouble: it logs, counts and retries."""
        while True:
            try:
                await self._session()
            except (OSError, ConnectionError, TimeoutError) as e:
                self.stats.last_error = f"{e.__class__.__name__}: {e}"
                log.warning(
                    "%s (%s:%d): %s",
                    self.settings.name,
                    self.settings.host,
                    self.settings.port,
                    self.stats.last_error,
                )
            finally:
                if self.inventorying or self._conn is not None:
                    self.stats.disconnects += 1
                self.inventorying = False
                self._conn = None
                self._changed()
            delay = self.backoff.next_delay()
            log.info("%s: reconnecting in %.2f s", self.settings.name, delay)
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        s = self.settings
        loop = asyncio.get_running_loop()

        def sink(read: TagRead) -> None:
            self.sink(read)
            self._changed()

        async with asyncio.timeout(s.connect_timeout_s):
            transport, conn = await loop.create_connection(
                lambda: _LLRPConnection(s, sink, self.stats, self.decoder, self._now_inventorying),
                s.host,
                s.port,
            )
        self._conn = conn
        self.stats.connects += 1
        self._changed()
        try:
            setup_deadline = loop.time() + s.setup_timeout_s
            silence_limit = s.keepalive_s * (s.missed_keepalives + 0.5)
            while not conn.done.done():
                # The watchdog: any byte from the reader counts as life; keepalives guarantee
                # one per interval even when no tag is in the field.
                now = loop.time()
                if not conn.inventorying.is_set() and now > setup_deadline:
                    conn.fail(ReaderLost(f"not inventorying after {s.setup_timeout_s:g} s"))
                elif now - conn.last_heard > silence_limit:
                    self.stats.watchdog_trips += 1
                    conn.fail(ReaderLost(f"no keepalive for {now - conn.last_heard:.1f} s"))
                else:
                    wake = min(
                        conn.last_heard + silence_limit,
                        setup_deadline if not conn.inventorying.is_set() else float("inf"),
                    )
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout_at(wake + 0.01):
                            await asyncio.shield(conn.done)
            conn.done.result()
        finally:
            if not transport.is_closing():
                transport.abort()

    async def close(self) -> None:
        """Stop inventorying politely (delete the ROSpecs) if connected."""
        if self._conn is not None:
            await self._conn.stop_politely()


class RfidSource:
    """Several readers at once, all feeding one sink (typically an asyncio.Queue's put_nowait)."""

    def __init__(self, readers: Sequence[ReaderSettings], sink: TagSink) -> None:
        names = [r.name for r in readers]
        if len(set(names)) != len(names):
            raise ValueError(f"reader names must be unique: {names}")
        self.readers = [LLRPReader(r, sink) for r in readers]

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            for r in self.readers:
                tg.create_task(r.run(), name=f"llrp-{r.settings.name}")

    async def close(self) -> None:
        await asyncio.gather(*(r.close() for r in self.readers), return_exceptions=True)

    def stats(self) -> dict[str, ReaderStats]:
        return {r.settings.name: r.stats for r in self.readers}
