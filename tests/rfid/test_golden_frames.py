"""Golden LLRP 1.0.1 frames: literal bytes laid out by hand from the standard's §16 binary encoding,
and one RO_ACCESS_REPORT captured from a real reader (sllurp's test fixture, quoted in the
research).
They pin the simulator's encoder/decoder and the gateway driver's framing and decoding."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sllurp.llrp import LLRPMessage

from edge.rfid.driver import ReaderSettings, ReaderStats, TagRead, _LLRPConnection
from edge.rfid.epc import EpcDecoder
from edge.rfid.reports import ReportError, parse_ro_access_report
from firmware_sim.llrp import frames as fr

# A real reader's RO_ACCESS_REPORT: header (ver 1, type 61, length 44, id 0x4095892f), then
# TagReportData(240, len 34) = EPC-96(TV 13) AntennaID(TV 1)=1 PeakRSSI(TV 6)=-50
# FirstSeenTimestampUTC(TV 2) TagSeenCount(TV 8)=1.
CAPTURED_REPORT = bytes.fromhex(
    "043d0000002c4095892f00f000228d3005fb63ac1f3841ec88046781000186ce820004ec2ea8354c09880001"
)

# READER_EVENT_NOTIFICATION (63) id 1, length 32: ReaderEventNotificationData(246, len 22) =
# UTCTimestamp(128, len 12, µs) + ConnectionAttemptEvent(256, len 6, Status 0 = Success).
CONNECTED = bytes.fromhex("043f000000200000000100f600160080000c0005f1e1a2b3c4d5010000060000")

# ADD_ROSPEC (20) id 9 as a client sends it, laid out per §16.2.4:
ADD_ROSPEC = bytes.fromhex(
    "0414"
    "0000005b"
    "00000009"
    "00b1"
    "0051"
    "00000001"
    "00"
    "00"  # ROSpec 177: id 1, priority 0, Disabled
    "00b2"
    "0012"  # ROBoundarySpec 178
    "00b3"
    "0005"
    "01"  #   ROSpecStartTrigger: Immediate
    "00b6"
    "0009"
    "00"
    "00000000"  #   ROSpecStopTrigger: Null
    "00b7"
    "0028"
    "0001"
    "0002"  # AISpec 183: 1 antenna, antenna 2
    "00b8"
    "0019"
    "03"
    "00000000"  #   AISpecStopTrigger: Tag observation
    "00b9"
    "0010"
    "00"
    "00"
    "0005"
    "0000"
    "0000"
    "000003e8"  # TagObservation: upon 5 tags, timeout 1 s
    "00ba"
    "0007"
    "0001"
    "01"  #   InventoryParameterSpec: id 1, C1G2
    "00ed"
    "000d"
    "01"
    "0000"  # ROReportSpec 237: Upon N or end of AISpec, N 0
    "00ee"
    "0006"
    "1400"  #   TagReportContentSelector: AntennaID, PeakRSSI
)


def test_encoder_reproduces_the_captured_report_byte_for_byte() -> None:
    sel = fr.ContentSelector(antenna_id=True, peak_rssi=True, first_seen=True, tag_seen_count=True)
    tag = fr.TagReport(
        bytes.fromhex("3005fb63ac1f3841ec880467"),
        antenna=1,
        peak_rssi=-50,
        channel=0,
        first_seen_us=0x0004EC2EA8354C09,
        last_seen_us=0,
        seen_count=1,
        rospec_id=0,
    )
    assert (
        fr.encode_frame(fr.MsgType.RO_ACCESS_REPORT, 0x4095892F, fr.ro_access_report([tag], sel))
        == CAPTURED_REPORT
    )


def test_connection_event_and_keepalive_frames() -> None:
    body = fr.reader_event(
        0x0005F1E1A2B3C4D5, fr.connection_attempt_event(fr.ConnectionStatus.SUCCESS)
    )
    assert fr.encode_frame(fr.MsgType.READER_EVENT_NOTIFICATION, 1, body) == CONNECTED
    assert fr.encode_frame(fr.MsgType.KEEPALIVE, 7) == bytes.fromhex("043e0000000a00000007")
    assert fr.llrp_status() == bytes.fromhex("011f000800000000")


def test_add_rospec_decodes_to_its_triggers_antennas_and_report_spec() -> None:
    [frame] = fr.FrameReader().feed(ADD_ROSPEC)
    assert (frame.type, frame.msg_id) == (fr.MsgType.ADD_ROSPEC, 9)
    [param] = list(fr.iter_params(frame.body))
    spec = fr.decode_rospec(param)
    assert (spec.rospec_id, spec.priority, spec.state, spec.start, spec.stop_duration_ms) == (
        1,
        0,
        0,
        fr.StartTrigger.IMMEDIATE,
        None,
    )
    [ai] = spec.ai_specs
    assert ai.antennas == (2,) and ai.stop == fr.AIStopType.TAG_OBSERVATION
    assert (ai.observation_type, ai.number_of_tags, ai.timeout_ms) == (0, 5, 1000)
    assert spec.report == fr.ReportSpec(
        fr.ReportTrigger.UPON_N_OR_END_OF_AISPEC,
        0,
        fr.ContentSelector(antenna_id=True, peak_rssi=True),
    )


def test_frame_reader_reassembles_frames_split_anywhere() -> None:
    stream = CONNECTED + CAPTURED_REPORT
    for cut in range(1, len(stream)):
        reader = fr.FrameReader()
        frames = reader.feed(stream[:cut]) + reader.feed(stream[cut:])
        assert [f.type for f in frames] == [63, 61]


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closing = False

    def write(self, data: Any) -> None:
        self.written.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def abort(self) -> None:
        self.closing = True

    def close(self) -> None:
        self.closing = True


async def test_driver_decodes_the_captured_report_fed_in_odd_chunks() -> None:
    reads: list[TagRead] = []
    stats = ReaderStats()
    conn = _LLRPConnection(
        ReaderSettings("dock", "127.0.0.1"), reads.append, stats, EpcDecoder(), lambda: None
    )
    conn.connection_made(_Transport())
    conn.inventorying.set()
    for i in range(0, len(CAPTURED_REPORT), 7):
        conn.data_received(CAPTURED_REPORT[i : i + 7])
    [read] = reads
    assert read.epc == "3005FB63AC1F3841EC880467"
    assert (read.gtin, read.serial) == ("96810064511377", "8263304295")
    assert (read.antenna, read.zone, read.rssi, read.seen_count) == (1, "floor", -50, 1)
    assert read.at == datetime(2013, 11, 27, 20, 44, 1, 558537, tzinfo=UTC)
    assert stats.reports == 1 and stats.bad_frames == 0


async def test_driver_drops_a_stream_with_an_impossible_header() -> None:
    stats = ReaderStats()
    conn = _LLRPConnection(
        ReaderSettings("dock", "127.0.0.1"), lambda r: None, stats, EpcDecoder(), lambda: None
    )
    transport = _Transport()
    conn.connection_made(transport)
    conn.data_received(bytes.fromhex("043d0000000400000000"))  # length 4 < header size
    assert stats.bad_frames == 1 and transport.closing and conn.done.done()


@st.composite
def reports(draw: st.DrawFn) -> tuple[list[fr.TagReport], fr.ContentSelector]:
    sel = fr.ContentSelector(
        **{name: draw(st.booleans()) for name in fr.ContentSelector._BITS},
        pc=draw(st.booleans()),
        crc=draw(st.booleans()),
    )
    tags = [
        fr.TagReport(
            draw(st.binary(min_size=12, max_size=12) | st.binary(min_size=2, max_size=62)),
            draw(st.integers(1, 4)),
            draw(st.integers(-128, 127)),
            draw(st.integers(1, 50)),
            draw(st.integers(0, 2**63)),
            draw(st.integers(0, 2**63)),
            draw(st.integers(1, 65535)),
            draw(st.integers(1, 2**32 - 1)),
        )
        for _ in range(draw(st.integers(0, 5)))
    ]
    return tags, sel


@settings(max_examples=200, deadline=None)
@given(reports())
def test_fast_report_parser_agrees_with_sllurp(
    case: tuple[list[fr.TagReport], fr.ContentSelector],
) -> None:
    tags, sel = case
    frame = fr.encode_frame(fr.MsgType.RO_ACCESS_REPORT, 1, fr.ro_access_report(tags, sel))
    seen = [t.last_seen_us if sel.last_seen else t.first_seen_us if sel.first_seen else None for t in tags]
    if any(s is not None and s >= 253_402_300_800_000_000 for s in seen):
        # past the year 9999: sllurp hands the number on; ours refuses the frame (no datetime holds it)
        with pytest.raises(ReportError, match="timestamp"):
            parse_ro_access_report(frame)
        return
    ours = parse_ro_access_report(frame)
    theirs = LLRPMessage(msgbytes=frame).msgdict["RO_ACCESS_REPORT"].get("TagReportData", [])
    assert len(ours) == len(theirs) == len(tags)
    for mine, ref in zip(ours, theirs, strict=True):
        assert mine.epc == ref["EPC"].decode().upper()
        assert mine.antenna == ref.get("AntennaID", 0)
        assert mine.rssi == ref.get("PeakRSSI")
        assert mine.seen_count == ref.get("TagSeenCount", 1)
        assert mine.seen_us == ref.get("LastSeenTimestampUTC", ref.get("FirstSeenTimestampUTC"))
