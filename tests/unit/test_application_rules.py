"""The window refuses invalid identity numbers with the rule that failed."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from regions.demo import demo_application
from regions.window import Application

VALID_CREDIT_CODE = "91350100MA2Y00000E"  # checksum-valid, made for tests


def _with(**overrides: object) -> Application:
    return Application.model_validate({**demo_application().model_dump(), **overrides})


def test_a_valid_credit_code_is_kept_and_sealed_with_the_applicant() -> None:
    application = _with(applicant_credit_code=VALID_CREDIT_CODE)
    assert application.applicant().credit_code == VALID_CREDIT_CODE


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("applicant_credit_code", "91350100MA2Y00000X", "credit_code_checksum"),
        ("applicant_credit_code", "9135", "credit_code_checksum"),
        ("applicant_id_number", "350102199001011239", "id_number_checksum"),
        ("applicant_id_number", "350102199013011234", "id_number_checksum"),  # no 13th month
    ],
)
def test_an_invalid_number_names_its_rule(field: str, value: str, rule: str) -> None:
    with pytest.raises(ValidationError) as refused:
        _with(**{field: value})
    assert [e["type"] for e in refused.value.errors()] == [rule]
