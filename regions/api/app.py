"""The window API's app factory: routers per role, error mapping, injected services."""

from __future__ import annotations

from fastapi import FastAPI

from regions.api import (
    case_routes,
    document_routes,
    effect_routes,
    errors,
    file_routes,
    health_routes,
    office_routes,
    window_routes,
)
from regions.api.services import ApiServices
from regions.console.app import mount_console
from regions.console.config import ConsoleConfig


def create_app(services: ApiServices, console: ConsoleConfig | None = None) -> FastAPI:
    app = FastAPI(
        title=f"tongban window API — region {services.region}",
        version="1",
        description=(
            "跨省通办: window clerks of the accepting region (A) and officers of the processing"
            " region (B) take a case's human steps. Bearer tokens carry role and region."
        ),
    )
    app.state.services = services
    errors.install(app)
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
    # The people's pages (decision 0032), over the same services.
    mount_console(app, services, console)
    return app
