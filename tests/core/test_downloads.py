"""Downloads name the kind of file they send: the release files' types Python does not know."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from apps.core.downloads import download


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("README.md", "text/markdown; charset=utf-8"),
        ("train.jsonl", "application/jsonl; charset=utf-8"),
        ("train-00000-of-00001.parquet", "application/vnd.apache.parquet"),
        ("SHARD.PARQUET", "application/vnd.apache.parquet"),
        # Guessed as before.
        ("config.json", "application/json"),
        ("model.safetensors", "application/octet-stream"),
    ],
)
def test_a_download_says_what_kind_of_file_it_is(db, tmp_path, name, kind):
    # ``db``: closing a response ends its request, which closes stale database connections.
    path = tmp_path / name
    path.write_bytes(b"0123456789")
    whole = download(RequestFactory().get("/"), path)
    assert (whole.status_code, whole["Content-Type"]) == (200, kind)
    whole.close()
    part = download(RequestFactory().get("/", headers={"Range": "bytes=2-5"}), path)
    assert (part.status_code, part["Content-Type"]) == (206, kind)
    assert b"".join(part.streaming_content) == b"2345"
    part.close()
