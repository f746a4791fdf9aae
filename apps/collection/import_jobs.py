"""Imports in the background: an upload is kept on disk and imported by the ``collection.import``
task on the exports worker, so a file of any size the site takes is not bound to one web
request (nor to a proxy's timeout), and the page and API follow it as it goes.

Each batch commits together with the ``Import`` row's counts and read position
(``importing.prompts_import_jsonl``'s ``on_batch``), so the row says exactly what is in the
database. An attempt that stops anywhere — a killed worker, a database error — is taken up
again at the first line not committed, with the report as it stood: no line is imported or
counted twice. Two attempts at once (a redelivered task beside a resumed one) are safe: each
batch moves the position only from where that attempt last left it, and the one that finds
it moved stops, its batch rolled back.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from apps.accounts.models import User
from apps.collection import importing
from apps.collection.models import Import, ImportStatus
from apps.core.durable import fsync_dir
from apps.core.queueing import send_on_commit, unsent_reason

logger = logging.getLogger(__name__)

# An import that has committed nothing for this long, queued or running, has lost its worker
# (a batch takes about a second): a maintainer may send it again.
STALLED_AFTER = timedelta(minutes=5)
ERROR_MAX_CHARS = 2_000
FILE_GONE = gettext_noop("The uploaded file is no longer on the server; send the file again.")


class ImportTaken(Exception):
    """Another attempt moved this import on; this attempt stops."""


def imports_folder() -> Path:
    return Path(settings.DATA_DIR) / "imports"


def import_path(import_id: int) -> Path:
    """Where an import's upload waits until the import is done."""
    return imports_folder() / f"{import_id}.jsonl"


def is_resumable(job: Import) -> bool:
    """Whether Resume can take the import up: failed or stalled, with its file still here."""
    return (job.status == ImportStatus.FAILED or is_stalled(job)) and import_path(job.pk).exists()


def is_stalled(job: Import) -> bool:
    """Whether an import that should be moving has committed nothing for STALLED_AFTER."""
    return job.status in (ImportStatus.QUEUED, ImportStatus.RUNNING) and (
        timezone.now() - job.updated_at > STALLED_AFTER
    )


def report_of(job: Import) -> importing.ImportReport:
    """The import's report as committed so far."""
    return importing.ImportReport(
        imported=job.imported,
        answers_added=job.answers_added,
        duplicates=job.duplicates,
        rejected=job.rejected,
        batches_committed=job.batches_committed,
        lines_committed=job.lines_committed,
        lines=[importing.LineOutcome.from_dict(line) for line in job.listed],
        lines_per_status=job.lines_per_status,
    )


def import_start(*, author: User, upload: UploadedFile, options: importing.ImportOptions) -> Import:
    """Keep ``upload`` and queue its import; returns the queued import.

    Preconditions: ``author`` may import (``roles.is_maintainer``) and ``upload`` passed
    ``importing.check_upload``. The file is written whole (beside its final name, then renamed)
    before the row commits, and the task is sent once it has: a worker never finds a row
    without its file."""
    folder = imports_folder()
    folder.mkdir(parents=True, exist_ok=True)
    with transaction.atomic():
        job = Import.objects.create(
            created_by=author,
            file_name=(upload.name or "upload.jsonl")[-255:],
            file_size=upload.size or 0,
            options={
                name: value for name, value in asdict(options).items() if name != "batch_size"
            },
            lines_per_status=importing.REPORT_LINES_PER_STATUS,
            locale=translation.get_language() or "",
        )
        final = import_path(job.pk)
        staging = final.with_name(f".{final.name}.part")
        try:
            with open(staging, "wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(staging, final)
            fsync_dir(folder)
        except BaseException:
            staging.unlink(missing_ok=True)
            raise
        _send_on_commit(job.pk)
    return job


def import_resume(job: Import) -> tuple[Import, bool]:
    """Send a failed or stalled import to a worker again; it goes on from its last committed
    batch. Returns the import and whether it was sent: one still moving is left as it is.
    Raises ValidationError for an import that is done."""
    with transaction.atomic():
        job = Import.objects.select_for_update().get(pk=job.pk)
        if job.status == ImportStatus.DONE:
            raise ValidationError(
                {"status": [_("This import is done; there is nothing left to import.")]}
            )
        if job.status != ImportStatus.FAILED and not is_stalled(job):
            return job, False
        if not import_path(job.pk).exists():
            raise ValidationError({"status": [_(FILE_GONE)]})
        job.status = ImportStatus.QUEUED
        job.error = ""
        job.save(update_fields=["status", "error", "updated_at"])
        _send_on_commit(job.pk)
    return job, True


def import_discard(job: Import) -> Import:
    """Give up on a failed or stalled import: it stays failed, and its file is removed. The
    lines committed before it stopped stay in Hearth. Raises ValidationError for an import
    that is done or still moving; one already discarded is returned as it is."""
    with transaction.atomic():
        job = Import.objects.select_for_update().get(pk=job.pk)
        if job.discarded_at is not None:
            return job
        if job.status == ImportStatus.DONE:
            raise ValidationError(
                {"status": [_("This import is done; there is nothing to discard.")]}
            )
        if job.status != ImportStatus.FAILED and not is_stalled(job):
            raise ValidationError(
                {
                    "status": [
                        _(
                            "This import is still under way; only a failed or stalled one can be discarded."
                        )
                    ]
                }
            )
        if job.status != ImportStatus.FAILED:
            # A lost worker's attempt that comes back finds it failed and stops.
            job.status = ImportStatus.FAILED
            job.error = _("Its worker stopped without a word.")
        job.discarded_at = timezone.now()
        job.save(update_fields=["status", "error", "discarded_at", "updated_at"])
    with contextlib.suppress(FileNotFoundError):
        import_path(job.pk).unlink()
    return job


def file_kept_until(job: Import) -> datetime | None:
    """When beat discards a failed or stalled import that has not moved since (None for an
    import that is moving, done or discarded)."""
    if job.discarded_at is not None or not (job.status == ImportStatus.FAILED or is_stalled(job)):
        return None
    return job.updated_at + timedelta(days=settings.HEARTH_IMPORT_KEEP_DAYS)


def expire_imports() -> list[int]:
    """Discard every failed or stalled import that has not moved for HEARTH_IMPORT_KEEP_DAYS
    (``import_discard``: its file goes, its committed lines stay), and remove files in the
    imports folder that no import is waiting for: one whose import is done, discarded or
    gone, or a ``.part`` left by a crash mid-upload, once an hour old (an upload's file is
    written just before its row commits). Returns the ids of the imports discarded."""
    cutoff = timezone.now() - timedelta(days=settings.HEARTH_IMPORT_KEEP_DAYS)
    quiet = (
        Import.objects.filter(discarded_at__isnull=True, updated_at__lt=cutoff)
        .exclude(status=ImportStatus.DONE)
        .order_by("pk")
    )
    discarded = []
    for job in quiet:
        try:
            import_discard(job)
        except ValidationError:  # it moved, or finished, since it was read
            continue
        discarded.append(job.pk)
    folder = imports_folder()
    if not folder.is_dir():
        return discarded
    settled = timezone.now().timestamp() - 3600
    files = {}
    for path in folder.iterdir():
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_mtime < settled:
                files[path] = path.name.removesuffix(".jsonl")
    waiting = set(
        Import.objects.filter(
            pk__in=[int(name) for name in files.values() if name.isdigit()],
            discarded_at__isnull=True,
        )
        .exclude(status=ImportStatus.DONE)
        .values_list("pk", flat=True)
    )
    for path, name in files.items():
        if not (name.isdigit() and int(name) in waiting):
            logger.info("imports: removing %s, which no import is waiting for", path.name)
            path.unlink(missing_ok=True)
    return discarded


def _send(import_id: int) -> None:
    from apps.collection.tasks import import_file

    import_file.apply_async(args=(import_id,), queue="exports")


def _send_on_commit(import_id: int) -> None:
    """Send the import to the exports worker after commit; one the broker refuses is failed
    with the reason at once (it may be resumed), rather than queued until it looks stalled."""
    send_on_commit(
        lambda: _send(import_id),
        unsent=lambda exc: Import.objects.filter(pk=import_id, status=ImportStatus.QUEUED).update(
            status=ImportStatus.FAILED, error=unsent_reason(exc), updated_at=timezone.now()
        ),
    )


def _fail(import_id: int, reason: str, *, at: int | None = None) -> None:
    """Mark the import failed, unless another attempt has moved it on since ``at``."""
    moving = Import.objects.filter(pk=import_id).exclude(status=ImportStatus.DONE)
    if at is not None:
        moving = moving.filter(bytes_done=at)
    try:
        moving.update(
            status=ImportStatus.FAILED, error=reason[:ERROR_MAX_CHARS], updated_at=timezone.now()
        )
    except Exception:
        # The database itself may be what failed; the import then shows as stalled.
        logger.exception("import %s: could not mark it failed", import_id)


def import_run(import_id: int) -> Import:
    """Import the file of ``import_id`` from where it stands; a no-op once it is done.

    The report's messages are written in the language its sender read the site in. An error
    marks the import failed with the reason, keeps its file for a resume, and is raised
    again; an attempt that finds another one ahead of it stops quietly."""
    job = Import.objects.select_related("created_by").get(pk=import_id)
    with translation.override(job.locale or settings.LANGUAGE_CODE):
        return _run(job)


def _run(job: Import) -> Import:
    if job.status == ImportStatus.DONE or job.discarded_at is not None:
        return job
    path = import_path(job.pk)
    if job.created_by is None:
        _fail(job.pk, _("The account that sent this file is gone; send the file again."))
        return Import.objects.get(pk=job.pk)
    now = timezone.now()
    # Never over a done or discarded import: another attempt may have finished it, or a
    # maintainer discarded it, since it was read.
    claimed = (
        Import.objects.filter(pk=job.pk, discarded_at__isnull=True)
        .exclude(status=ImportStatus.DONE)
        .update(
            status=ImportStatus.RUNNING,
            started_at=Coalesce(F("started_at"), now),
            updated_at=now,
            error="",
        )
    )
    if not claimed:
        return Import.objects.get(pk=job.pk)
    try:
        stream = open(path, "rb")  # noqa: SIM115 (closed by the with below)
    except FileNotFoundError:
        # Unless another attempt finished it and removed the file meanwhile.
        _fail(job.pk, _(FILE_GONE), at=job.bytes_done)
        return Import.objects.get(pk=job.pk)
    report = report_of(job)
    at = job.bytes_done
    listed = len(report.lines)

    def save(committed: importing.ImportReport, position: importing.ReadPosition) -> None:
        nonlocal at, listed
        fields: dict[str, object] = {
            "bytes_done": position.offset,
            "lines_read": position.lines,
            "imported": committed.imported,
            "answers_added": committed.answers_added,
            "duplicates": committed.duplicates,
            "rejected": committed.rejected,
            "batches_committed": committed.batches_committed,
            "lines_committed": committed.lines_committed,
            "updated_at": timezone.now(),
        }
        if len(committed.lines) != listed:  # full lists stop growing: not written again
            fields["listed"] = [line.as_dict() for line in committed.lines]
        moved = Import.objects.filter(pk=job.pk, bytes_done=at, status=ImportStatus.RUNNING).update(
            **fields
        )
        if not moved:
            raise ImportTaken
        at, listed = position.offset, len(committed.lines)

    with stream:
        try:
            options = importing.check_import_options(**job.options)
            stream.seek(job.bytes_done)
            importing.prompts_import_jsonl(
                stream,
                author=job.created_by,
                options=options,
                bytes_total=job.file_size,
                report=report,
                start=importing.ReadPosition(lines=job.lines_read, offset=job.bytes_done),
                on_batch=save,
            )
        except ImportTaken:
            logger.info("import %s: another attempt is ahead of this one; stopping", job.pk)
            return Import.objects.get(pk=job.pk)
        except ValidationError as exc:
            # The author may no longer contribute (banned since), or the options no longer hold.
            _fail(job.pk, " ".join(exc.messages), at=at)
            raise
        except Exception as exc:
            _fail(job.pk, f"{type(exc).__name__}: {exc}", at=at)
            raise
    done = Import.objects.filter(pk=job.pk, bytes_done=at, status=ImportStatus.RUNNING).update(
        status=ImportStatus.DONE, finished_at=timezone.now(), updated_at=timezone.now()
    )
    if done:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return Import.objects.get(pk=job.pk)
