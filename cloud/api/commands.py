"""Commands from the cloud to a store's gateway (contract §5: shelfsync/v1/store/{store}/cmd/{gw}/…)."""

from __future__ import annotations

import json
import secrets

from aiohttp import web

from cloud.api.handlers import _error, _store
from cloud.auth import require_write
from edge import contract
from edge.contract import ContractError, StocktakeRequest, Zone
from edge.mqtt import MqttError


async def start_stocktake(request: web.Request) -> web.Response:
    """POST /v1/stores/{store}/stocktakes {"gateway": "gw-1", "seconds": 180, "zone": null}
    → 202 {"id"}: the gateway counts its RFID tags and its count deltas arrive in the ledger."""
    store = _store(request)
    require_write(request, store)
    try:
        body = json.loads(await request.read() or b"{}")
        if not isinstance(body, dict):
            raise ContractError("body", "must be a JSON object")
        gateway = contract.check_id(body.get("gateway", "gw-1"), "gateway")
        zone = Zone(body["zone"]) if body.get("zone") else None
        seconds = body.get("seconds", 180)
        if not isinstance(seconds, int | float) or isinstance(seconds, bool):
            raise ContractError("seconds", "must be a number")
        command = StocktakeRequest(f"st-{secrets.token_hex(6)}", float(seconds), zone)
    except json.JSONDecodeError as e:
        return _error(400, f"body: not valid JSON: {e}")
    except (ContractError, ValueError) as e:
        return _error(400, str(e))
    from cloud.app import INGEST  # the ingest worker's MQTT session carries commands

    ingest = request.app.get(INGEST)
    if ingest is None:
        return _error(503, "this worker has no broker connection (started with --mqtt none)")
    try:
        await ingest.command(store, gateway, "stocktake", contract.encode(command))
    except MqttError as e:
        return _error(503, f"broker unavailable: {e}")
    return web.json_response({"id": command.id, "store": store, "gateway": gateway}, status=202)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/v1/stores/{store}/stocktakes", start_stocktake)
