"""How long a document costs: renders and signs N typical documents and prints milliseconds per
document for each half. `python -m documents.timing [-n 30] [--pages 1]`.

Figures for people comparing changes, never an assertion: the machine it runs on decides the
numbers, and the median of the documents is printed so that other work on the machine
counts less. The keys are made in a temporary trust folder, the documents are the decisions a
processing region issues most (不予许可 with reasons and remedies, 准予许可, 受理); with
`--pages` above 1 they are 材料接收凭证 listing enough materials to run to that many pages.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from documents.models import DocumentData, DocumentType, MaterialLine, Remedies, document_number
from documents.render import render_pdf
from documents.sign import sign_pdf, signing_key_from_store
from events.keystore import KeyStore

_ISSUED_AT = datetime(2026, 11, 27, 17, 30, tzinfo=UTC)
_REGION, _REGION_NAME = "440000", "广东省"
_MATERIALS_PER_PAGE = 25  # rows of the receipt's table on a page; the first page has fewer


def _document(serial: int, pages: int) -> DocumentData:
    kind = (DocumentType.DENIAL, DocumentType.APPROVAL, DocumentType.ACCEPTANCE)[serial % 3]
    if pages > 1:
        kind = DocumentType.RECEIPT
    number = document_number(_REGION, 2026, kind, serial)
    extras: dict[DocumentType, dict[str, Any]] = {
        DocumentType.DENIAL: {
            "reason": "申请人未设置安全生产管理机构，不符合《安全生产许可证条例》第六条的条件",
            "legal_basis": "《安全生产许可证条例》第六条",
            "remedies": Remedies(review_body="广东省人民政府", court="广州铁路运输中级法院"),
        },
        DocumentType.RECEIPT: {
            "materials": tuple(
                MaterialLine(name=f"安全生产管理制度文件（第{i}册）", original_checked=i % 2 == 0)
                for i in range(1, (pages - 1) * _MATERIALS_PER_PAGE)
            ),
            "received_by": "窗口收件人 陈明（工号 FJ0107）",
        },
        DocumentType.APPROVAL: {"decision_text": "核发安全生产许可证，有效期三年。"},
        DocumentType.ACCEPTANCE: {
            "received_on": _ISSUED_AT.date() - timedelta(days=7),
            "decision_due": _ISSUED_AT.date() + timedelta(days=21),
        },
    }
    return DocumentData(
        type=kind,
        number=number,
        case_no=f"350000-20261127-{serial:06d}",
        region=_REGION,
        region_name=_REGION_NAME,
        item_code="11440000MB2D0001",
        item_name="建筑施工企业安全生产许可证核发",
        item_version="3",
        applicant_name="林秀英",
        issued_at=_ISSUED_AT,
        verification_url=f"https://zwfw.example.gov.cn/verify/{number}",
        verification_code=f"{serial:08d}",
        **extras[kind],
    )


async def _measure(count: int, pages: int, folder: Path) -> tuple[float, float]:
    store = KeyStore(folder)
    store.bootstrap(
        {_REGION: (_REGION_NAME, None)},
        validity=timedelta(days=30),
        now=_ISSUED_AT - timedelta(days=5),
    )
    directory = store.directory()
    documents = [_document(serial, pages) for serial in range(1, count + 1)]
    render_pdf(documents[0])  # the font is parsed once per process; not a per-document cost
    render_s: list[float] = []
    sign_s: list[float] = []
    for data in documents:
        started = time.perf_counter()
        pdf = render_pdf(data)
        rendered = time.perf_counter()
        # As the issuer does: the key is looked up from the trust folder for every document.
        key = signing_key_from_store(store, _REGION, directory, data.issued_at)
        await sign_pdf(pdf, key, signed_at=data.issued_at, reason=data.title)
        signed = time.perf_counter()
        render_s.append(rendered - started)
        sign_s.append(signed - rendered)
    # The median: other work on a shared machine lengthens some documents, not the typical one.
    return statistics.median(render_s) * 1000, statistics.median(sign_s) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=30, help="documents to make")
    parser.add_argument("--pages", type=int, default=1, help="pages per document (about)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tongban-timing-") as folder:
        render_ms, sign_ms = asyncio.run(_measure(args.count, args.pages, Path(folder)))
    print(
        f"{args.count} documents, ~{args.pages} page(s), median per document:"
        f" render {render_ms:.1f} ms, sign {sign_ms:.1f} ms"
    )


if __name__ == "__main__":
    main()
