"""The simulated reader with a second, independent LLRP implementation as the client: pyllrp
(MIT; generated from the LLRP 1.0.1 XML definitions, validating field values and parameter order on
every unpack). Used only as a codec here; the bytes travel over real TCP. Both makes of reader:
the Impinj and the generic one (standard LLRP only)."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest

from firmware_sim.llrp import frames as fr
from firmware_sim.llrp.reader import LLRPReaderSim, SimSettings
from tests.rfid.conftest import SllurpPeer

pyllrp = pytest.importorskip(
    "pyllrp.pyllrp", reason="pyllrp (with bitstring<5) is a test-only extra"
)
bitstring = pytest.importorskip("bitstring")
P = pyllrp


def pack(message: Any) -> bytes:
    return bytes(P.PackMessage(message).bytes)


def unpack(frame: bytes) -> Any:
    return P.UnpackMessage(bitstring.ConstBitStream(bytes=frame))


async def transact(peer: SllurpPeer, message: Any) -> Any:
    peer.writer.write(pack(message))
    while True:
        reply = unpack(await peer.recv_raw())
        if reply.MessageID == message.MessageID and type(reply).__name__.endswith(
            "_RESPONSE_Message"
        ):
            return reply


MAKERS = {"impinj": 25882, "generic": 32473}


@pytest.fixture(params=sorted(MAKERS))
async def either(request: pytest.FixtureRequest) -> AsyncIterator[LLRPReaderSim]:
    settings = SimSettings(tags=300, rate=3000, seed=3, vendor=request.param)
    async with LLRPReaderSim(settings) as reader:
        yield reader


async def test_pyllrp_client_runs_an_inventory(either: LLRPReaderSim) -> None:
    sim = either
    peer = await SllurpPeer.connect(sim.port)
    try:
        hello = unpack(await peer.recv_raw())
        event = hello.getFirstParameterByClass(P.ConnectionAttemptEvent_Parameter)
        assert event.Status == P.ConnectionAttemptStatusType.Success

        caps = await transact(
            peer,
            P.GET_READER_CAPABILITIES_Message(
                MessageID=1, RequestedData=P.GetReaderCapabilitiesRequestedData.All
            ),
        )
        assert caps.success()
        general = caps.getFirstParameterByClass(P.GeneralDeviceCapabilities_Parameter)
        assert general.MaxNumberOfAntennaSupported == 4
        assert general.DeviceManufacturerName == MAKERS[sim.settings.vendor]
        band = caps.getFirstParameterByClass(P.RegulatoryCapabilities_Parameter)
        assert band is not None

        config = await transact(
            peer,
            P.GET_READER_CONFIG_Message(
                MessageID=2, RequestedData=P.GetReaderConfigRequestedData.All
            ),
        )
        assert config.success()
        assert len(list(config.getAllParametersByClass(P.AntennaProperties_Parameter))) == 4

        assert (
            await transact(peer, P.GetBasicAddRospecMessage(MessageID=3, ROSpecID=123))
        ).success()
        assert (
            await transact(peer, P.GetEnableRospecMesssage(MessageID=4, ROSpecID=123))
        ).success()
        await sim.wait_until(lambda s: len(s.stats.unique_epcs_read) >= 50)
        assert (await transact(peer, P.STOP_ROSPEC_Message(MessageID=5, ROSpecID=123))).success()
        report = unpack(await peer.recv_raw())  # end of ROSpec: the buffered report
        tags = report.getTagData()
        assert len(tags) >= 50
        present = {epc.hex().upper() for epc in sim.present()}
        assert all(P.HexFormatToStr(t["EPC"]).zfill(24) in present for t in tags)
        assert all(1 <= t["AntennaID"] <= 4 and t["Timestamp"] > 0 for t in tags)

        assert (await transact(peer, P.DELETE_ROSPEC_Message(MessageID=6, ROSpecID=0))).success()
        assert (await transact(peer, P.CLOSE_CONNECTION_Message(MessageID=7))).success()
        assert await peer.closed_by_peer()
    finally:
        await peer.close()


async def test_pyllrp_keepalive_and_error_message(sim: LLRPReaderSim, peer: SllurpPeer) -> None:
    reply = await transact(
        peer,
        P.SET_READER_CONFIG_Message(
            MessageID=11,
            Parameters=[
                P.KeepaliveSpec_Parameter(
                    KeepaliveTriggerType=P.KeepaliveTriggerType.Periodic, PeriodicTriggerValue=50
                )
            ],
        ),
    )
    assert reply.success()
    while True:
        msg = unpack(await peer.recv_raw())
        if isinstance(msg, P.KEEPALIVE_Message):
            break
    peer.writer.write(pack(P.KEEPALIVE_ACK_Message(MessageID=msg.MessageID)))
    await sim.wait_until(lambda s: s.stats.keepalive_acks >= 1)
    peer.writer.write(struct.pack("!HII", (1 << 10) | 999, 10, 12))  # no such message type
    while True:
        msg = unpack(await peer.recv_raw())
        if isinstance(msg, P.ERROR_MESSAGE_Message):
            break
    status = msg.getFirstParameterByClass(P.LLRPStatus_Parameter)
    assert status.StatusCode == P.StatusCode.M_UnsupportedMessage and msg.MessageID == 12


async def test_pyllrp_custom_messages_get_an_error_message_from_a_generic_reader(
    generic: LLRPReaderSim,
) -> None:
    """LLRP 1.0.1 §8.1, with pyllrp's own encoding of Impinj's message and of a bare one."""
    peer = await SllurpPeer.connect(generic.port)
    try:
        assert unpack(await peer.recv_raw()).getFirstParameterByClass(
            P.ConnectionAttemptEvent_Parameter
        ).Status == P.ConnectionAttemptStatusType.Success
        for message in (
            P.IMPINJ_ENABLE_EXTENSIONS_Message(MessageID=21),
            P.CUSTOM_MESSAGE_Message(MessageID=22, VendorIdentifier=12345, MessageSubtype=3),
        ):
            peer.writer.write(pack(message))
            while True:
                reply = unpack(await peer.recv_raw())
                if isinstance(reply, P.ERROR_MESSAGE_Message):
                    break
            status = reply.getFirstParameterByClass(P.LLRPStatus_Parameter)
            assert status.StatusCode == P.StatusCode.M_UnsupportedMessage
            assert reply.MessageID == message.MessageID
    finally:
        await peer.close()


async def test_pyllrp_state_aware_single_target_on_a_generic_reader(
    generic: LLRPReaderSim,
) -> None:
    """An independent client asks for target A in standard LLRP (§15.2.1.2.1.3.1): the generic
    reader, which otherwise alternates targets, then reads each tag once in session 2."""
    action = P.C1G2TagInventoryStateAwareSingulationAction_Parameter(
        I=bool(P.C1G2TagInventoryStateAwareI.State_A), S=bool(P.C1G2TagInventoryStateAwareS.Not_SL)
    )
    add = P.GetBasicAddRospecMessage(MessageID=3, ROSpecID=5, antennas=[1, 2, 3, 4])
    inventory = add.getFirstParameterByClass(P.InventoryParameterSpec_Parameter)
    inventory.Parameters = [
        P.AntennaConfiguration_Parameter(
            AntennaID=antenna,
            Parameters=[
                P.C1G2InventoryCommand_Parameter(
                    TagInventoryStateAware=True,
                    Parameters=[
                        P.C1G2SingulationControl_Parameter(
                            Session=2, TagPopulation=300, TagTransitTime=0, Parameters=[action]
                        )
                    ],
                )
            ],
        )
        for antenna in (1, 2, 3, 4)
    ]
    peer = await SllurpPeer.connect(generic.port)
    try:
        await peer.recv_raw()
        assert (await transact(peer, add)).success()
        [spec] = generic.rospecs.values()
        assert spec.spec.ai_specs[0].inventory[0].target == fr.InventoryState.A
        assert (await transact(peer, P.GetEnableRospecMesssage(MessageID=4, ROSpecID=5))).success()
        await generic.wait_until(
            lambda s: len(s.stats.unique_epcs_read) >= 0.97 * len(s.present()), within=10
        )
        assert generic.stats.reads == len(generic.stats.unique_epcs_read)  # each tag once
    finally:
        await peer.close()
