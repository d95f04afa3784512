"""The fuzzer's world: three regions with their own keys, one receiving node, and a genuine
signed envelope of every event type addressed to it.

The receiving region (福建) gets from 广东 every event a peer may send it: the
processing-side events of a case 福建 accepted and forwarded to 广东 (a `cases` row says so),
the origin-side events of a case 广东 accepted and forwarded to 福建, and a receipt for an
event 福建 sent (an outbox row). With those rows in place, each genuine envelope is accepted
the first time and a duplicate after that, so mutations start from records that pass every
check, and a mutant that is stored anyway is a defect.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import rfc8785

from events.credentials import RegionCredentials
from events.directory_admin import DirectoryAdmin
from events.envelope import Envelope, b64url
from events.evidence import EvidenceType
from events.file_receiving import FileReceiver, region_opener
from events.inbox import Verifier
from events.keystore import KeyStore
from events.materials import describe, sealed_chunks
from events.models import (
    BETWEEN_PARTIES,
    ORIGIN_ONLY,
    PROCESSING_ONLY,
    EventType,
    accepting_region_of,
)
from events.outbox import enqueue, signed_envelope
from events.pg import Conn
from events.receipts import record_digest
from events.signing import RegionSigner
from events.trust import sealing_key
from events.verify import VerifyLimits, verifier_for
from regions.beijing_time import beijing_date

RECEIVER = "350000"  # the node under test
PEER = "440000"  # its partner, sending every event type
OUTSIDER = "110000"  # known to the directory, party to none of the cases
REGIONS = {RECEIVER: ("福建省", None), PEER: ("广东省", None), OUTSIDER: ("北京市", None)}
EVIDENCE = EvidenceType.HOUSEHOLD_REGISTER  # both RECEIVER and PEER provide it
# Quarantine rows are keyed by (topic, partition, offset); a topic no node reads lets a run
# check that nothing it wrote survived.
FUZZ_TOPIC = "tongban.fuzz.inbox"


def _case_no(region: str, now: datetime) -> str:
    alphabet = "0123456789ABCDEFGHJKMNPQRSTUVWXY"
    serial = "".join(secrets.choice(alphabet) for _ in range(8))
    return f"{region}-{beijing_date(now):%Y%m%d}-{serial}"  # as the window numbers a case


def _digest(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def _payload(event_type: EventType, case_no: str, now: datetime) -> dict[str, Any]:
    """A valid payload of each type, with non-ASCII text where the domain has it. Keyed by
    the wire name, so that a type added to events/models.py fails here by name."""
    later = (now + timedelta(days=20)).isoformat()
    sealed = {
        "recipient": RECEIVER,
        "key_id": f"{RECEIVER}-seal-1",
        "ephemeral_public": b64url(bytes(32)),
        "nonce": b64url(bytes(12)),
        "ciphertext": b64url(bytes(48)),
    }
    material = {"name": "居民身份证", "sha256": _digest("id-card"), "ref": "tb://materials/1"}
    payloads: dict[str, dict[str, Any]] = {
        "cn.tongban.case.forwarded": {
            "item_code": "GG-00102-000",
            "item_version": 3,
            "origin_region": accepting_region_of(case_no),
            "processing_region": RECEIVER,
            "applicant": sealed,
            "materials": [material],
            "fee_fen": 2500,
        },
        "cn.tongban.case.supplement-provided": {"materials": [material]},
        "cn.tongban.case.result-delivered": {"channel": "mail", "tracking_no": "SF1234567890"},
        "cn.tongban.case.withdrawn": {"reason": "申请人撤回"},
        "cn.tongban.case.accepted": {
            "promised_working_days": 10,
            "deadline": later,
            "deadline_calendar_known": True,
        },
        "cn.tongban.case.not-accepted": {"reason": "材料不全"},
        "cn.tongban.case.supplement-requested": {
            "missing": ["社会保障卡申领登记表"],
            "reason": "缺少登记表",
            "due": later,
        },
        "cn.tongban.case.decided": {
            "outcome": "approved",
            "reason": "符合条件",
            "decision_digest": _digest("decision"),
        },
        "cn.tongban.case.cancelled": {"revoked": ["license"]},
        "cn.tongban.case.document-issued": {
            "number": "440000-2026-SL-000001",
            "doc_type": "acceptance-notice",
            "title": "受理通知书",
            "issued_at": later,
            "document": {
                **material,
                "size": 12,
                "media_type": "application/pdf",
                "chunks": [_digest("chunk")],
            },
        },
        "cn.tongban.case.recalled": {"cause": "answer-timeout", "reason": "逾期未答复"},
        "cn.tongban.case.deadline-warning": {"deadline": later, "kind": "warning"},
        "cn.tongban.case.deadline-breached": {"deadline": later, "kind": "breached"},
        "cn.tongban.case.revocation-requested": {"reason": "迁出地不予办理"},
        "cn.tongban.case.revoked": {"reason": "迁出地不予办理"},
        "cn.tongban.case.rated": {
            "rating_id": "0b8f3c52-4c3e-4f0e-9d6a-7a1c2e5b9f10",
            "step": "concluded",
            "level": 2,
            "reasons": ["efficiency"],
            "comment": sealed,
            "channel": "online",
            "window": "福州市鼓楼区政务服务中心",
            "item_code": "GG-00102-000",
            "rated_at": now.isoformat(),
        },
        "cn.tongban.case.rating-answered": {
            "rating_id": "0b8f3c52-4c3e-4f0e-9d6a-7a1c2e5b9f10",
            "outcome": "rectified",
            "answer": sealed,
            "on_time": True,
            "answered_at": now.isoformat(),
        },
        # 数据多跑路: the accepting region PEER asks RECEIVER (a provider) for evidence, and
        # PEER (a provider too) answers a request RECEIVER made.
        "cn.tongban.evidence.requested": {
            "request_id": _digest("request")[:32],
            "evidence_type": EVIDENCE.value,
            "material": "居民户口簿",
            "item_code": "QR-00101-001",
            "item_region": RECEIVER,
            "subject": sealed,
            "consent": {
                "given_by": "申请人本人",
                "method": "window-signature",
                "at": now.isoformat(),
                "recorded_by": "广东 窗口 李四",
            },
            "answer_by": later,
        },
        "cn.tongban.evidence.answered": {
            "request_id": _digest("request")[:32],
            "evidence_type": EVIDENCE.value,
            "outcome": "refused",
            "refusal": "not-found",
        },
    }
    if event_type.value not in payloads:
        raise LookupError(f"no fuzz payload for {event_type.value}: add one to {__name__}")
    return {"case_no": case_no, **payloads[event_type.value]}


def canonical_signature(document: dict[str, Any], private: RegionSigner) -> str:
    """A signature over a raw document, as a sender would make it whatever the document
    says: the boundary must refuse hostile content even when it is validly signed."""
    body = {k: v for k, v in document.items() if k != "signature"}
    return b64url(private.private_key.sign(rfc8785.dumps(body)))


@dataclass
class FuzzWorld:
    """Keys, the receiving node's verifier and the genuine envelopes; built once per run."""

    store: KeyStore
    now: datetime
    credentials: dict[str, RegionCredentials] = field(init=False)
    origin_case: str = field(init=False)  # accepted by the receiver, processed by PEER
    peer_case: str = field(init=False)  # accepted by PEER, processed by the receiver
    sent: Envelope = field(init=False)  # what the receiver sent; the genuine receipt names it
    genuine: tuple[Envelope, ...] = field(init=False)
    genuine_wire: frozenset[bytes] = field(init=False)
    genuine_signed: frozenset[bytes] = field(init=False)  # what their signatures cover

    def __post_init__(self) -> None:
        self.credentials = {code: RegionCredentials(self.store, code) for code in REGIONS}
        self.origin_case = _case_no(RECEIVER, self.now)
        self.peer_case = _case_no(PEER, self.now)
        self.sent = self.sign(
            RECEIVER,
            EventType.FORWARDED,
            self.origin_case,
            PEER,
            {
                **_payload(EventType.FORWARDED, self.origin_case, self.now),
                "processing_region": PEER,
            },
        )
        envelopes = [
            self.sign(PEER, t, self.peer_case, RECEIVER, self._origin_payload(t))
            for t in sorted(ORIGIN_ONLY | BETWEEN_PARTIES)
        ]
        envelopes += [
            self.sign(PEER, t, self.origin_case, RECEIVER, _payload(t, self.origin_case, self.now))
            for t in sorted(PROCESSING_ONLY)
        ]
        receipt = {
            "case_no": self.origin_case,
            "receipted_event_id": self.sent.id,
            "receipted_digest": record_digest(self.sent.to_wire()),
            "log_head_seq": 7,
            "log_head_hash": _digest("peer log head"),
        }
        envelopes.append(self.sign(PEER, EventType.RECEIPT, self.origin_case, RECEIVER, receipt))
        envelopes += [
            self.sign(PEER, t, case_no, RECEIVER, _payload(t, case_no, self.now))
            for t, case_no in (
                (EventType.EVIDENCE_REQUESTED, self.peer_case),
                (EventType.EVIDENCE_ANSWERED, self.origin_case),
            )
        ]
        self.genuine = tuple(envelopes)
        self.genuine_wire = frozenset(e.to_wire() for e in envelopes)
        self.genuine_signed = frozenset(e.signing_bytes() for e in envelopes)

    def _origin_payload(self, event_type: EventType) -> dict[str, Any]:
        if event_type is not EventType.MATERIAL_CHUNK:
            return _payload(event_type, self.peer_case, self.now)
        # A chunk is genuine only sealed for the receiver, with the bytes its digest names.
        content = "居民身份证扫描件".encode() * 64
        material = describe("居民身份证", content, "application/pdf")
        key_id, key = sealing_key(self.credentials[PEER].directory(), RECEIVER, self.now)
        _, chunk = next(
            sealed_chunks(
                self.peer_case,
                material,
                content,
                recipient=RECEIVER,
                key_id=key_id,
                recipient_public=key,
            )
        )
        return chunk.model_dump(mode="json")

    def files(self) -> FileReceiver:
        """The receiving node's file intake, made as `regions/node.py` makes it."""
        return FileReceiver(region_opener(self.credentials[RECEIVER]))

    def signer(self, region: str) -> RegionSigner:
        return self.credentials[region].signer(self.now)

    def sign(
        self,
        sender: str,
        event_type: EventType,
        case_no: str,
        recipient: str,
        data: dict[str, Any],
        step: str | None = None,
    ) -> Envelope:
        return signed_envelope(
            self.signer(sender),
            event_type=event_type,
            case_no=case_no,
            step=step or f"fuzz/{event_type.value}/{secrets.token_hex(4)}",
            recipient=recipient,
            data=data,
            now=self.now,
        )

    def verifier(self) -> Verifier:
        """The receiving node's verifier, made as `regions/node.py` makes it."""
        receiver = self.credentials[RECEIVER]
        return verifier_for(RECEIVER, receiver.directory, VerifyLimits())

    def signer_at(self) -> Callable[[datetime], RegionSigner]:
        return self.credentials[RECEIVER].signer

    async def prepare(self, conn: Conn) -> None:
        """The receiver's own rows the genuine envelopes refer to (inside the caller's
        transaction): the case it forwarded to PEER, and the event it sent there."""
        await conn.execute(
            "INSERT INTO cases (case_no, role, item_code, item_version, origin_region,"
            " processing_region, status, applicant_sealed)"
            " VALUES ($1, 'origin', 'GG-00102-000', 3, $2, $3, 'forwarded', '{}')",
            self.origin_case,
            RECEIVER,
            PEER,
        )
        await enqueue(conn, self.sent)


def build_world(folder: Path, now: datetime | None = None) -> FuzzWorld:
    now = now or datetime.now(UTC)
    store = KeyStore(folder)
    store.bootstrap(REGIONS, validity=timedelta(days=30), now=now - timedelta(days=1))
    admin = DirectoryAdmin(store)
    for provider in (RECEIVER, PEER):
        admin.declare_provided(provider, [EVIDENCE.value])
    admin.publish(now - timedelta(hours=1))
    return FuzzWorld(store, now)
