"""Who used my data (issue 20 item 4, decision 0041): what one region knows of the uses of a
person's data, as they see it signed in at that region.

A region knows two kinds of use, both found by the digest of the person's ID number (the one
their identity token names, never one they type): the evidence it **provided** to another
region from its 电子证照库 (its use log, `evidence_uses`) and the evidence it **requested** from
a providing region for one of its cases (`evidence_requests`). Other people's rows never match
the digest, so nothing of theirs is shown. The other regions that may hold uses of the same
data are named from the signed trust directory (every region providing evidence) and from the
rows themselves (every region that asked here or was asked from here): the person signs in
there with the same national identity to read theirs.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

import asyncpg
from pydantic import BaseModel, ConfigDict, computed_field

from events.evidence import EvidenceType, Refusal, RequestStatus
from events.trust import TrustDirectory
from regions.codes import UnknownRegion, region
from regions.evidence.requesting import holder_requests

_PROVIDED = "provided"


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


def _region_name(code: str) -> str:
    try:
        return region(code).name
    except UnknownRegion:
        return code


class DataUse(_Out):
    """One use of the person's data: which region gave it to which, for which case and item,
    with whose consent, when, and how it ended."""

    kind: Literal["provided", "requested"]  # this region provided it / asked for it
    request_id: str
    case_no: str
    item_code: str
    evidence_type: str
    material: str
    requester_region: str
    provider_region: str
    outcome: str  # the provider's answer (provided, a refusal) or the request's status
    outcome_label_zh: str
    at: datetime
    consent: dict[str, Any]
    # 全程网办: the evidence waits for the person to approve or decline its use here.
    awaiting_your_decision: bool = False

    @computed_field  # type: ignore[prop-decorator]
    @property
    def evidence_label_zh(self) -> str:
        return EvidenceType(self.evidence_type).label_zh

    @computed_field  # type: ignore[prop-decorator]
    @property
    def summary_zh(self) -> str:
        requester, provider = (
            _region_name(self.requester_region),
            _region_name(self.provider_region),
        )
        label = EvidenceType(self.evidence_type).label_zh
        what = f"{requester}为办件{self.case_no}向{provider}调取您的{label}"
        return f"{what}：{self.outcome_label_zh}"


class RegionRef(_Out):
    code: str
    name: str


class DataUses(_Out):
    region: RegionRef
    uses: tuple[DataUse, ...] = ()
    # Where else uses of this person's data may be logged: sign in there to read them.
    elsewhere: tuple[RegionRef, ...] = ()


def _outcome_label(outcome: str) -> str:
    if outcome == _PROVIDED:
        return "已提供"
    try:
        return Refusal(outcome).label_zh
    except ValueError:
        return outcome


def _consent(raw: object) -> dict[str, Any]:
    loaded = json.loads(raw) if isinstance(raw, str) else raw
    return dict(loaded) if isinstance(loaded, dict) else {}


async def data_uses(
    conn: asyncpg.Connection | asyncpg.Pool, here: str, directory: TrustDirectory, holder: str
) -> DataUses:
    """The uses of `holder`'s data this region logged, oldest first, and the regions that may
    have logged more."""
    provided = await conn.fetch(
        "SELECT requester_region, request_id, case_no, evidence_type, item_code, material,"
        " consent, outcome, answered_at FROM evidence_uses WHERE holder_digest = $1"
        " ORDER BY answered_at, request_id",
        holder,
    )
    uses = [
        DataUse(
            kind="provided",
            request_id=r["request_id"],
            case_no=r["case_no"],
            item_code=r["item_code"],
            evidence_type=r["evidence_type"],
            material=r["material"],
            requester_region=r["requester_region"],
            provider_region=here,
            outcome=r["outcome"],
            outcome_label_zh=_outcome_label(r["outcome"]),
            at=r["answered_at"],
            consent=_consent(r["consent"]),
        )
        for r in provided
    ]
    uses += [
        DataUse(
            kind="requested",
            request_id=r.request_id,
            case_no=r.case_no,
            item_code=r.item_code,
            evidence_type=r.evidence_type,
            material=r.material,
            requester_region=here,
            provider_region=r.provider_region,
            outcome=r.status.value,
            outcome_label_zh=r.status.label_zh,
            at=r.requested_at,
            consent=r.consent,
            awaiting_your_decision=r.status is RequestStatus.HELD,
        )
        for r in await holder_requests(conn, holder)
    ]
    uses.sort(key=lambda u: (u.at, u.request_id))
    others = {r.code for r in directory.regions if r.provides}
    others |= {u.requester_region for u in uses} | {u.provider_region for u in uses}
    others.discard(here)
    return DataUses(
        region=RegionRef(code=here, name=_region_name(here)),
        uses=tuple(uses),
        elsewhere=tuple(RegionRef(code=c, name=_region_name(c)) for c in sorted(others)),
    )
