"""Sample document data for the documents tests: one per type, with the texts each must show."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from documents.models import (
    DocumentData,
    DocumentType,
    MaterialLine,
    Remedies,
    WithdrawalKind,
    document_number,
)

ISSUED_AT = datetime(2026, 11, 27, 17, 30, tzinfo=UTC)  # 2026-11-28 01:30 in Beijing
APPLICANT = "林秀英"
ITEM_NAME = "建筑施工企业安全生产许可证核发"
CASE_NO = "350000-20261127-000042"

_REGION_NAMES = {"350000": "福建省", "440000": "广东省", "110000": "北京市"}

# Per type: the fields it adds, and texts its PDF must contain beyond the common ones.
EXTRA: dict[DocumentType, tuple[dict[str, Any], tuple[str, ...]]] = {
    DocumentType.RECEIPT: (
        {
            "materials": (
                MaterialLine(name="营业执照副本", original_checked=True),
                MaterialLine(name="安全生产管理制度文件", copies=2),
            ),
            "received_by": "窗口收件人 陈明（工号 FJ0107）",
        },
        ("营业执照副本", "已核验原件", "安全生产管理制度文件", "陈明"),
    ),
    DocumentType.FORMAL_REVIEW_NOTICE: (
        {"missing": ("主要负责人安全生产考核合格证书",), "supplement_deadline": date(2026, 12, 4)},
        ("主要负责人安全生产考核合格证书", "一次性告知", "2026年12月4日"),
    ),
    DocumentType.SERVICE_RECEIPT: (
        {
            "delivery_channel": "EMS 邮寄",
            "tracking_no": "EA123456789CN",
            "delivered_document": "440000-2026-ZX-000007",
        },
        ("EMS 邮寄", "EA123456789CN", "440000-2026-ZX-000007"),
    ),
    DocumentType.ACCEPTANCE: (
        {"received_on": date(2026, 11, 20), "decision_due": date(2026, 12, 18)},
        ("予以受理", "2026年11月20日", "2026年12月18日"),
    ),
    DocumentType.NON_ACCEPTANCE: (
        {
            "reason": "该申请事项依法不属于本机关职权范围",
            "remedies": Remedies(review_body="广东省人民政府"),
        },
        ("不予受理", "不属于本机关职权范围", "行政复议", "六十日", "行政诉讼", "六个月"),
    ),
    DocumentType.SUPPLEMENT_REQUEST: (
        {
            "missing": ("近三个月安全生产投入证明", "特种作业人员操作资格证书"),
            "supplement_deadline": date(2026, 12, 11),
        },
        (
            "近三个月安全生产投入证明",
            "特种作业人员操作资格证书",
            "2026年12月11日",
            "视为撤回",
            "补正材料本身",
        ),
    ),
    DocumentType.APPROVAL: (
        {"decision_text": "核发安全生产许可证，编号（粤）JZ安许证字〔2026〕000123，有效期三年。"},
        ("准予行政许可", "JZ安许证字"),
    ),
    DocumentType.DENIAL: (
        {
            "reason": "申请人未设置安全生产管理机构，不符合《安全生产许可证条例》第六条的条件",
            "legal_basis": "《安全生产许可证条例》第六条",
            "remedies": Remedies(review_body="广东省人民政府", court="广州铁路运输中级法院"),
        },
        ("不予行政许可", "未设置安全生产管理机构", "广州铁路运输中级法院", "六十日"),
    ),
    DocumentType.WITHDRAWAL: (
        {"withdrawal_kind": WithdrawalKind.DEEMED},
        ("视为撤回", "终止办理"),
    ),
    DocumentType.TERMINATION: (
        {"reason": "申请人死亡，没有继承人"},
        ("终止办理", "申请人死亡，没有继承人"),
    ),
}


def sample(doc_type: DocumentType, region: str = "440000", serial: int = 123) -> DocumentData:
    number = document_number(region, 2026, doc_type, serial)
    fields, _texts = EXTRA[doc_type]
    return DocumentData(
        type=doc_type,
        number=number,
        case_no=CASE_NO,
        region=region,
        region_name=_REGION_NAMES[region],
        item_code="11440000MB2D0001",
        item_name=ITEM_NAME,
        item_version="3",
        applicant_name=APPLICANT,
        issued_at=ISSUED_AT,
        verification_url=f"https://zwfw.example.gov.cn/verify/{number}",
        verification_code="7K3Q9XPA",
        **fields,
    )
