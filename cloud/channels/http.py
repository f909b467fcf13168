"""What every HTTP adapter shares: one aiohttp session, a clock, and transport errors translated
into the seam's error kinds (connection failures, timeouts and 5xx are `Transient`, HTTP 429 is
`RateLimited`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp

from cloud.channels.base import RateLimited, Rejected, Transient
from cloud.channels.config import ChannelConfig

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class HttpAdapter:
    platform = ""

    def __init__(self, config: ChannelConfig, *, clock: Clock = utcnow) -> None:
        self.config = config
        self.rate = config.rate
        self.clock = clock
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:  # the config's secrets mask themselves
        return f"{type(self).__name__}({self.config!r})"

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.config.timeout))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(self, method: str, url: str, *, data: Mapping[str, str] | None = None,
                      body: bytes | None = None, params: Mapping[str, str] | None = None,
                      headers: Mapping[str, str] | None = None) -> tuple[int, Any]:
        """Send one request; return (status, parsed JSON) or raise a seam error."""
        what = f"{self.config.name} ({self.platform})"
        try:
            async with self.session.request(method, url, data=data if body is None else body,
                                            params=params, headers=headers) as r:
                raw = await r.read()
                status, retry_after = r.status, r.headers.get("Retry-After")
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise Transient(f"{what}: {type(e).__name__} {e}".rstrip()) from e
        if status == 429:
            raise RateLimited(f"{what}: HTTP 429", _seconds(retry_after), code="429")
        if status >= 500:
            raise Transient(f"{what}: HTTP {status}", code=str(status))
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            if status >= 400:
                raise Rejected(f"{what}: HTTP {status}", code=str(status)) from None
            raise Transient(f"{what}: HTTP {status} with a body that is not JSON") from None
        return status, parsed


def _seconds(value: str | None, default: float = 1.0) -> float:
    try:
        return max(0.0, float(value)) if value is not None else default
    except ValueError:
        return default


def as_int(value: Any, what: str) -> int:
    """A quantity from a platform response (some send numbers as strings)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise Transient(f"{what}: the platform answered without a quantity ({value!r})") from None
