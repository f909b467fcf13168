"""Pages not built yet: they show what the API already offers for them, until someone builds them
(web.NAV marks them `coming`; replace the route here with the page's own module)."""

from __future__ import annotations

from aiohttp import web

from cloud.console.web import NAV, ConsoleRoutes, NavItem, PageHandler, principal, render

API_OF = {
    "channels": "GET /v1/channels, /v1/channels/{channel}/availability",
    "orders": "POST /v1/orders, GET /v1/orders/{id}",
    "transfers": "GET /v1/transfers, /v1/transfers/suggestions",
    "setup": "PUT /v1/stores/{store}, /v1/products/{sku}, /v1/channels/{channel}",
    "audit": "—",
    "replenishment": "POST /v1/replenishment/runs, GET /v1/purchase-orders",
    "reports": "GET /v1/reports/{report}",
}


def _page(item: NavItem) -> PageHandler:
    async def page(request: web.Request) -> web.StreamResponse:
        if not item.visible_to(principal(request)):
            raise web.HTTPForbidden()
        return render(request, "coming.html", {"api": API_OF.get(item.section, "—")}, section=item.section)

    return page


def add_routes(routes: ConsoleRoutes) -> None:
    for item in NAV:
        if item.coming:
            routes.get(item.path, _page(item), item.section)
