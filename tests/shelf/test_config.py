"""Parsing the [shelf] section of the store config, and the serial-line bandwidth rule."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from edge.shelf.poller import (
    ShelfConfigError,
    feasible_poll_hz,
    parse_shelf_config,
    rtu_read_seconds,
)

STORE_TOML = """
[shelf]
poll_hz = 8

[shelf.detector]
window_s = 1.5
tolerance = 0.15

[shelf.maps.acme-100]
gross = { address = 8, type = "int32", scale = 0.1 }
net = { address = 10, type = "int32", scale = 0.1 }
status = { address = 6, stable_bit = 11 }

[[shelf.bus]]
id = "front"
tcp = "10.0.0.5:502"
map = "dini-dgt4x"
connections = 2

[[shelf.bus]]
id = "rs485"
serial = "/dev/ttyUSB0"
baudrate = 9600
map = "acme-100"
poll_hz = 50

[[shelf.bin]]
id = "A1-1"
bus = "front"
device_id = 1
sku = "00950123456789"
unit_g = 85.0
tare_g = 1200.0

[[shelf.bin]]
id = "A1-2"
bus = "rs485"
device_id = 1
sku = "00950123456796"
unit_g = 400
map = "flintec-dad141"
"""


def parsed() -> dict[str, Any]:
    return tomllib.loads(STORE_TOML)["shelf"]


def test_a_store_config_parses_to_frozen_values() -> None:
    cfg = parse_shelf_config(parsed())
    front, rs485 = cfg.buses
    assert front.tcp == ("10.0.0.5", 502) and front.poll_hz == 8 and front.connections == 2
    assert rs485.serial == "/dev/ttyUSB0" and rs485.map.name == "acme-100"
    assert cfg.bin("A1-2").map.name == "flintec-dad141"  # a per-bin override
    assert cfg.bin("A1-2").tare_g == 0.0
    assert cfg.detector.window_s == 1.5 and cfg.detector.tolerance == 0.15
    with pytest.raises(AttributeError):
        cfg.bin("A1-1").unit_g = 1.0  # type: ignore[misc]


def test_a_slow_serial_bus_is_polled_within_its_bandwidth() -> None:
    cfg = parse_shelf_config(parsed())
    rs485 = cfg.bus("rs485")
    # 9600 baud, 5 registers: (8 + 15 + 7 chars) * 11 bits / 9600 + 2 ms = 36.4 ms per read.
    assert rtu_read_seconds(9600, 5) == pytest.approx(0.0364, abs=1e-4)
    assert feasible_poll_hz(rs485, cfg.bins_on("rs485")) == pytest.approx(0.9 / 0.0364, rel=1e-2)
    assert feasible_poll_hz(cfg.bus("front"), cfg.bins_on("front")) == 8


def _with(path: str, value: Any) -> dict[str, Any]:
    doc = parsed()
    table, _, key = path.partition(".")
    if table == "bus":
        doc["bus"][0][key] = value
    elif table == "bin":
        doc["bin"][0][key] = value
    else:
        doc[key] = value
    return doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (_with("bus.tcp", "10.0.0.5"), "HOST:PORT"),
        (_with("bus.map", "mettler"), "unknown map 'mettler'"),
        (_with("bus.poll_hz", 0), "poll_hz"),
        (_with("bus.serial", "/dev/ttyS0"), "exactly one of"),
        (_with("bin.device_id", 300), "1..247"),
        (_with("bin.sku", "123"), "GTIN-14"),
        (_with("bin.unit_g", 0), "unit_g must be > 0"),
        (_with("bin.unit_g", "85"), "expected"),
        (_with("bin.bus", "back"), "not a \\[\\[shelf.bus\\]\\]"),
        (_with("shelf.detector", {"window_s": -1}), "shelf.detector"),
        (_with("shelf.detector", {"speed": 1}), "shelf.detector"),
    ],
)
def test_a_malformed_shelf_section_is_a_clear_error(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ShelfConfigError, match=message):
        parse_shelf_config(doc)


def test_two_bins_on_one_device_id_are_rejected() -> None:
    doc = parsed()
    doc["bin"].append({**doc["bin"][0], "id": "A1-3"})
    with pytest.raises(ShelfConfigError, match="device_id 1 is already used on front"):
        parse_shelf_config(doc)
