"""What each channel may sell now, per listing, from the ledger's stock levels.

This is the figure the platform sync pushes and `GET /v1/channels/{channel}/availability` shows:
per listing, `channel_quantity` (allocation.py) over the channel's eligible stores' free units
(sellable − reserved − the channel's safety stock).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cloud.channels.allocation import channel_quantity, free_units
from cloud.db.models import Listing, StockLevel
from cloud.db.orders import ChannelConfig, channel_configs


@dataclass(frozen=True, slots=True)
class ListingFigure:
    channel: str
    sku: str
    item_id: str
    sku_id: str  # the channel's SKU id (our listing's channel_sku)
    qty: int


async def listing_figures(maker: async_sessionmaker[AsyncSession], *, channel: str | None = None,
                          skus: Collection[str] | None = None,
                          today: date | None = None) -> list[ListingFigure]:
    """Every listing's sellable quantity (optionally one channel's, or only some SKUs').

    `today` is accepted for symmetry with the ledger reads; expired lots are already out of
    `sellable` (written with each book and refreshed by the daily sweep)."""
    async with maker() as session:
        return await figures_in(session, channel=channel, skus=skus)


async def figures_in(session: AsyncSession, *, channel: str | None = None,
                     skus: Collection[str] | None = None) -> list[ListingFigure]:
    configs = await channel_configs(session, channel)
    if not configs:
        return []
    q = select(Listing).where(Listing.channel.in_(list(configs)))
    if skus is not None:
        q = q.where(Listing.sku.in_(list(skus)))
    listings = (await session.scalars(q.order_by(Listing.channel, Listing.channel_sku))).all()
    wanted = sorted({li.sku for li in listings})
    levels = await _levels(session, wanted)
    return [ListingFigure(li.channel, li.sku, li.item_id, li.channel_sku,
                          sku_quantity(configs[li.channel], levels.get(li.sku, {})))
            for li in listings]


async def _levels(session: AsyncSession, skus: Collection[str]) -> dict[str, dict[str, tuple[int, int]]]:
    """sku → store → (sellable, reserved)."""
    out: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    if skus:
        for r in (await session.execute(select(StockLevel).where(StockLevel.sku.in_(list(skus))))).scalars():
            out[r.sku][r.store] = (r.sellable, r.reserved)
    return out


async def sku_figures_by_channel(session: AsyncSession, skus: Collection[str]) -> dict[str, dict[str, int]]:
    """Every channel's quantity for SKUs (the console's product page), the channels' rules and the
    stock levels read once for all of them."""
    configs = await channel_configs(session)
    levels = await _levels(session, skus)
    return {name: {sku: sku_quantity(cfg, levels.get(sku, {})) for sku in skus}
            for name, cfg in configs.items()}


def sku_quantity(cfg: ChannelConfig, per_store: dict[str, tuple[int, int]]) -> int:
    free = [free_units(*per_store[s], cfg.rules.safety) for s in cfg.stores if s in per_store]
    return channel_quantity(free, cfg.rules)


async def sku_figures(session: AsyncSession, channel: str, skus: Collection[str]) -> dict[str, int]:
    """A channel's quantity for SKUs whether or not they are listed (the API's ?sku=)."""
    cfg = (await channel_configs(session, channel))[channel]
    levels = await _levels(session, skus)
    return {sku: sku_quantity(cfg, levels.get(sku, {})) for sku in skus}
