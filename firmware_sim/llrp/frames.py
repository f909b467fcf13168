"""The simulator's own LLRP 1.0.1 binary codec: frames, parameters, the reader's side of messages.

Written from the LLRP 1.0.1 standard (EPCglobal, 2007-08-13), section 16 "Binary encoding", and
deliberately independent of sllurp: the gateway's driver decodes with sllurp, so conformance tests
between the two check two implementations against each other instead of one against itself.
Only the reader's side is here: it *encodes* what a reader sends (responses, events, reports,
keepalives) and *decodes* what a client sends (configuration, ROSpecs, ROSpec/AccessSpec control).

Pure: bytes in, values out. No sockets, no clock.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Final

# LLRP 1.0.1 §16.1: 3 reserved bits, 3-bit version (1 = 1.0.1), 10-bit type,
# u32 length including the header, u32 message id.
HEADER: Final = struct.Struct("!HII")
HEADER_LEN: Final = HEADER.size
VERSION_1_0_1: Final = 1
MAX_FRAME: Final = 1 << 20  # a sanity bound: no legitimate client message comes near a megabyte

IMPINJ_PEN: Final = 25882  # IANA private enterprise number of Impinj (LLRP custom extensions)
# RFC 5612: the IANA enterprise number kept for examples and documentation. The generic reader
# names it as its maker rather than impersonate a real one (Zebra, ThingMagic...).
EXAMPLE_PEN: Final = 32473


class MsgType(IntEnum):
    """LLRP 1.0.1 §16.1.x message type numbers."""

    GET_READER_CAPABILITIES = 1
    GET_READER_CONFIG = 2
    SET_READER_CONFIG = 3
    CLOSE_CONNECTION_RESPONSE = 4
    GET_READER_CAPABILITIES_RESPONSE = 11
    GET_READER_CONFIG_RESPONSE = 12
    SET_READER_CONFIG_RESPONSE = 13
    CLOSE_CONNECTION = 14
    ADD_ROSPEC = 20
    DELETE_ROSPEC = 21
    START_ROSPEC = 22
    STOP_ROSPEC = 23
    ENABLE_ROSPEC = 24
    DISABLE_ROSPEC = 25
    GET_ROSPECS = 26
    ADD_ROSPEC_RESPONSE = 30
    DELETE_ROSPEC_RESPONSE = 31
    START_ROSPEC_RESPONSE = 32
    STOP_ROSPEC_RESPONSE = 33
    ENABLE_ROSPEC_RESPONSE = 34
    DISABLE_ROSPEC_RESPONSE = 35
    GET_ROSPECS_RESPONSE = 36
    ADD_ACCESSSPEC = 40
    DELETE_ACCESSSPEC = 41
    ENABLE_ACCESSSPEC = 42
    DISABLE_ACCESSSPEC = 43
    GET_ACCESSSPECS = 44
    ADD_ACCESSSPEC_RESPONSE = 50
    DELETE_ACCESSSPEC_RESPONSE = 51
    ENABLE_ACCESSSPEC_RESPONSE = 52
    DISABLE_ACCESSSPEC_RESPONSE = 53
    GET_ACCESSSPECS_RESPONSE = 54
    GET_REPORT = 60
    RO_ACCESS_REPORT = 61
    KEEPALIVE = 62
    READER_EVENT_NOTIFICATION = 63
    ENABLE_EVENTS_AND_REPORTS = 64
    KEEPALIVE_ACK = 72
    ERROR_MESSAGE = 100
    CUSTOM_MESSAGE = 1023


# For each request a client may send, the response type it gets (LLRP 1.0.1 §16.1).
RESPONSE_OF: Final[dict[MsgType, MsgType]] = {
    MsgType.GET_READER_CAPABILITIES: MsgType.GET_READER_CAPABILITIES_RESPONSE,
    MsgType.GET_READER_CONFIG: MsgType.GET_READER_CONFIG_RESPONSE,
    MsgType.SET_READER_CONFIG: MsgType.SET_READER_CONFIG_RESPONSE,
    MsgType.CLOSE_CONNECTION: MsgType.CLOSE_CONNECTION_RESPONSE,
    MsgType.ADD_ROSPEC: MsgType.ADD_ROSPEC_RESPONSE,
    MsgType.DELETE_ROSPEC: MsgType.DELETE_ROSPEC_RESPONSE,
    MsgType.START_ROSPEC: MsgType.START_ROSPEC_RESPONSE,
    MsgType.STOP_ROSPEC: MsgType.STOP_ROSPEC_RESPONSE,
    MsgType.ENABLE_ROSPEC: MsgType.ENABLE_ROSPEC_RESPONSE,
    MsgType.DISABLE_ROSPEC: MsgType.DISABLE_ROSPEC_RESPONSE,
    MsgType.GET_ROSPECS: MsgType.GET_ROSPECS_RESPONSE,
    MsgType.ADD_ACCESSSPEC: MsgType.ADD_ACCESSSPEC_RESPONSE,
    MsgType.DELETE_ACCESSSPEC: MsgType.DELETE_ACCESSSPEC_RESPONSE,
    MsgType.ENABLE_ACCESSSPEC: MsgType.ENABLE_ACCESSSPEC_RESPONSE,
    MsgType.DISABLE_ACCESSSPEC: MsgType.DISABLE_ACCESSSPEC_RESPONSE,
    MsgType.GET_ACCESSSPECS: MsgType.GET_ACCESSSPECS_RESPONSE,
}


class Status(IntEnum):
    """LLRP 1.0.1 §14.1.1 LLRPStatus codes (the subset this reader produces)."""

    SUCCESS = 0
    M_PARAMETER_ERROR = 100
    M_FIELD_ERROR = 101
    M_UNEXPECTED_PARAMETER = 102
    M_MISSING_PARAMETER = 103
    M_UNKNOWN_PARAMETER = 107
    M_UNSUPPORTED_MESSAGE = 109
    M_UNSUPPORTED_VERSION = 110
    M_UNSUPPORTED_PARAMETER = 111
    A_INVALID = 300
    A_OUT_OF_RANGE = 301
    R_DEVICE_ERROR = 401


class P(IntEnum):
    """LLRP 1.0.1 §16.2 parameter type numbers used here (TV types < 128, TLV types >= 128)."""

    # TV parameters (§16.2.7.3 tag report data, fixed sizes in TV_SIZES)
    ANTENNA_ID = 1
    FIRST_SEEN_UTC = 2
    FIRST_SEEN_UPTIME = 3
    LAST_SEEN_UTC = 4
    LAST_SEEN_UPTIME = 5
    PEAK_RSSI = 6
    CHANNEL_INDEX = 7
    TAG_SEEN_COUNT = 8
    RO_SPEC_ID = 9
    INVENTORY_PARAMETER_SPEC_ID = 10
    C1G2_CRC = 11
    C1G2_PC = 12
    EPC_96 = 13
    SPEC_INDEX = 14
    CLIENT_REQUEST_OP_SPEC_RESULT = 15
    ACCESS_SPEC_ID = 16
    OP_SPEC_ID = 17
    C1G2_SINGULATION_DETAILS = 18
    # TLV parameters
    UTC_TIMESTAMP = 128
    UPTIME = 129
    GENERAL_DEVICE_CAPABILITIES = 137
    RECEIVE_SENSITIVITY_TABLE_ENTRY = 139
    PER_ANTENNA_AIR_PROTOCOL = 140
    GPIO_CAPABILITIES = 141
    LLRP_CAPABILITIES = 142
    REGULATORY_CAPABILITIES = 143
    UHF_BAND_CAPABILITIES = 144
    TRANSMIT_POWER_LEVEL_TABLE_ENTRY = 145
    FREQUENCY_INFORMATION = 146
    FREQUENCY_HOP_TABLE = 147
    FIXED_FREQUENCY_TABLE = 148
    RO_SPEC = 177
    RO_BOUNDARY_SPEC = 178
    RO_SPEC_START_TRIGGER = 179
    PERIODIC_TRIGGER_VALUE = 180
    GPI_TRIGGER_VALUE = 181
    RO_SPEC_STOP_TRIGGER = 182
    AI_SPEC = 183
    AI_SPEC_STOP_TRIGGER = 184
    TAG_OBSERVATION_TRIGGER = 185
    INVENTORY_PARAMETER_SPEC = 186
    RF_SURVEY_SPEC = 187
    ACCESS_SPEC = 207
    LLRP_CONFIGURATION_STATE_VALUE = 217
    IDENTIFICATION = 218
    GPO_WRITE_DATA = 219
    KEEPALIVE_SPEC = 220
    ANTENNA_PROPERTIES = 221
    ANTENNA_CONFIGURATION = 222
    RF_RECEIVER = 223
    RF_TRANSMITTER = 224
    GPI_PORT_CURRENT_STATE = 225
    EVENTS_AND_REPORTS = 226
    RO_REPORT_SPEC = 237
    TAG_REPORT_CONTENT_SELECTOR = 238
    ACCESS_REPORT_SPEC = 239
    TAG_REPORT_DATA = 240
    EPC_DATA = 241
    READER_EVENT_NOTIFICATION_SPEC = 244
    EVENT_NOTIFICATION_STATE = 245
    READER_EVENT_NOTIFICATION_DATA = 246
    RO_SPEC_EVENT = 249
    AI_SPEC_EVENT = 254
    CONNECTION_ATTEMPT_EVENT = 256
    CONNECTION_CLOSE_EVENT = 257
    LLRP_STATUS = 287
    C1G2_LLRP_CAPABILITIES = 327
    UHF_C1G2_RF_MODE_TABLE = 328
    UHF_C1G2_RF_MODE_TABLE_ENTRY = 329
    C1G2_INVENTORY_COMMAND = 330
    C1G2_FILTER = 331
    C1G2_RF_CONTROL = 335
    C1G2_SINGULATION_CONTROL = 336
    C1G2_TAG_INVENTORY_STATE_AWARE_SINGULATION_ACTION = 337
    C1G2_EPC_MEMORY_SELECTOR = 348
    CUSTOM = 1023


# LLRP 1.0.1 §16.2: a TV parameter has no length field; its value size follows from its type.
TV_SIZES: Final[dict[int, int]] = {
    1: 2,
    2: 8,
    3: 8,
    4: 8,
    5: 8,
    6: 1,
    7: 2,
    8: 2,
    9: 4,
    10: 2,
    11: 2,
    12: 2,
    13: 12,
    14: 2,
    15: 2,
    16: 4,
    17: 2,
    18: 4,
}


class ConnectionStatus(IntEnum):
    """LLRP 1.0.1 §13.2.6.11 ConnectionAttemptEvent status."""

    SUCCESS = 0
    FAILED_READER_INITIATED_EXISTS = 1
    FAILED_CLIENT_INITIATED_EXISTS = 2
    FAILED_OTHER = 3
    ANOTHER_CONNECTION_ATTEMPTED = 4


class FrameError(ValueError):
    """Bytes that are not a well-formed LLRP message; `status` goes into the ERROR_MESSAGE."""

    def __init__(self, problem: str, status: Status = Status.M_PARAMETER_ERROR) -> None:
        super().__init__(problem)
        self.status = status


# --- frames ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frame:
    type: int
    msg_id: int
    body: bytes
    version: int = VERSION_1_0_1


def encode_frame(
    msg_type: int, msg_id: int, body: bytes = b"", version: int = VERSION_1_0_1
) -> bytes:
    return (
        HEADER.pack(((version & 0x7) << 10) | (msg_type & 0x3FF), HEADER_LEN + len(body), msg_id)
        + body
    )


@dataclass(slots=True)
class FrameReader:
    """Splits a TCP byte stream into LLRP frames; keeps the tail of an incomplete one."""

    _buffer: bytearray = field(default_factory=bytearray)

    def feed(self, data: bytes) -> list[Frame]:
        """Frames completed by `data`. Raises FrameError when a header cannot be right; the stream
        is then out of step and the connection should be dropped."""
        self._buffer += data
        frames: list[Frame] = []
        while len(self._buffer) >= HEADER_LEN:
            word, length, msg_id = HEADER.unpack_from(self._buffer)
            if word >> 13:
                raise FrameError(f"reserved header bits set in {bytes(self._buffer[:2]).hex()}")
            if not HEADER_LEN <= length <= MAX_FRAME:
                raise FrameError(f"impossible message length {length}")
            if len(self._buffer) < length:
                break
            body = bytes(self._buffer[HEADER_LEN:length])
            del self._buffer[:length]
            frames.append(Frame((word & 0x3FF), msg_id, body, (word >> 10) & 0x7))
        return frames


# --- parameters -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Param:
    type: int
    body: bytes  # TV: the fixed-size value; TLV: everything after the 4-byte header


def tlv(param_type: int, *parts: bytes) -> bytes:
    """LLRP 1.0.1 §16.2.1: 6 reserved bits + 10-bit type, u16 length including this header."""
    body = b"".join(parts)
    return struct.pack("!HH", param_type & 0x3FF, 4 + len(body)) + body


def tv(param_type: int, value: bytes) -> bytes:
    """LLRP 1.0.1 §16.2.1: one byte with the high bit set and a 7-bit type, then the value."""
    return bytes((0x80 | param_type,)) + value


def iter_params(data: bytes) -> Iterator[Param]:
    """Walk a run of TV/TLV parameters; raise FrameError on any length that does not fit."""
    pos, end = 0, len(data)
    while pos < end:
        first = data[pos]
        if first & 0x80:
            ptype = first & 0x7F
            size = TV_SIZES.get(ptype)
            if size is None:
                raise FrameError(f"unknown TV parameter type {ptype}", Status.M_UNKNOWN_PARAMETER)
            if pos + 1 + size > end:
                raise FrameError(f"TV parameter {ptype} runs past its container")
            yield Param(ptype, data[pos + 1 : pos + 1 + size])
            pos += 1 + size
            continue
        if pos + 4 > end:
            raise FrameError("truncated TLV parameter header")
        ptype, length = struct.unpack_from("!HH", data, pos)
        ptype &= 0x3FF
        if length < 4 or pos + length > end:
            raise FrameError(f"TLV parameter {ptype} has impossible length {length}")
        yield Param(ptype, data[pos + 4 : pos + length])
        pos += length


def utf8v(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


def llrp_status(code: Status = Status.SUCCESS, description: str = "") -> bytes:
    """LLRP 1.0.1 §16.2.8.1 LLRPStatus: u16 code, utf8v description."""
    return tlv(P.LLRP_STATUS, struct.pack("!H", code), utf8v(description))


# --- what the reader decodes: client configuration and ROSpecs ------------------------------


@dataclass(frozen=True, slots=True)
class ContentSelector:
    """LLRP 1.0.1 §13.2.1.1 TagReportContentSelector: which fields each TagReportData carries."""

    rospec_id: bool = False
    spec_index: bool = False
    inventory_parameter_spec_id: bool = False
    antenna_id: bool = False
    channel_index: bool = False
    peak_rssi: bool = False
    first_seen: bool = False
    last_seen: bool = False
    tag_seen_count: bool = False
    access_spec_id: bool = False
    pc: bool = False
    crc: bool = False

    _BITS = (
        "rospec_id",
        "spec_index",
        "inventory_parameter_spec_id",
        "antenna_id",
        "channel_index",
        "peak_rssi",
        "first_seen",
        "last_seen",
        "tag_seen_count",
        "access_spec_id",
    )

    @classmethod
    def decode(cls, body: bytes) -> ContentSelector:
        if len(body) < 2:
            raise FrameError("TagReportContentSelector too short")
        (bits,) = struct.unpack_from("!H", body)
        flags = {name: bool(bits & (0x8000 >> i)) for i, name in enumerate(cls._BITS)}
        pc = crc = False
        for p in iter_params(body[2:]):
            if p.type == P.C1G2_EPC_MEMORY_SELECTOR and p.body:
                crc, pc = bool(p.body[0] & 0x80), bool(p.body[0] & 0x40)
        return cls(**flags, pc=pc, crc=crc)

    def encode(self) -> bytes:
        bits = 0
        for i, name in enumerate(self._BITS):
            if getattr(self, name):
                bits |= 0x8000 >> i
        memory = tlv(
            P.C1G2_EPC_MEMORY_SELECTOR,
            bytes(((0x80 if self.crc else 0) | (0x40 if self.pc else 0),)),
        )
        return tlv(P.TAG_REPORT_CONTENT_SELECTOR, struct.pack("!H", bits), memory)


class ReportTrigger(IntEnum):
    """LLRP 1.0.1 §13.2.1 ROReportTrigger."""

    NONE = 0
    UPON_N_OR_END_OF_AISPEC = 1
    UPON_N_OR_END_OF_ROSPEC = 2


@dataclass(frozen=True, slots=True)
class ReportSpec:
    trigger: ReportTrigger = ReportTrigger.UPON_N_OR_END_OF_ROSPEC
    n: int = 0
    selector: ContentSelector = ContentSelector(
        antenna_id=True, peak_rssi=True, first_seen=True, last_seen=True, tag_seen_count=True
    )

    @classmethod
    def decode(cls, body: bytes) -> ReportSpec:
        if len(body) < 3:
            raise FrameError("ROReportSpec too short")
        trigger, n = struct.unpack_from("!BH", body)
        if trigger not in ReportTrigger._value2member_map_:
            raise FrameError(f"ROReportTrigger {trigger} is not defined", Status.A_OUT_OF_RANGE)
        selector = None
        for p in iter_params(body[3:]):
            if p.type == P.TAG_REPORT_CONTENT_SELECTOR:
                selector = ContentSelector.decode(p.body)
        if selector is None:
            raise FrameError(
                "ROReportSpec without TagReportContentSelector", Status.M_MISSING_PARAMETER
            )
        return cls(ReportTrigger(trigger), n, selector)

    def encode(self) -> bytes:
        return tlv(
            P.RO_REPORT_SPEC, struct.pack("!BH", self.trigger, self.n), self.selector.encode()
        )


class SearchMode(IntEnum):
    """Gen2 target strategy as Impinj's custom ImpinjInventorySearchMode (PEN 25882, subtype 23)
    names it: 1 single target, 2 dual target, 3 single target with suppression, 5 single target
    reset, 6 dual target B→A select. Standard LLRP 1.0.1 can only say which inventoried state
    takes part (`InventoryState`, state-aware singulation); alternation and reset are Impinj's."""

    READER_SELECTED = 0
    SINGLE_TARGET = 1
    DUAL_TARGET = 2
    SINGLE_TARGET_SUPPRESSION = 3
    SINGLE_TARGET_RESET = 5
    DUAL_TARGET_RESET = 6


class InventoryState(IntEnum):
    """LLRP 1.0.1 §15.2.1.2.1.3.1 C1G2TagInventoryStateAwareSingulationAction I: the inventoried
    state (Gen2 A or B) of the tags that take part in an inventory round."""

    A = 0
    B = 1


@dataclass(frozen=True, slots=True)
class InventorySpec:
    """One InventoryParameterSpec, reduced to what the air model uses."""

    spec_id: int = 1
    session: int = 2
    tag_population: int = 32
    search_mode: SearchMode = SearchMode.READER_SELECTED
    mode_index: int | None = None
    transmit_power_index: dict[int, int] = field(
        default_factory=dict
    )  # antenna -> power table index
    state_aware: bool = False  # C1G2InventoryCommand's TagInventoryStateAware flag
    targets: dict[int, InventoryState] = field(
        default_factory=dict
    )  # antenna -> the I of its state-aware singulation action

    @property
    def target(self) -> InventoryState | None:
        """The inventoried state the client asked for, if it manages tag states (§15.2.1.2.1)."""
        if not self.state_aware or not self.targets:
            return None
        return next(iter(self.targets.values()))


class AIStopType(IntEnum):
    NULL = 0
    DURATION = 1
    GPI_WITH_TIMEOUT = 2
    TAG_OBSERVATION = 3


@dataclass(frozen=True, slots=True)
class AISpec:
    antennas: tuple[int, ...]  # 0 means every antenna (LLRP 1.0.1 §10.2.2)
    stop: AIStopType = AIStopType.NULL
    duration_ms: int = 0
    observation_type: int = 0  # §10.2.2.1.1: 0 upon N tags, 1 upon silence T ms, 2 upon N attempts
    number_of_tags: int = 0
    number_of_attempts: int = 0
    silence_ms: int = 0
    timeout_ms: int = 0
    inventory: tuple[InventorySpec, ...] = ()


class StartTrigger(IntEnum):
    NULL = 0
    IMMEDIATE = 1
    PERIODIC = 2
    GPI = 3


@dataclass(frozen=True, slots=True)
class ROSpec:
    rospec_id: int
    priority: int
    state: int  # 0 Disabled, 1 Inactive, 2 Active (§10.2.1)
    start: StartTrigger
    stop_duration_ms: int | None  # None: Null stop trigger (runs until stopped)
    ai_specs: tuple[AISpec, ...]
    report: ReportSpec | None
    raw: bytes = field(
        repr=False, compare=False, default=b""
    )  # the whole ROSpec parameter, for GET_ROSPECS
    custom: tuple[tuple[int, int], ...] = ()  # (vendor PEN, subtype) of every custom parameter


def _custom_id(param: Param) -> tuple[int, int]:
    """LLRP 1.0.1 §16.2.9 Custom parameter: u32 vendor identifier, u32 parameter subtype, data."""
    if len(param.body) < 8:
        raise FrameError("Custom parameter without its vendor and subtype")
    vendor, subtype = struct.unpack_from("!II", param.body)
    return int(vendor), int(subtype)


def _decode_inventory(body: bytes, custom: list[tuple[int, int]]) -> InventorySpec:
    spec_id, protocol = struct.unpack_from("!HB", body)
    if protocol != 1:  # §16.2.4.2.1: 1 = EPCglobal Class 1 Gen 2, the only air protocol here
        raise FrameError(f"air protocol {protocol} is not supported", Status.A_OUT_OF_RANGE)
    session, population, search, mode_index = 2, 32, SearchMode.READER_SELECTED, None
    powers: dict[int, int] = {}
    state_aware = False
    targets: dict[int, InventoryState] = {}
    for ac in iter_params(body[3:]):
        if ac.type == P.CUSTOM:
            custom.append(_custom_id(ac))
        if ac.type != P.ANTENNA_CONFIGURATION:
            continue
        (antenna,) = struct.unpack_from("!H", ac.body)
        for p in iter_params(ac.body[2:]):
            if p.type == P.RF_TRANSMITTER:
                _hop, _channel, power = struct.unpack_from("!HHH", p.body)
                powers[antenna] = power
            elif p.type == P.C1G2_INVENTORY_COMMAND:
                # §16.3.1.2.1: the S bit (TagInventoryStateAware), 7 reserved, then parameters
                state_aware = state_aware or bool(p.body[0] & 0x80)
                for q in iter_params(p.body[1:]):
                    if q.type == P.C1G2_SINGULATION_CONTROL:
                        # §16.3.1.2.1.3: Session (2 bits), TagPopulation u16, TagTransitTime u32,
                        # then an optional C1G2TagInventoryStateAwareSingulationAction
                        session = q.body[0] >> 6
                        (population,) = struct.unpack_from("!H", q.body, 1)
                        for r in iter_params(q.body[7:]):
                            if r.type == P.C1G2_TAG_INVENTORY_STATE_AWARE_SINGULATION_ACTION:
                                targets[antenna] = InventoryState(r.body[0] >> 7)  # the I bit
                    elif q.type == P.C1G2_RF_CONTROL:
                        (mode_index,) = struct.unpack_from("!H", q.body)
                    elif q.type == P.CUSTOM:
                        vendor, subtype = _custom_id(q)
                        custom.append((vendor, subtype))
                        if vendor == IMPINJ_PEN and subtype == 23 and len(q.body) >= 10:
                            (mode,) = struct.unpack_from("!H", q.body, 8)
                            if mode in SearchMode._value2member_map_:
                                search = SearchMode(mode)
            elif p.type == P.CUSTOM:
                custom.append(_custom_id(p))
    return InventorySpec(
        spec_id, session, population, search, mode_index, powers, state_aware, targets
    )


def _decode_aispec(body: bytes, custom: list[tuple[int, int]]) -> AISpec:
    (count,) = struct.unpack_from("!H", body)
    antennas = struct.unpack_from(f"!{count}H", body, 2)
    rest = body[2 + 2 * count :]
    stop, duration, obs = AIStopType.NULL, 0, (0, 0, 0, 0, 0)
    inventory: list[InventorySpec] = []
    for p in iter_params(rest):
        if p.type == P.AI_SPEC_STOP_TRIGGER:
            kind, duration = struct.unpack_from("!BI", p.body)
            if kind not in AIStopType._value2member_map_:
                raise FrameError(
                    f"AISpecStopTrigger type {kind} is not defined", Status.A_OUT_OF_RANGE
                )
            stop = AIStopType(kind)
            for q in iter_params(p.body[5:]):
                if q.type == P.TAG_OBSERVATION_TRIGGER:
                    kind2, _r, n_tags, n_attempts, t_ms, timeout = struct.unpack_from(
                        "!BBHHHI", q.body
                    )
                    obs = (kind2, n_tags, n_attempts, t_ms, timeout)
        elif p.type == P.INVENTORY_PARAMETER_SPEC:
            inventory.append(_decode_inventory(p.body, custom))
        elif p.type == P.CUSTOM:
            custom.append(_custom_id(p))
    if not inventory:
        raise FrameError("AISpec without InventoryParameterSpec", Status.M_MISSING_PARAMETER)
    return AISpec(
        tuple(antennas), stop, duration, obs[0], obs[1], obs[2], obs[3], obs[4], tuple(inventory)
    )


def decode_rospec(param: Param, raw: bytes = b"") -> ROSpec:
    """LLRP 1.0.1 §16.2.4.1 ROSpec: u32 id, u8 priority, u8 state, ROBoundarySpec, specs,
    ROReportSpec?"""
    body = param.body
    custom: list[tuple[int, int]] = []
    try:
        rospec_id, priority, state = struct.unpack_from("!IBB", body)
        start, stop_ms = StartTrigger.NULL, None
        specs: list[AISpec] = []
        report = None
        for p in iter_params(body[6:]):
            if p.type == P.RO_BOUNDARY_SPEC:
                for q in iter_params(p.body):
                    if q.type == P.RO_SPEC_START_TRIGGER:
                        if q.body[0] not in StartTrigger._value2member_map_:
                            raise FrameError(
                                f"ROSpecStartTrigger {q.body[0]}", Status.A_OUT_OF_RANGE
                            )
                        start = StartTrigger(q.body[0])
                    elif q.type == P.RO_SPEC_STOP_TRIGGER:
                        kind, duration = struct.unpack_from("!BI", q.body)
                        stop_ms = duration if kind == 1 else None
            elif p.type == P.AI_SPEC:
                specs.append(_decode_aispec(p.body, custom))
            elif p.type == P.RO_REPORT_SPEC:
                report = ReportSpec.decode(p.body)
                custom += [_custom_id(q) for q in iter_params(p.body[3:]) if q.type == P.CUSTOM]
            elif p.type == P.RF_SURVEY_SPEC:
                raise FrameError("RFSurveySpec is not supported", Status.M_UNSUPPORTED_PARAMETER)
            elif p.type == P.CUSTOM:
                custom.append(_custom_id(p))
    except struct.error as e:
        raise FrameError(f"ROSpec field runs short: {e}") from None
    if not specs:
        raise FrameError("ROSpec without an AISpec", Status.M_MISSING_PARAMETER)
    if priority > 7:
        raise FrameError(f"ROSpec priority {priority} is above 7", Status.A_OUT_OF_RANGE)
    return ROSpec(
        rospec_id, priority, state, start, stop_ms, tuple(specs), report, raw, tuple(custom)
    )


@dataclass(frozen=True, slots=True)
class ReaderConfigUpdate:
    """What SET_READER_CONFIG (§16.1.5) asked for; None means "leave as it is"."""

    reset_to_factory_defaults: bool = False
    keepalive_ms: int | None = None  # 0: keepalives off
    report: ReportSpec | None = None
    events_enabled: dict[int, bool] = field(default_factory=dict)
    hold_events_on_reconnect: bool | None = None
    custom: tuple[tuple[int, int], ...] = ()  # (vendor PEN, subtype) of its custom parameters


def decode_set_reader_config(body: bytes) -> ReaderConfigUpdate:
    if not body:
        raise FrameError("SET_READER_CONFIG without its flags byte")
    keepalive = hold = None
    report = None
    events: dict[int, bool] = {}
    custom: list[tuple[int, int]] = []
    try:
        for p in iter_params(body[1:]):
            if p.type == P.KEEPALIVE_SPEC:
                kind, interval = struct.unpack_from("!BI", p.body)
                keepalive = interval if kind == 1 else 0  # §13.2.4: 0 Null, 1 Periodic
            elif p.type == P.RO_REPORT_SPEC:
                report = ReportSpec.decode(p.body)
            elif p.type == P.READER_EVENT_NOTIFICATION_SPEC:
                for q in iter_params(p.body):
                    if q.type == P.EVENT_NOTIFICATION_STATE:
                        event, state = struct.unpack_from("!HB", q.body)
                        events[event] = bool(state & 0x80)
            elif p.type == P.EVENTS_AND_REPORTS:
                hold = bool(p.body[0] & 0x80)
            elif p.type == P.CUSTOM:
                custom.append(_custom_id(p))
            elif p.type in (
                P.ANTENNA_PROPERTIES,
                P.ANTENNA_CONFIGURATION,
                P.ACCESS_REPORT_SPEC,
                P.GPO_WRITE_DATA,
                P.GPI_PORT_CURRENT_STATE,
            ):
                continue  # accepted; the simulated antennas and ports have no settings to change
            else:
                raise FrameError(
                    f"parameter {p.type} is not allowed in SET_READER_CONFIG",
                    Status.M_UNEXPECTED_PARAMETER,
                )
    except struct.error as e:
        raise FrameError(f"SET_READER_CONFIG field runs short: {e}") from None
    return ReaderConfigUpdate(
        bool(body[0] & 0x80), keepalive, report, events, hold, tuple(custom)
    )


def decode_u32(body: bytes, what: str) -> int:
    if len(body) < 4:
        raise FrameError(f"{what} needs a 32-bit id, got {len(body)} bytes", Status.M_FIELD_ERROR)
    return int(struct.unpack_from("!I", body)[0])


# --- what the reader encodes ----------------------------------------------------------------


def reader_event(timestamp_us: int, *events: bytes) -> bytes:
    """READER_EVENT_NOTIFICATION body: ReaderEventNotificationData (§16.2.7.6), UTC-stamped."""
    return tlv(
        P.READER_EVENT_NOTIFICATION_DATA,
        tlv(P.UTC_TIMESTAMP, struct.pack("!Q", timestamp_us)),
        *events,
    )


def connection_attempt_event(status: ConnectionStatus) -> bytes:
    return tlv(P.CONNECTION_ATTEMPT_EVENT, struct.pack("!H", status))


def connection_close_event() -> bytes:
    return tlv(P.CONNECTION_CLOSE_EVENT)


def rospec_event(kind: int, rospec_id: int, preempting: int = 0) -> bytes:
    """§16.2.7.6.4 ROSpecEvent: 0 start of ROSpec, 1 end of ROSpec, 2 preemption."""
    return tlv(P.RO_SPEC_EVENT, struct.pack("!BII", kind, rospec_id, preempting))


@dataclass(frozen=True, slots=True)
class RFMode:
    """One UHFC1G2RFModeTableEntry (§16.3.1.1.3)."""

    mode_id: int
    dr_64_3: bool
    m: int  # 1 FM0, 2/4/8 Miller
    forward_link: int  # 0 PR-ASK, 1 SSB-ASK, 2 DSB-ASK
    spectral_mask: int
    bdr: int  # backscatter data rate, bps
    pie: int  # x1000
    min_tari: int  # ns
    max_tari: int
    step_tari: int


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What GET_READER_CAPABILITIES_RESPONSE says about the simulated reader. The defaults are an
    Impinj's (from a real R420 capture); `generic_capabilities` describes a reader of another make."""

    antennas: int = 4
    manufacturer: int = IMPINJ_PEN
    model: int = 2001002  # Impinj R420 model number as it appears in real captures
    firmware: str = "5.14.0.240-shelfsync-sim"
    power_table_cdbm: tuple[int, ...] = tuple(
        1000 + 25 * i for i in range(81)
    )  # 10.00 .. 30.00 dBm
    sensitivity_table: tuple[int, ...] = (0, -80, -75, -70)
    hop_table_khz: tuple[int, ...] = (
        902750,
        903250,
        903750,
        904250,
        904750,
        905250,
        905750,
        906250,
    )
    modes: tuple[RFMode, ...] = (
        RFMode(0, True, 1, 2, 1, 640000, 1500, 6250, 6250, 0),
        RFMode(1, True, 2, 2, 1, 640000, 1500, 6250, 6250, 0),
        RFMode(2, True, 4, 2, 3, 274000, 2000, 20000, 20000, 0),
        RFMode(3, True, 8, 2, 3, 170600, 2000, 20000, 20000, 0),
        RFMode(4, True, 4, 2, 3, 640000, 1500, 7140, 7140, 0),
        RFMode(1000, True, 1, 2, 1, 40000, 1500, 6250, 6250, 0),
        RFMode(1002, True, 2, 2, 3, 0, 1500, 6250, 25000, 0),
        RFMode(1003, True, 2, 2, 3, 0, 1500, 6250, 25000, 0),
        RFMode(1004, True, 2, 2, 3, 0, 1500, 6250, 25000, 0),
        RFMode(1005, True, 4, 2, 3, 0, 1500, 6250, 25000, 0),
    )

    def encode(self, requested: int) -> bytes:
        """GET_READER_CAPABILITIES_RESPONSE body; `requested` per §9.1.1 (0 all, 1 general, 2 LLRP,
        3 regulatory, 4 air protocol)."""
        parts = [llrp_status()]
        if requested in (0, 1):
            fw = self.firmware.encode()
            general = [
                struct.pack(
                    "!HHIIH", self.antennas, 0x4000, self.manufacturer, self.model, len(fw)
                ),
                fw,
            ]
            general += [
                tlv(P.RECEIVE_SENSITIVITY_TABLE_ENTRY, struct.pack("!Hh", i + 1, v))
                for i, v in enumerate(self.sensitivity_table)
            ]
            general.append(tlv(P.GPIO_CAPABILITIES, struct.pack("!HH", 4, 4)))
            general += [
                tlv(P.PER_ANTENNA_AIR_PROTOCOL, struct.pack("!HHB", a, 1, 1))
                for a in range(1, self.antennas + 1)
            ]
            parts.append(tlv(P.GENERAL_DEVICE_CAPABILITIES, *general))
        if requested in (0, 2):
            # flags: no RF survey, can report buffer fill warning, no client OpSpec, state-aware
            # singulation, event-and-report holding; priorities 0..1; up to 1 ROSpec (like Impinj).
            parts.append(
                tlv(P.LLRP_CAPABILITIES, struct.pack("!BBHIIIII", 0x58, 1, 0, 1, 32, 1, 508, 8))
            )
        if requested in (0, 3):
            powers = [
                tlv(P.TRANSMIT_POWER_LEVEL_TABLE_ENTRY, struct.pack("!Hh", i + 1, v))
                for i, v in enumerate(self.power_table_cdbm)
            ]
            hop = tlv(
                P.FREQUENCY_HOP_TABLE,
                struct.pack("!BBH", 1, 0, len(self.hop_table_khz)),
                struct.pack(f"!{len(self.hop_table_khz)}I", *self.hop_table_khz),
            )
            freq = tlv(P.FREQUENCY_INFORMATION, b"\x80", hop)
            modes = tlv(
                P.UHF_C1G2_RF_MODE_TABLE,
                *(
                    tlv(
                        P.UHF_C1G2_RF_MODE_TABLE_ENTRY,
                        struct.pack(
                            "!IBBBBIIIII",
                            m.mode_id,
                            0x80 if m.dr_64_3 else 0,
                            m.m,
                            m.forward_link,
                            m.spectral_mask,
                            m.bdr,
                            m.pie,
                            m.min_tari,
                            m.max_tari,
                            m.step_tari,
                        ),
                    )
                    for m in self.modes
                ),
            )
            band = tlv(P.UHF_BAND_CAPABILITIES, *powers, freq, modes)
            # CountryCode 840 (USA, ISO 3166), CommunicationsStandard 1 (US FCC Part 15)
            parts.append(tlv(P.REGULATORY_CAPABILITIES, struct.pack("!HH", 840, 1), band))
        if requested in (0, 4):
            parts.append(tlv(P.C1G2_LLRP_CAPABILITIES, struct.pack("!BH", 0xC0, 2)))
        return b"".join(parts)


def generic_capabilities(antennas: int = 4) -> Capabilities:
    """A fixed reader of another make than Impinj, with tables of its own: 10.0-31.5 dBm in 0.5 dB
    steps, four Gen2 link profiles (FM0 and Miller 2/4/8) with their own mode identifiers."""
    return Capabilities(
        antennas=antennas,
        manufacturer=EXAMPLE_PEN,
        model=7500,
        firmware="3.2.1-shelfsync-sim-generic",
        power_table_cdbm=tuple(1000 + 50 * i for i in range(44)),
        sensitivity_table=(0, -84, -78, -72),
        modes=(
            RFMode(100, False, 1, 2, 1, 640000, 1500, 6250, 6250, 0),
            RFMode(101, False, 2, 2, 3, 320000, 1500, 12500, 12500, 0),
            RFMode(102, False, 4, 2, 3, 256000, 2000, 20000, 25000, 6250),
            RFMode(103, False, 8, 2, 3, 160000, 2000, 25000, 25000, 0),
        ),
    )


@dataclass(frozen=True, slots=True)
class TagReport:
    """One TagReportData entry before encoding (EPC, where and when it was seen)."""

    epc: bytes
    antenna: int
    peak_rssi: int
    channel: int
    first_seen_us: int
    last_seen_us: int
    seen_count: int
    rospec_id: int
    spec_index: int = 1
    inventory_spec_id: int = 1
    pc: int = 0x3000  # Gen2 StoredPC for a 96-bit EPC: length 6 words, no user memory, no XPC


def encode_tag_report(tag: TagReport, sel: ContentSelector, uptime_base_us: int) -> bytes:
    """§16.2.7.3 TagReportData: the EPC first (EPC-96 TV when 96 bits, else EPCData), then what the
    content selector enables, in the order the standard lists them."""
    if len(tag.epc) == 12:
        parts = [tv(P.EPC_96, tag.epc)]
    else:
        parts = [tlv(P.EPC_DATA, struct.pack("!H", len(tag.epc) * 8), tag.epc)]
    if sel.rospec_id:
        parts.append(tv(P.RO_SPEC_ID, struct.pack("!I", tag.rospec_id)))
    if sel.spec_index:
        parts.append(tv(P.SPEC_INDEX, struct.pack("!H", tag.spec_index)))
    if sel.inventory_parameter_spec_id:
        parts.append(tv(P.INVENTORY_PARAMETER_SPEC_ID, struct.pack("!H", tag.inventory_spec_id)))
    if sel.antenna_id:
        parts.append(tv(P.ANTENNA_ID, struct.pack("!H", tag.antenna)))
    if sel.peak_rssi:
        parts.append(tv(P.PEAK_RSSI, struct.pack("!b", max(-128, min(127, tag.peak_rssi)))))
    if sel.channel_index:
        parts.append(tv(P.CHANNEL_INDEX, struct.pack("!H", tag.channel)))
    if sel.first_seen:
        parts.append(tv(P.FIRST_SEEN_UTC, struct.pack("!Q", tag.first_seen_us)))
    if sel.last_seen:
        parts.append(tv(P.LAST_SEEN_UTC, struct.pack("!Q", tag.last_seen_us)))
    if sel.tag_seen_count:
        parts.append(tv(P.TAG_SEEN_COUNT, struct.pack("!H", min(tag.seen_count, 0xFFFF))))
    if sel.pc:
        parts.append(tv(P.C1G2_PC, struct.pack("!H", tag.pc)))
    if sel.crc:
        parts.append(tv(P.C1G2_CRC, struct.pack("!H", crc16_gen2(tag.epc, tag.pc))))
    return tlv(P.TAG_REPORT_DATA, *parts)


def crc16_gen2(epc: bytes, pc: int) -> int:
    """EPC Gen2 §6.3.2.1.3: CRC-16/GENIBUS (poly 0x1021, init 0xFFFF, complemented) over PC+EPC."""
    crc = 0xFFFF
    for byte in struct.pack("!H", pc) + epc:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc ^ 0xFFFF


def ro_access_report(
    tags: Sequence[TagReport], sel: ContentSelector, uptime_base_us: int = 0
) -> bytes:
    return b"".join(encode_tag_report(t, sel, uptime_base_us) for t in tags)


@dataclass(frozen=True, slots=True)
class ReaderConfigView:
    """The reader configuration GET_READER_CONFIG_RESPONSE reports (§16.1.4)."""

    antennas: int
    keepalive_ms: int
    report: ReportSpec
    events_enabled: dict[int, bool]
    hold_events_on_reconnect: bool
    reader_id: bytes
    config_state: int


def encode_reader_config(view: ReaderConfigView, requested: int, antenna: int) -> bytes:
    """GET_READER_CONFIG_RESPONSE body. `requested` per §12.1.2: 0 all, 1 identification,
    2 antenna properties, 3 antenna configuration, 4 RO report spec, 5 reader event notification
    spec, 6 access report spec, 7 LLRP configuration state, 8 keepalive spec, 9 GPI, 10 GPO,
    11 events and reports."""

    def want(n: int) -> bool:
        return requested in (0, n)

    antennas = range(1, view.antennas + 1) if antenna == 0 else (antenna,)
    parts = [llrp_status()]
    if want(1):
        parts.append(
            tlv(P.IDENTIFICATION, struct.pack("!BH", 0, len(view.reader_id)), view.reader_id)
        )
    if want(2):
        # connected, gain 6 dBi x100 (a typical circular-polarised panel)
        parts += [tlv(P.ANTENNA_PROPERTIES, struct.pack("!BHh", 0x80, a, 600)) for a in antennas]
    if want(3):
        parts += [
            tlv(
                P.ANTENNA_CONFIGURATION,
                struct.pack("!H", a),
                tlv(P.RF_RECEIVER, struct.pack("!H", 1)),
                tlv(P.RF_TRANSMITTER, struct.pack("!HHH", 1, 1, 81)),
            )
            for a in antennas
        ]
    if want(5):
        states = [
            tlv(P.EVENT_NOTIFICATION_STATE, struct.pack("!HB", e, 0x80 if on else 0))
            for e, on in sorted(view.events_enabled.items())
        ]
        parts.append(tlv(P.READER_EVENT_NOTIFICATION_SPEC, *states))
    if want(4):
        parts.append(view.report.encode())
    if want(6):
        parts.append(tlv(P.ACCESS_REPORT_SPEC, b"\x00"))
    if want(7):
        parts.append(tlv(P.LLRP_CONFIGURATION_STATE_VALUE, struct.pack("!I", view.config_state)))
    if want(8):
        kind = 1 if view.keepalive_ms else 0
        parts.append(tlv(P.KEEPALIVE_SPEC, struct.pack("!BI", kind, view.keepalive_ms)))
    if want(9):
        parts += [
            tlv(P.GPI_PORT_CURRENT_STATE, struct.pack("!HBB", n, 0x80, 0)) for n in range(1, 5)
        ]
    if want(10):
        parts += [tlv(P.GPO_WRITE_DATA, struct.pack("!HB", n, 0)) for n in range(1, 5)]
    if want(11):
        parts.append(
            tlv(P.EVENTS_AND_REPORTS, b"\x80" if view.hold_events_on_reconnect else b"\x00")
        )
    return b"".join(parts)
