"""Device wiring that needs no hardware: config parsing, and sales told to a running stocktake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.delivery.outbox import Outbox
from edge.rfid.devices import DeviceConfigError, RfidConfig, Stocktakes, parse_rfid_section
from edge.rfid.driver import ReaderSettings, TagRead
from edge.rfid.stocktake import Stocktake, StocktakeConfig
from shared.contract import Kind, Source, StockDelta, Zone

SKU = "06923450000106"
T0 = datetime(2026, 11, 26, 9, tzinfo=UTC)


def test_the_rfid_section_parses_readers_and_refuses_bad_keys() -> None:
    config = parse_rfid_section({"skus": [SKU], "presence": True, "reader": [
        {"name": "door", "host": "10.0.0.5", "zones": {"1": "floor", "4": "backroom"}}]})
    assert config.presence and config.skus == (SKU,)
    [reader] = config.readers
    assert (reader.host, reader.port, reader.antennas, dict(reader.zones)) == (
        "10.0.0.5", 5084, (1, 4), {1: "floor", 4: "backroom"})
    with pytest.raises(DeviceConfigError, match="host"):
        parse_rfid_section({"reader": [{"name": "x"}]})
    with pytest.raises(DeviceConfigError, match="GTIN"):
        parse_rfid_section({"skus": ["123"]})
    with pytest.raises(DeviceConfigError, match="attic"):
        parse_rfid_section({"reader": [{"host": "h", "zones": {"1": "attic"}}]})


async def test_a_unit_read_and_then_sold_during_a_count_is_not_counted(tmp_path: Path) -> None:
    async with Outbox(tmp_path / "o.db") as box:
        stocktakes = Stocktakes(RfidConfig((ReaderSettings("door", "127.0.0.1"),)), box, lambda *a: None)
        take = Stocktake(T0, StocktakeConfig(seconds=60))
        stocktakes._live.append(take)  # as run_stocktake's on_started does
        for serial in range(3):
            take.add(TagRead("door", f"3074{serial:020X}", SKU, str(serial), 1, "floor", -50,
                             T0 + timedelta(seconds=1)))
        sale = StockDelta(id="s1", seq=0, sku=SKU, kind=Kind.SALE, qty=-1, zone=Zone.FLOOR,
                          occurred_at=T0 + timedelta(seconds=5), source=Source.POS)
        stocktakes.on_sales((sale,))
        report = take.report(T0 + timedelta(seconds=10))
    assert {(c.sku, c.zone): c.qty for c in report.counts} == {(SKU, "floor"): 2}
