"""Documents: numbers, data rules, and the PDF each type renders to (read back with poppler)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pydantic import ValidationError

from documents.models import (
    DocumentData,
    DocumentType,
    WithdrawalKind,
    display_number,
    document_number,
    parse_document_number,
)
from documents.render import FontNotFound, find_cjk_font, render_pdf
from tests.unit.documents_samples import (
    APPLICANT,
    CASE_NO,
    EXTRA,
    ITEM_NAME,
    sample,
)


def test_a_number_names_region_year_type_and_serial() -> None:
    number = document_number("440000", 2026, DocumentType.ACCEPTANCE, 123)
    assert number == "440000-2026-SL-000123"
    parsed = parse_document_number(number)
    assert (parsed.region, parsed.year, parsed.doc_type, parsed.serial) == (
        "440000",
        2026,
        DocumentType.ACCEPTANCE,
        123,
    )
    assert str(parsed) == number
    # Serials past a million keep their digits rather than wrap.
    assert document_number("350100", 2027, DocumentType.DENIAL, 1_234_567) == (
        "350100-2027-BX-1234567"
    )


def test_the_wenhao_form_uses_the_province_abbreviation_or_the_city_name() -> None:
    assert display_number("440000-2026-SL-000123", "广东省") == "粤（受）字〔2026〕第123号"
    assert display_number("350100-2026-BS-000009", "福州市") == "福州市（不受）字〔2026〕第9号"


@pytest.mark.parametrize("bad", ["440000-2026-XX-000001", "44000-2026-SL-000001", "x"])
def test_a_malformed_number_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="not a document number"):
        parse_document_number(bad)


def test_every_type_has_a_distinct_code_and_a_chinese_title() -> None:
    codes = {t.code for t in DocumentType}
    assert len(codes) == len(DocumentType)
    assert DocumentType.SUPPLEMENT_REQUEST.title_zh == "补正材料通知书"
    assert DocumentType.DENIAL.title_zh == "不予行政许可决定书"
    assert {t for t in DocumentType if t.side == "A"} == {
        DocumentType.RECEIPT,
        DocumentType.FORMAL_REVIEW_NOTICE,
        DocumentType.SERVICE_RECEIPT,
    }


def test_a_number_of_another_region_or_type_is_refused() -> None:
    good = sample(DocumentType.ACCEPTANCE)
    with pytest.raises(ValidationError, match="is not a acceptance number of 350000"):
        DocumentData.model_validate(good.model_dump() | {"region": "350000"})
    with pytest.raises(ValidationError, match="is not a denial number"):
        DocumentData.model_validate(good.model_dump() | {"type": DocumentType.DENIAL})


def test_a_refusal_without_reason_or_remedies_is_refused() -> None:
    good = sample(DocumentType.NON_ACCEPTANCE)
    with pytest.raises(ValidationError, match="needs reason, remedies"):
        DocumentData.model_validate(good.model_dump() | {"reason": None, "remedies": None})


def test_the_applicant_name_stays_out_of_the_repr() -> None:
    data = sample(DocumentType.DENIAL)
    assert APPLICANT not in repr(data)
    assert APPLICANT not in str(data)


def test_the_issue_date_is_the_beijing_date() -> None:
    # 17:30 UTC on 27 November is 01:30 on the 28th in Beijing.
    assert sample(DocumentType.ACCEPTANCE).issued_on.isoformat() == "2026-11-28"


def _text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    )
    # Layout mode may break a long line; the checks look for phrases, not line breaks.
    return "".join(out.stdout.split())


@pytest.mark.parametrize("doc_type", list(DocumentType))
def test_each_type_renders_its_title_names_and_reasons(
    doc_type: DocumentType, tmp_path: Path
) -> None:
    data = sample(doc_type)
    pdf = render_pdf(data)
    assert pdf.startswith(b"%PDF-")
    text = _text(pdf, tmp_path)
    _fields, wanted = EXTRA[doc_type]
    for phrase in (
        doc_type.title_zh,
        CASE_NO,
        APPLICANT,
        ITEM_NAME,
        data.number,
        data.display_number,
        "广东省",
        "2026年11月28日",
        *wanted,
    ):
        assert "".join(phrase.split()) in text, f"{doc_type}: {phrase!r} missing"

    subprocess.run(
        ["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(tmp_path / "doc.pdf"),
         str(tmp_path / "page")],
        check=True,
        capture_output=True,
    )  # fmt: skip
    png = next(tmp_path.glob("page*.png")).read_bytes()
    assert png.startswith(b"\x89PNG")
    # A blank page compresses to almost nothing; a rendered document does not.
    assert len(png) > 5_000


def test_a_second_supplement_round_says_it_is_limited_to_what_new_materials_raised(
    tmp_path: Path,
) -> None:
    first = _text(render_pdf(sample(DocumentType.SUPPLEMENT_REQUEST)), tmp_path)
    second_data = sample(DocumentType.SUPPLEMENT_REQUEST).model_copy(update={"supplement_round": 2})
    second = _text(render_pdf(second_data), tmp_path)
    assert "第二次补正" not in first
    assert "第二次补正：仅限前次补正材料本身引出的问题" in second


def test_a_withdrawal_by_the_applicant_says_so(tmp_path: Path) -> None:
    data = sample(DocumentType.WITHDRAWAL).model_copy(
        update={"withdrawal_kind": WithdrawalKind.BY_APPLICANT}
    )
    text = _text(render_pdf(data), tmp_path)
    assert "准予撤回" in text
    assert "申请人撤回" in text
    assert "视为撤回" not in text


def test_a_deemed_acceptance_cites_article_32_and_the_receipt_day(tmp_path: Path) -> None:
    data = sample(DocumentType.ACCEPTANCE).model_copy(update={"deemed_accepted": True})
    text = _text(render_pdf(data), tmp_path)
    assert "第三十二条" in text
    assert "自收到申请材料之日（2026年11月20日）起即为受理" in text


def test_the_same_data_renders_the_same_bytes() -> None:
    data = sample(DocumentType.DENIAL)
    assert render_pdf(data) == render_pdf(data)
    other = data.model_copy(update={"reason": "另一个理由"})
    assert render_pdf(other) != render_pdf(data)


def test_the_font_comes_from_the_override_or_a_known_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(FontNotFound, match="names no file"):
        find_cjk_font({"TONGBAN_CJK_FONT": str(tmp_path / "absent.ttf")})
    found = find_cjk_font({})
    assert found.path.is_file()
    monkeypatch.setattr("documents.render.KNOWN_FONTS", ((tmp_path / "none.ttc", 0),))
    with pytest.raises(FontNotFound, match="fonts-wqy-zenhei"):
        find_cjk_font({})
