"""The window API's app factory: routers per role, error mapping, injected services."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from console.app import mount_console
from console.config import ConsoleConfig
from regions.api import (
    applicant_routes,
    case_routes,
    document_routes,
    effect_routes,
    errors,
    file_routes,
    health_routes,
    office_routes,
    rating_routes,
    window_routes,
)
from regions.api.services import ApiServices

# Swagger UI's own files, served by the node from the installed `swagger-ui-bundle-v2`
# package: /docs works on a network without internet access (issue 24). ReDoc is not served
# (no package ships it); /openapi.json is there for any other viewer.
DOCS_ASSETS = "/docs/assets"


def _install_docs(app: FastAPI) -> None:
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} — Swagger UI",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon-32x32.png",
            # No online validator badge: nothing on the page asks another host.
            swagger_ui_parameters={"validatorUrl": None},
        )


def create_app(services: ApiServices, console: ConsoleConfig | None = None) -> FastAPI:
    app = FastAPI(
        docs_url=None,  # served from the installed package below, not from a CDN
        redoc_url=None,
        title=f"tongban window API — region {services.region}",
        version="1",
        description=(
            "跨省通办: window clerks of the accepting region (A) and officers of the processing"
            " region (B) take a case's human steps. Bearer tokens carry role and region."
        ),
    )
    app.state.services = services
    errors.install(app)
    _install_docs(app)
    for module in (
        window_routes,
        office_routes,
        case_routes,
        file_routes,
        document_routes,
        effect_routes,
        health_routes,
    ):
        app.include_router(module.router)
    if services.identity is not None:
        # 全程网办 (decision 0034): only a node that names its identity provider serves it.
        app.include_router(applicant_routes.router)
    rating_routes.install(app, services)  # 好差评 (decision 0039)
    # The people's pages (decision 0032), over the same services.
    mount_console(app, services, console)
    return app
