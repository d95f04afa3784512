"""Which evidence a region asks for by itself when a case reaches it (decision 0041).

The processing region decides the case, so it is the one that needs the evidence: when the
accepting region's `forwarded` event arrives carrying the applicant's consent, it asks, for
each material of the item that evidence satisfies, the one region the signed trust directory
names as providing it. Nobody types a command; without consent nothing is asked and the
material comes on paper.

Pure decisions here (what to ask whom, and under which request id); the requester writes the
requests. The id is derived from the case and the material, so a redelivered `forwarded`, a
node restarted half-way or two deliveries racing never ask twice for one material.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass

from catalog.models import ServiceItem
from events.evidence import EvidenceType
from events.evidence_checks import providers
from events.models import Consent
from events.trust import TrustDirectory


@dataclass(frozen=True)
class PlannedRequest:
    material: str
    evidence_type: EvidenceType
    provider: str


@dataclass(frozen=True)
class NotAsked:
    """A material evidence would satisfy that is not asked for, and why (for the log)."""

    material: str
    reason: str


def automatic_request_id(case_no: str, material: str) -> str:
    """One request per case and material, whoever delivers the case and how often."""
    digest = hashlib.sha256(f"tongban/evidence-auto/v1|{case_no}|{material}".encode())
    return digest.hexdigest()[:32]


def plan_requests(
    item: ServiceItem,
    directory: TrustDirectory,
    region: str,
    *,
    consent: Consent | None,
    organisation: bool,
    asked: Collection[str] = (),
) -> tuple[tuple[PlannedRequest, ...], tuple[NotAsked, ...]]:
    """What `region` asks for by itself for a case of `item`: per material, the first of its
    evidence types (in catalog order) that exactly one other region provides and whose
    subject the case names (an organisation's only when it applies with its credit code).
    Nothing without consent; nothing for a material in `asked` (a request exists already).
    A type several regions provide is not guessed at: whose 电子证照库 holds the applicant's
    licence is for an officer to name (`tongban evidence request --provider`)."""
    planned: list[PlannedRequest] = []
    skipped: list[NotAsked] = []
    for material in item.evidence_materials():
        if material.name in asked:
            continue
        if consent is None:
            skipped.append(NotAsked(material.name, "no consent recorded"))
            continue
        choice = None
        for kind in material.evidence:
            if kind.subject_kind == "organisation" and not organisation:
                continue
            offered = [p for p in providers(directory, kind) if p != region]
            if len(offered) == 1:
                choice = PlannedRequest(material.name, kind, offered[0])
                break
        if choice is None:
            skipped.append(NotAsked(material.name, "no single other region provides it"))
        else:
            planned.append(choice)
    return tuple(planned), tuple(skipped)
