"""What the RFID driver may ask of an LLRP reader, given who made it.

Impinj readers take Impinj's vendor extensions: a CUSTOM_MESSAGE (IMPINJ_ENABLE_EXTENSIONS) and
custom parameters such as the inventory search mode (single target, dual target, with reset...).
Every other make (Zebra FX, ThingMagic, Alien, CAEN...) answers such a message with ERROR_MESSAGE
(LLRP 1.0.1 §8.1) and refuses a ROSpec carrying such a parameter (§8.2). So the driver reads the
reader's capabilities first (`ReaderIdentity`: the maker is GeneralDeviceCapabilities'
DeviceManufacturerName, an IANA enterprise number, 25882 for Impinj) and then plans the inventory
(`plan_inventory`): the search mode as Impinj's parameter on an Impinj, and on any other reader
what standard LLRP can say of it. The session always travels in C1G2SingulationControl (sllurp
puts it there); the target, in standard LLRP, is the C1G2TagInventoryStateAwareSingulationAction
inside it (§15.2.1.2.1.3), which only readers that claim CanDoTagInventoryStateAwareSingulation
honour:

    search mode (Impinj)              on another make
    1 single target                   target A, in the configured session
    3 single target, suppression      target A, in the configured session (suppression is Impinj's)
    5 single target with reset        target A in session 1 (see below)
    2 dual target, 6 dual B→A select  the reader's own targeting (LLRP cannot ask to alternate)

Single target *with reset* (what a stocktake asks for) re-arms every tag to A once, when the
inventory starts, then reads each tag once so that weak tags get the air time. Standard LLRP has
no once-only reset: a C1G2Filter's Select is repeated before inventory rounds, so every tag would
answer every round. Single target in session 2 without the reset would miss tags: those an
earlier inventory left in B (presence reading, the last count) stay silent for the whole count,
since S2 and S3 flags persist while the tags are energised. And the reader's own targeting (dual
target on most) has strong tags answer every round, starving the weakest for a long time (the
simulator's 300-tag count missed one in a 2 s quiet window). Session 1 flags go back to A by
themselves within 0.5-5 s, energised or not (EPC Gen2 §6.3.2.2), so target A in
session 1 starts from tags all in A within seconds and reads each tag about once per persistence
time: the nearest standard LLRP comes to the reset. The plan overrides the session for it.

sllurp (3.0.5) cannot encode the state-aware singulation action: its C1G2SingulationControl
encoder writes the fixed fields only and its C1G2InventoryCommand always clears
TagInventoryStateAware. `with_singulation_target` adds both to the ADD_ROSPEC sllurp encoded, on
the bytes, before they leave; it is hand-written for that reason, and checked against pyllrp's
decoder and the simulator's.

Pure: values and bytes in, values and bytes out.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Final

IMPINJ_PEN: Final = 25882  # IANA private enterprise number of Impinj

# LLRP 1.0.1 §16.1.x / §16.2.x / §16.3.x type numbers of what is walked or written here
_ADD_ROSPEC: Final = 20
_ROSPEC: Final = 177
_AI_SPEC: Final = 183
_INVENTORY_PARAMETER_SPEC: Final = 186
_ANTENNA_CONFIGURATION: Final = 222
_C1G2_INVENTORY_COMMAND: Final = 330
_C1G2_SINGULATION_CONTROL: Final = 336
_STATE_AWARE_SINGULATION_ACTION: Final = 337
_HEADER: Final = struct.Struct("!HII")  # §16.1: type word, length, message id
_TLV: Final = struct.Struct("!HH")  # §16.2.1: type word, length (header included)
_U16: Final = struct.Struct("!H")
_SINGULATION_FIELDS: Final = 7  # Session (2 bits) + 6 reserved, TagPopulation u16, TransitTime u32

_SINGLE_TARGET_MODES: Final = frozenset({1, 3})  # Impinj search modes that standard LLRP can say
_SINGLE_TARGET_RESET: Final = 5
_SELF_RESETTING_SESSION: Final = 1  # Gen2 S1: flags return to A within 0.5-5 s, powered or not


class InventoryState(IntEnum):
    """LLRP 1.0.1 §15.2.1.2.1.3.1 `I`: the inventoried state of the tags taking part."""

    A = 0
    B = 1


@dataclass(frozen=True, slots=True)
class ReaderIdentity:
    """Who made a reader and what it can do, from its GET_READER_CAPABILITIES_RESPONSE."""

    manufacturer: int  # IANA private enterprise number
    model: int
    firmware: str
    state_aware_singulation: bool  # LLRPCapabilities.CanDoTagInventoryStateAwareSingulation

    @property
    def is_impinj(self) -> bool:
        return self.manufacturer == IMPINJ_PEN

    @classmethod
    def from_capabilities(cls, caps: Mapping[str, Any]) -> ReaderIdentity:
        """From sllurp's decoding of GET_READER_CAPABILITIES_RESPONSE (§16.1.2). A reader that
        leaves out its LLRPCapabilities (asked for "all", it should not) claims nothing."""
        general = caps.get("GeneralDeviceCapabilities", {})
        firmware = general.get("ReaderFirmwareVersion", b"")
        return cls(
            int(general.get("DeviceManufacturerName", 0)),
            int(general.get("ModelName", 0)),
            firmware.decode(errors="replace") if isinstance(firmware, bytes) else str(firmware),
            bool(caps.get("LLRPCapabilities", {}).get("CanDoTagInventoryStateAwareSingulation")),
        )


@dataclass(frozen=True, slots=True)
class InventoryPlan:
    """How the driver asks one reader for its targeting."""

    impinj_search_mode: int | None = None  # ImpinjInventorySearchMode, after enabling extensions
    target: InventoryState | None = None  # standard state-aware singulation; None: reader decides
    session: int | None = None  # a Gen2 session that replaces the configured one

    @property
    def impinj_extensions(self) -> bool:
        return self.impinj_search_mode is not None


def plan_inventory(
    search_mode: int | None, reader: ReaderIdentity, extensions: bool = True
) -> InventoryPlan:
    """The plan for `search_mode` (Impinj's numbering, None for the reader's choice) on `reader`.
    `extensions=False`: the reader refused Impinj's extensions, plan in standard LLRP."""
    if search_mode is None:
        return InventoryPlan()
    if reader.is_impinj and extensions:
        return InventoryPlan(impinj_search_mode=search_mode)
    if not reader.state_aware_singulation:
        return InventoryPlan()
    if search_mode in _SINGLE_TARGET_MODES:
        return InventoryPlan(target=InventoryState.A)
    if search_mode == _SINGLE_TARGET_RESET:
        return InventoryPlan(target=InventoryState.A, session=_SELF_RESETTING_SESSION)
    return InventoryPlan()


# --- ADD_ROSPEC with a target ---------------------------------------------------------------


def _fields_before_parameters(ptype: int, body: bytes) -> int:
    """How many bytes of fixed fields come before a container's sub-parameters."""
    if ptype == _ROSPEC:
        return 6  # §16.2.4.1: ROSpecID u32, Priority u8, CurrentState u8
    if ptype == _AI_SPEC:
        return 2 + 2 * int(_U16.unpack_from(body)[0])  # §16.2.4.2: AntennaCount u16, AntennaID u16 * n
    if ptype == _INVENTORY_PARAMETER_SPEC:
        return 3  # §16.2.4.2.2: InventoryParameterSpecID u16, ProtocolID u8
    if ptype == _ANTENNA_CONFIGURATION:
        return 2  # §16.2.6.6: AntennaID u16
    return 1  # §16.3.1.2.1 C1G2InventoryCommand: TagInventoryStateAware bit, 7 reserved


_CONTAINERS: Final = frozenset(
    {_ROSPEC, _AI_SPEC, _INVENTORY_PARAMETER_SPEC, _ANTENNA_CONFIGURATION, _C1G2_INVENTORY_COMMAND}
)


def _tlv(ptype: int, body: bytes) -> bytes:
    if 4 + len(body) > 0xFFFF:
        raise ValueError(f"parameter {ptype} would outgrow its 16-bit length")
    return _TLV.pack(ptype, 4 + len(body)) + body


def _with_target(params: bytes, action: bytes) -> tuple[bytes, int]:
    """Rewrite a run of parameters; returns the bytes and how many singulation controls got the
    action. Parameters outside the path to C1G2SingulationControl are copied as they are."""
    out = bytearray()
    done = 0
    pos, end = 0, len(params)
    while pos < end:
        if params[pos] & 0x80:
            raise ValueError(f"unexpected TV parameter {params[pos] & 0x7F} inside a ROSpec")
        if pos + 4 > end:
            raise ValueError("truncated parameter header inside a ROSpec")
        word, length = _TLV.unpack_from(params, pos)
        ptype = word & 0x3FF
        if length < 4 or pos + length > end:
            raise ValueError(f"parameter {ptype} has impossible length {length}")
        body = params[pos + 4 : pos + length]
        if ptype == _C1G2_SINGULATION_CONTROL:
            if len(body) < _SINGULATION_FIELDS:
                raise ValueError("C1G2SingulationControl is shorter than its fixed fields")
            kept, _ = _without(body[_SINGULATION_FIELDS:], _STATE_AWARE_SINGULATION_ACTION)
            out += _tlv(ptype, body[:_SINGULATION_FIELDS] + kept + action)
            done += 1
        elif ptype in _CONTAINERS:
            n = _fields_before_parameters(ptype, body)
            if len(body) < n:
                raise ValueError(f"parameter {ptype} is shorter than its fixed fields")
            head = bytearray(body[:n])
            inner, count = _with_target(body[n:], action)
            if ptype == _C1G2_INVENTORY_COMMAND:
                if count == 0:
                    raise ValueError(
                        "a C1G2InventoryCommand without C1G2SingulationControl has no place for "
                        "the target"
                    )
                head[0] |= 0x80  # TagInventoryStateAware: the client manages tag states
            out += _tlv(ptype, bytes(head) + inner)
            done += count
        else:
            out += params[pos : pos + length]
        pos += length
    return bytes(out), done


def _without(params: bytes, ptype: int) -> tuple[bytes, int]:
    """The TLV parameters of `params` except those of type `ptype` (and how many were dropped)."""
    out, dropped, pos = bytearray(), 0, 0
    while pos < len(params):
        word, length = _TLV.unpack_from(params, pos)
        if length < 4 or pos + length > len(params):
            raise ValueError(f"parameter {word & 0x3FF} has impossible length {length}")
        if word & 0x3FF == ptype:
            dropped += 1
        else:
            out += params[pos : pos + length]
        pos += length
    return bytes(out), dropped


def with_singulation_target(add_rospec: bytes, target: InventoryState) -> bytes:
    """The ADD_ROSPEC message `add_rospec` with every C1G2InventoryCommand state-aware and every
    C1G2SingulationControl carrying C1G2TagInventoryStateAwareSingulationAction(I=target, S=~SL).

    S=~SL: only tags whose SL flag is deasserted take part. That is every tag no Select has
    asserted, which is all of them, since the driver sends no C1G2Filter (and LLRP 1.0.1 has no
    "either" value for S)."""
    if len(add_rospec) < _HEADER.size:
        raise ValueError("not an LLRP message")
    word, length, msg_id = _HEADER.unpack_from(add_rospec)
    if word & 0x3FF != _ADD_ROSPEC or length != len(add_rospec):
        raise ValueError("not one whole ADD_ROSPEC message")
    # §16.3.1.2.1.3.1: I (1 bit), S (1 bit: 0 SL, 1 ~SL), 6 reserved
    action = _tlv(_STATE_AWARE_SINGULATION_ACTION, bytes(((target << 7) | 0x40,)))
    body, count = _with_target(add_rospec[_HEADER.size :], action)
    if count == 0:
        raise ValueError("the ROSpec has no C1G2InventoryCommand to carry the target")
    return _HEADER.pack(word, _HEADER.size + len(body), msg_id) + body
