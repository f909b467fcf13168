"""The gateway's staff alerts under the console's shelf settings (pure service over its real
SQLite alert book): a console value overrides the TOML's (a bin's before a product's before the
TOML), applies at once to the counts the shelf last showed, survives a restart of the service, and
an older or repeated version changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from edge.alerts.gateway import GatewayAlerts
from edge.fusion.domain import BinLevel, WeightEvent
from shared import contract
from shared.alerting.config import parse_alerts_config
from shared.alerting.service import AlertService
from shared.alerting.store import AlertStore
from shared.contract import ShelfRule, ShelfSettings

KIBBLE = "00950123456782"
TREATS = "00950123456799"
AT = datetime(2026, 12, 3, 9, tzinfo=UTC)


def service(tmp_path: Path) -> AlertService:
    cfg = parse_alerts_config({"db": str(tmp_path / "alerts.db"),
                               "bins": {"A1-1": {"product": "Kibble (TOML)", "refill_at": 1}}})
    return GatewayAlerts(cfg, AlertStore(cfg.db), clock=lambda: AT)


def level(bin_id: str, count: int, sku: str = KIBBLE) -> BinLevel:
    return BinLevel(AT, bin_id, count, sku=sku, grams=400.0 * count)


def titles(svc: AlertService) -> dict[str, str]:
    return {a.key: a.title_en for a in svc.book.open_alerts()}


def test_a_console_threshold_overrides_the_toml_and_applies_to_the_count_on_the_shelf(tmp_path: Path) -> None:
    svc = service(tmp_path)
    assert svc.settings_version == 0
    svc.observe(level("A1-1", 3))
    assert titles(svc) == {}  # the TOML says 1: three on the shelf is fine
    assert svc.apply_settings(ShelfSettings(1, bins={"A1-1": ShelfRule(refill_at=3)}))
    assert titles(svc) == {"refill:A1-1": "Refill A1-1: Kibble (TOML) — 3 left on shelf, backroom count unknown"}
    assert svc.settings_version == 1
    assert svc.refill_at_of("A1-1", KIBBLE) == 3
    svc.store.close()


def test_a_bin_setting_beats_a_product_setting_which_beats_the_toml_and_a_product_reaches_any_bin(
        tmp_path: Path) -> None:
    svc = service(tmp_path)
    svc.apply_settings(ShelfSettings(1, bins={"A1-1": ShelfRule(product="Kibble 2 kg")},
                                     products={KIBBLE: ShelfRule("Kibble by product", 2),
                                               TREATS: ShelfRule("Treats", 4)}))
    assert svc.refill_at_of("A1-1", KIBBLE) == 2  # the bin names the product, the product its threshold
    assert svc.refill_at_of("B2-1", TREATS) == 4  # a bin the TOML does not know, by its product
    assert svc.refill_at_of("B2-2", "00950123456805") is None
    svc.observe(WeightEvent("A1-1", KIBBLE, 800.0, -400.0, 2, -1, 0.0, True, AT))
    svc.observe(WeightEvent("B2-1", TREATS, 400.0, -400.0, 4, -1, 0.0, True, AT))
    assert titles(svc) == {
        "refill:A1-1": "Refill A1-1: Kibble 2 kg — 2 left on shelf, backroom count unknown",
        "refill:B2-1": "Refill B2-1: Treats — 4 left on shelf, backroom count unknown"}
    svc.apply_settings(ShelfSettings(2))  # every console setting removed: back to the TOML's
    # B2-1 has no rule left; A1-1's 2 is within the TOML's 1 plus the hysteresis margin: kept open
    assert [a.key for a in svc.book.open_alerts()] == ["refill:A1-1"]
    svc.store.close()


def test_settings_survive_a_restart_and_an_older_or_repeated_version_is_ignored(tmp_path: Path) -> None:
    svc = service(tmp_path)
    assert svc.apply_settings(ShelfSettings(5, bins={"A1-1": ShelfRule(refill_at=4)}))
    svc.store.close()
    again = service(tmp_path)
    assert again.settings_version == 5
    assert again.refill_at_of("A1-1", KIBBLE) == 4
    assert not again.apply_settings(ShelfSettings(4, bins={"A1-1": ShelfRule(refill_at=9)}))
    assert not again.apply_settings(ShelfSettings(5, bins={"A1-1": ShelfRule(refill_at=9)}))
    assert again.refill_at_of("A1-1", KIBBLE) == 4
    again.store.close()


async def test_the_command_handler_applies_a_good_payload_and_logs_a_bad_one(tmp_path: Path) -> None:
    svc = service(tmp_path)
    await svc.on_settings_command(b"{not json")
    await svc.on_settings_command(b'{"v":1,"command":"settings","version":1,"bins":{"A1-1":{"refill_at":-2}}}')
    assert svc.settings_version == 0
    await svc.on_settings_command(contract.encode(ShelfSettings(3, bins={"A1-1": ShelfRule(refill_at=2)})))
    assert (svc.settings_version, svc.refill_at_of("A1-1", KIBBLE)) == (3, 2)
    svc.store.close()
