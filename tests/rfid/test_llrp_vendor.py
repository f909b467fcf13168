"""Who made the reader decides how the driver asks for its targeting: the plan per make, the
reader's identity from real capability frames of both simulated makes, and the state-aware
singulation written into an ADD_ROSPEC (golden bytes from LLRP 1.0.1 §16, and pyllrp, an
independent LLRP implementation, reading back what sllurp encoded and the driver amended)."""

from __future__ import annotations

from typing import Any

import pytest
from sllurp.llrp import LLRPMessage
from sllurp.llrp_proto import LLRPROSpec

from edge.rfid.vendor import (
    IMPINJ_PEN,
    InventoryPlan,
    InventoryState,
    ReaderIdentity,
    plan_inventory,
    with_singulation_target,
)
from firmware_sim.llrp import frames as fr

IMPINJ = ReaderIdentity(IMPINJ_PEN, 2001002, "5.14", state_aware_singulation=False)
ZEBRA_LIKE = ReaderIdentity(10642, 7500, "3.2", state_aware_singulation=True)
PLAIN = ReaderIdentity(17360, 1, "1.0", state_aware_singulation=False)


@pytest.mark.parametrize(
    ("search_mode", "reader", "plan"),
    [
        pytest.param(None, IMPINJ, InventoryPlan(), id="reader's choice on an Impinj"),
        pytest.param(5, IMPINJ, InventoryPlan(impinj_search_mode=5), id="Impinj: search mode"),
        pytest.param(1, ZEBRA_LIKE, InventoryPlan(target=InventoryState.A), id="single: target A"),
        pytest.param(3, ZEBRA_LIKE, InventoryPlan(target=InventoryState.A), id="suppression: A"),
        pytest.param(2, ZEBRA_LIKE, InventoryPlan(), id="dual: the reader alternates"),
        pytest.param(6, ZEBRA_LIKE, InventoryPlan(), id="dual B-A: the reader alternates"),
        pytest.param(
            5,
            ZEBRA_LIKE,
            InventoryPlan(target=InventoryState.A, session=1),
            id="reset: target A in session 1, whose flags reset themselves",
        ),
        pytest.param(1, PLAIN, InventoryPlan(), id="no state-aware singulation: nothing to ask"),
    ],
)
def test_the_plan_follows_the_maker(
    search_mode: int | None, reader: ReaderIdentity, plan: InventoryPlan
) -> None:
    assert plan_inventory(search_mode, reader) == plan
    assert not plan_inventory(search_mode, reader).impinj_extensions or reader.is_impinj


def test_an_impinj_that_refuses_its_extensions_gets_the_standard_plan() -> None:
    capable = ReaderIdentity(IMPINJ_PEN, 1, "x", state_aware_singulation=True)
    assert plan_inventory(1, capable, extensions=False) == InventoryPlan(target=InventoryState.A)


@pytest.mark.parametrize(
    ("caps", "identity"),
    [
        (fr.Capabilities(), ReaderIdentity(25882, 2001002, "5.14.0.240-shelfsync-sim", True)),
        (
            fr.generic_capabilities(),
            ReaderIdentity(32473, 7500, "3.2.1-shelfsync-sim-generic", True),
        ),
    ],
    ids=["impinj", "generic"],
)
def test_the_identity_comes_from_the_capabilities_sllurp_decodes(
    caps: fr.Capabilities, identity: ReaderIdentity
) -> None:
    frame = fr.encode_frame(fr.MsgType.GET_READER_CAPABILITIES_RESPONSE, 1, caps.encode(0))
    body = LLRPMessage(msgbytes=frame).msgdict["GET_READER_CAPABILITIES_RESPONSE"]
    assert ReaderIdentity.from_capabilities(body) == identity


# A minimal ADD_ROSPEC (LLRP 1.0.1 §16.1.x, §16.2.4, §16.3.1.2.1): ROSpec 1 with an immediate
# start, one AISpec on antenna 1, one InventoryParameterSpec, one AntennaConfiguration whose
# C1G2InventoryCommand holds a C1G2SingulationControl (session 2, population 32, transit 0).
BEFORE = bytes.fromhex(
    "0414 00000054 00000007"  # ADD_ROSPEC, 84 bytes, id 7
    "00b1 004a 00000001 00 00"  # ROSpec 74: id 1, priority 0, Disabled
    "00b2 0012 00b3 0005 01 00b6 0009 00 00000000"  # ROBoundarySpec: Immediate, Null
    "00b7 002e 0001 0001"  # AISpec 46: one antenna, 1
    "00b8 0009 00 00000000"  # AISpecStopTrigger: Null
    "00ba 001d 0001 01"  # InventoryParameterSpec 29: id 1, EPCglobal C1G2
    "00de 0016 0001"  # AntennaConfiguration 22: antenna 1
    "014a 0010 00"  # C1G2InventoryCommand 16: TagInventoryStateAware 0
    "0150 000b 80 0020 00000000"  # C1G2SingulationControl 11: S2, 32 tags, transit 0
)
AFTER = bytes.fromhex(
    "0414 00000059 00000007"  # 89 bytes, same id
    "00b1 004f 00000001 00 00"  # ROSpec 79
    "00b2 0012 00b3 0005 01 00b6 0009 00 00000000"
    "00b7 0033 0001 0001"  # AISpec 51
    "00b8 0009 00 00000000"
    "00ba 0022 0001 01"  # InventoryParameterSpec 34
    "00de 001b 0001"  # AntennaConfiguration 27
    "014a 0015 80"  # C1G2InventoryCommand 21: TagInventoryStateAware 1
    "0150 0010 80 0020 00000000"  # C1G2SingulationControl 16
    "0151 0005 40"  # C1G2TagInventoryStateAwareSingulationAction: I=A (0), S=~SL (1)
)


def test_the_target_is_written_as_llrp_1_0_1_lays_it_out() -> None:
    assert with_singulation_target(BEFORE, InventoryState.A) == AFTER
    # target B sets the I bit; asked twice, the action is replaced, never doubled
    b = with_singulation_target(AFTER, InventoryState.B)
    assert b == AFTER[:-1] + b"\xc0"


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        (BEFORE[:-1], "not one whole ADD_ROSPEC"),
        (bytes.fromhex("0401 0000000b 00000001 00"), "not one whole ADD_ROSPEC"),
        (BEFORE[:-11].replace(b"\x00\x54", b"\x00\x49", 1), "177 has impossible length 74"),
        (
            bytes.fromhex("0414 00000020 00000007 00b1 0016 00000001 0000 00b7 000c 0001 0001")
            + bytes.fromhex("00b8 0004"),
            "no C1G2InventoryCommand",
        ),
    ],
    ids=["cut short", "another message", "a parameter overruns", "nothing to carry the target"],
)
def test_what_cannot_carry_a_target_is_refused(frame: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        with_singulation_target(frame, InventoryState.A)


def test_pyllrp_reads_the_target_in_every_antenna_of_sllurps_rospec() -> None:
    pyllrp = pytest.importorskip("pyllrp.pyllrp")
    bitstring = pytest.importorskip("bitstring")
    spec = LLRPROSpec(None, 1, antennas=(1, 2, 4), session=3, tag_population=64,
                      report_every_n_tags=1)
    sent = LLRPMessage(msgdict={"ADD_ROSPEC": {"ID": 9, "ROSpec": spec}}).msgbytes
    amended = with_singulation_target(sent, InventoryState.A)

    def unpack(frame: bytes) -> Any:
        return pyllrp.UnpackMessage(bitstring.ConstBitStream(bytes=frame))

    before, after = unpack(sent), unpack(amended)
    assert after.MessageID == 9
    commands = list(_all(after, pyllrp.C1G2InventoryCommand_Parameter))
    assert len(commands) == 3 and all(c.TagInventoryStateAware for c in commands)
    for command in commands:
        [control] = command.Parameters
        assert control.TagPopulation == 64 and control.Session.uint == 3
        [action] = control.Parameters
        inventoried, selected = action.I, action.S
        assert inventoried == pyllrp.C1G2TagInventoryStateAwareI.State_A
        assert selected == pyllrp.C1G2TagInventoryStateAwareS.Not_SL
    # nothing else changed: undo the two amendments and the rest is what sllurp sent
    for command in commands:
        command.TagInventoryStateAware = False
        command.Parameters[0].Parameters = []
    assert repr(after) == repr(before)


def _all(node: Any, kind: type) -> Any:
    for p in getattr(node, "Parameters", []):
        if isinstance(p, kind):
            yield p
        yield from _all(p, kind)
