"""A retried submission is the same application whenever the clerk's input is the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from events.models import Applicant, MaterialRef, OriginalsChecked
from regions.submission_keys import RecordedApplication

FIRST = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def _application(checked_by: str, at: datetime) -> RecordedApplication:
    material = MaterialRef(
        name="居民身份证",
        sha256="a" * 64,
        ref="window://materials/aaaaaaaaaaaa",
        originals_checked=OriginalsChecked(by=checked_by, at=at),
    )
    applicant = Applicant(name="张三", id_number="11010519491231002X", phone="13800000000")
    return RecordedApplication("GG-00102-000", "440000", applicant, (material,), 0)


def test_a_retry_checked_later_is_the_same_application() -> None:
    first = _application("350000-w1 T-001", FIRST)
    assert first.same_as(_application("350000-w1 T-001", FIRST + timedelta(seconds=30)))


def test_another_checker_or_material_is_another_application() -> None:
    first = _application("350000-w1 T-001", FIRST)
    assert not first.same_as(_application("350000-w1 T-002", FIRST))
    other = _application("350000-w1 T-001", FIRST)
    moved = other.materials[0].model_copy(update={"sha256": "b" * 64})
    assert not first.same_as(RecordedApplication(**{**other.__dict__, "materials": (moved,)}))
