"""The run's three-level emergency reaches the roles as chain alerts: one store short → its manager's
book, several → the warehouse's, the region → hq's; the next run's picture replaces the last."""

from __future__ import annotations

from pathlib import Path

from cloud import emergencies
from cloud.alerts import ChainAlerts, load_chain_alerts
from tests.orders.chain import Api
from tests.replenish.ledger_history import B, chain_with_history
from tests.support.services import free_port


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "alerts.toml"
    port = free_port()  # nobody listens: delivery is not what this test looks at
    path.write_text(f"""
dir = "books"
timezone = "Asia/Shanghai"
[stores."*"]
hq = ["json://127.0.0.1:{port}/hq"]
[stores.sh-1]
manager = ["json://127.0.0.1:{port}/manager"]
""")
    return path


def test_each_level_goes_to_its_role() -> None:
    def row(level: int, stores: list[str]) -> dict[str, object]:
        return {"sku": B, "location": "wh", "units": 5, "level": level,
                "detail": {"stores": stores, "warehouse_units": 2}}

    assert emergencies.emergency_alert(row(1, ["sh-1"]), "")[0] == "sh-1.manager"
    book, cond = emergencies.emergency_alert(row(2, ["sh-1", "sh-2"]), "Kibble")
    assert book == "wh" and cond.urgent and "Kibble" in cond.title_en
    book, cond = emergencies.emergency_alert(row(3, ["sh-1"]), "")
    assert book == "wh.hq" and cond.key == f"replenish:3:{B}:wh" and "has 2" in cond.title_en


async def test_a_runs_emergencies_open_in_the_books_and_close_when_gone(api: Api, tmp_path: Path) -> None:
    await chain_with_history(api)
    _, run = await api.post("/v1/replenishment/runs", {"wait": True})
    assert run["status"] == "done"
    chain = ChainAlerts(load_chain_alerts(_config(tmp_path)), api.maker)
    try:
        found = await emergencies.newest(api.maker)
        assert found is not None
        chain.on_emergencies(*found)
        assert [a.key for a in chain.books["wh.hq"].book.open_alerts()] == [f"replenish:3:{B}:wh"]
        chain.on_emergencies(*found)  # the same run again: still one alert
        assert len(chain.books["wh.hq"].book.open_alerts()) == 1
        chain.on_emergencies([], {})  # a newer run without the shortage
        assert chain.books["wh.hq"].book.open_alerts() == []
    finally:
        await chain.close()
