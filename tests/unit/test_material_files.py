"""What the window takes as a material file: the type by its bytes, and the limits by rule."""

from __future__ import annotations

import io
import zipfile

import pytest

from events.models import MAX_FILE_BYTES
from regions.material_files import (
    MAX_CASE_FILE_BYTES,
    MAX_FILES,
    FileRefused,
    MaterialFile,
    media_type_of,
    take_files,
)

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


def _ofd() -> bytes:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as ofd:
        ofd.writestr("OFD.xml", "<ofd:OFD/>")
        ofd.writestr("Doc_0/Document.xml", "<ofd:Document/>")
    return packed.getvalue()


def test_the_type_is_read_from_the_bytes_not_the_name() -> None:
    assert media_type_of(PDF) == "application/pdf"
    assert media_type_of(JPEG) == "image/jpeg"
    assert media_type_of(PNG) == "image/png"
    assert media_type_of(_ofd()) == "application/ofd"
    plain_zip = io.BytesIO()
    with zipfile.ZipFile(plain_zip, "w") as other:
        other.writestr("readme.txt", "not an OFD")
    assert media_type_of(plain_zip.getvalue()) is None
    assert media_type_of(b"MZ\x90\x00 an executable named id-card.pdf") is None


@pytest.mark.parametrize(
    ("files", "rule"),
    [
        ([MaterialFile("身份证.pdf", b"MZ\x90\x00")], "file_type_not_allowed"),
        ([MaterialFile("身份证", b"")], "empty_file"),
        ([MaterialFile("身份证", PDF + bytes(MAX_FILE_BYTES))], "file_too_large"),
        ([MaterialFile(f"材料{i}", PDF) for i in range(MAX_FILES + 1)], "too_many_files"),
        (
            [MaterialFile(f"材料{i}", PDF + bytes(MAX_FILE_BYTES - 100)) for i in range(3)],
            "case_files_too_large",
        ),
        ([MaterialFile("户口簿", PDF), MaterialFile("户口簿", PNG)], "duplicate_material"),
    ],
)
def test_a_file_the_window_does_not_take_is_refused_by_rule(
    files: list[MaterialFile], rule: str
) -> None:
    with pytest.raises(FileRefused) as refused:
        take_files(files)
    assert refused.value.rule == rule


def test_taken_files_are_described_with_their_chunks() -> None:
    assert 2 * MAX_FILE_BYTES <= MAX_CASE_FILE_BYTES  # two files of the most may go together
    [(ref, content)] = take_files([MaterialFile("营业执照", PNG)])
    assert (ref.media_type, ref.size, len(ref.chunks)) == ("image/png", len(PNG), 1)
    assert content == PNG
