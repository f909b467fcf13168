"""The `settings` command (cloud → gateway, cmd/{gw}/settings) and the status's settings_version:
encode/decode round trips, golden JSON, what is refused, and compatibility both ways (a status
without the field decodes as before; a gateway that never had settings says 0)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from shared import contract
from shared.contract import ContractError, GatewayState, GatewayStatus, ShelfRule, ShelfSettings

KIBBLE = "00950123456782"


def test_settings_round_trip_and_golden_json() -> None:
    settings = ShelfSettings(7, bins={"A1-1": ShelfRule("Royal Canin 2 kg", 3), "A1-2": ShelfRule(refill_at=0)},
                             products={KIBBLE: ShelfRule(product="Kibble")})
    raw = contract.encode(settings)
    assert json.loads(raw) == {
        "v": 1, "command": "settings", "version": 7,
        "bins": {"A1-1": {"product": "Royal Canin 2 kg", "refill_at": 3}, "A1-2": {"refill_at": 0}},
        "products": {KIBBLE: {"product": "Kibble"}}}
    assert contract.decode_settings(raw) == settings
    assert contract.decode_settings(b'{"v":1,"command":"settings","version":1}') == ShelfSettings(1)
    assert contract.command_topic("sh-1", "gw-1", "settings") == "shelfsync/v1/store/sh-1/cmd/gw-1/settings"


@pytest.mark.parametrize(("payload", "field"), [
    ({"command": "settings", "version": 0}, "version"),
    ({"command": "settings", "version": True}, "version"),
    ({"command": "resend", "version": 1}, "command"),
    ({"command": "settings", "version": 1, "bins": []}, "bins"),
    ({"command": "settings", "version": 1, "bins": {"A1-1": {}}}, "bins.A1-1"),
    ({"command": "settings", "version": 1, "bins": {"A1-1": {"refill_at": -1}}}, "bins.A1-1.refill_at"),
    ({"command": "settings", "version": 1, "bins": {"A1-1": {"refill_at": 2.5}}}, "bins.A1-1.refill_at"),
    ({"command": "settings", "version": 1, "bins": {"A1-1": {"product": "a\nb"}}}, "bins.A1-1.product"),
    ({"command": "settings", "version": 1, "bins": {"A1-1": {"product": "x" * 129}}}, "bins.A1-1.product"),
    ({"command": "settings", "version": 1, "bins": {"A1-1": {"refill_at": 1, "colour": "red"}}},
     "bins.A1-1.colour"),
    ({"command": "settings", "version": 1, "products": {"12345678901234": {"refill_at": 1}}}, "products"),
])
def test_a_bad_settings_command_is_refused_naming_the_field(payload: dict[str, object], field: str) -> None:
    with pytest.raises(ContractError) as e:
        contract.decode_settings(json.dumps({"v": 1, **payload}))
    assert e.value.field == field


def test_status_carries_the_settings_version_and_an_older_status_still_decodes() -> None:
    at = datetime(2026, 12, 3, 9, tzinfo=UTC)
    status = GatewayStatus("sh-1", "gw-1", GatewayState.ONLINE, at=at, settings_version=4)
    assert json.loads(contract.encode(status))["settings_version"] == 4
    assert contract.decode_status(contract.encode(status)).settings_version == 4
    old = b'{"v":1,"store":"sh-1","gateway":"gw-1","state":"online"}'
    assert contract.decode_status(old).settings_version is None
    assert "settings_version" not in json.loads(contract.encode(contract.decode_status(old)))
    with pytest.raises(ContractError) as e:
        contract.decode_status(b'{"v":1,"store":"sh-1","gateway":"gw-1","state":"online","settings_version":-1}')
    assert e.value.field == "settings_version"
