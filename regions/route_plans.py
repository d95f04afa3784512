"""A 多地联办 application's route: the item's legs with the places the application names.

The window calls this once, when the case is submitted; the plan travels in the case's request,
so the case keeps the route it started with (decision 0035).
"""

from __future__ import annotations

from collections.abc import Mapping

from catalog.errors import RouteBindingError
from catalog.models import ServiceItem
from catalog.routes import bind
from workflows.lifecycle.route import PlannedLeg, RoutePlan


def plan_route(item: ServiceItem, places: Mapping[str, str]) -> RoutePlan:
    """Raises `RouteBindingError` (its `rule` names what failed) for an item without a route or
    places that do not bind it."""
    if item.route is None:
        raise RouteBindingError(
            "item_has_no_route", f"item {item.code} v{item.version} defines no 多地联办 route"
        )
    regions = bind(item.route, places)
    return RoutePlan(
        legs=tuple(
            PlannedLeg(
                step=leg.step,
                label=leg.label,
                place=leg.place,
                region=regions[leg.place],
                after=leg.after,
                issues=leg.issues,
                revoked_by=leg.revoked_by,
                promised_days=leg.promised_days,
            )
            for leg in item.route.legs
        )
    )
