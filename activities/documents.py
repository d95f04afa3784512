"""Documents a step issues: what the case activities ask of the region's document issuer.

A step's outgoing event (受理, 不予受理, 补正, 决定 ...) or effect (收件) is the occasion for a
document; the issuer (built by the node: templates, the region's signing certificate, the
catalog) renders, signs, numbers and keeps it in the same transaction as the step, once per
occasion. The activities know only this interface.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from events.models import MaterialRef
from events.pg import Conn


@dataclass(frozen=True)
class Occasion:
    """What a step did that may issue a document."""

    case_no: str
    kind: Literal["event", "effect"]
    name: str  # the event type (wire name) or the effect
    step: str  # the event's step or the effect's key: one document per occasion
    at: datetime
    data: Mapping[str, object] = field(default_factory=dict)  # the event's payload
    # The effects the same commit records: how a step was taken (a deemed acceptance records
    # its own notice effect beside the `accepted` event).
    effects: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}:{self.step}"


@dataclass(frozen=True)
class IssuedDocument:
    number: str
    doc_type: str
    title: str
    issued_at: datetime
    file: MaterialRef  # the signed PDF as the case file lists it (digest, size, chunks)


class DocumentIssuer(Protocol):
    async def issue(self, conn: Conn, occasion: Occasion) -> IssuedDocument | None:
        """The document this occasion issues, written (blob and record) in the caller's
        transaction; the one issued before for the same occasion when retried; None when the
        occasion issues no document."""
