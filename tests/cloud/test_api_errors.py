"""The cloud API's answers to bad input: always JSON {"error", "field"?}, never a 500, over real HTTP
on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.orders.chain import ADMIN, Api, gtin, serve

A = gtin(1)
AUTH = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
async def api(db_url: str) -> AsyncIterator[Api]:
    async with serve(db_url) as a:
        yield a


async def _raw(api: Api, method: str, path: str, data: bytes | None = None,
               headers: dict[str, str] | None = None) -> tuple[int, str, Any]:
    body = io.BytesIO(data) if data is not None else None  # aiohttp warns on large raw bodies
    async with api.session.request(method, api.url + path, data=body,
                                   headers=AUTH if headers is None else headers) as r:
        return r.status, r.content_type, await r.json(content_type=None)


async def test_a_movements_cursor_beyond_the_ledger_s_range_is_a_400_naming_since(api: Api) -> None:
    await api.store("sh-1")
    await api.count("sh-1", A, 3)
    for query, field in [("since=" + "9" * 25, "since"), ("since=-1", "since"), ("since=abc", "since"),
                         ("since=" + "1" * 5000, "since"), ("limit=0", "limit"), ("limit=10001", "limit")]:
        status, kind, body = await _raw(api, "GET", f"/v1/stores/sh-1/movements?{query}")
        assert (status, kind) == (400, "application/json"), (query, status, body)
        assert body["field"] == field and field in body["error"], body
    status, _, body = await _raw(api, "GET", f"/v1/stores/sh-1/movements?since={2**63 - 1}")
    assert status == 200 and body["movements"] == [], body
    status, _, body = await _raw(api, "GET", "/v1/stores/sh-1/movements?since=0&limit=10000")
    assert status == 200 and [m["qty"] for m in body["movements"]] == [3]


async def test_a_query_parameter_given_twice_is_a_400_naming_it(api: Api) -> None:
    """One value is documented; the server would otherwise check the first and ignore the rest
    (schemathesis sends a list where a string is documented as the parameter repeated)."""
    await api.store("sh-1")
    for path, field in [("/v1/stores/sh-1/movements?since=0&since=1", "since"),
                        ("/v1/purchase-orders?supplier=acme&supplier=x%20y", "supplier")]:
        status, kind, body = await _raw(api, "GET", path)
        assert (status, kind) == (400, "application/json"), (path, status, body)
        assert body["field"] == field and "more than once" in body["error"], body
    status, _, body = await _raw(api, "GET", "/v1/purchase-orders?supplier=acme")
    assert status == 200 and body["purchase_orders"] == [], body


async def test_a_body_over_the_size_limit_is_a_json_413(api: Api) -> None:
    big = b'{"channel": "taobao", "order_id": "' + b"x" * (2 << 20) + b'"}'
    status, kind, body = await _raw(api, "POST", "/v1/orders", big)
    assert (status, kind) == (413, "application/json")
    assert set(body) <= {"error", "field"} and body["error"]


async def test_every_error_is_json_with_error_and_an_optional_field(api: Api) -> None:
    await api.store("sh-1")
    cases: list[tuple[str, str, bytes | None, dict[str, str] | None, int]] = [
        ("GET", "/v1/nowhere", None, None, 404),
        ("DELETE", "/v1/stores/sh-1/stock", None, None, 405),
        ("GET", "/v1/stores/sh-1/stock", None, {}, 401),
        ("GET", '/v1/stores/a"b/stock', None, None, 400),  # the id is echoed inside the JSON
        ("GET", "/v1/stores/sh-1/stock?sku=123", None, None, 400),
        ("POST", "/v1/orders", b"{not json", None, 400),
        ("POST", "/v1/orders", b"[1, 2]", None, 400),
        ("POST", "/v1/orders", b'{"channel": "taobao", "order_id": "x", "lines": [{"sku": "x", "qty": NaN}]}',
         None, 400),
        ("POST", "/v1/orders", b"[" * 100_000 + b"]" * 100_000, None, 400),
        ("POST", "/v1/transfers", b'{"from": "sh-1", "to": "sh-2", "lines": [], "note": 1}', None, 400),
        ("PUT", "/v1/channels/taobao", b'{"platfrom": "jd"}', None, 400),
    ]
    for method, path, data, headers, want in cases:
        status, kind, body = await _raw(api, method, path, data, headers)
        assert (status, kind) == (want, "application/json"), (method, path, status, body)
        assert isinstance(body, dict) and isinstance(body["error"], str) and body["error"], body
        assert isinstance(body.get("field", ""), str)


async def test_a_bad_field_is_named_in_the_shop_s_words(api: Api) -> None:
    status, body = await api.post("/v1/orders", {"channel": "taobao", "order_id": "x",
                                                 "lines": [{"sku": A, "qty": 0}]})
    assert status == 400 and body["field"] == "lines[0].qty"
    assert body["error"] == "lines[0].qty: must be an integer from 1 to 100000, got 0"
    status, body = await api.post("/v1/orders", {"channel": "taobao", "order_id": "x",
                                                 "lines": [{"sku": "06900000000011", "qty": 1}]})
    assert status == 400 and body["field"] == "lines[0].sku" and "check digit" in body["error"], body
    status, body = await api.post("/v1/orders", {"channel": "taobao", "order_id": "x",
                                                 "lines": [{"sku": A, "channel_sku": "1", "qty": 1}]})
    assert status == 400 and body["field"] == "lines[0]" and "exactly one of" in body["error"], body
    status, body = await api.call("PUT", "/v1/channels/taobao", {"platfrom": "jd"})
    assert status == 400 and body["field"] == "platfrom" and "'platform'" in body["error"], body
    status, body = await api.get("/v1/stores/sh-1/movements?sinse=5")  # not silently from 0
    assert status == 400 and body["field"] == "sinse" and "'since'" in body["error"], body


async def test_the_openapi_document_describes_every_route_and_needs_no_token(api: Api) -> None:
    status, kind, doc = await _raw(api, "GET", "/openapi.json", headers={})
    assert (status, kind) == (200, "application/json")
    assert doc["openapi"].startswith("3.1")
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    served = {(r.method, r.resource.canonical) for r in api.app.router.routes()
              if r.method != "HEAD" and r.resource is not None
              and not (r.resource.name or "").startswith("console.")}  # the console's pages, not the API
    assert served == documented
    order = doc["paths"]["/v1/orders"]["post"]
    assert order["requestBody"]["content"]["application/json"]["schema"]["properties"]["lines"]["maxItems"] == 200
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for code, reply in op["responses"].items():
                if int(code) >= 400:
                    assert reply["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, \
                        (method, path, code)


async def test_an_order_released_by_a_falling_count_is_answered_as_documented(api: Api) -> None:
    """Every status the ledger gives an order is in the document (schemathesis cannot make one)."""
    from jsonschema import Draft202012Validator

    await api.store("sh-1")
    await api.channel("taobao", ["sh-1"])
    await api.count("sh-1", A, 3)
    status, order = await api.order("taobao", "TB-9", [(A, 2)])
    assert status == 201, order
    await api.count("sh-1", A, 0)  # the stock under the hold is gone: holds.py releases the order
    status, order = await api.get(f"/v1/orders/{order['id']}")
    assert status == 200 and order["status"] == "released", order
    _, doc = await api.get("/openapi.json", None)
    schema = doc["paths"]["/v1/orders/{id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert list(Draft202012Validator(schema).iter_errors(order)) == []


async def test_a_nul_in_an_id_or_a_text_field_is_a_400_naming_it_not_a_database_error(api: Api) -> None:
    """PostgreSQL refuses a NUL in text: every id in a path or query, and every text in a body, is
    refused by its schema before a database sees it (on SQLite too, so a chain can move)."""
    await api.store("sh-1")
    for path, field in [("/v1/replenishment/runs/%00", "id"), ("/v1/replenishment/suggestions?run=%00", "run"),
                        ("/v1/purchase-orders/po%00", "id"), ("/v1/transfers/t%00", "id"),
                        ("/v1/orders/o%00", "id")]:
        status, kind, body = await _raw(api, "GET", path)
        assert (status, kind) == (400, "application/json"), (path, status, body)
        assert body["field"] == field and "NUL" in body["error"], (path, body)
    status, _, body = await _raw(api, "POST", "/v1/replenishment/transfers", b'{"run": "r\\u0000"}',
                                 {**AUTH, "Content-Type": "application/json"})
    assert status == 400 and body["field"] == "run", body
    status, _, body = await _raw(api, "PUT", "/v1/suppliers", b'{"suppliers": [{"supplier": "acme", '
                                 b'"name": "Acme\\u0000"}]}', {**AUTH, "Content-Type": "application/json"})
    assert status == 400 and "name" in body["field"], body
