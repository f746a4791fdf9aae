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
            "control_folder": str(folder.parent / "control"),
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
    assert [p.name for p in tmp_path.iterdir()] == [".taken"]
    assert list((tmp_path / ".taken").iterdir()) == []  # not kombu's: nothing to settle


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


@pytest.fixture
def new_process(monkeypatch: pytest.MonkeyPatch) -> Any:
    """What a channel remembers per process, emptied: calling it starts "another process"."""
    from worker import brokers

    def start() -> None:
        monkeypatch.setattr(brokers._AtomicFilesystemChannel, "_held", {})
        monkeypatch.setattr(brokers._AtomicFilesystemChannel, "_put_back", set())

    start()
    return start


def test_a_message_taken_and_never_settled_is_delivered_to_the_next_consumer(
    tmp_path: Path, new_process: Any
) -> None:
    """Crash QA: kombu deletes a message as it reads it, so a worker killed during a job
    (acks_late) lost the job on the embedded default."""
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue("jobs")
        queue.put({"job": 1})
        queue.put({"job": 2})
        first = queue.get(timeout=1)
        assert first.payload == {"job": 1}
        second = queue.get(timeout=1)
        second.ack()  # done; the first one's worker "dies" before settling it
        assert len(list((tmp_path / ".taken").iterdir())) == 1
        # The same process consuming again does not take back what it holds.
        again = conn.SimpleQueue("jobs")
        with pytest.raises(Empty):
            again.get(timeout=0.2)
    new_process()
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue("jobs")
        redelivered = queue.get(timeout=1)
        assert redelivered.payload == {"job": 1}
        redelivered.ack()
        with pytest.raises(Empty):
            queue.get(timeout=0.2)
    assert list((tmp_path / ".taken").iterdir()) == []
    new_process()
    with _connection(tmp_path) as conn, pytest.raises(Empty):
        conn.SimpleQueue("jobs").get(timeout=0.2)  # settled: never again


def test_a_rejected_message_is_settled_and_a_requeued_one_comes_back_once(
    tmp_path: Path, new_process: Any
) -> None:
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue("jobs")
        queue.put({"job": "dropped"})
        queue.put({"job": "requeued"})
        queue.get(timeout=1).reject()
        queue.get(timeout=1).requeue()
        assert list((tmp_path / ".taken").iterdir()) == []
        back = queue.get(timeout=1)
        assert back.payload == {"job": "requeued"}
        back.ack()
    new_process()
    with _connection(tmp_path) as conn, pytest.raises(Empty):
        conn.SimpleQueue("jobs").get(timeout=0.2)


def test_other_queues_taken_messages_stay_with_their_worker(
    tmp_path: Path, new_process: Any
) -> None:
    """A worker starting on its queues takes back only theirs: the GPU worker starting must
    not take the Django worker's build in progress."""
    from worker.brokers import _AtomicFilesystemChannel as channel_class

    django_worker = _connection(tmp_path)  # left open: its build is in progress
    django_worker.SimpleQueue("exports").put({"job": "build"})
    assert django_worker.SimpleQueue("exports").get(timeout=1).payload == {"job": "build"}
    its_memory = channel_class._held
    new_process()
    with _connection(tmp_path) as conn:
        gpu = conn.SimpleQueue("gpu")
        with pytest.raises(Empty):
            gpu.get(timeout=0.2)
    assert [p.name.partition(".")[2] for p in (tmp_path / ".taken").iterdir()] == ["exports.msg"]
    channel_class._held = its_memory  # back in the Django worker's process
    django_worker.release()  # a warm shutdown: its unsettled message goes back to its queue
    assert list((tmp_path / ".taken").iterdir()) == []
    assert django_worker.SimpleQueue("exports").qsize() == 1


def test_a_celery_worker_killed_mid_task_has_the_task_run_again_by_the_next_one(
    tmp_path: Path,
) -> None:
    """A real worker on the file broker, killed with SIGKILL during an acks_late task; the
    worker started after it runs the task to its end, once."""
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "REDELIVERY_DIR": str(tmp_path)}
    for sub in ("queue", "processed", "control"):
        (tmp_path / sub).mkdir()
    root = Path(__file__).resolve().parents[2]

    def worker(log: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tests.worker.redelivery_app", "worker",
             "--pool=solo", "--without-heartbeat", "--without-mingle", "--without-gossip",
             "--loglevel=WARNING"],
            cwd=root, env=env, stdout=open(tmp_path / log, "wb"), stderr=subprocess.STDOUT,
        )  # fmt: skip

    def wait_for(path: Path, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while not path.exists():
            assert time.monotonic() < deadline, (tmp_path / "first.log").read_text()[-3000:]
            time.sleep(0.1)

    subprocess.run(
        [sys.executable, "-c",
         "from tests.worker.redelivery_app import slow; slow.delay('job', 3)"],
        cwd=root, env=env, check=True,
    )  # fmt: skip
    first = worker("first.log")
    try:
        wait_for(tmp_path / "job.starts")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    assert not (tmp_path / "job.done").exists()
    second = worker("second.log")
    try:
        wait_for(tmp_path / "job.done")
    finally:
        second.terminate()
        second.wait(30)
    starts = (tmp_path / "job.starts").read_text().split()
    assert len(starts) == 2 and starts[0] != starts[1]  # once in each worker
    assert list((tmp_path / "queue" / ".taken").iterdir()) == []


def test_a_message_read_without_acknowledgement_is_not_kept(
    tmp_path: Path, new_process: Any
) -> None:
    """Consumers with no_ack (Celery's remote control: "shutdown", "cancel_consumer") never
    settle a message: one kept would be acted on again by the next worker."""
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue("control", no_ack=True)
        queue.put({"command": "shutdown"})
        assert queue.get(timeout=1).payload == {"command": "shutdown"}
        conn.SimpleQueue("jobs").put({"job": 1})
        assert conn.default_channel.basic_get("jobs", no_ack=True).payload == {"job": 1}
    assert list((tmp_path / ".taken").iterdir()) == []
    new_process()
    with _connection(tmp_path) as conn:
        with pytest.raises(Empty):
            conn.SimpleQueue("control", no_ack=True).get(timeout=0.2)
        with pytest.raises(Empty):
            conn.SimpleQueue("jobs").get(timeout=0.2)


def test_messages_sent_in_one_millisecond_come_out_in_the_order_sent(tmp_path: Path) -> None:
    """Names sorted by the millisecond and then a uuid let two messages sent in one
    millisecond come out in either order (CI caught it): now the clock's nanoseconds and the
    sender's count order them."""
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue("jobs")
        for n in range(200):
            queue.put({"job": n})
        received = []
        for _ in range(200):
            message = queue.get(timeout=1)
            received.append(message.payload["job"])
            message.ack()
    assert received == list(range(200))
