"""The embedded default's file broker: a message is never seen half-written, and a file that
cannot be read does not stop the worker.

QA saw `make run`'s Django worker stop for good with ``Unrecoverable error: JSONDecodeError``:
kombu's filesystem transport creates a message's file under its final name before writing it,
and a worker polling at that moment took the empty file. Imports, release builds and training
reports then waited for a restart that nothing made."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from queue import Empty
from typing import Any

import pytest
from kombu import Connection
from kombu.transport import filesystem

from worker.brokers import FILESYSTEM_TRANSPORT, FilesystemTransport


def _connection(folder: Path, transport: Any = FILESYSTEM_TRANSPORT) -> Connection:
    return Connection(
        "filesystem://localhost/",
        transport=transport,
        transport_options={
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "processed_folder": str(folder.parent / "processed"),
            "store_processed": False,
        },
    )


def test_a_message_is_written_whole_before_it_has_a_name_a_worker_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen_while_writing: list[list[str]] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        seen_while_writing.append(sorted(p.name for p in tmp_path.iterdir()))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with _connection(tmp_path) as conn:
        channel = conn.default_channel
        assert isinstance(conn.transport, FilesystemTransport)
        channel._put("jobs", {"body": "one"})
    # While its bytes went to disk the message had only a name the reader skips ...
    assert len(seen_while_writing) == 1
    (names,) = seen_while_writing
    assert len(names) == 1 and names[0].startswith(".") and names[0].endswith(".part")
    # ... and then only its final one.
    (final,) = (p.name for p in tmp_path.iterdir())
    assert final.endswith(".jobs.msg")
    monkeypatch.setattr(os, "fsync", real_fsync)
    with _connection(tmp_path) as conn:
        assert conn.default_channel._get("jobs") == {"body": "one"}
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("transport", [FILESYSTEM_TRANSPORT, filesystem.Transport])
def test_an_unreadable_message_is_dropped_and_the_next_one_delivered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, transport: Any
) -> None:
    """kombu's own transport raises here, which stops a Celery worker; ours logs and goes on."""
    (tmp_path / "0_empty.jobs.msg").write_bytes(b"")  # what a reader found mid-write
    with _connection(tmp_path, transport) as conn:
        channel = conn.default_channel
        channel._put("jobs", {"body": "next"})
        if transport is filesystem.Transport:
            with pytest.raises(ValueError):
                channel._get("jobs")
            return
        with caplog.at_level(logging.ERROR, logger="worker.brokers"):
            assert channel._get("jobs") == {"body": "next"}
        with pytest.raises(Empty):
            channel._get("jobs")
    assert "Dropped a message of queue jobs that could not be read" in caplog.text


def test_messages_of_other_queues_and_half_written_ones_are_left_alone(tmp_path: Path) -> None:
    with _connection(tmp_path) as conn:
        channel = conn.default_channel
        channel._put("gpu", {"body": "for the GPU worker"})
        (tmp_path / ".abc.part").write_bytes(b'{"bo')  # another process, mid-write
        channel._put("default", {"body": "mine"})
        assert channel._get("default") == {"body": "mine"}
        assert channel._size("gpu") == 1 and channel._size("default") == 0
    assert (tmp_path / ".abc.part").exists()
