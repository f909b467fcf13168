"""shared/openapi.py's checks, as pure functions: the accelerator (jsonschema-rs) and the reference
implementation (jsonschema) agree on every request schema of both APIs, and a refused value is
said in the shop's words, naming its field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema.exceptions import best_match
from prometheus_client import CollectorRegistry

from cloud.api.routes import cloud_api
from edge.http import gateway_api
from shared.contract import ContractError, gtin_check_digit
from shared.openapi import Operation, Routes, _explain, expectation, nullable

pytest.importorskip("jsonschema_rs")  # the accelerator is there where it has a wheel

OPERATIONS: list[Operation] = [*cloud_api(CollectorRegistry()).operations,
                               *gateway_api(CollectorRegistry()).operations]
SCHEMAS = [(f"{op.method} {op.path} {key}", op) for op in OPERATIONS for key in op._validators]


def _names(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        found = set(schema.get("properties", {}))
        return found.union(*(_names(v) for v in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_names(v) for v in schema))
    return set()


NAMES = sorted(set().union(*(_names(op._validators[k].schema) for _, op in SCHEMAS for k in op._validators)))
GTINS = st.from_regex(r"\A\d{13}\Z").flatmap(
    lambda body: st.sampled_from([body + str(gtin_check_digit(body)), body + str((gtin_check_digit(body) + 1) % 10)]))
SCALARS = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.integers(-3, 300)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40) | GTINS
           | st.sampled_from(["sh-1", "gw-1", "taobao", "ship", "pickup", "floor", "backroom", "sale", "receipt",
                              "2026-12-01", "2026-13-01", "2026-12-01T02:00:00Z", " ", "a:b", "hq", "store"]))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.sampled_from(NAMES) | st.text(max_size=8), inner, max_size=6),
                    max_leaves=30)


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(SCHEMAS), JSON)
def test_the_accelerator_and_jsonschema_agree_on_every_request_schema(named: tuple[str, Operation],
                                                                      value: Any) -> None:
    _, op = named
    for key in op._validators:
        reference = best_match(op._validators[key].iter_errors(value)) is None
        assert op._fast[key].is_valid(value) == reference, (named[0], key, value)


SKU = "06900000000014"
VALID = {  # one valid body per write, to mutate one field of
    ("POST", "/v1/orders"): {"channel": "taobao", "order_id": "TB-1", "lines": [{"sku": SKU, "qty": 2}],
                             "fulfilment": {"type": "ship", "address": {"lat": 31.2, "lon": 121.5}}},
    ("POST", "/v1/transfers"): {"from": "sh-1", "to": "sh-2", "lines": [{"sku": SKU, "qty": 1}]},
    ("POST", "/v1/stores/{store}/stocktakes"): {"gateway": "gw-1", "seconds": 60, "zone": "floor"},
    ("PUT", "/v1/channels/{channel}"): {"platform": "jd", "safety": 1, "max_qty": None, "split": True,
                                        "stores": [{"store": "sh-1", "ship": True, "pickup": False}]},
    ("POST", "/v1/pos/transactions"): {"txn": "T1", "at": "2026-12-01T02:00:00Z", "kind": "sale",
                                       "lines": [{"sku": SKU, "qty": 1, "lot": "L1", "expiry": "2027-01-31"}]},
    ("POST", "/v1/stock/movements"): {"ref": "R1", "at": "2026-12-01T02:00:00Z",
                                      "lines": [{"sku": SKU, "kind": "count", "qty": 0, "zone": "floor"}]},
}


@st.composite
def one_field_changed(draw: st.DrawFn) -> tuple[Operation, Any]:
    (method, path), body = draw(st.sampled_from(sorted(VALID.items())))
    op = next(o for o in OPERATIONS if (o.method, o.path) == (method, path))
    changed = json.loads(json.dumps(body))
    target = changed["lines"][0] if "lines" in changed and draw(st.booleans()) else changed
    name = draw(st.sampled_from(sorted(target)))
    if draw(st.booleans()):
        del target[name]
    else:
        target[name] = draw(SCALARS)
    return op, changed


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(one_field_changed())
def test_the_two_agree_on_bodies_one_field_away_from_valid(case: tuple[Operation, Any]) -> None:
    op, body = case
    reference = best_match(op._validators["body"].iter_errors(body)) is None
    assert op._fast["body"].is_valid(body) == reference, (op.path, body)


def test_the_valid_bodies_are_valid() -> None:
    for (method, path), body in VALID.items():
        op = next(o for o in OPERATIONS if (o.method, o.path) == (method, path))
        assert op._fast["body"].is_valid(body) and best_match(op._validators["body"].iter_errors(body)) is None


@pytest.mark.parametrize(("schema", "words"), [
    ({"type": "integer", "minimum": 1, "maximum": 100000}, "an integer from 1 to 100000"),
    ({"type": "integer", "minimum": 0}, "an integer of at least 0"),
    ({"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"\S"}, "a non-blank string of at most 64 characters"),
    ({"type": "string", "pattern": "^[a-z0-9-]{1,32}$"}, "a string matching [a-z0-9-]{1,32}"),
    ({"type": "string", "pattern": "^[0-9]{14}$", "format": "gtin14"}, "a GTIN-14 with a valid check digit"),
    (nullable({"enum": ["floor", "backroom"]}), "one of floor, backroom, null"),
    (nullable({"type": "number", "minimum": -90, "maximum": 90}), "a number from -90 to 90 or null"),
    ({"type": "array", "minItems": 1, "maxItems": 200}, "an array from 1 to 200 items"),
])
def test_what_a_value_must_be_is_said_in_words(schema: dict[str, Any], words: str) -> None:
    assert expectation(schema) == words


def _refusal(op: Operation, value: Any) -> tuple[str, str]:
    problem = best_match(op._validators["body"].iter_errors(value))
    assert problem is not None
    return _explain(problem, "")


def test_a_refused_body_names_its_field_and_says_what_it_must_be() -> None:
    order = next(op for op in OPERATIONS if (op.method, op.path) == ("POST", "/v1/orders"))
    good = {"channel": "taobao", "order_id": "TB-1", "lines": [{"sku": "06900000000014", "qty": 1}]}
    assert order._check("body", "", good)["fulfilment"] == {"type": "ship"}  # the schema's default
    assert _refusal(order, {**good, "lines": [{"sku": "06900000000014", "qty": 0}]}) == \
        ("lines[0].qty", "must be an integer from 1 to 100000, got 0")
    assert _refusal(order, {**good, "lines": [{"qty": 1}]})[0] == "lines[0]"
    assert _refusal(order, {k: v for k, v in good.items() if k != "channel"}) == ("channel", "is required")
    assert _refusal(order, {**good, "chanel": "x"}) == ("chanel", "unknown field; did you mean 'channel'?")
    assert _refusal(order, [1]) == ("body", "must be a JSON object, got 1 item")
    with pytest.raises(ContractError, match=r"^lines\[0\]\.sku: must be a GTIN-14"):
        order._check("body", "", {**good, "lines": [{"sku": "06900000000015", "qty": 1}]})


def test_every_path_parameter_has_a_schema_and_operations_are_unique() -> None:
    async def handler(request: Any) -> Any:
        raise AssertionError

    api = Routes("t", "0", "t")
    with pytest.raises(ValueError, match="no schema for path parameter"):
        api.add("GET", "/v1/x/{nope}", handler, summary="x", responses={})
    for each in (cloud_api(CollectorRegistry()), gateway_api(CollectorRegistry())):
        assert len({(op.method, op.path) for op in each.operations}) == len(each.operations)
