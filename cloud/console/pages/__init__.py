"""The console's pages, one module each; every module has `add_routes(routes: ConsoleRoutes)`."""

from __future__ import annotations

from cloud.console.pages import (
    audit,
    coming,
    overview,
    products,
    setup,
    setup_channels,
    setup_shelves,
    stores,
)

PAGES = (overview, stores, products, setup, setup_channels, setup_shelves, audit, coming)

__all__ = ["PAGES", "audit", "coming", "overview", "products", "setup", "setup_channels", "setup_shelves",
           "stores"]
