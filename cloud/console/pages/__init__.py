"""The console's pages, one module each; every module has `add_routes(routes: ConsoleRoutes)`."""

from __future__ import annotations

from cloud.console.pages import (
    audit,
    channels,
    coming,
    orders,
    overview,
    products,
    replenishment,
    reports,
    setup,
    setup_channels,
    setup_shelves,
    stores,
    transfers,
)

PAGES = (overview, stores, products, channels, orders, transfers, replenishment, reports, setup,
         setup_channels, setup_shelves, audit, coming)

__all__ = ["PAGES", "audit", "channels", "coming", "orders", "overview", "products", "replenishment",
           "reports", "setup", "setup_channels", "setup_shelves", "stores", "transfers"]
