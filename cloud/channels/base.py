"""The one seam between the sync driver and a sales platform: set a listing's stock, read it back.

Every platform adapter (taobao.py, jd.py, ...) implements `StockAdapter` and translates its
platform's errors into the four kinds below at the boundary, so the driver's retry policy is the
same for every platform:

- `Transient`: try again later (5xx, timeouts, connection refused, a timestamp the platform
  judged out of its window: the next try is signed afresh);
- `RateLimited(retry_after)`: the platform's rate limit; wait at least `retry_after` seconds;
- `Rejected`: the platform refused the request itself (bad signature or credentials, unknown
  listing, invalid value); retrying the same request cannot help;
- `Stale(current)`: a compare-and-set failed because the platform holds `current`, not the
  `previous` figure we sent (platforms that support compare-and-set only).

A fifth answer is not a failure: a platform that answers a repeated idempotency key with an error
code (Douyin's 40003 `isv.idempotent-id-existed`) is saying the push already happened. Adapters
raise `Replayed` inside their call and turn it into a successful `PushResult(replayed=True)`; the
driver never sees it as an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Listing:
    """One sellable listing on one channel: our SKU and the platform's ids for it.

    item_id is the platform's product (Taobao num_iid, PDD goods_id, Douyin product_id); sku_id is
    the variant (Taobao/PDD/Douyin sku_id, JD skuId, Shopify InventoryItem id, our mini-program's
    SKU code). Either may be empty where a platform does not use it.
    """

    channel: str
    sku: str
    item_id: str
    sku_id: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.channel, self.item_id, self.sku_id)


@dataclass(frozen=True, slots=True)
class PushResult:
    """What the platform said after a push: the figure it now holds (None if it does not say)
    and its request id (for support tickets)."""

    qty: int | None
    request_id: str = ""
    replayed: bool = False  # the platform had already applied this key's push (not applied again)


class PlatformError(Exception):
    """Base of the errors adapters raise; `code` is the platform's own error code."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class Transient(PlatformError):
    """Worth retrying: the platform or the network failed this time."""


class RateLimited(Transient):
    """The platform's rate limit; retry no sooner than retry_after seconds."""

    def __init__(self, message: str, retry_after: float, code: str = "") -> None:
        super().__init__(message, code)
        self.retry_after = retry_after


class Rejected(PlatformError):
    """The platform refused this request; retrying it unchanged cannot succeed."""


class Replayed(PlatformError):
    """The platform has seen this idempotency key: the push it names was applied before (our
    earlier try landed although its answer was lost). Adapters catch it and report success."""


class Stale(PlatformError):
    """A compare-and-set failed: the platform holds `current`, not the figure we assumed."""

    def __init__(self, message: str, current: int, code: str = "") -> None:
        super().__init__(message, code)
        self.current = current


class StockAdapter(Protocol):
    """One channel's platform. Implementations are safe to call concurrently for different
    listings; the driver never runs two pushes for one listing at once.

    - `rate`: requests per second the platform allows this app (the driver paces to it).
    - `set_stock(listing, qty, previous=, key=)`: make the platform show `qty` sellable units.
      `previous` is the figure we believe the platform holds (None: unknown); adapters with a
      compare-and-set send it and raise `Stale` on a mismatch. `key` is an idempotency key unique
      to this (listing, figure) push: the same key sent twice must change stock once.
    - `get_stock(listing)`: the figure the platform holds now.
    - `close()`: release the HTTP session.
    """

    platform: str
    rate: float

    async def set_stock(self, listing: Listing, qty: int, *, previous: int | None, key: str) -> PushResult:
        ...

    async def get_stock(self, listing: Listing) -> int:
        ...

    async def close(self) -> None:
        ...
