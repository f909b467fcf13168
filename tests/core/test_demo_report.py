"""The demo's account of what the sensors caught (shelfsync/demo_report.py): each theft is matched
to the shrink the reconciler booked for it — the door's read of one of its EPCs first, then the
nearest shrink of its SKU in time — retracted shrink does not count, and shrink no theft explains
is a false flag."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from shelfsync import demo_report

OPENED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SKU, OTHER = "06923450000175", "06923450000168"


def _at(minutes: float) -> str:
    return (OPENED + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def _move(id: str, kind: str, qty: int, minutes: float, evidence: dict[str, Any], sku: str = SKU,
          source: str = "fusion", zone: str = "floor", from_zone: str | None = None) -> dict[str, Any]:
    # as the ledger keeps them: a naive UTC time, the evidence as JSON text
    return {"id": id, "sku": sku, "kind": kind, "qty": qty, "zone": zone, "from_zone": from_zone,
            "occurred_at": (OPENED + timedelta(minutes=minutes)).replace(tzinfo=None).isoformat(sep=" "),
            "source": source, "bin": evidence.get("bin"), "evidence": json.dumps(evidence)}


def _theft(minutes: float, qty: int, epcs: list[str], sku: str = SKU) -> dict[str, Any]:
    return {"at": _at(minutes), "picked_at": _at(minutes - 8), "bin": "A2-4", "sku": sku, "qty": qty,
            "epcs": epcs}


def test_a_theft_is_caught_by_its_door_reads_before_a_nearer_window_shrink() -> None:
    moves = demo_report.booked([
        # the window's shrink of another hand of the SKU, nearer the theft in time
        _move("w1", "shrink", -1, 52, {"bin": "A2-4", "pick_at": _at(52), "qty": 1, "window_s": 1800}),
        _move("d1", "shrink", -1, 61, {"exit_epc": "3035AA01", "exit_at": _at(61), "bin": "A2-4"}),
        _move("d2", "shrink", -1, 62, {"exit_epc": "3035aa02", "exit_at": _at(62)}),
    ])
    got = demo_report.thefts([_theft(60, 2, ["3035aa01", "3035AA02"])], moves, OPENED)
    (theft,) = got["thefts"]
    assert theft["caught"] == 2 and theft["clock"] == "1:00"
    assert theft["evidence"] == ["EPC 3035AA01 read leaving by the door at 1:01, picked from A2-4",
                                 "EPC 3035aa02 read leaving by the door at 1:02"]
    assert (got["units"], got["caught"], got["missed"], got["false_units"]) == (2, 2, 0, 1)
    assert got["false"][0]["evidence"] == "scale A2-4: 1 picked at 0:52, no sale within 30 min"


def test_retracted_shrink_catches_nothing_and_a_theft_far_from_any_shrink_is_missed() -> None:
    moves = demo_report.booked([
        _move("w1", "shrink", -2, 10, {"bin": "A2-4", "pick_at": _at(10), "qty": 2, "window_s": 1500}),
        _move("r1", "adjust", 2, 10, {"retracts": "w1", "pos": "T-1", "qty": 2}),  # the late sale
        _move("w2", "shrink", -1, 200, {"bin": "A2-4", "pick_at": _at(200), "qty": 1}),  # hours later
        _move("w3", "shrink", -1, 14, {"bin": "B1-1", "pick_at": _at(14), "qty": 1}, sku=OTHER),
    ])
    got = demo_report.thefts([_theft(20, 1, [])], moves, OPENED)
    assert got["thefts"][0]["caught"] == 0 and got["thefts"][0]["evidence"] == []
    assert (got["caught"], got["missed"]) == (0, 1)
    assert sorted((f["sku"], f["qty"]) for f in got["false"]) == [(OTHER, 1), (SKU, 1)]


def test_refills_are_the_scales_moves_from_the_backroom_and_misplacements_the_shoppers() -> None:
    moves = demo_report.booked([
        _move("m1", "move", 12, 30, {"bin": "A2-4", "delta": 12, "count": 14}, source="weight",
              from_zone="backroom"),
        _move("m2", "move", 6, 31, {"ref": "transfer"}, source="pos", from_zone="backroom"),
        _move("m3", "move", 3, 40, {"bins": {"A2-4": 17}}, source="weight", from_zone="backroom"),
    ])
    made = [{"at": _at(29), "bin": "A2-4", "sku": SKU, "qty": 12}, {"at": _at(39), "bin": "A2-4", "sku": SKU, "qty": 3}]
    assert demo_report.refills(made, moves) == {"made": 2, "units": 15, "booked": 2, "booked_units": 15}
    misplaced = [{"at": _at(5), "bin": "B1-1", "sku": SKU, "qty": 2, "home": "A2-4", "by": "shopper"}]
    assert demo_report.misplacements(misplaced, {"misplaced": 1, "refill": 4}) == {
        "made": 1, "units": 2, "alerts": 1}


def test_the_table_names_products_and_says_missed() -> None:
    caught = demo_report.thefts([_theft(60, 1, [])], [], OPENED)
    store = {"store": "sh-0001", "name": "Jing'an", "transactions": 10, "picks": 2, "deltas": 30,
             "ledger_units": 100, "truth_units": 100, "mismatches": [], "caught": caught,
             "misplacements": {"made": 0, "units": 0, "alerts": 0},
             "refills": {"made": 1, "units": 5, "booked": 1, "booked_units": 5},
             "alerts": {"raised": {"refill": 2}, "messages": 3}}
    table = demo_report.shop_table(store, {SKU: "Kong Classic Chew Toy M"})
    assert table[0].startswith("sh-0001 (Jing'an): 10 till transactions")
    assert "  book vs truth  100 vs 100 units: equal" in table
    assert "  thefts caught  0 of 1 units stolen (1 missed); 0 units flagged that nobody stole" in table
    assert "    theft at 1:00: 1 x Kong Classic Chew Toy M from A2-4: MISSED" in table
    assert "  alerts sent    3 messages to staff; raised: 2 refill" in table
