"""Cases with files across a province pair: MiB/s end to end, what a chunk costs, and a sniff
of every topic for file bytes and personal data.

Each case carries three scanned files (PDF, JPEG, PNG; `--mib` in all, random bytes after
each format's magic) from 350000's window to 440000. The clock runs from each submission to
the moment 440000 holds the case's last file whole (every chunk in, assembled, digest
checked). CPU is read from /proc for both nodes over exactly the measured window.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer

from bench.pair_run import AUTOMATIC, PairUnderTest, bench_application, paced
from bench.proc_cpu import cpu_s
from bench.stats import Latency
from events.models import CHUNK_BYTES, EventType
from regions.material_files import MaterialFile
from regions.window import submit_case

MIB = 1024 * 1024


@dataclass(frozen=True)
class FileRunResult:
    cases: int
    mib_per_case: float
    duration_s: float
    mib_per_s: float
    submit_to_file_complete: Latency
    chunks: int
    chunk_wire_bytes_mean: float  # a chunk's signed, sealed envelope as it crossed the bus
    node_cpu_ms_per_chunk: float  # both nodes' CPU over the run, per chunk
    ms_per_chunk: float  # wall time per chunk at this concurrency
    sniffed_records: int
    sniff_findings: list[str]


def case_files(mib: float) -> list[MaterialFile]:
    """The demo item's mandatory materials plus a photo, as scans of `mib` MiB together."""
    total = int(mib * MIB)
    sizes = (total * 2 // 5, total * 2 // 5, total - 2 * (total * 2 // 5))
    return [
        MaterialFile("居民身份证", b"%PDF-1.7\n" + os.urandom(sizes[0])),
        MaterialFile("社会保障卡申领登记表", b"\xff\xd8\xff\xe0" + os.urandom(sizes[1])),
        MaterialFile("照片", b"\x89PNG\r\n\x1a\n" + os.urandom(sizes[2])),
    ]


async def _files_complete_at(db: asyncpg.Pool, case_no: str, expected: int) -> float | None:
    row = await db.fetchrow(
        "SELECT count(*) AS n, extract(epoch FROM max(complete_at)) AS at FROM case_files"
        " WHERE case_no = $1 AND complete_at IS NOT NULL",
        case_no,
    )
    return float(row["at"]) if row is not None and row["n"] == expected else None


async def _until_complete(db: asyncpg.Pool, case_no: str, expected: int) -> None:
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if await _files_complete_at(db, case_no, expected) is not None:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{case_no}: files not complete at the processing region in 600 s")


async def run_files(
    pair: PairUnderTest, bootstrap: str, *, cases: int, mib: float, concurrency: int = 4
) -> FileRunResult:
    async with asyncpg.create_pool(pair.dsns[1], min_size=1, max_size=concurrency + 1) as db:
        return await _run(pair, db, bootstrap, cases=cases, mib=mib, concurrency=concurrency)


async def _run(
    pair: PairUnderTest,
    db: asyncpg.Pool,
    bootstrap: str,
    *,
    cases: int,
    mib: float,
    concurrency: int,
) -> FileRunResult:
    submitted: dict[str, tuple[float, list[MaterialFile]]] = {}
    secrets_of: list[bytes] = []

    async def one(i: int) -> None:
        files = case_files(mib)
        application = bench_application(i).model_copy(update={"materials": ()})
        secrets_of.append(application.applicant_id_number.encode())
        secrets_of.append(application.applicant_name.encode())
        began = time.time()
        handle = await submit_case(
            pool=pair.services.pool,
            client=pair.services.client,
            credentials=pair.services.credentials,
            application=application,
            policies=AUTOMATIC,
            files=files,
        )
        case_no = handle.id.removeprefix("intake-")
        submitted[case_no] = (began, files)
        await _until_complete(db, case_no, len(files))

    pids = [n.process.pid for n in pair.nodes]
    cpu_before, began = cpu_s(pids), time.monotonic()
    await paced(cases, None, concurrency, one)
    duration, cpu = time.monotonic() - began, cpu_s(pids) - cpu_before

    latencies = []
    for case_no, (t_submit, files) in submitted.items():
        done = await _files_complete_at(db, case_no, len(files))
        assert done is not None
        latencies.append(done - t_submit)
    row = await db.fetchrow(
        "SELECT count(*) AS n, coalesce(avg(length(envelope)), 0) AS wire FROM inbox"
        " WHERE case_no = ANY($1::text[]) AND event_type = $2",
        list(submitted),
        EventType.MATERIAL_CHUNK.value,
    )
    chunks, wire = (row["n"], row["wire"]) if row is not None else (0, 0)
    records, findings = await sniff(bootstrap, submitted, secrets_of)
    return FileRunResult(
        cases=len(submitted),
        mib_per_case=mib,
        duration_s=duration,
        mib_per_s=len(submitted) * mib / duration,
        submit_to_file_complete=Latency.of(latencies),
        chunks=int(chunks),
        chunk_wire_bytes_mean=float(wire),
        node_cpu_ms_per_chunk=1000 * cpu / max(1, int(chunks)),
        ms_per_chunk=1000 * duration / max(1, int(chunks)),
        sniffed_records=records,
        sniff_findings=findings,
    )


async def sniff(
    bootstrap: str, cases: dict[str, tuple[float, list[MaterialFile]]], personal: list[bytes]
) -> tuple[int, list[str]]:
    """Read every record of every tongban topic from the beginning: no applicant's name or ID
    number anywhere, and no slice of a case's file bytes in any record of that case."""
    pieces = {
        case_no: [
            f.content[start : start + 32]
            for f in files
            for start in range(16, len(f.content) - 32, max(1, CHUNK_BYTES // 4))
        ]
        for case_no, (_, files) in cases.items()
    }
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"tongban-bench-sniff-{os.getpid()}-{time.time_ns()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * MIB,
    )
    await consumer.start()
    findings: list[str] = []
    seen = 0
    try:
        consumer.subscribe(pattern=r"^tongban\..*")
        first = await consumer.getmany(timeout_ms=5000)  # joins the group: partitions assigned
        partitions = sorted(consumer.assignment())
        ends = await consumer.end_offsets(partitions)
        left = {tp for tp in partitions if ends[tp] > 0}
        batches, idle = first, 0
        while True:
            for tp, records in batches.items():
                for record in records:
                    value = record.value or b""
                    seen += 1
                    findings += [f"personal data in {tp.topic}" for p in personal if p in value]
                    for case_no, slices in pieces.items():
                        if case_no.encode() in value and any(s in value for s in slices):
                            findings.append(f"file bytes of {case_no} in {tp.topic}")
                    if record.offset + 1 >= ends.get(tp, 0):
                        left.discard(tp)
            if not left or idle >= 5:
                break
            batches = await consumer.getmany(timeout_ms=2000)
            idle = 0 if batches else idle + 1
    finally:
        await consumer.stop()
    findings += [f"{tp.topic}/{tp.partition} not read to its end" for tp in sorted(left)]
    return seen, findings
