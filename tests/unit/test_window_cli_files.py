"""`tongban window submit --material 名称=FILE` reads the file for upload; a file that cannot be
read, or an --original naming no uploaded file, is a one-line error before anything is sent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from regions import window_cli
from regions.api_client import scans
from regions.window_cli import app

SUBMIT = [
    "submit",
    "--item",
    "GG-00102-000",
    "--to",
    "440000",
    "--name",
    "林小梅",
    "--id-number",
    "11010519491231002X",
    "--phone",
    "13800000000",
]


def test_files_are_read_for_the_form_and_names_alone_stay_declared(tmp_path: Path) -> None:
    scan = tmp_path / "id.pdf"
    scan.write_bytes(b"%PDF-1.7 scan")
    found = scans([f"居民身份证={scan}", "申请表"], ["居民身份证"])
    form = found.form("application", {"materials": found.declared})
    assert form.files == [("material", ("id.pdf", b"%PDF-1.7 scan"))]
    assert form.data["material_names"] == ["居民身份证"]
    assert form.data["originals_checked"] == ["居民身份证"]
    assert [m["name"] for m in found.declared] == ["申请表"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--material", "居民身份证=/nonexistent/id.pdf"], "cannot read /nonexistent/id.pdf"),
        (["--material", "申请表", "--original", "申请表"], "--original 申请表"),
    ],
)
def test_a_bad_material_option_is_one_line_and_sends_nothing(
    extra: list[str], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TONGBAN_API", "http://127.0.0.1:9")  # nothing listens: never reached
    result = CliRunner().invoke(app, [*SUBMIT, *extra], env={"TONGBAN_TOKEN": "tb_x"})
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_the_applicants_signed_consent_goes_with_the_application(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[dict[str, Any]] = []

    def call(*args: Any, body: dict[str, Any], **kwargs: Any) -> dict[str, str]:
        sent.append(body)
        return {"case_no": "350000-20261201-ABCDEFGH"}

    monkeypatch.setattr(window_cli, "call", call)
    consent = ["--consent-by", "委托代理人", "--consent-recorded-by", "福建 窗口 张三"]
    result = CliRunner().invoke(app, [*SUBMIT, *consent], env={"TONGBAN_TOKEN": "tb_x"})
    assert result.exit_code == 0, result.output
    [body] = sent
    recorded = body["evidence_consent"]
    assert (recorded["given_by"], recorded["method"], recorded["recorded_by"]) == (
        "委托代理人",
        "window-signature",
        "福建 窗口 张三",
    )
    # Without the consent options the application carries none: nothing is fetched.
    assert CliRunner().invoke(app, SUBMIT, env={"TONGBAN_TOKEN": "tb_x"}).exit_code == 0
    assert "evidence_consent" not in sent[1]


@pytest.mark.parametrize(
    "consent",
    [["--consent-by", "申请人本人"], ["--consent-by", "邻居", "--consent-recorded-by", "窗口"]],
)
def test_a_consent_half_given_or_by_nobody_known_sends_nothing(
    consent: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TONGBAN_API", "http://127.0.0.1:9")  # nothing listens: never reached
    result = CliRunner().invoke(app, [*SUBMIT, *consent], env={"TONGBAN_TOKEN": "tb_x"})
    assert result.exit_code == 2
    assert "consent-by" in result.output
