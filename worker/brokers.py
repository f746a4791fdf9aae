"""Broker options shared by the web side (apps/settings.py) and GPU nodes (worker/celery.py).
Django-free and torch-free."""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import time
import uuid
from queue import Empty
from typing import Any, ClassVar

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

logger = logging.getLogger(__name__)


def redis_transport_options(visibility_timeout: int) -> dict[str, Any]:
    """kombu's Redis options for ``visibility_timeout``: a message unacknowledged that long
    (its worker died, acks_late) is delivered again.

    kombu looks for such messages every ``unacked_restore_interval × unacked_restore_throttle``
    seconds (100 by default); here that period is a quarter of the timeout, between 2 and
    100 seconds, so a short timeout also means a quick recovery.
    """
    sweep = min(100.0, max(2.0, visibility_timeout / 4))
    interval = min(10.0, sweep)
    return {
        "visibility_timeout": visibility_timeout,
        "unacked_restore_interval": interval,
        "unacked_restore_throttle": max(1, round(sweep / interval)),
    }


# Messages this process has sent, for the order of two sent in one clock tick.
_sent = itertools.count()


class _AtomicFilesystemChannel(filesystem.Channel):
    """kombu's filesystem channel, writing each message whole before it can be read, and
    keeping a message taken by a worker until the worker settles it.

    Written whole: kombu creates a message's file under its final name and then writes into
    it, holding an advisory lock that the reader never takes: a worker polling at that moment
    moved the empty file away, failed to decode it and stopped for good (``Unrecoverable
    error: JSONDecodeError``; celery/kombu#1551). Seen on ``make run`` under a burst of
    requests: every queued import, build and training report then waited for a restart. Here
    a message is written and fsynced under a name the reader skips, then renamed to its final
    name, which is atomic; a file that still cannot be read is logged and dropped instead of
    stopping the worker.

    Kept until settled: kombu deletes a message's file as it reads it, so ``acks_late`` meant
    nothing here, and a worker killed during a job (a release build, an import, a training
    run) lost it; its row looked busy until it was judged stalled, 5 to 30 minutes later
    (crash QA). Here a message read moves into ``.taken/`` beside the queue; it is deleted
    when the worker acknowledges or rejects it, or puts it back itself (a warm shutdown). A
    worker that starts consuming a queue first moves that queue's taken messages no live
    consumer holds back into it, so a job whose worker was killed is delivered again, as
    Redis does after its visibility timeout. That assumes what the embedded default runs: one
    worker per queue (a second worker starting on a queue would take back the first one's
    jobs in progress)."""

    # Per process: the messages this process took and has not settled (delivery tag: path),
    # and the queues whose leftovers it has put back already.
    _held: ClassVar[dict[str, str]] = {}
    _put_back: ClassVar[set[tuple[str, str]]] = set()

    # kombu's own two bases disagree on this method's parameter names.
    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:  # type: ignore[override]
        # Read in name order, so names sort as the messages were sent: the wall clock in
        # nanoseconds, zero-padded (a monotonic clock restarts at a reboot, which the folder
        # survives), then this process's count (two in one tick). The milliseconds and a
        # uuid before let two messages sent in one millisecond come out in either order (CI).
        name = f"{time.time_ns():020d}_{next(_sent):012d}_{uuid.uuid4()}.{queue}.msg"
        # "<queue>.msg" after the first dot is what the reader takes; ".<uuid>.part" never is.
        part = os.path.join(self.data_folder_out, f".{uuid.uuid4()}.part")
        try:
            with open(part, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
                f.flush()
                os.fsync(f.fileno())
            os.replace(part, os.path.join(self.data_folder_out, name))
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(part)
            raise ChannelError(f"Cannot add a message to {self.data_folder_out!r}") from exc

    @property
    def _taken_folder(self) -> str:
        return os.path.join(self.data_folder_in, ".taken")

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        wanted = f"{queue}.msg"
        os.makedirs(self._taken_folder, exist_ok=True)
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.partition(".")[2] != wanted:
                continue
            taken = os.path.join(self._taken_folder, name)
            try:
                os.rename(os.path.join(self.data_folder_in, name), taken)
            except OSError:
                continue  # another reader took it first
            try:
                with open(taken, "rb") as f:
                    payload = loads(bytes_to_str(f.read()))
            except (OSError, ValueError):
                logger.exception("Dropped a message of queue %s that could not be read", queue)
                with contextlib.suppress(OSError):
                    os.unlink(taken)
                continue
            tag = (payload.get("properties") or {}).get("delivery_tag")
            if tag is None or queue in self._unacked_queues:  # nothing will settle it
                os.unlink(taken)
            else:
                self._held[tag] = taken
            return payload
        raise Empty()

    def _settle(self, delivery_tag: Any) -> None:
        taken = self._held.pop(delivery_tag, None)
        if taken is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(taken)

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        super().basic_ack(delivery_tag, multiple=multiple)
        self._settle(delivery_tag)

    def basic_reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        super().basic_reject(delivery_tag, requeue=requeue)  # requeued: written anew
        self._settle(delivery_tag)

    def _restore(self, message: Any) -> None:
        super()._restore(message)  # put back into its queue as a new file
        self._settle(message.delivery_tag)

    @property
    def _unacked_queues(self) -> set[str]:
        """Queues consumed with ``no_ack`` (Celery's remote control, say): their messages
        are never settled, so none is kept."""
        if not hasattr(self, "_no_ack"):
            self._no_ack: set[str] = set()
        return self._no_ack

    def basic_consume(
        self, queue: str, no_ack: bool, callback: Any, consumer_tag: Any, **kwargs: Any
    ) -> Any:
        if no_ack:
            self._unacked_queues.add(queue)
        else:
            self._put_back_leftovers(queue)
        return super().basic_consume(queue, no_ack, callback, consumer_tag, **kwargs)

    def basic_get(self, queue: str, no_ack: bool = False, **kwargs: Any) -> Any:
        if not no_ack or queue in self._unacked_queues:
            return super().basic_get(queue, no_ack=no_ack, **kwargs)
        self._unacked_queues.add(queue)
        try:
            return super().basic_get(queue, no_ack=no_ack, **kwargs)
        finally:
            self._unacked_queues.discard(queue)

    def _put_back_leftovers(self, queue: str) -> None:
        """Move ``queue``'s taken messages that this process does not hold back into it,
        once per process: their worker died before settling them."""
        key = (self.data_folder_in, queue)
        if key in self._put_back:
            return
        self._put_back.add(key)
        held = set(self._held.values())
        wanted = f"{queue}.msg"
        try:
            names = sorted(os.listdir(self._taken_folder))
        except FileNotFoundError:
            return
        for name in names:
            taken = os.path.join(self._taken_folder, name)
            if name.partition(".")[2] != wanted or taken in held:
                continue
            with contextlib.suppress(FileNotFoundError):
                os.rename(taken, os.path.join(self.data_folder_in, name))
                logger.warning("Delivering again a message of queue %s its worker left", queue)


class FilesystemTransport(filesystem.Transport):
    """The embedded default's broker (``broker_transport``): kombu's filesystem transport with
    messages written atomically and kept until settled, on the web side and on the workers
    alike."""

    Channel = _AtomicFilesystemChannel


FILESYSTEM_TRANSPORT = f"{__name__}:FilesystemTransport"
