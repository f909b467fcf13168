"""The console's pages, one module each; every module has `add_routes(routes: ConsoleRoutes)`."""

from __future__ import annotations

from cloud.console.pages import coming, overview, products, stores

PAGES = (overview, stores, products, coming)

__all__ = ["PAGES", "coming", "overview", "products", "stores"]
