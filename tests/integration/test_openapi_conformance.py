"""Both HTTP APIs against their own OpenAPI documents, with schemathesis, over real HTTP:

- the cloud: the real `shelfsync cloud` process on SQLite (a seeded chain: stores, a channel with
  listings, stock, a gateway that has reported) and a real broker, called with an hq token;
- the gateway: the real `shelfsync gateway` process (with its staff page) and the same broker,
  called with its POS token.

Schemathesis makes valid and invalid requests from each document; for every one: no 5xx, the
status is one the document lists, the body is JSON that matches the documented schema (every 4xx
is {"error", "field"?}), and a request the schema forbids is refused. Each service must serve
exactly the document tested, and its log must hold no traceback."""

from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from cloud.api.routes import cloud_api
from cloud.db import engines, posting
from cloud.db.migrate import upgrade
from edge.alerts.staff_page import staff_app
from edge.http import STAFF_PREFIX, gateway_api
from firmware_sim import procs
from firmware_sim.world import make_gtin14
from shared.alerting.service import AlertService
from shared.contract import DeltaBatch, Kind, Source, StockDelta, Zone, gtin_check_digit
from tests.support.services import Mosquitto, mosquitto

ADMIN = "hq-token-for-conformance"
POS = "pos-token-for-conformance"
SKUS = [make_gtin14("6900000", n) for n in range(1, 4)]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          negative_data_rejection]
EXAMPLES = 10  # per operation of the cloud (~40 of them); the gateway's 7 get 25 each

# GTIN-14s with a valid check digit, so valid requests get past the format and reach the ledger.
schemathesis.openapi.format("gtin14", st.sampled_from(SKUS) | st.from_regex(r"\A\d{13}\Z").map(
    lambda body: body + str(gtin_check_digit(body))))


def _call(url: str, method: str, path: str, body: Any) -> None:
    request = urllib.request.Request(url + path, method=method, data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {ADMIN}",
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as r:
        assert r.status < 300


async def _stock(db_url: str) -> None:
    """Counts from gateway gw-1 of sh-1 and sh-2, as a stocktake would book them."""
    maker = engines.sessionmaker(engines.make_engine(db_url))
    for store in ("sh-1", "sh-2"):
        deltas = tuple(StockDelta(id=str(uuid.uuid4()), seq=i + 1, sku=sku, kind=Kind.COUNT, qty=20, zone=Zone.FLOOR,
                                  occurred_at=datetime.now(UTC), source=Source.RFID, lot=f"L{i}",
                                  expiry=date(2030, 1, 1)) for i, sku in enumerate(SKUS))
        await posting.apply_batch(maker, DeltaBatch(store, "gw-1", datetime.now(UTC), deltas))
        await posting.apply_batch(maker, DeltaBatch(store, "gw-1", datetime.now(UTC), tuple(
            replace(d, id=str(uuid.uuid4()), seq=d.seq + 10, kind=Kind.SALE, qty=-1, lot=None)
            for d in deltas)))
    await maker.kw["bind"].dispose()


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    with mosquitto(tmp_path_factory.mktemp("broker")) as b:
        yield b


@pytest.fixture(scope="module")
def cloud_url(tmp_path_factory: pytest.TempPathFactory, module_broker: Mosquitto) -> Iterator[str]:
    work = tmp_path_factory.mktemp("cloud")
    db_url = f"sqlite:///{work / 'ledger.db'}"
    upgrade(db_url)
    asyncio.run(_stock(db_url))
    proc, port = procs.cloud(work, db_url, module_broker.url, ADMIN)
    url = f"http://127.0.0.1:{port}"
    try:
        for store, lat in (("sh-1", 31.2), ("sh-2", 31.3)):
            _call(url, "PUT", f"/v1/stores/{store}", {"name": store, "lat": lat, "lon": 121.5})
        _call(url, "PUT", "/v1/channels/taobao", {"platform": "taobao", "stores": [{"store": "sh-1"},
                                                                                   {"store": "sh-2"}]})
        _call(url, "PUT", "/v1/channels/taobao/listings", {"listings": [
            {"channel_sku": f"tb-{n}", "item_id": "1", "sku": sku} for n, sku in enumerate(SKUS)]})
        with urllib.request.urlopen(url + "/openapi.json", timeout=10) as r:
            assert json.load(r) == CLOUD_DOCUMENT
        yield url
    finally:
        proc.stop()
        assert "Traceback" not in Path(proc.log).read_text(), proc.tail(40)


# The document as the cloud assembles it; the running cloud must serve exactly this one (checked in
# the fixture), so what is tested is what is published.
CLOUD_DOCUMENT = cloud_api(CollectorRegistry()).document()
cloud = schemathesis.openapi.from_dict(CLOUD_DOCUMENT)


KNOWN = {"store": "sh-1", "channel": "taobao", "gateway": "gw-1", "from": "sh-1", "to": "sh-2"}


@cloud.hook("map_case")
def _known_names(context: Any, case: Any) -> Any:
    """Every other valid request names the seeded chain's stores, channel and gateway, so it gets past
    "unknown" answers into the ledger (invalid requests are left as they are)."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or len(repr(case.body)) % 2:
        return case
    for name, value in KNOWN.items():
        if case.path_parameters and name in case.path_parameters:
            case.path_parameters[name] = value
        if isinstance(case.body, dict) and name in case.body:
            case.body[name] = value
    return case


@cloud.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_the_cloud_answers_every_request_as_its_document_says(case: Any, cloud_url: str) -> None:
    case.call_and_validate(base_url=cloud_url, headers={"Authorization": f"Bearer {ADMIN}"}, checks=CHECKS)


# --- the gateway ------------------------------------------------------------------------------

def _staff_page_document() -> dict[str, Any]:
    """The gateway's document as a gateway with [alerts] (so with its staff page) serves it."""
    from aiohttp import web

    app = web.Application()
    api = gateway_api(CollectorRegistry())
    api.install(app)
    api.mount(app, STAFF_PREFIX, staff_app(AlertService.__new__(AlertService)))
    return api.document()


GATEWAY_WITH_STAFF = _staff_page_document()
# /staff/api/events is a stream that ends when the phone goes away, not one request and answer
gateway = schemathesis.openapi.from_dict(GATEWAY_WITH_STAFF).exclude(path="/staff/api/events")


@gateway.hook("map_case")
def _till_now(context: Any, case: Any) -> Any:
    """Valid bodies with the till's time now and a GTIN it sells, so that they reach the outbox:
    random ones the clock skew and the check digit refuse (invalid ones are left as they are)."""
    meta = case.meta
    body = case.body
    if meta is None or not meta.generation.mode.is_positive or not isinstance(body, dict):
        return case
    if isinstance(body.get("lines"), list):
        body["at"] = datetime.now(UTC).isoformat()
        for i, line in enumerate(body["lines"]):
            if isinstance(line, dict):
                line["sku"] = SKUS[i % len(SKUS)]
                line.pop("lot", None)
                line.pop("expiry", None)
                if "ref" in body and i % 2 == 0:  # a staff line whose qty has its kind's sign
                    line.update(kind="receipt", qty=abs(line.get("qty") or 1) or 1, zone="backroom")
                    line.pop("from_zone", None)
    return case


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory: pytest.TempPathFactory, module_broker: Mosquitto) -> Iterator[str]:
    work = tmp_path_factory.mktemp("gateway")
    port = procs.free_port()
    config = procs.gateway_config(work, "sh-1", module_broker.url, POS, port)
    config.write_text(config.read_text() + '\n[alerts]\nstaff = ["json://127.0.0.1:9/staff"]\n')
    proc = procs.gateway(config, port, "gateway-conformance")
    url = f"http://127.0.0.1:{port}"
    try:
        with urllib.request.urlopen(url + "/openapi.json", timeout=10) as r:
            assert json.load(r) == GATEWAY_WITH_STAFF
        yield url
    finally:
        proc.stop()
        assert "Traceback" not in Path(proc.log).read_text(), proc.tail(40)


@gateway.parametrize()
@settings(max_examples=25, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=list(HealthCheck))
def test_the_gateway_answers_every_request_as_its_document_says(case: Any, gateway_url: str) -> None:
    case.call_and_validate(base_url=gateway_url, headers={"Authorization": f"Bearer {POS}"}, checks=CHECKS)
