"""Materials uploaded at the window: multipart/form-data, read with hard byte caps.

`POST /window/cases` and `POST /window/cases/{case_no}/supplement` take the same JSON body as
always, or multipart/form-data with these parts:

- `application` (submit) or `supplement` (补正, optional): that JSON body, as a text field;
- `material`: one file part per material, in order (PDF, JPEG, PNG or OFD, by content);
- `material_names`: one text field per `material` part, in the same order: its name (身份证…);
- `originals_checked`: a material's name, once per material whose original the clerk checked
  (核验原件); recorded with the clerk's window and person and the time.

The body is read as it arrives and refused as soon as a file passes `MAX_FILE_BYTES`, the files
together `MAX_CASE_FILE_BYTES`, or the parts `MAX_FILES`, so no request holds more than that in
memory; the caller is authenticated before any of it is read. A refusal is a 422 naming the
rule, as every refused application is.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.security.utils import get_authorization_scheme_param
from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header
from starlette.types import Message

from events.models import MAX_FILE_BYTES, MaterialRef, OriginalsChecked
from regions.api.auth import principal, step_actor
from regions.material_files import (
    MAX_CASE_FILE_BYTES,
    MAX_FILES,
    FileRefused,
    MaterialFile,
    take_files,
)
from regions.tokens import Principal, Role
from regions.window import ApplicationRefused

FILE_PART = "material"
NAMES_FIELD = "material_names"
ORIGINALS_FIELD = "originals_checked"
# The JSON body as a text field: the largest application (50 materials at their longest) is
# far below this.
MAX_FIELD_BYTES = 256 * 1024
# The text fields the API's form has; a form of the console names its own (`read_form`).
API_TEXT_FIELDS = frozenset({NAMES_FIELD, ORIGINALS_FIELD, "application", "supplement"})
MAX_TEXT_FIELDS = 2 * MAX_FILES + 1
# Boundaries and part headers on top of the parts' own bytes.
_FORM_OVERHEAD = MAX_TEXT_FIELDS * MAX_FIELD_BYTES + (MAX_FILES + MAX_TEXT_FIELDS) * 8 * 1024
MAX_FORM_BYTES = MAX_CASE_FILE_BYTES + _FORM_OVERHEAD
_STATE_KEY = "tongban.upload"


@dataclass(frozen=True)
class Upload:
    """What a multipart request brought besides its JSON: the files, and (补正) their
    descriptions, already checked by `take_files`."""

    files: tuple[MaterialFile, ...]
    described: tuple[tuple[MaterialRef, bytes], ...] = ()


def uploaded(request: Request) -> Upload | None:
    """The upload of this request, None for a JSON request."""
    found = request.scope.get("state", {}).get(_STATE_KEY)
    return found if isinstance(found, Upload) else None


def _refused(rule: str, message: str) -> ApplicationRefused:
    return ApplicationRefused(rule, message)


@dataclass
class _Part:
    name: str
    is_file: bool
    data: bytearray = field(default_factory=bytearray)


@dataclass
class UploadForm:
    """The parts as they arrive, each held to its cap (the callbacks raise to stop reading)."""

    text_names: frozenset[str] = API_TEXT_FIELDS
    text: dict[str, list[str]] = field(default_factory=dict)
    files: list[bytes] = field(default_factory=list)
    # Per file part: whether a file was chosen. A browser sends an empty part with an empty
    # filename for a file input left empty.
    chosen: list[bool] = field(default_factory=list)
    ended: bool = False
    _header_field: bytearray = field(default_factory=bytearray)
    _header_value: bytearray = field(default_factory=bytearray)
    _disposition: bytes = b""
    _part: _Part | None = None
    _file_bytes: int = 0
    _text_fields: int = 0

    def on_part_begin(self) -> None:
        self._disposition = b""
        self._part = None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if bytes(self._header_field).lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        kind, options = parse_options_header(self._disposition)
        raw_name = options.get(b"name")
        if kind != b"form-data" or raw_name is None:
            raise _refused("malformed_upload", "a part without a form-data name")
        name = raw_name.decode("utf-8", errors="replace")
        if name == FILE_PART:
            if len(self.files) >= MAX_FILES:
                raise _refused("too_many_files", f"at most {MAX_FILES} files per case")
            self.files.append(b"")
            self.chosen.append(options.get(b"filename") != b"")
            self._part = _Part(name, is_file=True)
        elif name in self.text_names:
            self._text_fields += 1
            if self._text_fields > MAX_TEXT_FIELDS:
                raise _refused("too_many_fields", f"at most {MAX_TEXT_FIELDS} text fields")
            self._part = _Part(name, is_file=False)
        else:
            raise _refused("unknown_part", f"the form has no part named {name[:40]!r}")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self._part
        if part is None:
            raise _refused("malformed_upload", "data outside a part")
        size = end - start
        if part.is_file:
            if len(part.data) + size > MAX_FILE_BYTES:
                raise _refused(
                    "file_too_large",
                    f"material file {len(self.files)}: at most {MAX_FILE_BYTES} bytes",
                )
            self._file_bytes += size
            if self._file_bytes > MAX_CASE_FILE_BYTES:
                raise _refused(
                    "case_files_too_large",
                    f"a case's files may hold {MAX_CASE_FILE_BYTES} bytes together",
                )
        elif len(part.data) + size > MAX_FIELD_BYTES:
            raise _refused("field_too_large", f"{part.name}: at most {MAX_FIELD_BYTES} bytes")
        part.data += data[start:end]

    def on_part_end(self) -> None:
        part = self._part
        if part is None:
            return
        if part.is_file:
            self.files[-1] = bytes(part.data)
        else:
            try:
                value = part.data.decode("utf-8")
            except UnicodeDecodeError:
                raise _refused("malformed_upload", f"{part.name}: not UTF-8 text") from None
            self.text.setdefault(part.name, []).append(value)
        self._part = None

    def on_end(self) -> None:
        self.ended = True


async def read_form(request: Request, form: UploadForm | None = None) -> UploadForm:
    """Read the multipart body into `form` (default: the API's fields) as it arrives, each
    part held to its cap; raises `ApplicationRefused` naming the rule. A caller that passes
    its own `form` still has the fields read before a refusal (to fill a form in again)."""
    _, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if not boundary:
        raise _refused("malformed_upload", "multipart/form-data without a boundary")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise _refused("case_files_too_large", f"a request may hold {MAX_FORM_BYTES} bytes")
    form = form if form is not None else UploadForm()
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": form.on_part_begin,
            "on_header_field": form.on_header_field,
            "on_header_value": form.on_header_value,
            "on_header_end": form.on_header_end,
            "on_headers_finished": form.on_headers_finished,
            "on_part_data": form.on_part_data,
            "on_part_end": form.on_part_end,
            "on_end": form.on_end,
        },
    )
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > MAX_FORM_BYTES:
                raise _refused("case_files_too_large", f"a request may hold {MAX_FORM_BYTES} bytes")
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as exc:
        raise _refused("malformed_upload", f"not a well-formed multipart body: {exc}") from None
    if not form.ended:
        raise _refused("malformed_upload", "the multipart body ends before its last boundary")
    return form


def _checked_by(caller: Principal, now: datetime) -> OriginalsChecked:
    # Who checked is the token's person at the token's window, as the steps record people.
    return OriginalsChecked(by=step_actor(caller).label[:100], at=now)


_read_form = read_form  # the name tests of the parser use


def material_files(
    form: UploadForm, caller: Principal | None, *, skip_unchosen: bool = False
) -> tuple[MaterialFile, ...]:
    """The form's files with their names and 核验原件, checked against each other (not yet
    by content: `take_files`). `skip_unchosen`: a browser's empty file input is no file.
    `caller` None: nobody checks originals (an applicant uploading online)."""
    names = form.text.get(NAMES_FIELD, [])
    if len(names) != len(form.files):
        raise _refused(
            "material_names_mismatch",
            f"{len(form.files)} material files but {len(names)} material_names",
        )
    if skip_unchosen:
        kept = [
            (name, content)
            for name, content, chosen in zip(names, form.files, form.chosen, strict=True)
            if chosen or content
        ]
        names, files = [n for n, _ in kept], [c for _, c in kept]
    else:
        files = form.files
    originals = set(form.text.get(ORIGINALS_FIELD, []))
    if originals and caller is None:
        raise _refused(
            "originals_not_checked_online",
            "核验原件 is a window's check; an applicant uploading online checks no originals",
        )
    unknown = originals - set(names)
    if unknown:
        raise _refused(
            "unknown_original",
            f"originals_checked names no uploaded material: {'、'.join(sorted(unknown))[:200]}",
        )
    checked = _checked_by(caller, datetime.now(UTC)) if originals and caller else None
    for name in names:
        if not 1 <= len(name) <= 200:
            raise _refused("material_name_invalid", "a material's name has 1 to 200 characters")
    return tuple(
        MaterialFile(
            name=name, content=content, originals_checked=checked if name in originals else None
        )
        for name, content in zip(names, files, strict=True)
    )


def _json_field(form: UploadForm, name: str, default: str | None) -> bytes:
    values = form.text.get(name, [])
    if len(values) > 1:
        raise _refused("malformed_upload", f"the form has {name} more than once")
    if not values:
        if default is None:
            raise RequestValidationError(
                [{"type": "missing", "loc": ("body", name), "msg": "Field required"}]
            )
        return default.encode()
    return values[0].encode()


def _authenticated_clerk(request: Request) -> Principal:
    """The caller, checked before a byte of the body is read (the endpoint checks again)."""
    scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="a bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    caller = principal(
        request.app.state.services,
        HTTPAuthorizationCredentials(scheme=scheme, credentials=token),
    )
    if caller.role is not Role.WINDOW_CLERK:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"role {caller.role.value} cannot take {Role.WINDOW_CLERK.value} steps",
        )
    return caller


def _is_multipart(request: Request) -> bool:
    kind, _ = parse_options_header(request.headers.get("content-type", ""))
    return kind == b"multipart/form-data"


def _with_json_body(request: Request, body: bytes) -> Request:
    """The same request with `body` as its JSON body, for the endpoint's own validation."""
    headers = [
        (k, v) for k, v in request.scope["headers"] if k not in (b"content-type", b"content-length")
    ]
    headers += [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await request.receive()

    return Request({**request.scope, "headers": headers}, receive)


class _UploadRoute(APIRoute):
    """A route that takes its JSON body, or the multipart form described above."""

    json_field = "application"
    json_default: str | None = None
    # 补正: the files' descriptions join the body's `materials` (the step needs at least one).
    merge_materials = False

    async def authenticate(self, request: Request) -> Principal | None:
        """Who uploads, checked before a byte of the body is read; None: someone who checks
        no originals (an applicant online, whose route authenticates them here)."""
        return _authenticated_clerk(request)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle_json = super().get_route_handler()

        async def handle(request: Request) -> Response:
            if not _is_multipart(request):
                return await handle_json(request)
            caller = await self.authenticate(request)
            form = await read_form(request)
            files = material_files(form, caller)
            body = _json_field(form, self.json_field, self.json_default)
            described: tuple[tuple[MaterialRef, bytes], ...] = ()
            if self.merge_materials:
                try:
                    described = tuple(take_files(files))
                except FileRefused as exc:
                    raise _refused(exc.rule, exc.message) from exc
                body = _merged(body, [ref for ref, _ in described])
            request.scope.setdefault("state", {})[_STATE_KEY] = Upload(files, described)
            return await handle_json(_with_json_body(request, body))

        return handle


def _merged(body: bytes, refs: list[MaterialRef]) -> bytes:
    try:
        parsed = json.loads(body)
    except ValueError:
        return body  # the endpoint's validation names the JSON error
    if not isinstance(parsed, dict):
        return body
    declared = parsed.get("materials", [])
    if not isinstance(declared, list):
        return body
    parsed["materials"] = [*declared, *(ref.model_dump(mode="json") for ref in refs)]
    return json.dumps(parsed, ensure_ascii=False).encode()


class ApplicationUpload(_UploadRoute):
    json_field = "application"


class SupplementUpload(_UploadRoute):
    json_field = "supplement"
    json_default = "{}"
    merge_materials = True


def form_schema(json_field: str, what: str, *, required: bool) -> dict[str, Any]:
    """The multipart form in the published OpenAPI document, beside the JSON body."""
    return {
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": [json_field] if required else [],
                        "properties": {
                            json_field: {
                                "type": "string",
                                "description": f"{what} as JSON (the application/json body)",
                            },
                            FILE_PART: {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                                "maxItems": MAX_FILES,
                                "description": "one file per material: PDF, JPEG, PNG or OFD"
                                f" (by content), at most {MAX_FILE_BYTES} bytes each and"
                                f" {MAX_CASE_FILE_BYTES} together",
                            },
                            NAMES_FIELD: {
                                "type": "array",
                                "items": {"type": "string", "minLength": 1, "maxLength": 200},
                                "description": "each file's material name, in the files' order",
                            },
                            ORIGINALS_FIELD: {
                                "type": "array",
                                "items": {"type": "string", "minLength": 1, "maxLength": 200},
                                "description": "names of the materials whose originals the"
                                " clerk checked (核验原件)",
                            },
                        },
                    },
                    "encoding": {json_field: {"contentType": "application/json"}},
                }
            }
        }
    }
