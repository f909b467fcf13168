"""One client's LLRP session with the simulated reader: the messages it sends and the reader's
answers (LLRP 1.0.1 §9-§14), the ROSpec state machine, and the inventory runs that send
RO_ACCESS_REPORTs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Final

from firmware_sim.llrp import frames as fr
from firmware_sim.llrp.air import MAX_ATTEMPTS_PER_TICK, TICK_S, Read
from firmware_sim.llrp.frames import MsgType, Status

if TYPE_CHECKING:
    from firmware_sim.llrp.reader import LLRPReaderSim

log = logging.getLogger("shelfsync.sim.llrp")


@dataclass(slots=True)
class ROSpecState:
    spec: fr.ROSpec
    state: int = 0  # 0 Disabled, 1 Inactive, 2 Active

    def encode(self) -> bytes:
        raw = bytearray(self.spec.raw)
        raw[4 + 5] = self.state  # TLV header (4) + ROSpecID (4) + Priority (1) → CurrentState
        return bytes(raw)


DEFAULT_REPORT: Final = fr.ReportSpec(fr.ReportTrigger.UPON_N_OR_END_OF_ROSPEC, 0)


class ReaderSession(asyncio.Protocol):
    """One TCP client of the reader."""

    def __init__(self, reader: LLRPReaderSim) -> None:
        self.reader = reader
        self.transport: asyncio.Transport | None = None
        self.frames = fr.FrameReader()
        self.silent = False
        self.closed = False
        self.refused = False
        self._next_id = 1
        self._unacked = 0
        self._keepalive: asyncio.Task[None] | None = None
        self._inventory: asyncio.Task[None] | None = None
        self._active: ROSpecState | None = None
        self._stop_requested = False
        self._flush_requested = False

    # --- transport events ---

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sim = self.reader
        peer = transport.get_extra_info("peername")
        existing = sim._client
        if existing is not None and not existing.closed and existing.peer_gone():
            # The previous client has closed (or reset) its connection, but the loop has not read
            # that yet: a port probe followed at once by a client is accepted in one batch, the
            # probe's end still unread. It is gone all the same; a reader takes the newcomer.
            existing.release("the client had already gone")
            existing = None
        if existing is not None and not existing.closed and not existing.silent:
            # LLRP 1.0.1 §13.2.6.11: refuse, and tell the connected client someone tried.
            self.refused = True
            sim.stats.refused += 1
            log.info("refusing %s: a client is already connected", peer)
            self._event(
                fr.connection_attempt_event(fr.ConnectionStatus.FAILED_CLIENT_INITIATED_EXISTS)
            )
            existing._event(
                fr.connection_attempt_event(fr.ConnectionStatus.ANOTHER_CONNECTION_ATTEMPTED)
            )
            transport.close()
            sim.notify()
            return
        if existing is not None and not existing.closed:
            existing.abort("a new client replaced a half-open one")
        sim._client = self
        sim.stats.accepted += 1
        log.info("client %s connected", peer)
        self._event(fr.connection_attempt_event(fr.ConnectionStatus.SUCCESS))
        self._restart_keepalive()
        sim.notify()

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget(f": {exc}" if exc else "")

    def _forget(self, why: str) -> None:
        """Let go of this client: its inventory stops and the reader is free for the next one."""
        self.closed = True
        self._cancel_tasks()
        if self._active is not None:
            self._active.state = 1
            self._active = None
            self.reader.air.power_off(self.reader.air_now())
        if self.reader._client is self:
            self.reader._client = None
            self.reader.stats.closed += 1
            log.info("client disconnected%s", why)
        self.reader.notify()

    def peer_gone(self) -> bool:
        """True if the client has closed or reset the connection, though the loop has not yet read
        the end of it: a peek at the socket's receive queue (end of stream or an error)."""
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        if sock is None:
            return False
        if sock.fileno() < 0:
            return True  # the transport has already closed it
        # A duplicate of the descriptor: asyncio's socket wrapper does not allow recv() on it.
        with socket.socket(fileno=os.dup(sock.fileno())) as probe:
            try:
                return probe.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
            except BlockingIOError:
                return False  # open, with nothing to read
            except OSError:
                return True  # reset

    def release(self, why: str) -> None:
        """Drop a connection whose peer has gone, now rather than when the loop reads its end."""
        self._forget(f" ({why})")
        if self.transport is not None:
            self.transport.abort()

    def _cancel_tasks(self) -> None:
        for task in (self._keepalive, self._inventory):
            if task is not None and not task.done():
                task.cancel()

    async def shutdown(self) -> None:
        tasks = [t for t in (self._keepalive, self._inventory) if t is not None]
        self.abort("reader shutting down")
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    def abort(self, why: str) -> None:
        if self.transport is not None and not self.closed:
            log.info("closing client connection: %s", why)
            self.closed = True
            self._cancel_tasks()
            self.transport.abort()

    # --- sending ---

    def send_raw(self, data: bytes) -> None:
        if self.transport is not None and not self.closed and not self.silent:
            self.transport.write(data)

    def send(self, msg_type: int, body: bytes = b"", msg_id: int | None = None) -> None:
        if msg_id is None:
            msg_id = self._next_id
            self._next_id = (self._next_id + 1) & 0xFFFFFFFF or 1
        self.send_raw(fr.encode_frame(msg_type, msg_id, body))

    def _event(self, *events: bytes) -> None:
        self.send(
            MsgType.READER_EVENT_NOTIFICATION, fr.reader_event(self.reader.clock_us(), *events)
        )

    def _reply(self, request: fr.Frame, body: bytes) -> None:
        self.send(fr.RESPONSE_OF[MsgType(request.type)], body, request.msg_id)

    def _status(self, request: fr.Frame, code: Status = Status.SUCCESS, why: str = "") -> None:
        if code != Status.SUCCESS:
            log.info("%s refused: %s (%s)", MsgType(request.type).name, why, code.name)
        self._reply(request, fr.llrp_status(code, why))

    def _error(self, request_id: int, code: Status, why: str) -> None:
        log.info("ERROR_MESSAGE %s: %s", code.name, why)
        self.reader.stats.errors_sent += 1
        self.send(MsgType.ERROR_MESSAGE, fr.llrp_status(code, why), request_id)

    # --- receiving ---

    def data_received(self, data: bytes) -> None:
        if self.silent or self.refused or self.closed:
            return
        try:
            frames = self.frames.feed(data)
        except fr.FrameError as e:
            self._error(0, e.status, f"unreadable frame: {e}")
            self.abort(f"client sent an unreadable frame: {e}")
            return
        for frame in frames:
            if self.closed or self.silent:
                return
            self.reader.received.append(frame)
            try:
                self._dispatch(frame)
            except fr.FrameError as e:
                self._answer_error(frame, e.status, str(e))
            except (struct.error, IndexError) as e:
                self._answer_error(frame, Status.M_FIELD_ERROR, f"malformed message: {e}")

    def _answer_error(self, frame: fr.Frame, code: Status, why: str) -> None:
        if frame.type in MsgType._value2member_map_ and MsgType(frame.type) in fr.RESPONSE_OF:
            self._status(frame, code, why)
        else:
            self._error(frame.msg_id, code, why)

    def _dispatch(self, f: fr.Frame) -> None:
        sim = self.reader
        if f.version != fr.VERSION_1_0_1:
            # LLRP 1.1 §9.1.1: a reader that speaks only 1.0.1 answers M_UnsupportedVersion,
            # which clients take as "negotiate down to 1.0.1".
            self._error(
                f.msg_id,
                Status.M_UNSUPPORTED_VERSION,
                f"protocol version {f.version} not supported",
            )
            return
        t = f.type
        if t == MsgType.KEEPALIVE_ACK:
            self._unacked = 0
            sim.stats.keepalive_acks += 1
            sim.notify()
        elif t == MsgType.GET_READER_CAPABILITIES:
            requested = f.body[0] if f.body else 0
            if requested > 4:
                raise fr.FrameError(
                    f"RequestedData {requested} is not defined", Status.A_OUT_OF_RANGE
                )
            self._reply(f, sim.capabilities.encode(requested))
        elif t == MsgType.GET_READER_CONFIG:
            # §16.1.3: AntennaID u16, RequestedData u8, GPIPortNum u16, GPOPortNum u16
            antenna, requested = struct.unpack_from("!HB", f.body) if len(f.body) >= 3 else (0, 0)
            if requested > 11 or antenna > sim.settings.antennas:
                raise fr.FrameError("no such antenna or RequestedData", Status.A_OUT_OF_RANGE)
            view = fr.ReaderConfigView(
                sim.settings.antennas,
                sim.keepalive_ms,
                sim.report,
                sim.events_enabled,
                sim.hold_events,
                b"\x00\x16\x25\x12\x34\x56",
                sim.config_state,
            )
            self._reply(f, fr.encode_reader_config(view, requested, antenna))
        elif t == MsgType.SET_READER_CONFIG:
            update = fr.decode_set_reader_config(f.body)
            self._refuse_unsupported_custom(update.custom)
            if update.reset_to_factory_defaults:
                self._stop_inventory()
                sim.reset_config()
            if update.keepalive_ms is not None:
                sim.keepalive_ms = update.keepalive_ms
                self._restart_keepalive()
            if update.report is not None:
                sim.report = update.report
            sim.events_enabled.update(update.events_enabled)
            if update.hold_events_on_reconnect is not None:
                sim.hold_events = update.hold_events_on_reconnect
            sim.config_state += 1
            self._status(f)
        elif t == MsgType.ENABLE_EVENTS_AND_REPORTS:
            pass  # §16.1.37: no response; nothing is held, so nothing to release
        elif t == MsgType.ADD_ROSPEC:
            self._add_rospec(f)
        elif t in (
            MsgType.ENABLE_ROSPEC,
            MsgType.START_ROSPEC,
            MsgType.STOP_ROSPEC,
            MsgType.DISABLE_ROSPEC,
            MsgType.DELETE_ROSPEC,
        ):
            self._rospec_control(f, fr.decode_u32(f.body, "ROSpecID"))
        elif t == MsgType.GET_ROSPECS:
            self._reply(f, fr.llrp_status() + b"".join(s.encode() for s in sim.rospecs.values()))
        elif t == MsgType.DELETE_ACCESSSPEC:
            spec_id = fr.decode_u32(f.body, "AccessSpecID")
            if spec_id == 0:
                self._status(f)  # §10.1.2: 0 deletes all, and there are none
            else:
                self._status(f, Status.A_INVALID, f"no AccessSpec {spec_id}")
        elif t == MsgType.GET_ACCESSSPECS:
            self._status(f)
        elif t in (MsgType.ADD_ACCESSSPEC, MsgType.ENABLE_ACCESSSPEC, MsgType.DISABLE_ACCESSSPEC):
            self._status(
                f, Status.M_UNSUPPORTED_PARAMETER, "this reader performs no tag access operations"
            )
        elif t == MsgType.GET_REPORT:
            if self._inventory is not None:
                self._flush_requested = True
        elif t == MsgType.CLOSE_CONNECTION:
            self._status(f)
            self._stop_inventory()
            log.info("client asked to close the connection")
            if self.transport is not None:
                self.closed = True
                self._cancel_tasks()
                self.transport.close()
        elif t == MsgType.CUSTOM_MESSAGE:
            # §16.1.42: u32 vendor identifier (IANA PEN), u8 message subtype, vendor data
            vendor, subtype = struct.unpack_from("!IB", f.body) if len(f.body) >= 5 else (0, 0)
            if sim.impinj and vendor == fr.IMPINJ_PEN and subtype == 21:
                # IMPINJ_ENABLE_EXTENSIONS, answered by IMPINJ_ENABLE_EXTENSIONS_RESPONSE (22)
                self.send(
                    MsgType.CUSTOM_MESSAGE,
                    struct.pack("!IB", vendor, 22) + fr.llrp_status(),
                    f.msg_id,
                )
            else:
                # §8.1: "Readers SHALL accept CUSTOM_MESSAGE and return an ERROR_MESSAGE if
                # CUSTOM_MESSAGE is unsupported by the Reader".
                self._error(
                    f.msg_id, Status.M_UNSUPPORTED_MESSAGE, f"custom message {vendor}/{subtype}"
                )
        else:
            self._error(
                f.msg_id, Status.M_UNSUPPORTED_MESSAGE, f"message type {t} is not supported"
            )

    # --- ROSpecs (LLRP 1.0.1 §10.2.1) ---

    def _add_rospec(self, f: fr.Frame) -> None:
        sim = self.reader
        params = list(fr.iter_params(f.body))
        if len(params) != 1 or params[0].type != fr.P.RO_SPEC:
            raise fr.FrameError(
                "ADD_ROSPEC must carry exactly one ROSpec", Status.M_MISSING_PARAMETER
            )
        p = params[0]
        raw = f.body[: 4 + len(p.body)]
        spec = fr.decode_rospec(p, raw)
        if spec.rospec_id == 0:
            raise fr.FrameError("ROSpecID 0 is reserved", Status.A_INVALID)
        if spec.state != 0:
            raise fr.FrameError("a new ROSpec must be in the Disabled state", Status.A_INVALID)
        if spec.rospec_id in sim.rospecs:
            raise fr.FrameError(f"ROSpec {spec.rospec_id} already exists", Status.A_INVALID)
        self._refuse_unsupported_custom(spec.custom)
        for ai in spec.ai_specs:
            bad = [a for a in ai.antennas if a > sim.settings.antennas]
            if bad:
                raise fr.FrameError(f"no antenna {bad[0]} on this reader", Status.A_OUT_OF_RANGE)
            if ai.stop == fr.AIStopType.GPI_WITH_TIMEOUT:
                raise fr.FrameError(
                    "GPI stop triggers are not supported", Status.M_UNSUPPORTED_PARAMETER
                )
        if spec.start in (fr.StartTrigger.PERIODIC, fr.StartTrigger.GPI):
            raise fr.FrameError(
                "only Null and Immediate start triggers are supported",
                Status.M_UNSUPPORTED_PARAMETER,
            )
        sim.rospecs[spec.rospec_id] = ROSpecState(spec)
        self._status(f)

    def _refuse_unsupported_custom(self, custom: Iterable[tuple[int, int]]) -> None:
        """§8.2: readers "SHALL accept messages (except for CUSTOM_MESSAGE) that contain custom
        parameters and SHALL return an error when such parameters are unsupported"; and a
        message with an error is discarded, no portion of it executed (§14). The Impinj takes its
        own vendor's parameters."""
        for vendor, subtype in custom:
            if not (self.reader.impinj and vendor == fr.IMPINJ_PEN):
                raise fr.FrameError(
                    f"custom parameter {vendor}/{subtype} is not supported by this reader",
                    Status.M_UNSUPPORTED_PARAMETER,
                )

    def _rospec_control(self, f: fr.Frame, rospec_id: int) -> None:
        sim = self.reader
        t = f.type
        if rospec_id == 0:
            targets = list(sim.rospecs.values())
            if t in (MsgType.START_ROSPEC, MsgType.STOP_ROSPEC):
                raise fr.FrameError("ROSpecID 0 is not allowed here", Status.A_INVALID)
        elif rospec_id in sim.rospecs:
            targets = [sim.rospecs[rospec_id]]
        else:
            raise fr.FrameError(f"no ROSpec {rospec_id}", Status.A_INVALID)
        for st in targets:
            if t == MsgType.ENABLE_ROSPEC:
                if st.state == 0:
                    st.state = 1
                    if st.spec.start == fr.StartTrigger.IMMEDIATE:
                        self._start(st)
            elif t == MsgType.START_ROSPEC:
                if st.state != 1:
                    raise fr.FrameError(
                        f"ROSpec {st.spec.rospec_id} is not Inactive", Status.A_INVALID
                    )
                if self._active is not None:
                    raise fr.FrameError("another ROSpec is running", Status.A_INVALID)
                self._start(st)
            elif t == MsgType.STOP_ROSPEC:
                if st.state != 2:
                    raise fr.FrameError(
                        f"ROSpec {st.spec.rospec_id} is not Active", Status.A_INVALID
                    )
                self._stop_inventory()
            elif t == MsgType.DISABLE_ROSPEC:
                if st is self._active:
                    self._stop_inventory()
                st.state = 0
            elif t == MsgType.DELETE_ROSPEC:
                if st is self._active:
                    self._stop_inventory()
                del sim.rospecs[st.spec.rospec_id]
        self._status(f)

    def _start(self, st: ROSpecState) -> None:
        if self._active is not None:
            return  # one ROSpec runs at a time; a second immediate one waits for an explicit START
        st.state = 2
        self._active = st
        self._stop_requested = False
        self._flush_requested = False
        self._inventory = asyncio.get_running_loop().create_task(self._run(st))

    def _stop_inventory(self) -> None:
        if self._inventory is not None and not self._inventory.done():
            self._stop_requested = True

    # --- keepalive (LLRP 1.0.1 §13.2.4) ---

    def _restart_keepalive(self) -> None:
        if self._keepalive is not None and not self._keepalive.done():
            self._keepalive.cancel()
        self._keepalive = None
        self._unacked = 0
        if self.reader.keepalive_ms > 0 and not self.closed:
            self._keepalive = asyncio.get_running_loop().create_task(self._keepalives())

    async def _keepalives(self) -> None:
        sim = self.reader
        interval = sim.keepalive_ms / 1000
        while not self.closed:
            await asyncio.sleep(interval)
            if self.silent:
                continue
            if self._unacked >= sim.settings.keepalive_misses:
                sim.stats.keepalive_drops += 1
                log.warning("client left %d keepalives unacknowledged: dropping it", self._unacked)
                self._event(fr.connection_close_event())
                self.abort("keepalives unacknowledged")
                return
            self._unacked += 1
            sim.stats.keepalives_sent += 1
            self.send(MsgType.KEEPALIVE)
            sim.notify()

    # --- the inventory engine ---

    async def _run(self, st: ROSpecState) -> None:
        """Execute one ROSpec (LLRP 1.0.1 §10.2): its AISpecs in turn, looping until the ROSpec's
        stop trigger, a STOP/DISABLE/DELETE, or the connection ends. Air time is paced by the
        reader's clock: each tick spends `rate x elapsed` singulation attempts."""
        sim = self.reader
        spec = st.spec
        run = _Run(self, st, spec.report or sim.report)
        started = last = sim.air_now()
        sim._simulated = started
        world_t0 = sim.world.now
        air0 = sim.stats.air_seconds
        credit = 0.0
        try:
            run.begin_aispec(started, rospec_start=True)
            while not self.closed and not self._stop_requested:
                await asyncio.sleep(TICK_S)
                now = sim.air_now()  # too busy, and the clock slows down (`air_now`)
                if self._stop_requested:
                    break
                sim.stats.air_seconds = air0 + (now - started)
                sim.door_tick()
                if sim.settings.world_speed > 0:
                    shop_s = (now - started) * sim.settings.world_speed
                    sim.advance_world(world_t0 + timedelta(seconds=shop_s))
                credit = min(credit + (now - last) * sim.settings.rate, MAX_ATTEMPTS_PER_TICK)
                last = sim._simulated = now
                attempts = int(credit)
                credit -= attempts
                run.tick(attempts, now)
                if self._flush_requested:
                    self._flush_requested = False
                    run.flush()
                if (
                    spec.stop_duration_ms is not None
                    and (now - started) * 1000 >= spec.stop_duration_ms
                ):
                    break
        finally:
            sim.air.power_off(sim.air_now())
            sim._simulated = None
            if not self.closed and run.report.trigger != fr.ReportTrigger.NONE:
                run.flush()  # end of ROSpec (and of its current AISpec)
            if st.state == 2:
                st.state = 1
            if self._active is st:
                self._active = None
            sim.notify()


class _Run:
    """One ROSpec execution: the current AISpec, its stop trigger, the report buffer."""

    def __init__(self, conn: ReaderSession, st: ROSpecState, report: fr.ReportSpec) -> None:
        self.conn = conn
        self.sim = conn.reader
        self.spec = st.spec
        self.report = report
        self.buffer: dict[tuple[bytes, int], list[int]] = {}  # insertion-ordered
        self.ai_index = 0
        self.rotation = 0
        self.ai_started = 0.0
        self.last_new = 0.0
        self.observed = 0
        self.ticks = 0

    @property
    def ai(self) -> fr.AISpec:
        return self.spec.ai_specs[self.ai_index]

    def begin_aispec(self, now: float, rospec_start: bool = False) -> None:
        self.sim.air.power_on(self.ai.inventory[0], now, rospec_start)
        self.ai_started = self.last_new = now
        self.observed = 0
        self.ticks = 0

    def antennas(self) -> tuple[int, ...]:
        ants = self.ai.antennas
        return tuple(range(1, self.sim.settings.antennas + 1)) if 0 in ants else ants

    def tick(self, attempts: int, now: float) -> None:
        """Spend this tick's attempts; an AISpec that ends mid-tick hands the rest to the next."""
        self.ticks += 1
        while True:
            ai = self.ai
            stop_after = None
            if (
                ai.stop == fr.AIStopType.TAG_OBSERVATION
                and ai.observation_type == 0
                and ai.number_of_tags
            ):
                stop_after = max(1, ai.number_of_tags - self.observed)
            ants = self.antennas()
            antenna = ants[self.rotation % len(ants)]
            before = attempts
            reads = self.sim.air.step(antenna, attempts, now, stop_after)
            attempts = self.sim.air.last_spent_left
            if before == attempts or not reads:
                self.rotation += 1  # this antenna's round is exhausted for now: hop to the next
            self._record(reads, now)
            if self._aispec_done(now):
                if self.report.trigger == fr.ReportTrigger.UPON_N_OR_END_OF_AISPEC:
                    self.flush()
                self.ai_index = (self.ai_index + 1) % len(
                    self.spec.ai_specs
                )  # specs loop (§10.2.1)
                self.begin_aispec(now)
                if attempts > 0:
                    continue
            if attempts <= 0 or not reads:
                return

    def _record(self, reads: list[Read], now: float) -> None:
        if not reads:
            return
        sim = self.sim
        sel = self.report.selector
        now_us = sim.clock_us()
        for r in reads:
            sim.stats.reads += 1
            sim.stats.unique_epcs_read.add(r.tag.epc)
            # Reads merge into one TagReportData per tag (and per antenna when antenna IDs are
            # reported), counting TagSeenCount and keeping the peak RSSI (§13.2.3).
            key = (r.tag.epc, r.antenna if sel.antenna_id else 0)
            entry = self.buffer.get(key)
            if entry is None:
                self.buffer[key] = [
                    now_us,
                    now_us,
                    1,
                    r.rssi,
                    r.antenna,
                    r.channel,
                    self.ai_index + 1,
                    self.ai.inventory[0].spec_id,
                ]
            else:
                entry[1] = now_us
                entry[2] += 1
                entry[3] = max(entry[3], r.rssi)
            if (
                self.report.trigger != fr.ReportTrigger.NONE
                and self.report.n
                and len(self.buffer) >= self.report.n
            ):
                self.flush()
        self.observed += len(reads)
        self.last_new = now
        sim.notify()

    def _aispec_done(self, now: float) -> bool:
        """LLRP 1.0.1 §10.2.2.1 AISpecStopTrigger."""
        ai = self.ai
        elapsed_ms = (now - self.ai_started) * 1000
        if ai.stop == fr.AIStopType.DURATION:
            return elapsed_ms >= ai.duration_ms
        if ai.stop != fr.AIStopType.TAG_OBSERVATION:
            return False
        if ai.timeout_ms and elapsed_ms >= ai.timeout_ms:
            return True
        if ai.observation_type == 0:
            return bool(ai.number_of_tags) and self.observed >= ai.number_of_tags
        if ai.observation_type == 1:
            return (now - self.last_new) * 1000 >= ai.silence_ms
        if ai.observation_type == 2:
            return bool(ai.number_of_attempts) and self.ticks >= ai.number_of_attempts
        return False

    def flush(self) -> None:
        if not self.buffer:
            return
        tags = [
            fr.TagReport(epc, e[4], e[3], e[5], e[0], e[1], e[2], self.spec.rospec_id, e[6], e[7])
            for (epc, _a), e in self.buffer.items()
        ]
        self.conn.send(MsgType.RO_ACCESS_REPORT, fr.ro_access_report(tags, self.report.selector))
        self.sim.stats.reports_sent += 1
        self.sim.stats.tag_reports_sent += len(tags)
        self.buffer.clear()
        self.sim.notify()
