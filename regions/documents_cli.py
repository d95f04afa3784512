"""`tongban documents verify FILE.pdf`: is this document what a region issued?

Checks the signature, the chain to the national root pinned in the trust folder, the region
that signed and its key's revocation in the signed trust directory, and (where the issuing
region's records can be asked) that the file is in them. Exit codes: 0 valid, 1 invalid,
2 usage (typer's own, and a file that cannot be read).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from regions.beijing_time import show

if TYPE_CHECKING:
    from documents.verify import Known, Verdict
    from events.keystore import KeyStore

# The verifier (pyhanko, reportlab) and the database driver load only when a document is
# verified (issue 24: the command line starts without them).

app = typer.Typer(no_args_is_help=True, help="Signed documents (文书): verify.")


@app.callback()
def documents() -> None:
    """Signed documents (文书) a region issued."""


def _trust_folder(trust_dir: Path | None) -> Path:
    if trust_dir is not None:
        return trust_dir
    from deploy.stack.settings import StackSettings
    from regions.local import trust_dir as local_trust_dir

    return local_trust_dir(StackSettings())


def _print(verdict: Verdict) -> None:
    if verdict.valid:
        typer.echo(f"有效 valid: signed by {verdict.region_name} ({verdict.region})")
    else:
        label = verdict.failure.label_zh if verdict.failure else ""
        code = verdict.failure.value if verdict.failure else ""
        typer.echo(f"无效 invalid — {label} ({code}): {verdict.reason}")
    fields: tuple[tuple[str, str | None], ...] = (
        ("number", verdict.number),
        ("type", verdict.document_type),
        ("case", verdict.case_no),
        ("claimed region", verdict.claimed_region),
        ("signing key", verdict.key_id),
        ("signed at", show(verdict.signed_at, seconds=True) or None),
        ("in records", None if verdict.in_records is None else str(verdict.in_records).lower()),
        ("sha256", verdict.sha256),
    )
    for name, value in fields:
        if value is not None:
            typer.echo(f"  {name}: {value}")
    for note in verdict.notes:
        typer.echo(f"  note: {note}")


async def local_records(region: str, sha256: str) -> bool | None:
    """Whether `region`'s own records (its `documents` table on the local stack) hold a
    document with these bytes; None when they cannot be asked (no stack, region unknown)."""
    import asyncpg

    from deploy.stack.settings import (
        StackNotAvailableError,
        StackSettings,
        load_endpoints,
        region_dsn,
    )

    try:
        dsn = region_dsn(load_endpoints(StackSettings()).postgres_dsn, region)
        conn = await asyncpg.connect(dsn, timeout=5)
    except (StackNotAvailableError, OSError, asyncpg.PostgresError, TimeoutError):
        return None
    try:
        return bool(await conn.fetchval("SELECT true FROM documents WHERE sha256 = $1", sha256))
    except asyncpg.PostgresError:
        return None
    finally:
        await conn.close()


def check(pdf: bytes, store: KeyStore, known: Known | None) -> Verdict:
    """Verify `pdf` against the trust folder of `store` (pinned root.pub, directory.json,
    root.crt when present)."""
    from cryptography import x509

    from documents.verify import verify_document

    root_cert = (
        x509.load_pem_x509_certificate(store.root_certificate_path.read_bytes())
        if store.root_certificate_path.exists()
        else None
    )
    return asyncio.run(
        verify_document(
            pdf,
            root=store.pinned_root(),
            directory=store.directory(),
            known=known,
            root_certificate=root_cert,
        )
    )


@app.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(help="The signed PDF")],
    as_json: Annotated[bool, typer.Option("--json", help="The verdict as JSON")] = False,
    trust_dir: Annotated[
        Path | None,
        typer.Option("--trust-dir", help="Trust folder (default: the local stack's state/trust)"),
    ] = None,
    require_records: Annotated[
        bool,
        typer.Option(
            "--require-records",
            help="Invalid unless the issuing region's records confirm the file",
        ),
    ] = False,
) -> None:
    """Verify a document's signature, its chain to the national root, the signing region,
    revocation and the issuing region's records. Exit 0 valid, 1 invalid, 2 usage."""
    from events.keystore import KeyStore, KeyStoreError
    from events.trust import DirectoryError

    try:
        pdf = file.read_bytes()
    except OSError as exc:
        typer.echo(f"error: cannot read {file}: {exc.strerror}", err=True)
        raise typer.Exit(2) from exc
    store = KeyStore(_trust_folder(trust_dir))
    try:
        verdict = check(pdf, store, known=None if trust_dir is not None else local_records)
    except (KeyStoreError, DirectoryError, OSError, ValueError) as exc:
        typer.echo(f"error: trust folder {store.folder} unusable: {exc}", err=True)
        raise typer.Exit(2) from exc
    if as_json:
        typer.echo(json.dumps(verdict.model_dump(mode="json"), ensure_ascii=False, indent=2))
    else:
        _print(verdict)
    if not verdict.valid or (require_records and verdict.in_records is not True):
        raise typer.Exit(1)
