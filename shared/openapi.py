"""OpenAPI 3.1 for shelfsync's HTTP APIs (the gateway's and the cloud's), made from the very schemas
that check every request.

An API is a `Routes` registry. Each operation is added with its method, path, summary, the JSON
Schemas of its path parameters, query parameters and body, the responses it documents and whether
it needs the bearer token. `Routes.install(app)` puts each operation on the aiohttp router wrapped
so that its input is checked against those schemas before the handler runs (the handler reads the
checked, typed values with `checked(request)`), and serves `GET /openapi.json`, which
`Routes.document()` assembles from the same schema objects. There is no second copy to keep in step.

Why JSON Schema dicts checked with `jsonschema`, not pydantic models or a document kept by hand:
OpenAPI 3.1's Schema Object *is* JSON Schema draft 2020-12 (OAS 3.1.0 §4.8.24), so a dict is
published exactly as it is checked, with no model-to-schema translation in between that could
differ. `jsonschema` (python-jsonschema) is the reference implementation of that draft, maintained,
pure Python and small enough for the gateway's Pi, and it takes the formats the shop needs
(`gtin14`: the GS1 check digit). Pydantic would have been a third way to describe a payload beside
the wire contract's dataclasses, and a heavy dependency for the gateway.

`jsonschema` is an interpreter, and slow on a hot path: an order body took 0.4-1.1 ms to check
(measured on the build machine under load). Where jsonschema-rs has a wheel (x86-64, aarch64) it
answers "valid?" first, in ~50 µs, for the same draft with the same formats; `jsonschema` still
says what is wrong with a request it refuses, and decides when the two would differ (a value
jsonschema-rs cannot take). Without jsonschema-rs (a 32-bit Pi) every check is `jsonschema`'s.

Errors: a request that breaks its schema is a 400 `{"error": "<field>: <problem>", "field": ...}`
whose problem is said from the failing schema node ("must be an integer from 1 to 100000, got 0";
a node may say it better with `x-error`). `json_errors`, the outermost middleware, makes every error
JSON `{"error", "field"?}` — aiohttp's own 404, 405 and 413 too — and answers an unexpected
exception with a logged 500, never a traceback.
"""

from __future__ import annotations

import copy
import difflib
import importlib.metadata
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from aiohttp import web
from jsonschema import Draft202012Validator, FormatChecker

try:  # the accelerator, where it has a wheel (see the module docstring)
    import jsonschema_rs
except ImportError:  # pragma: no cover - a platform without a wheel
    # None says so to the checks below; mypy types the name as the module it imported
    jsonschema_rs = None  # type: ignore[assignment]
from jsonschema.exceptions import ValidationError, best_match

from shared.contract import ContractError, is_gtin14

log = logging.getLogger(__name__)

Schema = dict[str, Any]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

OPENAPI_PATH: Final = "/openapi.json"
ERROR_REF: Final = "#/components/schemas/Error"
ERROR: Final[Schema] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "what is wrong, for a person"},
        "field": {"type": "string", "description": "the input at fault, e.g. lines[0].qty"},
    },
    "description": "Every error answer. Some carry more detail (e.g. `short` on a 409).",
}

# --- building blocks the APIs share ---------------------------------------------------------

ID: Final[Schema] = {"type": "string", "pattern": "^[a-z0-9-]{1,32}$",
                     "description": "a store, gateway or channel id (one MQTT topic level)"}
GTIN14: Final[Schema] = {"type": "string", "pattern": "^[0-9]{14}$", "format": "gtin14",
                         "description": "GTIN-14 with a valid GS1 check digit"}
DAY: Final[Schema] = {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
TIME: Final[Schema] = {"type": "string", "format": "date-time"}
MAX_INT64: Final = 2**63 - 1


def nullable(schema: Schema) -> Schema:
    """The same schema, also allowing null."""
    out = dict(schema)
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
        return out
    kinds = out.get("type", [])
    out["type"] = [*([kinds] if isinstance(kinds, str) else kinds), "null"]
    return out


def obj(properties: Mapping[str, Schema], required: Iterable[str] = (), *, closed: bool = True,
        **more: Any) -> Schema:
    """A JSON object; `closed` refuses names it does not declare (a misspelt optional field is an
    error that says so, not a silently ignored one)."""
    out: Schema = {"type": "object", "properties": dict(properties), **more}
    if required:
        out["required"] = list(required)
    if closed:
        out["additionalProperties"] = False
    return out


def array(items: Schema, lo: int = 0, hi: int | None = None, **more: Any) -> Schema:
    out: Schema = {"type": "array", "items": items, **more}
    if lo:
        out["minItems"] = lo
    if hi is not None:
        out["maxItems"] = hi
    return out


def integer(lo: int | None = None, hi: int | None = None, **more: Any) -> Schema:
    out: Schema = {"type": "integer", **more}
    if lo is not None:
        out["minimum"] = lo
    if hi is not None:
        out["maximum"] = hi
    return out


def number(lo: float | None = None, hi: float | None = None, **more: Any) -> Schema:
    out: Schema = {"type": "number", **more}
    if lo is not None:
        out["minimum"] = lo
    if hi is not None:
        out["maximum"] = hi
    return out


def text(hi: int, lo: int = 1, **more: Any) -> Schema:
    """A string of `lo`..`hi` characters that a database can store (format "text": no NUL, which
    PostgreSQL refuses in text, and no lone surrogate, which no UTF-8 encoder takes)."""
    out: Schema = {"type": "string", "maxLength": hi, "format": "text", **more}
    if lo:
        out["minLength"] = lo
    return out


# --- formats --------------------------------------------------------------------------------

def _is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return re.fullmatch(r"\d{4}-\d{2}-\d{2}", value) is not None


def _is_storable(value: object) -> bool:
    return not isinstance(value, str) or _UNSTORABLE.search(value) is None


_UNSTORABLE: Final = re.compile("[\x00\ud800-\udfff]")

# The formats this module checks, and how an error names them. Others (date-time) are annotations
# here: their handlers parse them (shared.contract.parse_ts) and say what is wrong.
FORMATS: Final[dict[str, tuple[Callable[[object], bool], str]]] = {
    "gtin14": (lambda v: not isinstance(v, str) or is_gtin14(v), "a GTIN-14 with a valid check digit"),
    "date": (_is_date, "a date YYYY-MM-DD"),
    "text": (_is_storable, "text without NUL characters"),
}
_FORMATS = FormatChecker(formats=())
for _name, (_check, _) in FORMATS.items():
    _FORMATS.checks(_name)(_check)


def _formats_in(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        found = {schema["format"]} if isinstance(schema.get("format"), str) else set()
        return found.union(*(_formats_in(v) for v in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_formats_in(v) for v in schema))
    return set()


def _fast_validator(schema: Schema) -> Any:
    """jsonschema-rs for `schema`, checking exactly the formats `_FORMATS` checks (the others are
    annotations here, as for jsonschema), or None without jsonschema-rs."""
    if jsonschema_rs is None:
        return None
    formats = {name: (lambda _v: True) for name in _formats_in(schema)}
    formats |= {name: check for name, (check, _) in FORMATS.items()}
    return jsonschema_rs.validator_for(schema, formats=formats, validate_formats=True)


# --- operations -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Param:
    """A path or query parameter: its schema (query strings are converted to the schema's type
    first: "42" → 42 for an integer), whether it is required, what it means."""

    schema: Schema
    description: str = ""
    required: bool = False


@dataclass(frozen=True, slots=True)
class Reply:
    """A documented response: JSON with this schema, or another media type (schema None)."""

    description: str
    schema: Schema | None = None
    media: str = "application/json"


def error(description: str) -> Reply:
    return Reply(description, {"$ref": ERROR_REF})


@dataclass(frozen=True, slots=True)
class Checked:
    """A request's input after its schemas passed it: path and query parameters typed, the body
    parsed with the schema's defaults filled in."""

    path: Mapping[str, Any]
    query: Mapping[str, Any]
    body: Any


CHECKED = web.RequestKey("checked", Checked)


def checked(request: web.Request) -> Checked:
    return request[CHECKED]


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    description: str
    path_params: Mapping[str, Param]
    query: Mapping[str, Param]
    body: Schema | None
    body_required: bool
    responses: Mapping[int, Reply]
    public: bool
    tags: tuple[str, ...]
    _validators: dict[str, Draft202012Validator] = field(default_factory=dict, repr=False)
    _fast: dict[str, Any] = field(default_factory=dict, repr=False)
    _query: QueryChecker = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_query", QueryChecker(self.query))  # frozen: set once, here
        schemas = {f"path.{k}": p.schema for k, p in self.path_params.items()}
        if self.body is not None:
            schemas["body"] = self.body
        for key, schema in schemas.items():
            Draft202012Validator.check_schema(schema)  # a broken schema fails at start-up
            self._validators[key] = Draft202012Validator(schema, format_checker=_FORMATS)
            self._fast[key] = _fast_validator(schema)

    async def checked_input(self, request: web.Request) -> Checked:
        """The request's input, or ContractError naming the first field that breaks its schema."""
        path = {k: self._check(f"path.{k}", k, _from_text(request.match_info[k], p.schema))
                for k, p in self.path_params.items()}
        query = self._query(request.query)
        body = None
        if self.body is not None:
            body = self._check("body", "", await _read_json(request, self.body_required))
        return Checked(path, query, body)

    def _check(self, key: str, where: str, value: Any) -> Any:
        return _validated(self._validators[key], self._fast[key], value, where)


class QueryChecker:
    """Query parameters' check: a query string's values typed as their schemas want ("42" → 42),
    checked, defaults filled in; ContractError naming the first parameter at fault — an unknown
    one (with the closest known name), one given twice, a required one missing. The API's routes
    check their query with it, and so can a page whose address takes an API call's parameters."""

    def __init__(self, params: Mapping[str, Param]) -> None:
        self.params = params
        self._validators: dict[str, tuple[Draft202012Validator, Any]] = {}
        for name, param in params.items():
            Draft202012Validator.check_schema(param.schema)  # a broken schema fails at start-up
            self._validators[name] = (Draft202012Validator(param.schema, format_checker=_FORMATS),
                                      _fast_validator(param.schema))

    def __call__(self, raw: Mapping[str, str]) -> dict[str, Any]:
        """`raw`: a plain mapping or a MultiDict (a name given more than once is refused)."""
        getall = getattr(raw, "getall", None)
        for name in raw:  # a misspelt parameter would be ignored silently: say so
            if name not in self.params:
                close = difflib.get_close_matches(name, list(self.params), n=1)
                takes = f"this call takes {', '.join(self.params)}" if self.params else "this call takes none"
                hint = f"did you mean {close[0]!r}?" if close else takes
                raise ContractError(name, f"unknown query parameter; {hint}")
        query = {}
        for name, param in self.params.items():
            given = getall(name, []) if getall is not None else ([raw[name]] if name in raw else [])
            if len(given) > 1:  # which one was meant? (a list where one value is documented)
                raise ContractError(name, "is given more than once; give it once")
            if not given:
                if param.required:
                    raise ContractError(name, "is required")
                if "default" in param.schema:
                    query[name] = copy.deepcopy(param.schema["default"])
                continue
            query[name] = self._check(name, _from_text(given[0], param.schema))
        return query

    def _check(self, name: str, value: Any) -> Any:
        validator, fast = self._validators[name]
        return _validated(validator, fast, value, name)


def _validated(validator: Draft202012Validator, fast: Any, value: Any, where: str) -> Any:
    """`value` completed with its schema's defaults, or ContractError naming the field at fault
    (under `where`). `fast` (a compiled validator, or None) says yes quickly; jsonschema says why not."""
    if fast is not None:
        try:
            if fast.is_valid(value):
                return _complete(validator.schema, value)
        except (ValueError, TypeError, OverflowError):
            pass  # a value it cannot take: jsonschema decides
    problem = best_match(validator.iter_errors(value))
    if problem is not None:
        raise ContractError(*_explain(problem, where))
    return _complete(validator.schema, value)


class Checker:
    """A schema's check for input that arrives another way than a request body (a CSV row, a form):
    exactly as a body is checked, the same words when it is wrong, defaults filled in."""

    def __init__(self, schema: Schema) -> None:
        Draft202012Validator.check_schema(schema)
        self.schema = schema
        self._validator = Draft202012Validator(schema, format_checker=_FORMATS)

    def __call__(self, value: Any, where: str = "") -> Any:
        """The value completed with defaults, or ContractError naming the field (under `where`)."""
        problem = best_match(self._validator.iter_errors(value))
        if problem is not None:
            raise ContractError(*_explain(problem, where))
        return _complete(self.schema, value)


async def _read_json(request: web.Request, required: bool) -> Any:
    raw = await request.read()  # past client_max_size: HTTPRequestEntityTooLarge, made JSON below
    if not raw.strip():
        if required:
            raise ContractError("body", "is required (a JSON object)")
        return {}
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise ContractError("body", "nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as e:  # JSONDecodeError is a ValueError
        raise ContractError("body", f"not valid JSON: {e}") from None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 §6)")


def _kinds(schema: Mapping[str, Any]) -> list[str]:
    kinds = schema.get("type", [])
    return [kinds] if isinstance(kinds, str) else list(kinds)


def _from_text(raw: str, schema: Schema) -> Any:
    """A query string value as the type its schema wants, when it reads as one; else the string,
    and the schema says what is wrong with it."""
    kinds = _kinds(schema)
    if "integer" in kinds and re.fullmatch(r"[+-]?\d{1,4000}", raw):  # int() refuses > 4300 digits
        return int(raw)
    if "number" in kinds:
        try:
            value = float(raw)
        except ValueError:
            return raw
        return value if math.isfinite(value) else raw
    if "boolean" in kinds and raw in ("true", "false"):
        return raw == "true"
    return raw


def _complete(schema: Mapping[str, Any], value: Any) -> Any:
    """Fill in the schema's defaults for absent properties, and make integral numbers that an
    `integer` schema accepted (draft 2020-12 §6.1.1: 1.0 is an integer) Python ints."""
    if isinstance(value, dict):
        props = schema.get("properties", {})
        out = {k: _complete(props.get(k, {}), v) for k, v in value.items()}
        for name, sub in props.items():
            if name not in out and "default" in sub:
                out[name] = copy.deepcopy(sub["default"])
        return out
    if isinstance(value, list):
        items = schema.get("items", {})
        return [_complete(items, v) for v in value]
    if isinstance(value, float) and "integer" in _kinds(schema) and value.is_integer():
        return int(value)
    return value


# --- errors a person can act on -------------------------------------------------------------

_RANGE_KEYWORDS: Final = frozenset({"type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
                                    "minLength", "maxLength", "pattern", "format", "enum", "const",
                                    "minItems", "maxItems", "multipleOf"})


def _field(where: str, path: Iterable[Any]) -> str:
    out = where
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out or "body"


def _explain(problem: ValidationError, where: str) -> tuple[str, str]:
    """(field, problem) in the shop's words for the most relevant schema error."""
    path = list(problem.absolute_path)
    keyword = problem.validator
    if keyword == "required" and problem.parent is None:
        missing = next(p for p in problem.validator_value if p not in problem.instance)
        return _field(where, [*path, missing]), "is required"
    if keyword in ("additionalProperties", "unevaluatedProperties"):
        known = sorted(problem.schema.get("properties", {}))
        extra = sorted(k for k in problem.instance if k not in known)[0]
        close = difflib.get_close_matches(extra, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(known) or 'none'}"
        return _field(where, [*path, extra]), f"unknown field; {hint}"
    for outer in _ancestors(problem):  # a node that says its own rule (e.g. one of sku/channel_sku)
        if "x-error" in outer.schema:
            return _field(where, outer.absolute_path), str(outer.schema["x-error"])
    if keyword in _RANGE_KEYWORDS:
        return _field(where, path), f"must be {expectation(problem.schema)}, got {_show(problem.instance)}"
    return _field(where, path), problem.message


def _ancestors(problem: ValidationError) -> list[ValidationError]:
    chain = []
    node: ValidationError | None = problem
    while node is not None:
        chain.append(node)
        node = node.parent
    return chain[::-1]


def _show(value: Any) -> str:
    if isinstance(value, list):
        return f"{len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return "an object"
    shown = repr(value) if value is not None else "null"
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _range(schema: Mapping[str, Any], lo_key: str, hi_key: str, unit: str = "") -> str:
    lo, hi = schema.get(lo_key), schema.get(hi_key)
    if lo is not None and hi is not None:
        return f" from {lo} to {hi}{unit}"
    if lo is not None:
        return f" of at least {lo}{unit}"
    if hi is not None:
        return f" of at most {hi}{unit}"
    return ""


def expectation(schema: Mapping[str, Any]) -> str:
    """What a value must be, in words: "an integer from 1 to 100000", "one of ship, pickup"."""
    kinds = _kinds(schema)
    null = " or null" if "null" in kinds else ""
    kinds = [k for k in kinds if k != "null"]
    kind = kinds[0] if kinds else None
    if "enum" in schema:
        return "one of " + ", ".join("null" if v is None else str(v) for v in schema["enum"])
    if "const" in schema:
        return repr(schema["const"])
    if schema.get("format") in FORMATS and schema["format"] != "text":  # text: the length, below
        return FORMATS[schema["format"]][1] + null
    blank_ok = schema.get("pattern") != r"\S"  # the idiom for "not only spaces"
    if "pattern" in schema and blank_ok:
        return f"a string matching {schema['pattern'].removeprefix('^').removesuffix('$')}{null}"
    if kind == "string":
        lo, hi = schema.get("minLength", 0), schema.get("maxLength")
        words = "a non-empty string" if lo == 1 else "a string"
        if schema.get("format") == "text":
            words += " without NUL characters"
        if not blank_ok:
            words = "a non-blank string"
        if lo > 1:
            words += f" of at least {lo} characters"
        if hi is not None:
            words += f"{' and' if lo > 1 else ' of'} at most {hi} characters"
        return words + null
    if kind in ("integer", "number"):
        words = "an integer" if kind == "integer" else "a number"
        if "exclusiveMinimum" in schema:
            words += f" greater than {schema['exclusiveMinimum']}"
        return words + _range(schema, "minimum", "maximum") + null
    if kind == "boolean":
        return "true or false" + null
    if kind == "array":
        return "an array" + _range(schema, "minItems", "maxItems", " items") + null
    if kind == "object":
        return "a JSON object" + null
    return "valid"


def error_response(status: int, message: str, field: str | None = None, **detail: Any) -> web.Response:
    """The one shape of every error: {"error", "field"?} (plus detail such as `short`)."""
    body: dict[str, Any] = {"error": message}
    if field is not None:
        body["field"] = field
    return web.json_response({**body, **detail}, status=status)


def input_error(e: ContractError, status: int = 400) -> web.Response:
    return error_response(status, str(e), e.field)


class ApiError(Exception):
    """Raised from a handler (or a helper it calls) to answer with an error: `json_errors` turns it
    into the one error shape."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


_PASSED_HEADERS: Final = frozenset({"allow", "retry-after", "www-authenticate"})


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Outermost middleware: every error answer is JSON {"error", "field"?}, whoever made it."""
    try:
        response = await handler(request)
    except ApiError as e:
        return error_response(e.status, e.message, e.field)
    except web.HTTPException as e:
        if e.status < 400 or e.content_type == "application/json":
            raise
        headers = {k: v for k, v in e.headers.items() if k.lower() in _PASSED_HEADERS}
        response = error_response(e.status, _reason(e))
        response.headers.update(headers)
        return response
    except Exception:  # a defect, not the caller's fault: log it whole, answer without it
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, "internal error; the service log has the details")
    if (response.status >= 400 and isinstance(response, web.Response)
            and response.content_type != "application/json"):
        return error_response(response.status, response.text or response.reason or "error")
    return response


def _reason(e: web.HTTPException) -> str:
    said = e.text or ""
    default = f"{e.status}: {e.reason}"
    return said if said and said != default else e.reason.lower()


# --- the registry and its document ----------------------------------------------------------

def package_version() -> str:
    """shelfsync's version as installed (the document's info.version)."""
    try:
        return importlib.metadata.version("shelfsync")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


_PATH_PARAM: Final = re.compile(r"\{(\w+)\}")


class Routes:
    """One HTTP API: its operations, checked on the way in and published as OpenAPI 3.1."""

    def __init__(self, title: str, version: str, description: str, *,
                 path_params: Mapping[str, Param] | None = None,
                 secured: Mapping[int, Reply] | None = None, serve_document: bool = True) -> None:
        self.title, self.version, self.description = title, version, description
        self.path_params = dict(path_params or {})
        self.secured = dict(secured or {401: error("no bearer token, or a wrong one")})
        self.operations: list[Operation] = []
        self._mounted: list[tuple[str, Routes]] = []
        if not serve_document:  # a sub-application: the API it is mounted in serves the document
            return
        self.add("GET", OPENAPI_PATH, self._serve_document, public=True, tags=("meta",),
                 summary="This API's OpenAPI 3.1 document",
                 responses={200: Reply("the document", {"type": "object", "required": ["openapi", "paths"]})})

    def add(self, method: str, path: str, handler: Handler, *, summary: str, responses: Mapping[int, Reply],
            description: str = "", query: Mapping[str, Param] | None = None, body: Schema | None = None,
            body_required: bool = True, public: bool = False, tags: Iterable[str] = (),
            path_params: Mapping[str, Param] | None = None) -> None:
        names = _PATH_PARAM.findall(path)
        given = {**self.path_params, **(path_params or {})}
        missing = [n for n in names if n not in given]
        if missing:
            raise ValueError(f"{method} {path}: no schema for path parameter(s) {missing}")
        documented = dict(responses)
        if names or query or body is not None:
            documented.setdefault(400, error("the request breaks its schema; `field` names what"))
        if body is not None:
            documented.setdefault(413, error("the body is larger than this service takes"))
        if not public:
            for status, reply in self.secured.items():
                documented.setdefault(status, reply)
        self.operations.append(Operation(
            method.upper(), path, handler, summary, description, {n: given[n] for n in names},
            dict(query or {}), body, body_required, documented, public, tuple(tags)))

    def install(self, app: web.Application) -> None:
        for op in self.operations:
            app.router.add_route(op.method, op.path, _checking(op))
        app[ROUTES] = self

    def mount(self, app: web.Application, prefix: str, sub: web.Application) -> None:
        """Mount a sub-application (its own middlewares, installed from its own Routes) at
        `prefix`, and document its operations as part of this API."""
        app.add_subapp(prefix, sub)
        self._mounted.append((prefix.rstrip("/"), sub[ROUTES]))

    def _all(self) -> list[tuple[str, Operation]]:
        out = [(op.path, op) for op in self.operations]
        for prefix, sub in self._mounted:
            out += [(prefix + op.path, op) for op in sub.operations if op.path != OPENAPI_PATH]
        return out

    async def _serve_document(self, request: web.Request) -> web.Response:
        return web.json_response(self.document())

    def document(self) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        seen: set[str] = set()
        for path, op in self._all():
            op_id = op.handler.__name__.strip("_")
            while op_id in seen:
                op_id += "_"
            seen.add(op_id)
            entry: dict[str, Any] = {"operationId": op_id, "summary": op.summary,
                                     "responses": {str(status): _reply(r) for status, r in
                                                   sorted(op.responses.items())}}
            if op.description:
                entry["description"] = op.description
            if op.tags:
                entry["tags"] = list(op.tags)
            params = [{"name": n, "in": "path", "required": True, "schema": p.schema,
                       **({"description": p.description} if p.description else {})}
                      for n, p in op.path_params.items()]
            params += [{"name": n, "in": "query", "required": p.required, "schema": p.schema,
                        **({"description": p.description} if p.description else {})}
                       for n, p in op.query.items()]
            if params:
                entry["parameters"] = params
            if op.body is not None:
                entry["requestBody"] = {"required": op.body_required,
                                        "content": {"application/json": {"schema": op.body}}}
            if op.public:
                entry["security"] = []
            paths.setdefault(path, {})[op.method.lower()] = entry
        return {
            "openapi": "3.1.0",
            "info": {"title": self.title, "version": self.version, "description": self.description},
            "paths": paths,
            "components": {"schemas": {"Error": ERROR},
                           "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
        }


ROUTES = web.AppKey("routes", Routes)


def _reply(reply: Reply) -> dict[str, Any]:
    out: dict[str, Any] = {"description": reply.description}
    if reply.schema is not None or reply.media != "application/json":
        out["content"] = {reply.media: {"schema": reply.schema} if reply.schema is not None else {}}
    return out


def _checking(op: Operation) -> Handler:
    """The handler behind its schemas: a request that breaks one never reaches it."""

    async def checking(request: web.Request) -> web.StreamResponse:
        try:
            request[CHECKED] = await op.checked_input(request)
        except ContractError as e:
            return input_error(e)
        return await op.handler(request)

    checking.__name__ = op.handler.__name__
    return checking


__all__ = ["CHECKED", "DAY", "ERROR", "GTIN14", "ID", "MAX_INT64", "ROUTES", "TIME", "ApiError", "Checked",
           "Handler", "Operation", "Param", "Reply", "Routes", "array", "checked", "error", "error_response",
           "expectation", "input_error", "integer", "json_errors", "nullable", "number", "obj",
           "package_version", "text"]
