"""`tongban evidence`: evidence exchanged between regions (数据多跑路, decision 0041).

`types` lists the evidence types and the regions the signed trust directory names as their
providers; `provide` declares a region's types in the draft directory (`tongban keys publish`
puts it in force); `import` loads issued licences into a providing region's reference
电子证照库; `request` asks for a case's evidence with the applicant's consent; `requests` shows
a case's requests and answers (or every pending one); `uses` is a provider's log of the
requests it answered. Heavy libraries load inside the commands.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from events.evidence import EvidenceType, evidence_type_named
from events.models import ConsentMethod
from regions.cli_errors import refuse

if TYPE_CHECKING:
    from regions.node_settings import NodeSettings

app = typer.Typer(no_args_is_help=True, help="Evidence exchanged between regions (数据多跑路).")

RegionOpt = Annotated[str, typer.Option("--region", help="This region's GB/T 2260 code")]
JsonOpt = Annotated[bool, typer.Option("--json", help="As JSON, times in UTC")]
TrustDirOpt = Annotated[
    Path | None,
    typer.Option("--trust-dir", help="Trust folder (default: the node's settings)"),
]


@app.callback()
def evidence() -> None:
    """Evidence types, providers, requests and answers."""


def _settings(region: str) -> NodeSettings:
    from deploy.stack.settings import StackSettings
    from regions.local import local_node_settings

    return local_node_settings(region, StackSettings())


def _trust_folder(trust_dir: Path | None) -> Path:
    if trust_dir is not None:
        return trust_dir
    from deploy.stack.settings import StackSettings
    from regions.local import trust_dir as local_trust_dir

    return local_trust_dir(StackSettings())


def _kind(text: str) -> EvidenceType:
    try:
        return evidence_type_named(text)
    except ValueError as exc:
        refuse(f"{exc}; `tongban evidence types` lists them")


@app.command("types")
def types(as_json: JsonOpt = False, trust_dir: TrustDirOpt = None) -> None:
    """Every evidence type, its issuer and the regions that provide it."""
    from events.evidence_checks import providers
    from events.keystore import KeyStore
    from events.trust import DirectoryError

    try:
        directory = KeyStore(_trust_folder(trust_dir)).directory()
    except (DirectoryError, OSError) as exc:
        refuse(f"the trust directory cannot be read: {exc}")
    rows = [
        {
            "evidence_type": kind.value,
            "name": kind.label_zh,
            "issuer": kind.issuer_zh,
            "subject": kind.subject_kind,
            "providers": list(providers(directory, kind)),
        }
        for kind in EvidenceType
    ]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    from regions.cli_tables import Col, console, print_whole, table

    print_whole(
        console(),
        table(
            (
                Col("证照类型"),
                Col("标识", ident=True),
                Col("发证机关"),
                Col("提供地区", ident=True),
            ),
            (
                (kind.label_zh, kind.value, kind.issuer_zh, " ".join(found) or "—")
                for kind, found in ((k, providers(directory, k)) for k in EvidenceType)
            ),
        ),
    )


@app.command("provide")
def provide(
    region: RegionOpt,
    evidence_types: Annotated[list[str], typer.Argument(help="Evidence types (id or 中文名)")],
    trust_dir: TrustDirOpt = None,
) -> None:
    """Declare the evidence types a region provides, in the draft trust directory."""
    from events.directory_admin import DirectoryAdmin
    from events.keystore import KeyStore, KeyStoreError

    kinds = [_kind(t).value for t in evidence_types]
    try:
        entry = DirectoryAdmin(KeyStore(_trust_folder(trust_dir))).declare_provided(region, kinds)
    except KeyStoreError as exc:
        refuse(str(exc))
    typer.echo(
        f"{region} provides {', '.join(entry.provides)} in the draft;"
        " `tongban keys publish` puts it in force"
    )


async def _with_pool(settings: NodeSettings, work: Any) -> Any:
    from regions.database import create_pool

    pool = await create_pool(settings.postgres_dsn.get_secret_value(), min_size=1, max_size=2)
    try:
        return await work(pool)
    finally:
        await pool.close()


def _credentials(settings: NodeSettings) -> Any:
    from events.credentials import RegionCredentials
    from events.keystore import KeyStore

    store = KeyStore(settings.trust_dir, settings.passphrase, settings.root_key_id)
    return RegionCredentials(store, settings.region)


@app.command("import")
def import_licences(
    region: RegionOpt,
    file: Annotated[Path, typer.Argument(help="Issued licences, one JSON object a line")],
) -> None:
    """Load issued licences into the region's reference 电子证照库 (sealed at rest)."""
    from events.file_receiving import region_opener
    from regions.evidence.provider import DatabaseEvidenceProvider, LicenceFileError, read_licences

    try:
        licences = read_licences(file.read_text(encoding="utf-8").splitlines())
    except (OSError, LicenceFileError) as exc:
        refuse(str(exc))
    settings = _settings(region)
    credentials = _credentials(settings)

    async def work(pool: Any) -> int:
        provider = DatabaseEvidenceProvider(
            pool, region_opener(credentials), region, credentials.directory
        )
        return await provider.import_licences(licences)

    added = asyncio.run(_with_pool(settings, work))
    typer.echo(f"{added} licences imported into {region}, {len(licences) - added} held already")


@app.command("request")
def request(
    region: RegionOpt,
    case_no: Annotated[str, typer.Option("--case", help="The case number")],
    evidence_type: Annotated[str, typer.Option("--type", help="Evidence type (id or 中文名)")],
    recorded_by: Annotated[str, typer.Option("--recorded-by", help="Who recorded the consent")],
    provider: Annotated[str | None, typer.Option("--provider", help="Providing region")] = None,
    given_by: Annotated[str, typer.Option("--consent-by")] = "申请人本人",
    method: Annotated[ConsentMethod, typer.Option("--consent-method")] = (
        ConsentMethod.WINDOW_SIGNATURE
    ),
    consent_at: Annotated[
        datetime | None, typer.Option("--consent-at", help="When consent was given (default now)")
    ] = None,
    answer_within_s: Annotated[
        float | None, typer.Option("--answer-within-s", min=1, help="Seconds the provider has")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask the providing region for the case applicant's evidence, with their consent."""
    from pydantic import ValidationError

    from events.models import Consent
    from regions.api.server import node_catalog
    from regions.evidence.requesting import (
        DEFAULT_ANSWER_WITHIN,
        EvidenceRequester,
        EvidenceRequestRefused,
    )

    kind = _kind(evidence_type)
    at = consent_at or datetime.now(UTC)
    try:
        consent = Consent.model_validate(
            {
                "given_by": given_by,
                "method": method,
                "at": at if at.tzinfo else at.replace(tzinfo=UTC),
                "recorded_by": recorded_by,
            }
        )
    except ValidationError as exc:
        refuse(f"consent: {exc.errors()[0]['msg']}")
    settings = _settings(region)
    within = timedelta(seconds=answer_within_s) if answer_within_s else DEFAULT_ANSWER_WITHIN

    async def work(pool: Any) -> Any:
        requester = EvidenceRequester(pool, _credentials(settings), node_catalog(settings))
        return await requester.request(
            case_no, kind, consent, provider=provider, answer_within=within
        )

    try:
        row = asyncio.run(_with_pool(settings, work))
    except EvidenceRequestRefused as exc:
        refuse(f"{exc.reason}: {exc}")
    if as_json:
        typer.echo(json.dumps(row.as_json(), ensure_ascii=False, indent=2))
        return
    typer.echo(
        f"request {row.request_id}: {kind.label_zh} for {row.material} asked of"
        f" {row.provider_region}, answer by {row.answer_by.isoformat()}"
    )


@app.command("requests")
def requests(
    region: RegionOpt,
    case_no: Annotated[
        str | None, typer.Option("--case", help="The case number (default: all pending)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """A case's evidence requests and their answers, or every request still pending."""
    from regions.beijing_time import show
    from regions.evidence.requesting import case_requests, pending_requests

    settings = _settings(region)

    async def work(pool: Any) -> Any:
        return await (case_requests(pool, case_no) if case_no else pending_requests(pool))

    rows = asyncio.run(_with_pool(settings, work))
    if as_json:
        typer.echo(json.dumps([r.as_json() for r in rows], ensure_ascii=False, indent=2))
        return
    from regions.cli_tables import Col, console, print_whole, table

    print_whole(
        console(),
        table(
            (
                Col("办件编号", ident=True),
                Col("材料"),
                Col("证照类型"),
                Col("提供地区", ident=True),
                Col("状态"),
                Col("请求时间"),
                Col("答复期限"),
                Col("请求编号", ident=True, wide=True),
            ),
            (
                (
                    r.case_no,
                    r.material,
                    EvidenceType(r.evidence_type).label_zh,
                    r.provider_region,
                    r.status.label_zh + (f"（{r.refusal}）" if r.refusal else ""),
                    show(r.requested_at),
                    show(r.answer_by),
                    r.request_id,
                )
                for r in rows
            ),
        ),
    )


@app.command("uses")
def uses(
    region: RegionOpt,
    case_no: Annotated[str | None, typer.Option("--case", help="Only this case")] = None,
    holder_env: Annotated[
        str | None,
        typer.Option(
            "--holder-env",
            help="Only this person's or organisation's data: the name of an environment"
            " variable holding their ID number or credit code (never on the command line)",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """The providing region's log: every evidence request it answered (who used whose data,
    for which case and purpose, when, and what was answered)."""
    import os

    from regions.evidence.provider import holder_digest

    digest: str | None = None
    if holder_env is not None:
        identifier = os.environ.get(holder_env, "").strip()
        if not identifier:
            refuse(f"environment variable {holder_env} is not set")
        digest = holder_digest(identifier)
    settings = _settings(region)

    async def work(pool: Any) -> Any:
        return await pool.fetch(
            "SELECT requester_region, request_id, case_no, evidence_type, item_code, material,"
            " outcome, answered_at FROM evidence_uses"
            " WHERE ($1::text IS NULL OR case_no = $1)"
            " AND ($2::text IS NULL OR holder_digest = $2)"
            " ORDER BY answered_at, request_id",
            case_no,
            digest,
        )

    rows = [dict(r) for r in asyncio.run(_with_pool(settings, work))]
    if as_json:
        for row in rows:
            row["answered_at"] = row["answered_at"].isoformat()
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    from regions.beijing_time import show
    from regions.codes import UnknownRegion
    from regions.codes import region as region_info

    def name(code: str) -> str:
        try:
            return f"{region_info(code).name} ({code})"
        except UnknownRegion:
            return code

    for row in rows:
        typer.echo(
            f"{show(row['answered_at'])}  {name(row['requester_region'])}  {row['case_no']}"
            f"  {EvidenceType(row['evidence_type']).label_zh}（{row['material']}）"
            f"  事项 {row['item_code']}  {row['outcome']}"
        )
