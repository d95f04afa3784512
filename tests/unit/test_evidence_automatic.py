"""What the processing region asks for by itself when a case arrives (decision 0041): each
material the item's evidence satisfies, of the one other region that provides it, only with
the applicant's consent, and never twice for one case and material."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from catalog.catalog import default_catalog
from catalog.models import Material, ServiceItem
from events.directory_admin import DirectoryAdmin
from events.evidence import EvidenceType
from events.keystore import KeyStore
from events.models import Consent, ConsentMethod
from events.trust import TrustDirectory
from regions.evidence.automatic import NotAsked, PlannedRequest, automatic_request_id, plan_requests
from regions.window import Application, ApplicationRefused, recorded_consent
from tests.unit.conftest import NOW

B = "440000"
ITEM = "QR-00101-004"  # 夫妻投靠户口迁移: 广东's version has 居民户口簿 and 结婚证 by data sharing
CONSENT = Consent(
    given_by="申请人本人",
    method=ConsentMethod.WINDOW_SIGNATURE,
    at=NOW - timedelta(minutes=5),
    recorded_by="福建 350000 窗口 张三",
)


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> TrustDirectory:
    """北京 provides 居民户口簿 and 结婚证; 上海 also 结婚证, and 出生医学证明 and 营业执照;
    广东 (the processing region) provides 社会保障卡信息 itself."""
    keys = KeyStore(Path(tmp_path_factory.mktemp("evidence-auto-trust")))
    keys.bootstrap(
        {
            "350000": ("福建省", None),
            B: ("广东省", None),
            "110000": ("北京市", None),
            "310000": ("上海市", None),
        },
        validity=timedelta(days=30),
        now=NOW - timedelta(days=1),
    )
    admin = DirectoryAdmin(keys)
    admin.declare_provided(
        "110000",
        [EvidenceType.HOUSEHOLD_REGISTER.value, EvidenceType.MARRIAGE_CERTIFICATE.value],
    )
    admin.declare_provided(
        "310000",
        [
            EvidenceType.MARRIAGE_CERTIFICATE.value,
            EvidenceType.BIRTH_MEDICAL_CERTIFICATE.value,
            EvidenceType.BUSINESS_LICENCE.value,
        ],
    )
    admin.declare_provided(B, [EvidenceType.SOCIAL_SECURITY_CARD.value])
    admin.publish(NOW - timedelta(hours=1))
    return keys.directory()


def _item(*materials: Material) -> ServiceItem:
    return default_catalog().resolve(ITEM, B).model_copy(update={"materials": materials})


def _shared(name: str, *kinds: EvidenceType) -> Material:
    return Material(name=name, mandatory=True, shareable=True, evidence=kinds)


def test_with_consent_each_material_is_asked_of_the_one_region_providing_it(
    directory: TrustDirectory,
) -> None:
    item = default_catalog().resolve(ITEM, B)
    planned, skipped = plan_requests(
        item, directory, B, consent=CONSENT, organisation=False, asked=()
    )
    assert planned == (PlannedRequest("居民户口簿", EvidenceType.HOUSEHOLD_REGISTER, "110000"),)
    # 结婚证 is provided by 北京 and by 上海: whose registry holds it is not guessed at.
    assert skipped == (NotAsked("结婚证", "no single other region provides it"),)


def test_without_consent_nothing_is_asked(directory: TrustDirectory) -> None:
    item = default_catalog().resolve(ITEM, B)
    planned, skipped = plan_requests(item, directory, B, consent=None, organisation=False)
    assert planned == ()
    assert [s.material for s in skipped] == ["居民户口簿", "结婚证"]
    assert {s.reason for s in skipped} == {"no consent recorded"}


def test_a_material_asked_for_already_is_not_asked_again(directory: TrustDirectory) -> None:
    item = default_catalog().resolve(ITEM, B)
    planned, skipped = plan_requests(
        item, directory, B, consent=CONSENT, organisation=False, asked={"居民户口簿"}
    )
    assert planned == ()
    assert [s.material for s in skipped] == ["结婚证"]


def test_the_request_id_is_one_per_case_and_material() -> None:
    case, other = "350000-20261127-ABCDEFGH", "350000-20261127-ABCDEFGJ"
    first = automatic_request_id(case, "居民户口簿")
    assert re.fullmatch(r"[0-9a-f]{32}", first)  # the wire's request id
    assert automatic_request_id(case, "居民户口簿") == first  # redelivered, restarted: same
    assert automatic_request_id(case, "结婚证") != first
    assert automatic_request_id(other, "居民户口簿") != first


def test_the_first_type_one_other_region_provides_is_asked_for(
    directory: TrustDirectory,
) -> None:
    item = _item(
        _shared(
            "婚育证明", EvidenceType.MARRIAGE_CERTIFICATE, EvidenceType.BIRTH_MEDICAL_CERTIFICATE
        ),
        # Only the processing region itself provides it: nothing goes over the exchange.
        _shared("社保缴纳证明", EvidenceType.SOCIAL_SECURITY_CARD),
        Material(name="居民身份证", mandatory=True),
    )
    planned, skipped = plan_requests(item, directory, B, consent=CONSENT, organisation=False)
    assert planned == (
        PlannedRequest("婚育证明", EvidenceType.BIRTH_MEDICAL_CERTIFICATE, "310000"),
    )
    assert skipped == (NotAsked("社保缴纳证明", "no single other region provides it"),)


def test_an_organisations_licence_is_asked_for_only_when_it_applies(
    directory: TrustDirectory,
) -> None:
    item = _item(_shared("营业执照", EvidenceType.BUSINESS_LICENCE))
    person, _ = plan_requests(item, directory, B, consent=CONSENT, organisation=False)
    assert person == ()
    company, _ = plan_requests(item, directory, B, consent=CONSENT, organisation=True)
    assert company == (PlannedRequest("营业执照", EvidenceType.BUSINESS_LICENCE, "310000"),)


def _application(consent: Consent | None) -> Application:
    return Application(
        item_code="QR-00101-001",
        processing_region=B,
        applicant_name="测试申请人",
        applicant_id_number="11010519491231002X",
        applicant_phone="13800000000",
        evidence_consent=consent,
    )


def test_the_consent_kept_is_the_one_the_channel_takes() -> None:
    online = CONSENT.model_copy(update={"method": ConsentMethod.ONLINE_CONFIRMATION})
    assert recorded_consent(_application(CONSENT), online=False) == CONSENT
    assert recorded_consent(_application(online), online=True) == online
    assert recorded_consent(_application(None), online=False) is None
    # A clerk cannot record an online confirmation, nor an online form a window signature.
    for consent, channel in ((online, False), (CONSENT, True)):
        with pytest.raises(ApplicationRefused) as refused:
            recorded_consent(_application(consent), online=channel)
        assert refused.value.rule == "consent_method"
