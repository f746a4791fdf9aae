"""Crash QA: an upload whose web process was killed left Django's temporary file in /tmp for
ever. Large uploads now spool under the data folder, where beat's hourly
``collection.expire_imports`` removes what a killed process left."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from django.test import RequestFactory

from apps import settings as hearth_settings
from apps.collection.tasks import UPLOAD_TEMP_MAX_AGE, expire_import_files


def test_an_upload_larger_than_the_memory_limit_is_spooled_under_the_data_folder():
    body = b"{}\n" * (settings.FILE_UPLOAD_MAX_MEMORY_SIZE // 3 + 1)
    request = RequestFactory().post(
        "/api/v1/imports/", {"file": SimpleUploadedFile("big.jsonl", body)}
    )
    upload = request.FILES["file"]  # parsed now, through the site's upload handlers
    try:
        assert isinstance(upload, TemporaryUploadedFile)
        spooled = Path(upload.temporary_file_path())
        # The data folder as the settings module read it (this folder's tests move DATA_DIR).
        assert spooled.parent == hearth_settings.DATA_DIR / "uploads"
        assert spooled.stat().st_size == len(body)
    finally:
        upload.close()
    assert not spooled.exists()  # closed at the end of a request: Django removes its own


@pytest.mark.django_db
def test_beat_removes_temporary_uploads_a_killed_web_process_left_and_keeps_live_ones(
    settings, tmp_path
):
    settings.FILE_UPLOAD_TEMP_DIR = tmp_path / "uploads"
    settings.FILE_UPLOAD_TEMP_DIR.mkdir()
    left = settings.FILE_UPLOAD_TEMP_DIR / "tmpa1b2c3.upload.jsonl"
    live = settings.FILE_UPLOAD_TEMP_DIR / "tmpd4e5f6.upload.jsonl"  # being received now
    for path in (left, live):
        path.write_bytes(b"{}\n")
    when = time.time() - UPLOAD_TEMP_MAX_AGE.total_seconds() - 60
    os.utime(left, (when, when))

    assert expire_import_files.apply().get() == []  # no import to discard

    assert not left.exists()
    assert live.read_bytes() == b"{}\n"
