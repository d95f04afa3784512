"""Default API port of a region's node: nodes of several regions share one machine locally."""

from __future__ import annotations

from regions.node_settings import NodeSettings

# Offsets for the regions the local stack runs; any other region derives one from its code.
_OFFSETS = {"350000": 1, "440000": 2, "350100": 3, "350200": 4, "110000": 5}


def api_port(settings: NodeSettings) -> int:
    if settings.api_port:
        return settings.api_port
    offset = _OFFSETS.get(settings.region, 10 + int(settings.region[:2]))
    return settings.api_port_base + offset


def api_base(settings: NodeSettings) -> str:
    """The node's API as its region's systems reach it (documents' QR codes, callbacks)."""
    return f"http://{settings.api_host}:{api_port(settings)}"
