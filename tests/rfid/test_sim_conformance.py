"""The simulated reader against LLRP 1.0.1, checked over TCP with sllurp's independent codec."""

from __future__ import annotations

import struct
from typing import Any

from sllurp.llrp_proto import LLRPROSpec

from firmware_sim.llrp.reader import LLRPReaderSim
from tests.rfid.conftest import SllurpPeer, probe_port


def rospec(
    rospec_id: int = 1,
    *,
    start: str = "Immediate",
    report_n: int = 0,
    trigger: str = "Upon_N_Tags_Or_End_Of_AISpec",
    every_n_tags: int | None = None,
    selector: dict[str, bool] | None = None,
    antennas: tuple[int, ...] = (1, 2, 3, 4),
    session: int = 2,
    duration_s: float | None = None,
    impinj_search_mode: int | None = None,
) -> dict[str, Any]:
    spec = LLRPROSpec(
        None,
        rospec_id,
        antennas=antennas,
        session=session,
        impinj_search_mode=impinj_search_mode,
        report_every_n_tags=every_n_tags,
        duration_sec=duration_s,
        tag_content_selector=selector
        or {
            "EnableAntennaID": True,
            "EnablePeakRSSI": True,
            "EnableFirstSeenTimestamp": True,
            "EnableTagSeenCount": True,
        },
    )
    spec["ROBoundarySpec"]["ROSpecStartTrigger"]["ROSpecStartTriggerType"] = start
    spec["ROReportSpec"]["ROReportTrigger"] = trigger
    spec["ROReportSpec"]["N"] = report_n
    return {"ADD_ROSPEC": {"ROSpecID": rospec_id, "ROSpec": spec}}


def status(body: dict[str, Any]) -> str:
    return str(body["LLRPStatus"]["StatusCode"])


async def test_accept_sends_a_successful_connection_attempt_event(sim: LLRPReaderSim) -> None:
    peer = await SllurpPeer.connect(sim.port)
    try:
        msg = await peer.recv()
        event = msg.msgdict["READER_EVENT_NOTIFICATION"]["ReaderEventNotificationData"]
        assert event["ConnectionAttemptEvent"]["Status"] == "Success"
        assert event["UTCTimestamp"]["Microseconds"] > 1_700_000_000_000_000
    finally:
        await peer.close()


async def test_a_second_client_is_refused_and_the_first_is_told(
    sim: LLRPReaderSim, peer: SllurpPeer
) -> None:
    second = await SllurpPeer.connect(sim.port)
    try:
        refusal = await second.recv()
        event = refusal.msgdict["READER_EVENT_NOTIFICATION"]["ReaderEventNotificationData"]
        assert (
            event["ConnectionAttemptEvent"]["Status"]
            == "Failed (a Client initiated connection already exists)"
        )
        assert await second.closed_by_peer()
    finally:
        await second.close()
    notice = await peer.recv_named("READER_EVENT_NOTIFICATION")
    assert (
        (
            notice.msgdict["READER_EVENT_NOTIFICATION"]["ReaderEventNotificationData"][
                "ConnectionAttemptEvent"
            ]["Status"]
        )
        == "Another connection attempted"
    )
    # and the first client still works
    assert status(await peer.request({"GET_READER_CONFIG": {"RequestedData": 0}})) == "Success"


async def test_a_client_right_after_a_port_probe_is_accepted(sim: LLRPReaderSim) -> None:
    """A reader accepts a new client as soon as the previous connection is gone: a port probe that
    has already closed is not "a client initiated connection" that still exists."""
    for _ in range(3):
        probe_port(sim.port)
        peer = await SllurpPeer.connect(sim.port)
        try:
            hello = await peer.recv()
            event = hello.msgdict["READER_EVENT_NOTIFICATION"]["ReaderEventNotificationData"]
            assert event["ConnectionAttemptEvent"]["Status"] == "Success"
            assert status(await peer.request({"GET_READER_CONFIG": {"RequestedData": 0}})) == (
                "Success"
            )
        finally:
            await peer.close()
        await sim.wait_until(lambda s: not s.connected)
    assert sim.stats.refused == 0 and sim.stats.accepted == 6  # three probes, three clients


async def test_capabilities_carry_an_impinj_like_power_and_mode_table(peer: SllurpPeer) -> None:
    caps = await peer.request({"GET_READER_CAPABILITIES": {"RequestedData": 0}})
    assert status(caps) == "Success"
    general = caps["GeneralDeviceCapabilities"]
    assert general["MaxNumberOfAntennaSupported"] == 4
    assert general["DeviceManufacturerName"] == 25882
    band = caps["RegulatoryCapabilities"]["UHFBandCapabilities"]
    powers = [e["TransmitPowerValue"] for e in band["TransmitPowerLevelTableEntry"]]
    assert powers[0] == 1000 and powers[-1] == 3000 and len(powers) == 81
    modes = [m["ModeIdentifier"] for m in band["UHFC1G2RFModeTable"]["UHFC1G2RFModeTableEntry"]]
    assert modes == [0, 1, 2, 3, 4, 1000, 1002, 1003, 1004, 1005]
    assert "C1G2LLRPCapabilities" in caps and "LLRPCapabilities" in caps


async def test_reader_config_reports_the_keepalive_that_was_set(peer: SllurpPeer) -> None:
    before = await peer.request({"GET_READER_CONFIG": {"RequestedData": 0}})
    assert before["KeepaliveSpec"]["KeepaliveTriggerType"] == "Null"
    assert len(before["AntennaProperties"]) == 4
    reply = await peer.request(
        {
            "SET_READER_CONFIG": {
                "ResetToFactoryDefaults": False,
                "KeepaliveSpec": {"KeepaliveTriggerType": 1, "TimeInterval": 60000},
            }
        }
    )
    assert status(reply) == "Success"
    after = await peer.request({"GET_READER_CONFIG": {"RequestedData": 0}})
    assert after["KeepaliveSpec"]["TimeInterval"] == 60000


async def test_keepalives_arrive_and_a_client_that_stops_acking_is_dropped(
    sim: LLRPReaderSim, peer: SllurpPeer
) -> None:
    await peer.request(
        {
            "SET_READER_CONFIG": {
                "ResetToFactoryDefaults": False,
                "KeepaliveSpec": {"KeepaliveTriggerType": 1, "TimeInterval": 50},
            }
        }
    )
    keepalive = await peer.recv_named("KEEPALIVE")
    peer.send({"KEEPALIVE_ACK": {}})
    assert keepalive.msgdict["KEEPALIVE"]["ID"] > 0
    await sim.wait_until(lambda s: s.stats.keepalive_acks >= 1)
    # now stop acking: after `keepalive_misses` unanswered keepalives the reader says goodbye
    close = await peer.recv_named("READER_EVENT_NOTIFICATION")
    assert (
        "ConnectionCloseEvent"
        in close.msgdict["READER_EVENT_NOTIFICATION"]["ReaderEventNotificationData"]
    )
    assert await peer.closed_by_peer()
    assert sim.stats.keepalive_drops == 1


async def test_rospec_state_machine_disabled_inactive_active(
    sim: LLRPReaderSim, peer: SllurpPeer
) -> None:
    assert status(await peer.request(rospec(7, start="Null"))) == "Success"
    # START needs Inactive; a freshly added ROSpec is Disabled (§10.2.1)
    assert status(await peer.request({"START_ROSPEC": {"ROSpecID": 7}})) == "A_Invalid"
    assert status(await peer.request({"ENABLE_ROSPEC": {"ROSpecID": 7}})) == "Success"
    assert sim.rospecs[7].state == 1  # Null start trigger: enabled but not running
    assert status(await peer.request({"START_ROSPEC": {"ROSpecID": 7}})) == "Success"
    assert sim.rospecs[7].state == 2
    await sim.wait_until(lambda s: s.stats.reads > 20)
    assert status(await peer.request({"STOP_ROSPEC": {"ROSpecID": 7}})) == "Success"
    report = await peer.recv_named("RO_ACCESS_REPORT")  # end of ROSpec flushes what was buffered
    assert report.msgdict["RO_ACCESS_REPORT"]["TagReportData"]
    await sim.wait_until(lambda s: s.rospecs[7].state == 1)
    assert status(await peer.request({"STOP_ROSPEC": {"ROSpecID": 7}})) == "A_Invalid"
    assert status(await peer.request({"DISABLE_ROSPEC": {"ROSpecID": 7}})) == "Success"
    assert sim.rospecs[7].state == 0


async def test_rospec_id_zero_means_all_and_unknown_ids_are_refused(
    sim: LLRPReaderSim, peer: SllurpPeer
) -> None:
    for n in (1, 2):
        assert status(await peer.request(rospec(n, start="Null"))) == "Success"
    assert status(await peer.request(rospec(1))) == "A_Invalid"  # duplicate id
    assert status(await peer.request({"ENABLE_ROSPEC": {"ROSpecID": 0}})) == "Success"
    assert {s.state for s in sim.rospecs.values()} == {1}
    assert status(await peer.request({"DELETE_ROSPEC": {"ROSpecID": 9}})) == "A_Invalid"
    assert status(await peer.request({"DELETE_ROSPEC": {"ROSpecID": 0}})) == "Success"
    assert sim.rospecs == {}


async def test_get_rospecs_returns_the_spec_with_its_current_state(peer: SllurpPeer) -> None:
    await peer.request(rospec(3, start="Null"))
    await peer.request({"ENABLE_ROSPEC": {"ROSpecID": 3}})
    peer.send({"GET_ROSPECS": {}}) if False else None  # sllurp cannot encode GET_ROSPECS: send raw
    peer.writer.write(struct.pack("!HII", (1 << 10) | 26, 10, 555))
    raw = await peer.recv_raw()
    word, _length, msg_id = struct.unpack_from("!HII", raw)
    assert word & 0x3FF == 36 and msg_id == 555
    # LLRPStatus(287) first, then the ROSpec(177): id 3, priority 0, CurrentState 1 (Inactive)
    status_len = struct.unpack_from("!H", raw, 12)[0]
    ptype, _plen, rospec_id, _prio, state = struct.unpack_from("!HHIBB", raw, 10 + status_len)
    assert (ptype & 0x3FF, rospec_id, state) == (177, 3, 1)


async def test_report_every_n_tags_sends_n_tag_reports_per_message(
    sim: LLRPReaderSim, peer: SllurpPeer
) -> None:
    await peer.request(rospec(1, trigger="Upon_N_Tags_Or_End_Of_ROSpec", report_n=5))
    await peer.request({"ENABLE_ROSPEC": {"ROSpecID": 1}})
    for _ in range(3):
        report = await peer.recv_named("RO_ACCESS_REPORT")
        assert len(report.msgdict["RO_ACCESS_REPORT"]["TagReportData"]) == 5


async def test_tag_report_content_selector_is_honoured(
    sim: LLRPReaderSim, peer: SllurpPeer
) -> None:
    await peer.request(
        rospec(
            1,
            every_n_tags=1,
            selector={
                "EnableAntennaID": False,
                "EnablePeakRSSI": True,
                "EnableLastSeenTimestamp": False,
                "EnableTagSeenCount": False,
                "EnableROSpecID": True,
            },
        )
    )
    await peer.request({"ENABLE_ROSPEC": {"ROSpecID": 1}})
    tag = (await peer.recv_named("RO_ACCESS_REPORT")).msgdict["RO_ACCESS_REPORT"]["TagReportData"][
        0
    ]
    assert set(tag) == {"EPC-96", "EPC", "PeakRSSI", "ROSpecID"}
    assert tag["ROSpecID"] == 1 and -90 < tag["PeakRSSI"] < -20


async def test_reported_epcs_are_the_worlds_sgtins_on_the_right_antennas(
    sim: LLRPReaderSim, peer: SllurpPeer
) -> None:
    await peer.request(rospec(1, trigger="Upon_N_Tags_Or_End_Of_ROSpec", report_n=50))
    await peer.request({"ENABLE_ROSPEC": {"ROSpecID": 1}})
    tags = (await peer.recv_named("RO_ACCESS_REPORT")).msgdict["RO_ACCESS_REPORT"]["TagReportData"]
    present = {epc.hex().encode(): t for epc, t in sim.present().items()}
    for tag in tags:
        truth = present[tag["EPC-96"]]
        assert tag["AntennaID"] in {s.antenna for s in truth.sightings}
        assert truth.gtin in sim.world.products


async def test_session_2_single_target_reads_each_tag_once(
    sim: LLRPReaderSim, peer: SllurpPeer
) -> None:
    await peer.request(rospec(1, every_n_tags=1, session=2))
    await peer.request({"ENABLE_ROSPEC": {"ROSpecID": 1}})
    await sim.wait_until(lambda s: len(s.stats.unique_epcs_read) >= 0.97 * len(s.present()))
    assert sim.stats.reads == len(sim.stats.unique_epcs_read)


async def test_session_0_keeps_rereading_tags(sim: LLRPReaderSim, peer: SllurpPeer) -> None:
    await peer.request(rospec(1, every_n_tags=1, session=0))
    await peer.request({"ENABLE_ROSPEC": {"ROSpecID": 1}})
    await sim.wait_until(lambda s: s.stats.reads >= 2 * len(s.present()), within=10)
    assert len(sim.stats.unique_epcs_read) < sim.stats.reads


async def test_rospec_duration_stop_trigger_ends_with_a_report(
    sim: LLRPReaderSim, peer: SllurpPeer
) -> None:
    await peer.request(rospec(1, duration_s=0.2))
    await peer.request({"ENABLE_ROSPEC": {"ROSpecID": 1}})
    report = await peer.recv_named("RO_ACCESS_REPORT")
    assert report.msgdict["RO_ACCESS_REPORT"]["TagReportData"]
    await sim.wait_until(lambda s: s.rospecs[1].state == 1)


async def test_unsupported_messages_get_an_error_message(peer: SllurpPeer) -> None:
    peer.writer.write(
        struct.pack("!HII", (1 << 10) | 46, 10, 77)
    )  # GET_SUPPORTED_VERSION (LLRP 1.1)
    err = await peer.recv_named("ERROR_MESSAGE")
    assert err.msgdict["ERROR_MESSAGE"]["ID"] == 77
    assert err.msgdict["ERROR_MESSAGE"]["LLRPStatus"]["StatusCode"] == "UnsupportedMessage"
    peer.writer.write(struct.pack("!HII", (2 << 10) | 1, 11, 78) + b"\x00")  # a version-2 header
    err = await peer.recv_named("ERROR_MESSAGE")
    assert err.msgdict["ERROR_MESSAGE"]["LLRPStatus"]["StatusCode"] == "UnsupportedVersion"


async def test_malformed_rospec_is_refused_with_a_status_not_a_crash(peer: SllurpPeer) -> None:
    bad_param = struct.pack("!HHIBB", 177, 200, 1, 0, 0)  # ROSpec TLV claiming 200 bytes it lacks
    peer.writer.write(struct.pack("!HII", (1 << 10) | 20, 10 + len(bad_param), 90) + bad_param)
    reply = await peer.recv_named("ADD_ROSPEC_RESPONSE")
    assert reply.msgdict["ADD_ROSPEC_RESPONSE"]["LLRPStatus"]["StatusCode"] == "ParameterError"
    assert status(await peer.request({"GET_READER_CONFIG": {"RequestedData": 0}})) == "Success"


async def test_close_connection_is_answered_then_closed(
    sim: LLRPReaderSim, peer: SllurpPeer
) -> None:
    reply = await peer.request({"CLOSE_CONNECTION": {}})
    assert status(reply) == "Success"
    assert await peer.closed_by_peer()
    await sim.wait_until(lambda s: not s.connected)


# --- a reader that is not an Impinj (`--vendor generic`) ---


async def test_a_generic_reader_names_another_maker_and_state_aware_singulation(
    generic: LLRPReaderSim,
) -> None:
    peer = await SllurpPeer.connect(generic.port)
    try:
        assert (await peer.recv()).isSuccess()
        caps = await peer.request({"GET_READER_CAPABILITIES": {"RequestedData": 0}})
        general = caps["GeneralDeviceCapabilities"]
        # RFC 5612: 32473 is the IANA enterprise number kept for examples and documentation
        assert general["DeviceManufacturerName"] == 32473
        assert caps["LLRPCapabilities"]["CanDoTagInventoryStateAwareSingulation"] is True
        band = caps["RegulatoryCapabilities"]["UHFBandCapabilities"]
        powers = [e["TransmitPowerValue"] for e in band["TransmitPowerLevelTableEntry"]]
        assert powers[0] == 1000 and powers[-1] == 3150 and len(powers) == 44  # 0.5 dB steps
    finally:
        await peer.close()


async def test_a_generic_reader_answers_every_custom_message_with_an_error_message(
    generic: LLRPReaderSim,
) -> None:
    """LLRP 1.0.1 §8.1: a reader returns ERROR_MESSAGE for a CUSTOM_MESSAGE it does not support,
    Impinj's IMPINJ_ENABLE_EXTENSIONS included."""
    peer = await SllurpPeer.connect(generic.port)
    try:
        assert (await peer.recv()).isSuccess()
        msg_id = peer.send({"IMPINJ_ENABLE_EXTENSIONS": {}})
        err = (await peer.recv_named("ERROR_MESSAGE")).msgdict["ERROR_MESSAGE"]
        assert (err["ID"], err["LLRPStatus"]["StatusCode"]) == (msg_id, "UnsupportedMessage")
        # another vendor's custom message (PEN 12345, subtype 7), raw
        body = struct.pack("!IB", 12345, 7) + b"\x01\x02"
        peer.writer.write(struct.pack("!HII", (1 << 10) | 1023, 10 + len(body), 4242) + body)
        err = (await peer.recv_named("ERROR_MESSAGE")).msgdict["ERROR_MESSAGE"]
        assert (err["ID"], err["LLRPStatus"]["StatusCode"]) == (4242, "UnsupportedMessage")
        assert generic.stats.errors_sent == 2
        # the connection carries on
        assert status(await peer.request({"GET_READER_CONFIG": {"RequestedData": 0}})) == "Success"
    finally:
        await peer.close()


async def test_a_generic_reader_refuses_a_rospec_carrying_impinj_parameters(
    generic: LLRPReaderSim,
) -> None:
    """LLRP 1.0.1 §8.2: a reader accepts messages with custom parameters but returns an error
    when it does not support them; §14: a message in error is not executed at all."""
    peer = await SllurpPeer.connect(generic.port)
    try:
        assert (await peer.recv()).isSuccess()
        reply = await peer.request(rospec(1, impinj_search_mode=2))
        assert status(reply) == "UnsupportedParameter"
        assert b"25882/23" in reply["LLRPStatus"]["ErrorDescription"]  # ImpinjInventorySearchMode
        assert generic.rospecs == {}
        assert status(await peer.request(rospec(1))) == "Success"
    finally:
        await peer.close()


async def test_an_impinj_reader_enables_its_extensions_and_takes_its_search_mode(
    sim: LLRPReaderSim, peer: SllurpPeer
) -> None:
    reply = await peer.request({"IMPINJ_ENABLE_EXTENSIONS": {}})
    assert status(reply) == "Success"
    assert status(await peer.request(rospec(1, impinj_search_mode=2))) == "Success"
