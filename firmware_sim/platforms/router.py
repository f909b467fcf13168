"""Helpers for the form-posted, MD5-signed routers (Taobao TOP, JD JOS, Pinduoduo)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from aiohttp import web

GMT8 = timezone(timedelta(hours=8))
WINDOW_S = 600.0  # TOP: the timestamp may differ from the router's clock by at most 10 minutes


async def form(request: web.Request) -> dict[str, str]:
    """Query and form parameters together (the routers accept either)."""
    params = {k: v for k, v in request.query.items()}
    if request.can_read_body:
        posted = await request.post()
        params.update({k: v for k, v in posted.items() if isinstance(v, str)})
    return params


def gmt8_age(text: str, now: float) -> float | None:
    """Seconds between a `yyyy-MM-dd HH:mm:ss` GMT+8 timestamp and now (None: unparseable)."""
    try:
        moment = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=GMT8)
    except ValueError:
        return None
    return abs(now - moment.timestamp())


def as_int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None
