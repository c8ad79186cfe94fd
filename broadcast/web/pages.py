"""Mount the web interface on the app: page routers, static files, login redirects and error pages."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from broadcast.web.core import LoginRequired, PageForbidden, PageNotFound, login_redirect, render, t

STATIC_DIR = Path(__file__).parent / "static"


def mount(app: FastAPI) -> None:
    """Everything the browser interface needs, in one call from the app factory."""
    from broadcast.web import (
        admin,
        approvals,
        auth,
        campaign_view,
        composer,
        dashboard,
        gateways,
        inbox,
        live,
        radio,
        residents,
    )

    # composer before campaign_view: /campaigns/new must not be read as /campaigns/{id}
    for module in (auth, dashboard, residents, composer, live, campaign_view, approvals, inbox, radio, admin,
                   gateways):
        app.include_router(module.router)
    app.include_router(residents.upload_router)
    app.mount("/static/web", StaticFiles(directory=STATIC_DIR), name="web-static")

    @app.exception_handler(LoginRequired)
    async def to_login(_request: Request, exc: LoginRequired) -> Response:
        return login_redirect(exc.next_url)

    @app.exception_handler(PageForbidden)
    async def forbidden(request: Request, exc: PageForbidden) -> Response:
        return render(request, "error.html", {"heading": t(request, "error.forbidden.title"),
                                              "message": t(request, exc.reason_key)}, status_code=403)

    @app.exception_handler(PageNotFound)
    async def not_found(request: Request, _exc: PageNotFound) -> Response:
        return render(request, "error.html", {"heading": t(request, "error.notfound.title"),
                                              "message": t(request, "error.notfound")}, status_code=404)
