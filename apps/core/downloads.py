"""File downloads that a broken connection can resume: one byte range (RFC 9110 §14).

A release's Parquet files and a model's weights run to hundreds of megabytes; Django's
FileResponse always sends the whole file, so a download cut off at 90% started over. Here a
``Range: bytes=…`` request gets 206 and that part, checked against ``If-Range`` (the file's
Last-Modified, or its ETag: its size and modification time), and a range past the end gets 416
with the file's size. Several ranges at once, which download managers do not ask for, get
the whole file (200), as the RFC allows. A copy the client already holds (``If-None-Match``
with the ETag, or ``If-Modified-Since``) gets 304 and no body.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import BinaryIO

from django.http import FileResponse, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.cache import get_conditional_response
from django.utils.http import http_date, parse_http_date_safe

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# The types of the files releases and runs offer, where Python's mimetypes guesses wrong or
# not at all (data QA: README.md as text/markdown with no charset, JSONL and Parquet as
# application/octet-stream). Others are guessed by FileResponse.
CONTENT_TYPES = {
    ".md": "text/markdown; charset=utf-8",
    ".jsonl": "application/jsonl; charset=utf-8",
    ".parquet": "application/vnd.apache.parquet",
}


def content_type(path: Path) -> str | None:
    """The Content-Type of ``path`` when CONTENT_TYPES names it, else None (FileResponse
    guesses it from the name)."""
    return CONTENT_TYPES.get(path.suffix.lower())


class _Part:
    """``length`` bytes of ``file`` from where it is: a file FileResponse streams, names
    (Content-Type, Content-Disposition) and closes, but does not measure (no ``tell``)."""

    def __init__(self, file: BinaryIO, length: int) -> None:
        self.file = file
        self.left = length

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        data = self.file.read(size) if size > 0 else b""
        self.left -= len(data)
        return data

    def close(self) -> None:
        self.file.close()


def _wanted(header: str, size: int) -> tuple[int, int] | bool | None:
    """The first and last byte ``header`` asks for; None to send the whole file (no range, or
    one this does not serve); False when no byte of it is in the file (416)."""
    match = _RANGE.match(header.replace(" ", ""))
    if match is None:
        return None
    first, last = match.groups()
    if not first:
        if not last or int(last) == 0:
            return False if last else None
        return max(0, size - int(last)), size - 1  # the last N bytes
    start = int(first)
    end = size - 1 if not last else min(int(last), size - 1)
    if last and int(last) < start:
        return None  # not a valid range: ignored, as the RFC says
    if start >= size:
        return False
    return start, end


def download(request: HttpRequest, path: Path, filename: str | None = None) -> HttpResponseBase:
    """``path`` as an attachment saved as ``filename`` (default: its own name): whole, or
    the one range the request asks for."""
    filename = filename or path.name
    stat = path.stat()
    size, modified = stat.st_size, int(stat.st_mtime)
    etag = f'"{size:x}-{stat.st_mtime_ns:x}"'
    # A copy the client holds already (If-None-Match, If-Modified-Since): 304, no body.
    unchanged = get_conditional_response(request, etag=etag, last_modified=modified)
    if unchanged is not None:
        unchanged["ETag"] = etag
        unchanged["Last-Modified"] = http_date(modified)
        return unchanged
    wanted = None
    if (header := request.headers.get("Range")) and request.method in ("GET", "HEAD"):
        validator = request.headers.get("If-Range")
        if validator is None or validator == etag or parse_http_date_safe(validator) == modified:
            wanted = _wanted(header, size)
    if wanted is False:
        refused = HttpResponse(status=416)
        refused["Content-Range"] = f"bytes */{size}"
        refused["Accept-Ranges"] = "bytes"
        return refused
    file = path.open("rb")
    kind = content_type(path)
    if wanted is None:
        response = FileResponse(file, as_attachment=True, filename=filename, content_type=kind)
    else:
        start, end = wanted  # type: ignore[misc]
        file.seek(start)
        response = FileResponse(
            _Part(file, end - start + 1),
            as_attachment=True,
            filename=filename,
            status=206,
            content_type=kind,
        )
        response["Content-Length"] = str(end - start + 1)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Accept-Ranges"] = "bytes"
    response["Last-Modified"] = http_date(modified)
    response["ETag"] = etag
    return response


def saved_name(prefix: str, path: str) -> str:
    """The name a file is saved under: ``prefix`` and its path in one name
    (``hearth-v3-sft-train-00000-of-00001.parquet``). Its own name alone would be the same
    for every release's and run's file of that path (every release's README.md; sft and
    preferences both have train-00000-of-00001.parquet), and a browser's Downloads folder
    would hold ``README (3).md``."""
    return f"{prefix}-{path.strip('/').replace('/', '-')}"
