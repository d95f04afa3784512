"""The route of a 多地联办 item: legs across places, each a region's own decision (decision 0035).

Pure: no I/O imports (workflows import it inside the sandbox). A route names *places* by their
role in the item (迁入地, 迁出地, 转出地, 转入地 …); an application binds each place to a region.
Legs are listed in an order in which they can run: a leg waits only for legs listed before it
(`after`), so a route is acyclic by construction, and legs whose `after` are met run in
parallel. A leg receives the documents the legs it waits for issued.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from catalog.errors import RouteBindingError
from regions.codes import REGIONS

Label = Annotated[str, Field(min_length=1, max_length=100)]
Place = Annotated[str, Field(min_length=1, max_length=20)]
# A leg's step code names it in case numbers, events and workflow ids: short and ASCII.
STEP_PATTERN = r"^[a-z][a-z0-9-]{1,39}$"


def _rule(rule: str, message: str, **context: Any) -> PydanticCustomError:
    return PydanticCustomError(rule, message, context or None)


class Leg(BaseModel):
    """One region's part of the route: it decides, issues a document, and can undo it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    step: str = Field(pattern=STEP_PATTERN)
    label: Label  # what the leg does, as people read it: 签发准予迁入证明
    place: Place  # which of the route's places performs it
    after: tuple[str, ...] = ()  # legs that must be approved first (none: starts at once)
    issues: Label  # the document an approving decision issues: 准予迁入证明
    # How the leg's region undoes an approval when a later leg refuses (撤销准予迁入证明);
    # None when an approval leaves nothing to undo.
    revoked_by: Label | None = None
    promised_days: int = Field(ge=0, le=365)  # working days of this leg


class Route(BaseModel):
    """The legs of a 多地联办 item and the places they run in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    places: tuple[Place, ...] = Field(min_length=2)
    legs: tuple[Leg, ...] = Field(min_length=2)

    @field_validator("places")
    @classmethod
    def _distinct_places(cls, places: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(places)) != len(places):
            raise _rule(
                "route_place_twice", "route places {places} repeat one", places="、".join(places)
            )
        return places

    @field_validator("legs")
    @classmethod
    def _legs(cls, legs: tuple[Leg, ...], info: ValidationInfo) -> tuple[Leg, ...]:
        places = info.data.get("places")
        earlier: set[str] = set()
        for leg in legs:
            if leg.step in earlier:
                raise _rule("route_step_twice", "route lists leg {step} twice", step=leg.step)
            unknown = [a for a in leg.after if a not in earlier]
            if unknown:
                raise _rule(
                    "route_after_unknown",
                    "leg {step} waits for {after}, which is not a leg listed before it",
                    step=leg.step,
                    after=", ".join(unknown),
                )
            if places is not None and leg.place not in places:
                raise _rule(
                    "route_place_unknown",
                    "leg {step} runs in {place}, which is not one of the route's places",
                    step=leg.step,
                    place=leg.place,
                )
            earlier.add(leg.step)
        if places is not None:
            idle = [p for p in places if all(leg.place != p for leg in legs)]
            if idle:
                raise _rule(
                    "route_place_idle", "route place {places} runs no leg", places="、".join(idle)
                )
        return legs

    def working_days(self) -> int:
        """The longest chain of legs' promised days: the least time the route can promise."""
        finished: dict[str, int] = {}
        for leg in self.legs:
            finished[leg.step] = (
                max((finished[a] for a in leg.after), default=0) + leg.promised_days
            )
        return max(finished.values())


def bind(route: Route, places: Mapping[str, str]) -> dict[str, str]:
    """Each of the route's places bound to the region an application names for it.

    Raises `RouteBindingError` naming the rule: every place bound, no place the route does not
    have, and two places never the same region (a 迁入地 that is also the 迁出地 is not a
    migration across regions)."""
    unknown = sorted(set(places) - set(route.places))
    if unknown:
        raise RouteBindingError(
            "route_place_unknown",
            f"the route has no place {'、'.join(unknown)}; its places: {'、'.join(route.places)}",
        )
    missing = [p for p in route.places if p not in places]
    if missing:
        raise RouteBindingError(
            "route_place_unbound", f"the application names no region for {'、'.join(missing)}"
        )
    regions = [places[p] for p in route.places]
    strangers = sorted({r for r in regions if r not in REGIONS})
    if strangers:
        raise RouteBindingError(
            "unknown_region", f"{'、'.join(strangers)} is not a known GB/T 2260 region code"
        )
    if len(set(regions)) != len(regions):
        raise RouteBindingError(
            "route_places_same_region", "two places of the route name the same region"
        )
    return {p: places[p] for p in route.places}
