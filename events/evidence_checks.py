"""Who may ask for evidence and who may answer, checked at the inbound boundary (decision 0041).

Both rules are decided from the signed record and the signed trust directory alone, so a
forged or unentitled request is quarantined before anything is stored:
- a request comes from a party to the case: the accepting region (the case number names it)
  or the processing region, which proves it with the accepting region's signed `forwarded`
  envelope addressed to it (the mandate); and it is addressed to a region that provides the
  type;
- an answer comes from a region the directory lists as providing the type.
"""

from __future__ import annotations

from events.envelope import Envelope
from events.evidence import EvidenceType
from events.models import EventType, accepting_region_of
from events.rejections import Rejected, RejectReason
from events.signing import signature_valid
from events.trust import TrustDirectory, signing_key


def provides(directory: TrustDirectory, region: str, evidence_type: str) -> bool:
    entry = directory.region(region)
    return entry is not None and evidence_type in entry.provides


def providers(directory: TrustDirectory, evidence_type: EvidenceType) -> tuple[str, ...]:
    return tuple(r.code for r in directory.regions if evidence_type.value in r.provides)


def _not_entitled(envelope: Envelope, detail: str) -> Rejected:
    return Rejected(RejectReason.SENDER_NOT_ENTITLED, detail, envelope.senderregion)


def check_mandate(envelope: Envelope, directory: TrustDirectory) -> None:
    """The requester is the processing region of the case: the accepting region forwarded the
    case, for this item, to it (the forwarded envelope, signed by the accepting region)."""
    origin = accepting_region_of(envelope.subject)
    raw = envelope.data.get("mandate")
    if not isinstance(raw, dict):
        raise _not_entitled(
            envelope, f"{envelope.senderregion} is not the accepting region and shows no mandate"
        )
    try:
        mandate = Envelope.model_validate(raw)
    except ValueError as exc:
        raise _not_entitled(envelope, "the mandate is not an envelope") from exc
    if (
        mandate.type is not EventType.FORWARDED
        or mandate.subject != envelope.subject
        or mandate.senderregion != origin
        or mandate.recipientregion != envelope.senderregion
        or mandate.data.get("processing_region") != envelope.senderregion
        or mandate.data.get("item_code") != envelope.data.get("item_code")
        or envelope.data.get("item_region") != envelope.senderregion
    ):
        raise _not_entitled(
            envelope, "the mandate does not forward this case and item to the requester"
        )
    # Signed by the accepting region with a key valid when it forwarded and not revoked since.
    key = signing_key(directory, origin, mandate.keyid, mandate.time)
    if not signature_valid(mandate, key):
        raise _not_entitled(envelope, "the mandate's signature does not verify")


def check_evidence(envelope: Envelope, directory: TrustDirectory) -> None:
    """Raises `Rejected` when an evidence event's sender is not entitled to send it."""
    evidence_type = str(envelope.data.get("evidence_type", ""))
    if envelope.type is EventType.EVIDENCE_REQUESTED:
        if not provides(directory, envelope.recipientregion, evidence_type):
            raise _not_entitled(
                envelope, f"{envelope.recipientregion} does not provide {evidence_type}"
            )
        if envelope.senderregion != accepting_region_of(envelope.subject):
            check_mandate(envelope, directory)
    elif envelope.type is EventType.EVIDENCE_ANSWERED and not provides(
        directory, envelope.senderregion, evidence_type
    ):
        raise _not_entitled(envelope, f"{envelope.senderregion} does not provide {evidence_type}")
