from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from events.credentials import RegionCredentials
from events.keystore import KeyStore

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _default_stack_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit tests describe the default profile unless they set another: the suite also runs
    under `TONGBAN_STACK_PROFILE=cluster make test`, whose environment would otherwise leak in
    (two tests read it on 2026-12-01)."""
    monkeypatch.delenv("TONGBAN_STACK_PROFILE", raising=False)


@pytest.fixture(scope="session")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    store = KeyStore(tmp_path_factory.mktemp("trust"))
    store.bootstrap(
        {
            "350000": ("福建省", None),
            "440000": ("广东省", None),
            "110000": ("北京市", None),
        },
        validity=timedelta(days=30),
        now=NOW - timedelta(days=1),
    )
    return store


@pytest.fixture(scope="session")
def fujian(keystore: KeyStore) -> RegionCredentials:
    return RegionCredentials(keystore, "350000")


@pytest.fixture(scope="session")
def guangdong(keystore: KeyStore) -> RegionCredentials:
    return RegionCredentials(keystore, "440000")


@pytest.fixture(scope="session")
def beijing(keystore: KeyStore) -> RegionCredentials:
    return RegionCredentials(keystore, "110000")
