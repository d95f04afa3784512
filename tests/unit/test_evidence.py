"""Evidence between regions (issue 20, decision 0041) without services: the evidence types in
the catalog and the signed directory, and the inbound boundary's rules for who may ask and
who may answer."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from catalog.catalog import default_catalog
from catalog.models import Material
from events.directory_admin import DirectoryAdmin
from events.envelope import Envelope
from events.evidence import (
    EvidenceAnswered,
    EvidenceRequested,
    EvidenceSubject,
    EvidenceType,
    Refusal,
    RequestStatus,
    evidence_ref,
    evidence_type_named,
    shared_by,
)
from events.evidence_checks import providers
from events.keystore import KeyStore, KeyStoreError
from events.models import Consent, ConsentMethod, EventType, SealedBox
from events.outbox import signed_envelope
from events.rejections import Rejected, RejectReason
from events.sealing import open_box, seal
from events.trust import DirectoryError, TrustDirectory, load_directory, sealing_key
from events.verify import VerifyLimits, verify_record
from regions.evidence.answering import consented, entitled
from regions.evidence.provider import LicenceFileError, holder_digest, read_licences
from regions.evidence.uses import DataUse
from tests.unit.conftest import NOW

CASE = "350000-20261127-ABCDEFGH"
MARRIAGE = EvidenceType.MARRIAGE_CERTIFICATE
ITEM = "QR-00101-004"  # 夫妻投靠户口迁移: 440000's version has 结婚证 by data sharing


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    """Four regions; 北京 provides 结婚证 and 居民户口簿 in the published directory."""
    folder = Path(tmp_path_factory.mktemp("evidence-trust"))
    keys = KeyStore(folder)
    keys.bootstrap(
        {
            "350000": ("福建省", None),
            "440000": ("广东省", None),
            "110000": ("北京市", None),
            "310000": ("上海市", None),
        },
        validity=timedelta(days=30),
        now=NOW - timedelta(days=1),
    )
    admin = DirectoryAdmin(keys)
    admin.declare_provided("110000", [MARRIAGE.value, EvidenceType.HOUSEHOLD_REGISTER.value])
    admin.publish(NOW - timedelta(hours=1))
    return keys


@pytest.fixture(scope="module")
def directory(store: KeyStore) -> TrustDirectory:
    return store.directory()


def _envelope(
    store: KeyStore,
    sender: str,
    recipient: str,
    event_type: EventType,
    data: dict[str, Any],
    step: str = "s",
) -> Envelope:
    signer = store.signer(sender, store.directory(), NOW)
    return signed_envelope(
        signer,
        event_type=event_type,
        case_no=CASE,
        step=step,
        recipient=recipient,
        data=data,
        now=NOW,
    )


def _forwarded(store: KeyStore, to: str = "440000", item: str = ITEM) -> Envelope:
    box = _box(store, to)
    data = {
        "case_no": CASE,
        "item_code": item,
        "item_version": 2,
        "origin_region": "350000",
        "processing_region": to,
        "applicant": box.model_dump(mode="json"),
        "materials": [],
        "fee_fen": 0,
    }
    return _envelope(store, "350000", to, EventType.FORWARDED, data, "forwarded")


def _box(store: KeyStore, recipient: str) -> SealedBox:
    key_id, public = sealing_key(store.directory(), recipient, NOW)
    subject = EvidenceSubject(name="测试申请人", id_number="11010519491231002X")
    return seal(
        subject.model_dump_json().encode(),
        case_no=CASE,
        recipient=recipient,
        key_id=key_id,
        recipient_public=public,
    )


def _request(
    store: KeyStore, *, item_region: str = "440000", mandate: Envelope | None = None
) -> dict[str, Any]:
    return EvidenceRequested(
        case_no=CASE,
        request_id="0" * 32,
        evidence_type=MARRIAGE,
        material="结婚证",
        item_code=ITEM,
        item_region=item_region,
        subject=_box(store, "110000"),
        consent=Consent(
            given_by="申请人本人",
            method=ConsentMethod.WINDOW_SIGNATURE,
            at=NOW - timedelta(minutes=5),
            recorded_by="440000 窗口 李四",
        ),
        answer_by=NOW + timedelta(hours=1),
        mandate=None if mandate is None else mandate.model_dump(mode="json"),
    ).model_dump(mode="json", exclude_none=True)


def _verify(envelope: Envelope, recipient: str, directory: TrustDirectory) -> Envelope:
    return verify_record(
        envelope.to_wire(),
        recipient=recipient,
        directory=directory,
        now=NOW,
        limits=VerifyLimits(),
    )


def _refused(envelope: Envelope, recipient: str, directory: TrustDirectory) -> Rejected:
    with pytest.raises(Rejected) as refused:
        _verify(envelope, recipient, directory)
    return refused.value


# --- who provides what ---------------------------------------------------------------------


def test_the_signed_directory_names_each_types_providers(directory: TrustDirectory) -> None:
    assert providers(directory, MARRIAGE) == ("110000",)
    assert providers(directory, EvidenceType.BUSINESS_LICENCE) == ()


def test_the_root_signature_covers_what_a_region_provides(store: KeyStore, tmp_path: Path) -> None:
    copy = tmp_path / "trust"
    shutil.copytree(store.folder, copy)
    document = (copy / "directory.json").read_text()
    # 上海 passes itself off as a provider of 结婚证 by editing the published file.
    forged = TrustDirectory.model_validate_json(document)
    regions = tuple(
        r.model_copy(update={"provides": (MARRIAGE.value,)}) if r.code == "310000" else r
        for r in forged.regions
    )
    (copy / "directory.json").write_text(
        forged.model_copy(update={"regions": regions}).model_dump_json()
    )
    with pytest.raises(DirectoryError, match="does not verify"):
        KeyStore(copy).directory()


def test_a_region_providing_nothing_signs_as_before(
    store: KeyStore, directory: TrustDirectory
) -> None:
    # Only 北京 names what it provides: the others' entries sign as they did before the field
    # existed, so directories published by an older release still verify.
    assert directory.signing_bytes().decode().count('"provides"') == 1
    assert load_directory(directory.model_dump_json().encode(), store.pinned_root()) == directory


def test_only_known_types_can_be_declared(store: KeyStore) -> None:
    with pytest.raises(KeyStoreError, match="not evidence types"):
        DirectoryAdmin(store).declare_provided("110000", ["cn.evidence.horoscope"])


def test_types_are_named_by_identifier_or_chinese_name() -> None:
    assert evidence_type_named("结婚证") is MARRIAGE
    assert evidence_type_named(MARRIAGE.value) is MARRIAGE
    with pytest.raises(ValueError, match="not an evidence type"):
        evidence_type_named("驾驶证")


def test_catalog_materials_name_the_evidence_that_satisfies_them() -> None:
    item = default_catalog().resolve(ITEM, "440000")
    named = {m.name: m.evidence for m in item.evidence_materials()}
    assert named == {
        "居民户口簿": (EvidenceType.HOUSEHOLD_REGISTER,),
        "结婚证": (MARRIAGE,),
    }
    # Satisfied by evidence, so the applicant need not carry them (unless it is refused).
    assert not {"居民户口簿", "结婚证"} & {m.name for m in item.carried_materials()}


def test_only_a_shareable_material_is_satisfied_by_evidence() -> None:
    with pytest.raises(ValidationError, match="must be shareable"):
        Material.model_validate({"name": "结婚证", "mandatory": True, "evidence": [MARRIAGE]})


# --- who may ask, who may answer -----------------------------------------------------------


def test_the_accepting_region_may_ask_a_provider(
    store: KeyStore, directory: TrustDirectory
) -> None:
    request = _envelope(
        store,
        "350000",
        "110000",
        EventType.EVIDENCE_REQUESTED,
        _request(store, item_region="440000"),
    )
    assert _verify(request, "110000", directory).type is EventType.EVIDENCE_REQUESTED


def test_the_processing_region_asks_with_the_accepting_regions_mandate(
    store: KeyStore, directory: TrustDirectory
) -> None:
    data = _request(store, mandate=_forwarded(store))
    request = _envelope(store, "440000", "110000", EventType.EVIDENCE_REQUESTED, data)
    assert _verify(request, "110000", directory).senderregion == "440000"


def test_a_region_not_party_to_the_case_cannot_ask(
    store: KeyStore, directory: TrustDirectory
) -> None:
    bare = _envelope(
        store,
        "310000",
        "110000",
        EventType.EVIDENCE_REQUESTED,
        _request(store, item_region="310000"),
    )
    refused = _refused(bare, "110000", directory)
    assert refused.reason is RejectReason.SENDER_NOT_ENTITLED
    assert "no mandate" in refused.detail
    # Nor with the mandate of the region the case was forwarded to.
    borrowed = _envelope(
        store,
        "310000",
        "110000",
        EventType.EVIDENCE_REQUESTED,
        _request(store, item_region="310000", mandate=_forwarded(store)),
    )
    assert _refused(borrowed, "110000", directory).reason is RejectReason.SENDER_NOT_ENTITLED


def test_a_mandate_must_be_the_accepting_regions_own_signature(
    store: KeyStore, directory: TrustDirectory
) -> None:
    genuine = _forwarded(store)
    forged = genuine.model_copy(update={"data": {**genuine.data, "fee_fen": 1}})
    data = _request(store, mandate=forged)
    request = _envelope(store, "440000", "110000", EventType.EVIDENCE_REQUESTED, data)
    refused = _refused(request, "110000", directory)
    assert refused.reason is RejectReason.SENDER_NOT_ENTITLED
    assert "signature" in refused.detail


def test_a_request_goes_only_to_a_region_providing_the_type(
    store: KeyStore, directory: TrustDirectory
) -> None:
    request = _envelope(
        store,
        "350000",
        "310000",
        EventType.EVIDENCE_REQUESTED,
        _request(store, item_region="440000"),
    )
    refused = _refused(request, "310000", directory)
    assert refused.reason is RejectReason.SENDER_NOT_ENTITLED
    assert "does not provide" in refused.detail


def _answer(refusal: Refusal = Refusal.NOT_FOUND) -> dict[str, Any]:
    return EvidenceAnswered(
        case_no=CASE,
        request_id="0" * 32,
        evidence_type=MARRIAGE,
        outcome="refused",
        refusal=refusal,
    ).model_dump(mode="json", exclude_none=True)


def test_only_a_provider_of_the_type_may_answer(store: KeyStore, directory: TrustDirectory) -> None:
    genuine = _envelope(store, "110000", "440000", EventType.EVIDENCE_ANSWERED, _answer())
    assert _verify(genuine, "440000", directory).senderregion == "110000"
    impostor = _envelope(store, "310000", "440000", EventType.EVIDENCE_ANSWERED, _answer())
    assert _refused(impostor, "440000", directory).reason is RejectReason.SENDER_NOT_ENTITLED


def test_an_answer_is_either_the_document_or_a_refusal(store: KeyStore) -> None:
    box = _box(store, "440000")
    with pytest.raises(ValidationError, match="carries its reason"):
        EvidenceAnswered(
            case_no=CASE, request_id="0" * 32, evidence_type=MARRIAGE, outcome="refused"
        )
    with pytest.raises(ValidationError, match="carries its document"):
        EvidenceAnswered(
            case_no=CASE,
            request_id="0" * 32,
            evidence_type=MARRIAGE,
            outcome="provided",
            document=box,
            document_sha256="a" * 64,
            refusal=Refusal.NOT_FOUND,
        )


def test_the_subject_crosses_sealed_for_the_provider_only(store: KeyStore) -> None:
    request = EvidenceRequested.model_validate(_request(store))
    wire = _envelope(store, "350000", "110000", EventType.EVIDENCE_REQUESTED, _request(store))
    assert "11010519491231002X" not in wire.to_wire().decode()
    assert "测试申请人" not in wire.to_wire().decode("utf-8")
    key = store.sealing_private("110000", request.subject.key_id)
    opened = EvidenceSubject.model_validate_json(
        open_box(request.subject, case_no=CASE, private_key=key)
    )
    assert opened.id_number == "11010519491231002X"
    assert "11010519491231002X" not in repr(opened)


# --- the provider's rules ------------------------------------------------------------------


def test_entitlement_follows_the_items_materials(store: KeyStore) -> None:
    request = EvidenceRequested.model_validate(_request(store))
    assert entitled(default_catalog(), request)
    # The national version of the item takes the 结婚证 on paper: no entitlement there.
    assert not entitled(default_catalog(), request.model_copy(update={"item_region": "350000"}))
    other = request.model_copy(update={"evidence_type": EvidenceType.BUSINESS_LICENCE})
    assert not entitled(default_catalog(), other)


def test_consent_must_be_recent_and_given_before_the_request(store: KeyStore) -> None:
    request = EvidenceRequested.model_validate(_request(store))
    assert consented(request, NOW)
    assert not consented(request, NOW + timedelta(days=31))
    assert not consented(request, NOW - timedelta(hours=1))


def test_a_bad_licence_line_is_refused_by_its_number_without_its_content() -> None:
    good = (
        '{"evidence_type": "结婚证", "licence_no": "J110105-2020-000123",'
        ' "holder_name": "测试申请人", "holder_id": "11010519491231002X",'
        ' "issuer": "北京市朝阳区民政局", "issued_on": "2020-05-20"}'
    )
    assert read_licences([good, ""])[0].evidence_type is MARRIAGE
    with pytest.raises(LicenceFileError) as refused:
        read_licences([good, '{"holder_id": "11010519491231002X"}'])
    assert "line 2" in str(refused.value)
    assert "11010519491231002X" not in str(refused.value)


def test_licences_are_found_by_a_digest_of_the_holders_identifier() -> None:
    assert holder_digest("11010519491231002x") == holder_digest("11010519491231002X")
    assert "11010519491231002X" not in holder_digest("11010519491231002X")


def test_held_evidence_waits_for_the_applicant_and_declined_evidence_is_handed_in() -> None:
    assert not RequestStatus.HELD.on_paper  # neither used nor due on paper yet
    assert RequestStatus.DECLINED.on_paper
    assert RequestStatus.DECLINED.label_zh == "申请人不同意使用，需自行提交材料"
    assert {s for s in RequestStatus if s.on_paper} == {
        RequestStatus.REFUSED,
        RequestStatus.TIMED_OUT,
        RequestStatus.UNVERIFIED,
        RequestStatus.DECLINED,
    }


def test_a_data_use_tells_the_person_who_asked_whom_for_what() -> None:
    use = DataUse(
        kind="provided",
        request_id="0" * 32,
        case_no="350000-20261130-ABCDEFGH",
        item_code="QR-00101-001",
        evidence_type=EvidenceType.HOUSEHOLD_REGISTER.value,
        material="居民户口簿",
        requester_region="440000",
        provider_region="110000",
        outcome="no-consent",
        outcome_label_zh=Refusal.NO_CONSENT.label_zh,
        at=NOW,
        consent={},
    )
    assert use.summary_zh == (
        "广东省为办件350000-20261130-ABCDEFGH向北京市调取您的居民户口簿：无申请人授权"
    )


def test_the_case_file_names_the_provider_of_a_material_obtained_by_data_sharing() -> None:
    ref = evidence_ref("110000", "f" * 32)
    assert shared_by(ref) == "110000"
    assert shared_by("window-scan:居民身份证") is None
