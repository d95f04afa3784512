"""Why a case cannot be handled across two regions for an item. Pure: no I/O imports."""

from __future__ import annotations

from dataclasses import dataclass


class CatalogError(Exception):
    """Base of every refusal the catalog gives; callers that only need a 422 catch this."""


class UnknownItem(CatalogError):
    def __init__(self, item_code: str, region: str) -> None:
        super().__init__(f"item {item_code} is not in the catalog as {region} resolves it")
        self.item_code = item_code
        self.region = region


class ItemMismatch(CatalogError):
    """The two regions resolve different versions, so they would not handle the same item."""

    def __init__(
        self,
        item_code: str,
        origin: str,
        origin_version: int,
        processing: str,
        processing_version: int,
    ) -> None:
        super().__init__(
            f"item {item_code}: region {origin} resolves v{origin_version}, region {processing}"
            f" resolves v{processing_version}; a case may be forwarded only when both resolve"
            " the same version"
        )
        self.item_code = item_code
        self.origin = origin
        self.origin_version = origin_version
        self.processing = processing
        self.processing_version = processing_version


class ModeNotAllowed(CatalogError):
    def __init__(self, item_code: str, version: int, mode: str, allowed: tuple[str, ...]) -> None:
        super().__init__(
            f"item {item_code} v{version} does not allow {mode}; allowed: {', '.join(allowed)}"
        )
        self.item_code = item_code
        self.version = version
        self.mode = mode
        self.allowed = allowed


class SameRegion(CatalogError):
    def __init__(self, region: str) -> None:
        super().__init__(f"origin and processing region are both {region}; nothing to forward")
        self.region = region


class RouteBindingError(CatalogError):
    """An application's places do not bind the item's route (多地联办); `rule` names the rule."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


@dataclass(frozen=True)
class RuleViolation:
    """One broken catalog rule: its name (the pydantic error type), where, and why."""

    rule: str
    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.rule}: {self.message}"


class InvalidCatalog(CatalogError):
    def __init__(self, source: str, violations: list[RuleViolation]) -> None:
        super().__init__(
            f"{source}: {len(violations)} catalog rule(s) broken\n"
            + "\n".join(f"  {v}" for v in violations)
        )
        self.source = source
        self.violations = violations
