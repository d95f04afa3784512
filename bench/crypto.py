"""Micro-benchmark of the exchange's cryptography on a realistic case envelope.

Sign (canonical form + Ed25519), verify (parse + schema + directory lookup + signature +
time and entitlement checks), seal and open (X25519 + HKDF + AES-256-GCM) per second,
printed beside raw Ed25519 sign/verify and X25519 exchange measured in the same run, so the
overhead of the envelope over the primitives is visible on any machine.

    python -m bench.crypto        or        tongban bench crypto
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(no_args_is_help=True, help="Micro-benchmarks.")

ORIGIN, PROCESSING = "350000", "440000"
CASE_NO = "350000-20261127-BENCH001"


@dataclass(frozen=True)
class Figure:
    name: str
    ops_per_second: float

    @property
    def micros(self) -> float:
        return 1e6 / self.ops_per_second


def measure(name: str, operation: Callable[[], object], seconds: float) -> Figure:
    operation()  # warm caches and lazy imports outside the timed loop
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(50):
            operation()
        count += 50
        now = time.perf_counter()
        if now >= deadline:
            return Figure(name, count / (now - start))


def _applicant_json() -> bytes:
    from events.models import Applicant

    return (
        Applicant(
            name="测试申请人",
            id_number="11010519491231002X",
            phone="13800000000",
            address="福建省福州市鼓楼区某某路 1 号",
        )
        .model_dump_json()
        .encode()
    )


def run(seconds: float) -> list[Figure]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    from events.credentials import RegionCredentials
    from events.keystore import KeyStore
    from events.models import CaseForwarded, EventType, MaterialRef
    from events.outbox import signed_envelope
    from events.sealing import open_box, seal
    from events.trust import sealing_key
    from events.verify import VerifyLimits, verify_record

    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as folder:
        store = KeyStore(Path(folder))
        store.bootstrap(
            {ORIGIN: ("福建省", None), PROCESSING: ("广东省", None)},
            validity=timedelta(days=1),
            now=now - timedelta(hours=1),
        )
        sender = RegionCredentials(store, ORIGIN)
        receiver = RegionCredentials(store, PROCESSING)
        directory = sender.directory()
        signer = sender.signer(now)
        key_id, recipient_public = sealing_key(directory, PROCESSING, now)
        recipient_private = receiver.own_sealing_key(key_id)
        applicant = _applicant_json()

        def do_seal() -> object:
            return seal(
                applicant,
                case_no=CASE_NO,
                recipient=PROCESSING,
                key_id=key_id,
                recipient_public=recipient_public,
            )

        box = seal(
            applicant,
            case_no=CASE_NO,
            recipient=PROCESSING,
            key_id=key_id,
            recipient_public=recipient_public,
        )
        materials = tuple(
            MaterialRef(
                name=f"材料{i}",
                sha256=hashlib.sha256(f"material-{i}".encode()).hexdigest(),
                ref=f"s3://tongban-350000/materials/{CASE_NO}/{i}.pdf",
            )
            for i in range(6)
        )
        payload = CaseForwarded(
            case_no=CASE_NO,
            item_code="GG-00102-000",
            item_version=1,
            origin_region=ORIGIN,
            processing_region=PROCESSING,
            applicant=box,
            materials=materials,
            fee_fen=0,
        ).model_dump(mode="json")

        def do_sign() -> bytes:
            return signed_envelope(
                signer,
                event_type=EventType.FORWARDED,
                case_no=CASE_NO,
                step="forwarded",
                recipient=PROCESSING,
                data=payload,
                now=now,
            ).to_wire()

        wire = do_sign()
        limits = VerifyLimits()

        def do_verify() -> object:
            return verify_record(
                wire, recipient=PROCESSING, directory=directory, now=now, limits=limits
            )

        raw_key = Ed25519PrivateKey.generate()
        raw_public = raw_key.public_key()
        raw_signature = raw_key.sign(wire)
        dh_a, dh_b = X25519PrivateKey.generate(), X25519PrivateKey.generate().public_key()

        return [
            measure(f"envelope sign ({len(wire)} B, JCS + Ed25519)", do_sign, seconds),
            measure("envelope verify (parse + checks + Ed25519)", do_verify, seconds),
            measure(f"seal applicant ({len(applicant)} B)", do_seal, seconds),
            measure(
                "open applicant",
                lambda: open_box(box, case_no=CASE_NO, private_key=recipient_private),
                seconds,
            ),
            measure("raw Ed25519 sign (same bytes)", lambda: raw_key.sign(wire), seconds),
            measure(
                "raw Ed25519 verify (same bytes)",
                lambda: raw_public.verify(raw_signature, wire),
                seconds,
            ),
            measure("raw X25519 exchange", lambda: dh_a.exchange(dh_b), seconds),
        ]


def report(figures: list[Figure]) -> str:
    width = max(len(f.name) for f in figures)
    lines = [f"{'operation':<{width}}  {'ops/s':>10}  {'µs/op':>8}"]
    lines += [f"{f.name:<{width}}  {f.ops_per_second:>10,.0f}  {f.micros:>8.1f}" for f in figures]
    return "\n".join(lines)


@app.command("crypto")
def crypto(
    seconds: Annotated[float, typer.Option(min=0.05, help="Time per operation")] = 1.0,
) -> None:
    """Sign, verify, seal and open per second beside raw Ed25519 and X25519."""
    typer.echo(report(run(seconds)))


if __name__ == "__main__":
    typer.run(crypto)
