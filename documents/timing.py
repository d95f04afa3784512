"""How long a document costs: renders and signs N typical documents and prints milliseconds per
document for each half. `python -m documents.timing [-n 30] [--pages 1] [--profile 25]`.

Figures for people comparing changes, never an assertion: the machine it runs on decides the
numbers, and the median of the documents is printed so that other work on the machine
counts less, beside the process's CPU time per document (other processes' work does not count
there at all). `--profile N` makes the documents once more under cProfile and prints the N
functions that took the most, cumulatively. The keys are made in a temporary trust folder,
the documents are the decisions a processing region issues most (不予许可 with reasons and
remedies, 准予许可, 受理); with `--pages` above 1 they are 材料接收凭证 listing enough materials
to run to that many pages.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
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


async def _make(store: KeyStore, data: DocumentData) -> tuple[float, float]:
    """Renders and signs one document as the issuer does; seconds for each half."""
    started = time.perf_counter()
    pdf = render_pdf(data)
    rendered = time.perf_counter()
    # As the issuer does: the key is looked up from the trust folder for every document.
    key = signing_key_from_store(store, _REGION, store.directory(), data.issued_at)
    await sign_pdf(pdf, key, signed_at=data.issued_at, reason=data.title)
    return rendered - started, time.perf_counter() - rendered


async def _measure(
    count: int, pages: int, folder: Path, profile: int
) -> tuple[float, float, float]:
    store = KeyStore(folder)
    store.bootstrap(
        {_REGION: (_REGION_NAME, None)},
        validity=timedelta(days=30),
        now=_ISSUED_AT - timedelta(days=5),
    )
    documents = [_document(serial, pages) for serial in range(1, count + 1)]
    # The font is parsed and the key's signer prepared once per process: not per document.
    await _make(store, documents[0])
    cpu_started = time.process_time()
    times = [await _make(store, data) for data in documents]
    cpu_ms = (time.process_time() - cpu_started) / count * 1000
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for data in documents:
            await _make(store, data)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(profile)
    # The median: other work on a shared machine lengthens some documents, not the typical one.
    render_ms = statistics.median(r for r, _ in times) * 1000
    sign_ms = statistics.median(s for _, s in times) * 1000
    return render_ms, sign_ms, cpu_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=30, help="documents to make")
    parser.add_argument("--pages", type=int, default=1, help="pages per document (about)")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="print cProfile's top N functions"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tongban-timing-") as folder:
        render_ms, sign_ms, cpu_ms = asyncio.run(
            _measure(args.count, args.pages, Path(folder), args.profile)
        )
    print(
        f"{args.count} documents, ~{args.pages} page(s), median per document:"
        f" render {render_ms:.1f} ms, sign {sign_ms:.1f} ms; CPU {cpu_ms:.1f} ms per document"
    )


if __name__ == "__main__":
    main()
