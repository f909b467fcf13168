"""The adapter for each platform kind, built from a channel's config."""

from __future__ import annotations

from cloud.channels.base import StockAdapter
from cloud.channels.config import ChannelConfig
from cloud.channels.douyin import DouyinAdapter
from cloud.channels.http import Clock, HttpAdapter, utcnow
from cloud.channels.jd import JdAdapter
from cloud.channels.pdd import PddAdapter
from cloud.channels.shopify import ShopifyAdapter
from cloud.channels.taobao import TaobaoAdapter
from cloud.channels.wechat import WechatAdapter

ADAPTERS: dict[str, type[HttpAdapter]] = {
    "taobao": TaobaoAdapter, "jd": JdAdapter, "pdd": PddAdapter, "douyin": DouyinAdapter,
    "shopify": ShopifyAdapter, "wechat": WechatAdapter,
}


def adapter_for(config: ChannelConfig, clock: Clock = utcnow) -> StockAdapter:
    # Each platform's class implements StockAdapter (set_stock, get_stock); their shared base
    # HttpAdapter, which the table is typed with, has only the HTTP plumbing.
    adapter: StockAdapter = ADAPTERS[config.platform](config, clock=clock)  # type: ignore[assignment]
    return adapter
