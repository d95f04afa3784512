"""`tongban keys`: the national root, region keys, rotation, revocation, publication.

Edits go to a draft; `publish` signs it with the root as the next directory version, valid
for `--valid-days` (publish again before then, even unchanged: nodes refuse every inbound
record once it has passed). A passphrase is named by an environment variable
(`--passphrase-env VAR`), never given on the command line, where it would land in shell
history and process listings.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer

from events.directory_admin import DirectoryAdmin
from events.keystore import KeyStore, KeyStoreError
from events.trust import DEFAULT_DIRECTORY_VALIDITY, DirectoryError, TrustDirectory
from regions.beijing_time import show as beijing

app = typer.Typer(no_args_is_help=True, help="Signing and sealing keys, trust directory.")

TrustDirOption = Annotated[
    Path | None,
    typer.Option("--trust-dir", help="Trust folder (default: the local stack's state/trust)"),
]
PassphraseEnvOption = Annotated[
    str | None,
    typer.Option(
        "--passphrase-env", help="Name of an environment variable holding the key passphrase"
    ),
]
RegionOption = Annotated[str, typer.Option("--region", help="GB/T 2260 region code")]


def _store(trust_dir: Path | None, passphrase_env: str | None) -> KeyStore:
    if trust_dir is None:
        from deploy.stack.settings import StackSettings
        from regions.local import trust_dir as local_trust_dir

        trust_dir = local_trust_dir(StackSettings())
    passphrase: bytes | None = None
    if passphrase_env is not None:
        value = os.environ.get(passphrase_env)
        if not value:
            raise typer.BadParameter(f"environment variable {passphrase_env} is not set")
        passphrase = value.encode()
    return KeyStore(trust_dir, passphrase)


def _admin(trust_dir: Path | None, passphrase_env: str | None) -> DirectoryAdmin:
    return DirectoryAdmin(_store(trust_dir, passphrase_env))


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


@app.command("init-root")
def init_root(trust_dir: TrustDirOption = None, passphrase_env: PassphraseEnvOption = None) -> None:
    """Create the national root key (root.key, 0600) and its public half to pin (root.pub)."""
    admin = _admin(trust_dir, passphrase_env)
    try:
        admin.init_root()
    except KeyStoreError as exc:
        raise _fail(exc) from exc
    typer.echo(f"root key created; pin {admin.store.root_public_path} on every node")


@app.command("issue")
def issue(
    region: RegionOption,
    name: Annotated[str | None, typer.Option(help="Region name (default: GB/T 2260)")] = None,
    parent: Annotated[str | None, typer.Option(help="Parent region code")] = None,
    validity_days: Annotated[int, typer.Option(min=1)] = 365,
    trust_dir: TrustDirOption = None,
    passphrase_env: PassphraseEnvOption = None,
) -> None:
    """Issue a region's first signing and sealing keys into the draft directory."""
    if name is None:
        from regions.codes import UnknownRegion
        from regions.codes import region as region_info

        try:
            info = region_info(region)
        except UnknownRegion as exc:
            raise _fail(KeyStoreError(f"{region} is not a known code; give --name")) from exc
        name, parent = info.name, parent or info.parent
    try:
        entry = _admin(trust_dir, passphrase_env).issue(
            region, name, parent, validity=timedelta(days=validity_days), now=datetime.now(UTC)
        )
    except KeyStoreError as exc:
        raise _fail(exc) from exc
    typer.echo(
        f"issued {region}: signing {entry.signing_keys[0].key_id},"
        f" sealing {entry.sealing_key.key_id} (draft; run `tongban keys publish`)"
    )


@app.command("rotate")
def rotate(
    region: RegionOption,
    overlap_days: Annotated[float, typer.Option(min=0, help="Days the old key stays valid")],
    validity_days: Annotated[int, typer.Option(min=1)] = 365,
    trust_dir: TrustDirOption = None,
    passphrase_env: PassphraseEnvOption = None,
) -> None:
    """New signing key id from now; the old keys expire after the overlap window."""
    try:
        key = _admin(trust_dir, passphrase_env).rotate(
            region,
            overlap=timedelta(days=overlap_days),
            validity=timedelta(days=validity_days),
            now=datetime.now(UTC),
        )
    except KeyStoreError as exc:
        raise _fail(exc) from exc
    typer.echo(f"rotated {region}: new signing key {key.key_id} (draft)")


@app.command("revoke")
def revoke(
    region: RegionOption,
    key_id: Annotated[str, typer.Option("--key-id", help="The signing key to revoke")],
    trust_dir: TrustDirOption = None,
    passphrase_env: PassphraseEnvOption = None,
) -> None:
    """Mark a signing key revoked: every event it signed is refused from publication on."""
    try:
        _admin(trust_dir, passphrase_env).revoke(region, key_id)
    except KeyStoreError as exc:
        raise _fail(exc) from exc
    typer.echo(f"revoked {key_id} of {region} (draft)")


@app.command("publish")
def publish(
    valid_days: Annotated[
        float, typer.Option(min=0.01, help="Days the directory stays valid from now")
    ] = DEFAULT_DIRECTORY_VALIDITY.days,
    trust_dir: TrustDirOption = None,
    passphrase_env: PassphraseEnvOption = None,
) -> None:
    """Sign the draft with the root key as the next directory version and put it in force."""
    try:
        directory = _admin(trust_dir, passphrase_env).publish(
            datetime.now(UTC), timedelta(days=valid_days)
        )
    except (KeyStoreError, DirectoryError, FileNotFoundError) as exc:
        raise _fail(exc) from exc
    assert directory.valid_until is not None  # publish always sets it
    typer.echo(
        f"published trust directory v{directory.version},"
        f" valid until {directory.valid_until:%F %T %Z}; publish again before then"
    )


def _describe(directory: TrustDirectory) -> dict[str, object]:
    return {
        "version": directory.version,
        "issued_at": directory.issued_at.isoformat(),
        "valid_until": directory.valid_until.isoformat() if directory.valid_until else None,
        "regions": [
            {
                "code": r.code,
                "name": r.name,
                "signing_keys": [
                    {
                        "key_id": k.key_id,
                        "not_before": k.not_before.isoformat(),
                        "not_after": k.not_after.isoformat(),
                        "revoked": k.revoked,
                    }
                    for k in r.signing_keys
                ],
                "sealing_key": r.sealing_key.key_id,
            }
            for r in directory.regions
        ],
    }


@app.command("show")
def show(
    draft: Annotated[bool, typer.Option(help="Show the unpublished draft instead")] = False,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    trust_dir: TrustDirOption = None,
) -> None:
    """The published directory (verified against the pinned root), or the draft."""
    admin = _admin(trust_dir, None)
    try:
        directory = admin.draft() if draft else admin.store.directory()
    except (DirectoryError, FileNotFoundError) as exc:
        raise _fail(exc) from exc
    described = _describe(directory)
    if as_json:
        typer.echo(json.dumps(described, ensure_ascii=False, indent=2))
        return
    label = "draft" if draft else "published"
    issued = beijing(directory.issued_at, seconds=True)
    typer.echo(f"trust directory v{directory.version} ({label}), issued {issued}")
    problem = directory.expiry_problem(datetime.now(UTC))
    until = beijing(directory.valid_until, seconds=True) or "—"
    typer.echo(f"  valid until {until}" if problem is None else f"  {problem}")
    for r in directory.regions:
        typer.echo(f"  {r.code} {r.name}  sealing {r.sealing_key.key_id}")
        for k in r.signing_keys:
            period = (
                f"{beijing(k.not_before, seconds=True)} .. {beijing(k.not_after, seconds=True)}"
            )
            state = "revoked" if k.revoked else period
            typer.echo(f"    signing {k.key_id}  {state}")


@app.command("bootstrap")
def bootstrap(
    region: Annotated[
        list[str] | None, typer.Option(help="Regions to issue keys for (default: the stack's)")
    ] = None,
) -> None:
    """Create a development root key, region keys, and publish a signed trust directory."""
    from deploy.stack.settings import StackSettings
    from regions.local import ensure_local_keys, trust_dir

    stack = StackSettings()
    directory = ensure_local_keys(stack, tuple(region) if region else stack.regions)
    typer.echo(
        f"trust directory v{directory.version} with {len(directory.regions)} regions"
        f" in {trust_dir(stack)}"
    )
