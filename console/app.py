"""The console as an app of its own, mounted by the API's app under /console.

Its own app so that its error handlers (pages, not JSON problems), its headers and its absence
from the published OpenAPI concern only its requests. It reads the API's services (the same
catalog, workflows and token file: no second copy of any rule) from `app.state.services`, and
its own state (region, session store, clock) from `app.state.console`.

A section's pages are a router in their module (`window_pages`, `office_pages`,
`operator_pages`; 好差评's `rating_pages` and `follow_up_pages`), included here.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from console import (
    applicant_pages,
    errors,
    follow_up_pages,
    office_pages,
    operator_pages,
    rating_pages,
    sign_in,
    window_pages,
)
from console.auth import PREFIX
from console.config import ConsoleConfig, ConsoleState
from console.pages import STATIC_DIR
from console.security import ConsoleHeaders
from console.sessions import PostgresSessionStore
from events.trust import DirectoryError
from regions.api.services import ApiServices
from regions.codes import UnknownRegion, region

SECTION_ROUTERS = (
    window_pages.router,
    office_pages.router,
    operator_pages.router,
    rating_pages.router,
    follow_up_pages.router,
)


def region_name(services: ApiServices) -> str:
    """The region's name as the signed trust directory publishes it, else GB/T 2260's."""
    try:
        # Tests build services without credentials where no page names the region.
        credentials = services.credentials
        entry = credentials.directory().region(services.region) if credentials else None
    except DirectoryError:
        entry = None
    if entry is not None:
        return entry.name
    try:
        return region(services.region).name
    except UnknownRegion:
        return services.region


def create_console(services: ApiServices, config: ConsoleConfig | None = None) -> FastAPI:
    config = config or ConsoleConfig()
    console = FastAPI(
        title=f"tongban console — region {services.region}",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    console.state.services = services
    console.state.console = ConsoleState(
        region=services.region,
        config=config,
        sessions=config.sessions or PostgresSessionStore(services.pool),
        name_of_region=lambda: region_name(services),
    )
    errors.install(console)
    console.add_middleware(ConsoleHeaders)
    console.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    console.include_router(sign_in.router)
    for router in SECTION_ROUTERS:
        console.include_router(router)
    if services.identity is not None:
        # 网上办事 (全程网办, decision 0034): the applicant's own pages and session.
        applicant_pages.install(console)
        console.include_router(applicant_pages.router)
    return console


def mount_console(app: FastAPI, services: ApiServices, config: ConsoleConfig | None = None) -> None:
    app.mount(PREFIX, create_console(services, config), name="console")


def console_of(app: FastAPI) -> FastAPI:
    """The console app mounted in the API's app (tests add routes to it)."""
    for route in app.routes:
        if getattr(route, "name", None) == "console":
            mounted: FastAPI = route.app  # type: ignore[attr-defined]
            return mounted
    raise LookupError("no console mounted in this app")
