"""Building a release: stream rows out of the database into Parquet files, then swap them in.

``release_build(release_id)`` claims the release (a fresh build token under the row lock),
writes every config and split into ``DATA_DIR/releases/.tmp-<version>-<token>/``,
``os.replace``s that folder to ``DATA_DIR/releases/<version>/`` and only then marks the row
ready, with a conditional ``UPDATE … WHERE state='building' AND build_token=…``. A crash at
any point leaves a release that is building or failed, never one that looks ready; building it
again removes what an earlier attempt left behind and starts over, and beat removes the temp
folders no attempt can finish any more (``release_leftovers_remove``).

Streaming. On PostgreSQL the two big streams (``prompts`` and ``sft``, one row per prompt or
answer) run as ``COPY (SELECT …) TO STDOUT (FORMAT csv)`` on a separate connection and are
parsed by pyarrow's streaming CSV reader straight into Arrow record batches: no Python object
per row or field, memory bounded by the reader's block size. The answers come ordered by
prompt, then id, and the ranked configs (``rankings`` and ``preferences``), whose rows each
need a prompt's whole answer set, take their texts from that stream: the answers of a chunk of
ranked prompts are held until the stream has passed them, while a thread reads the chunk's
rankings and consensus (a few small queries, no texts) on a third connection. That reading
connection runs one REPEATABLE READ, READ ONLY transaction whose snapshot the others import,
so every config of a release sees the same rows while progress is written through Django's
own connection. Elsewhere (the SQLite embedded default) the same querysets stream through
``.values_list().iterator(chunk_size=…)``, the chunk queries run between its batches, no
snapshot spans the configs, and progress is written on a connection of its own (an open
stream's snapshot refuses writes on its connection once others commit: ``OrmReader.write``).
Both paths produce the same bytes.

Splits: a prompt keeps the split of the first release that included it (``splits``). Before
its snapshot is taken a build stores a split for each prompt that enters and has none, from a
hash of the id at its own test share; the prompts stream joins the stored splits, and every
other config takes its prompts' splits from that pass.

Determinism: rows are ordered by id (answers by prompt, then id), Parquet writer options are
pinned, row groups have a fixed row count, and nothing in a data file depends on the time, so
the same rows give the same data files and the same data hash (``Release.data_hash``, over
``data/`` and ``dolly/``; a rebuild finds the splits its first attempt stored), whatever the
version. The card names its version, the year and month its build finished and what changed
since the previous one, so the content hash, over every file, differs between versions.

Heartbeat: a build writes its progress (``Release.progress_at``) every ``PROGRESS_EVERY``
source rows or ``PROGRESS_SECONDS``, whichever comes first, and between the steps after its
passes, so one silent for ``BUILD_STALE`` (many heartbeats) has lost its worker.

Layout of a release folder::

    README.md                                   the card (apps.releases.cards)
    data/<config>/<split>-0000i-of-0000N.parquet
    dolly/<split>.jsonl                         the split's sft rows as Dolly JSONL (DOLLY_KEYS)
    .hearth/keys/<config>.parquet               row keys and digests, for the next release's changes

``.hearth/`` is private bookkeeping: it is not in ``Release.files`` nor in the content hash and
is neither published nor offered for download.

The package: ``layout`` (paths, schemas, split and pseudonym hashes), ``queries`` (what
enters, as querysets), ``splits`` (each prompt's split, stored once), ``streams`` (readers and
writers), ``passes`` (one attempt's passes over
the data) and, here, the attempt itself: claim, build, move into place, mark ready or failed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils import timezone

from apps.core.durable import fsync_dir, fsync_tree
from apps.releases import cards
from apps.releases.building.layout import (
    CONFIGS,
    DOLLY_KEYS,
    DOLLY_PATHS,
    PRIVATE_DIR,
    SPLITS,
    prompt_split,
    pseudonym,
    release_folder,
    release_schemas,
    releases_root,
)
from apps.releases.building.passes import Build, BuildSuperseded, Progress
from apps.releases.building.splits import splits_assign
from apps.releases.building.streams import Method, OrmReader, PostgresReader, open_reader
from apps.releases.models import FINISHED_STATES, Release, ReleaseState

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "CONFIGS",
    "DOLLY_KEYS",
    "DOLLY_PATHS",
    "PRIVATE_DIR",
    "SPLITS",
    "BuildSuperseded",
    "Method",
    "Progress",
    "prompt_split",
    "pseudonym",
    "release_build",
    "release_folder",
    "release_leftovers_remove",
    "release_mark_failed",
    "release_schemas",
    "releases_root",
]

log = logging.getLogger(__name__)

ERROR_MAX_CHARS = 2_000
# The card, and the folders of data files (hashed apart: ``Release.data_hash``).
CARD_PATH = "README.md"
DATA_DIRS = ("data", "dolly")
# A build attempt's token (``Release.build_token``), which also names its temp folder.
TOKEN_BYTES = 16
TEMP_PREFIX = ".tmp-"
# Files hashed at once when a build ends.
HASH_THREADS = min(4, os.cpu_count() or 1)
# How long jemalloc keeps freed pages before handing them back to the system, during a build.
JEMALLOC_DECAY_MS = 100


@contextmanager
def _memory_pool() -> Iterator[None]:
    """Arrow allocates from jemalloc, returning freed pages after ``JEMALLOC_DECAY_MS``, while
    the build runs. The default pool (mimalloc) keeps much of what the build's threads free,
    and the build frees a lot: CSV blocks parsed on reader threads, row groups encoded on the
    writer's. Measured on the release benchmark: about 60 MB less peak RSS, no slower.
    Unchanged where pyarrow was built without jemalloc."""
    import pyarrow as pa

    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:
        yield
        return
    previous = pa.default_memory_pool()
    pa.jemalloc_set_decay_ms(JEMALLOC_DECAY_MS)
    pa.set_memory_pool(pool)
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def _changes(
    keys: dict[str, pa.Table], previous: Release | None
) -> dict[str, dict[str, int]] | None:
    """Rows added, removed and changed per config since ``previous``, from the row keys and
    digests (``Build.write_keys``); None when there is no previous release or its keys are
    gone. A row is changed when its key is in both releases and its digest differs (a ranking
    whose answers were hidden since, a pair whose margin moved); ``changed`` is left out for a
    previous release built before digests were kept."""
    if previous is None:
        return None
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    folder = release_folder(previous.version) / PRIVATE_DIR / "keys"
    changes: dict[str, dict[str, int]] = {}
    for config in CONFIGS:
        path = folder / f"{config}.parquet"
        if not path.exists():
            return None
        # ParquetFile, not read_table: read_table goes through pyarrow.dataset, which imports
        # pandas.
        stored = pq.ParquetFile(path)
        digested = "digest" in stored.schema_arrow.names
        before = stored.read(columns=["key", "digest"] if digested else ["key"])
        old = before.column("key").combine_chunks()
        new = keys[config].column("key").combine_chunks()
        added = len(new) - pc.sum(pc.is_in(new, value_set=old)).as_py() if len(new) else 0
        removed = len(old) - pc.sum(pc.is_in(old, value_set=new)).as_py() if len(old) else 0
        entry = {"added": int(added or 0), "removed": int(removed or 0)}
        if digested:
            at = pc.index_in(new, value_set=old)
            kept = pc.is_valid(at)
            was = before.column("digest").combine_chunks().take(at.filter(kept))
            now = keys[config].column("digest").combine_chunks().filter(kept)
            entry["changed"] = int(pc.sum(pc.not_equal(was, now)).as_py() or 0)
        changes[config] = entry
    return changes


def _comparable_previous(release: Release) -> Release | None:
    """The latest finished release before ``release`` cut with the same filter (the same
    languages, categories, minimum agreement and model-written answers; the test share only
    decides the splits of new prompts): the one its changes are counted against. Data QA:
    against a release filtered to one language, the next full release claimed hundreds of
    rows added that the one before had already. A few rows per release, read newest first."""
    wanted = release.release_filter
    earlier = Release.objects.filter(state__in=FINISHED_STATES, number__lt=release.number)
    for candidate in earlier.order_by("-number").only("pk", "number", "version", "filter"):
        if candidate.release_filter.enters_the_same_as(wanted):
            return candidate
    return None


def _latest_earlier(release: Release) -> str | None:
    """The version of the latest finished release before ``release``, whatever its filter."""
    return (
        Release.objects.filter(state__in=FINISHED_STATES, number__lt=release.number)
        .order_by("-number")
        .values_list("version", flat=True)
        .first()
    )


def _hash_files(
    folder: Path, *, only: str | None = None, beat: Callable[[], None] | None = None
) -> list[dict[str, Any]]:
    """``{path, bytes, sha256}`` of each file of a release folder in path order: its data
    files (``data/``, ``dolly/``), or with ``only`` that one file. ``.hearth/`` and the card
    are not data; the card is hashed once written (``only=CARD_PATH``), as it names the data
    files' hash. Files are hashed in parallel (hashlib lets go of the GIL); every byte is
    read and hashed once. ``beat`` is called as each file is done (the build's heartbeat)."""
    from concurrent.futures import ThreadPoolExecutor

    if only is not None:
        paths = [only]
    else:
        paths = sorted(
            rel
            for path in folder.rglob("*")
            if path.is_file()
            and (rel := path.relative_to(folder).as_posix()).split("/")[0] in DATA_DIRS
        )

    def digest(rel: str) -> dict[str, Any]:
        sha = hashlib.sha256()
        with open(folder / rel, "rb") as handle:
            while chunk := handle.read(1 << 20):
                sha.update(chunk)
        return {"path": rel, "bytes": (folder / rel).stat().st_size, "sha256": sha.hexdigest()}

    files = []
    with ThreadPoolExecutor(max_workers=HASH_THREADS, thread_name_prefix="release-hash") as pool:
        for entry in pool.map(digest, paths):
            files.append(entry)
            if beat is not None:
                beat()
    return files


def _manifest_hash(files: list[dict[str, Any]]) -> str:
    """The SHA-256 of the manifest of ``files``: a ``path size sha256`` line per file, in path
    order. Over every file it is the content hash; over the data files alone, the data hash,
    the same for two versions that hold the same rows (their cards differ)."""
    ordered = sorted(files, key=lambda entry: entry["path"])
    manifest = "".join(f"{f['path']} {f['bytes']} {f['sha256']}\n" for f in ordered)
    return hashlib.sha256(manifest.encode()).hexdigest()


def _temp_folder(version: str, token: str) -> Path:
    """Where the attempt holding ``token`` writes ``version`` until it moves it into place."""
    return releases_root() / f"{TEMP_PREFIX}{version}-{token}"


def _remove_leftovers(version: str) -> None:
    """Temp folders of earlier attempts at this version, and a final folder that an attempt
    moved into place without managing to mark the release ready."""
    root = releases_root()
    for stale in root.glob(f"{TEMP_PREFIX}{version}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    final = release_folder(version)
    if final.exists():
        shutil.rmtree(final)


def _claim(release_id: int) -> tuple[Release, str] | None:
    """Take the release for a new build attempt; None when it is already finished."""
    with transaction.atomic():
        release = Release.objects.select_for_update().get(pk=release_id)
        if release.state in FINISHED_STATES:
            return None
        release.build_token = secrets.token_hex(TOKEN_BYTES)
        release.state = ReleaseState.BUILDING
        release.error = ""
        release.started_at = release.progress_at = timezone.now()
        release.finished_at = None
        release.progress_done = release.progress_total = 0
        release.counts, release.changes, release.files = {}, {}, []
        release.content_hash = release.data_hash = ""
        release.previous = _comparable_previous(release)
        release.save()
        return release, release.build_token


def release_mark_failed(*, release_id: int, reason: str, token: str | None = None) -> bool:
    """Mark a building release failed with ``reason``; with ``token``, only if that build
    attempt still owns it. Returns whether it did."""
    qs = Release.objects.filter(pk=release_id, state=ReleaseState.BUILDING)
    if token is not None:
        qs = qs.filter(build_token=token)
    return bool(
        qs.update(
            state=ReleaseState.FAILED, error=reason[:ERROR_MAX_CHARS], finished_at=timezone.now()
        )
    )


def release_leftovers_remove() -> list[str]:
    """Remove the temp folders that no build attempt can move into place any more; returns
    their names. Beat runs it hourly (``releases.remove_leftovers``): crash QA found that a
    build killed outright left its folder until that version was built again.

    A folder goes when its release is gone or not building (only the attempt that owns a
    building release can finish it), or when its release builds under another attempt (that
    one superseded it). The folder of the attempt that owns a building release stays, unless
    the build has stalled (``Release.build_stalled``: its worker has most likely died): then
    the release is first taken from that attempt under the row lock, so that one still alive
    after all can never mark it ready with its files half gone. A folder named by no token
    (an attempt older than these names) stays while its release builds.
    """
    root = releases_root()
    if not root.is_dir():
        return []
    # Listed before any release is read: an attempt makes its folder after its claim commits,
    # so the row read next names that attempt or a later one, never an earlier one.
    folders = sorted(path for path in root.glob(f"{TEMP_PREFIX}*") if path.is_dir())
    removed = []
    for folder in folders:
        version, _, token = folder.name.removeprefix(TEMP_PREFIX).rpartition("-")
        if _owned_by_a_live_attempt(version, token):
            continue
        log.info("releases: removing %s, which no build can finish", folder.name)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder.name)
    return removed


@transaction.atomic
def _owned_by_a_live_attempt(version: str, token: str) -> bool:
    """Whether the folder of ``version`` named by ``token`` may belong to an attempt that can
    still finish it (see ``release_leftovers_remove``, which removes it if not). A stalled
    build is disowned here instead: no attempt owns the release, as before its first claim,
    and a rebuild or its task delivered again claims it as usual."""
    release = Release.objects.select_for_update().filter(version=version).first()
    if release is None or release.state != ReleaseState.BUILDING:
        return False
    if len(token) == 2 * TOKEN_BYTES and token != release.build_token:
        return False
    if not release.build_stalled:
        return True
    release.build_token = ""
    release.save(update_fields=["build_token"])
    return False


def release_build(
    release_id: int, *, progress: Progress | None = None, method: Method = "auto"
) -> Release:
    """Build a release's files and mark it ready; a no-op for a release already finished.

    Safe to run again after a crash or a failure, and safe against a second attempt running
    at once (the later claim wins; the earlier stops at its next progress write). On an error
    the release is marked failed with the reason, nothing is left at its final path, and the
    error is raised again. ``progress(done, total)`` is called as source rows are read;
    ``method`` picks the reader ("copy" needs PostgreSQL; "auto" uses it there).
    """
    claimed = _claim(release_id)
    if claimed is None:
        return Release.objects.get(pk=release_id)
    release, token = claimed
    with _memory_pool():
        return _attempt(release, token, progress=progress, method=method)


def _attempt(release: Release, token: str, *, progress: Progress | None, method: Method) -> Release:
    """One build attempt of a claimed release (see ``release_build``)."""
    release_id = release.pk
    root = releases_root()
    root.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(release.version)
    folder = _temp_folder(release.version, token)
    folder.mkdir()
    reader: OrmReader | PostgresReader | None = None
    try:
        # Committed before the reader takes its snapshot, which then holds every split.
        splits_assign(release=release)
        reader = open_reader(method)
        build = Build(release, token, folder, reader, progress)
        try:
            build.run()
            reader.close()
            reader = None
            rows = build.close_writers()
        except BaseException:
            # Waits for the writer thread, then lets go of the shards it had open.
            build.pipeline.shutdown()
            build.abort_writers()
            raise
        finally:
            build.close_dolly()
            # Waits for the writer thread, so nothing writes into the folder once it is gone.
            build.pipeline.shutdown()
        build.beat()
        keys = build.write_keys()
        counts = build.counts(rows)
        changes = _changes(keys, release.previous)
        build.beat()
        # The data files' hashes first: the card names their own hash (``data_hash``).
        data_files = _hash_files(folder, beat=build.beat)
        finished = timezone.now()
        card = cards.render_card(
            version=release.version,
            release_filter=build.flt,
            counts=counts,
            changes=changes,
            previous_version=release.previous.version if release.previous else None,
            latest_version=_latest_earlier(release),
            attributed=build.attributed_names(),
            finished_at=finished,
            data_hash=_manifest_hash(data_files),
        )
        (folder / CARD_PATH).write_text(card, encoding="utf-8", newline="\n")
        files = sorted(
            [*data_files, *_hash_files(folder, only=CARD_PATH)], key=lambda entry: entry["path"]
        )
        fsync_tree(folder)
        build.beat()
        _finish(
            release,
            token,
            folder,
            finished_at=finished,
            counts=counts,
            changes=changes or {},
            files=files,
            content_hash=_manifest_hash(files),
            data_hash=_manifest_hash(data_files),
            total=build.done,
        )
    except BuildSuperseded:
        log.info("release %s: build superseded by a newer attempt", release.version)
        shutil.rmtree(folder, ignore_errors=True)
        return Release.objects.get(pk=release_id)
    except BaseException as exc:
        shutil.rmtree(folder, ignore_errors=True)
        reason = f"{type(exc).__name__}: {exc}"
        if release_mark_failed(release_id=release_id, reason=reason, token=token):
            # Ours and failed: whatever reached the final path (a move whose commit failed)
            # must not look like a release.
            shutil.rmtree(release_folder(release.version), ignore_errors=True)
        log.exception("release %s: build failed", release.version)
        raise
    finally:
        if reader is not None:
            reader.close()
    return Release.objects.get(pk=release_id)


def _finish(
    release: Release,
    token: str,
    folder: Path,
    *,
    finished_at: Any,
    counts: dict[str, Any],
    changes: dict[str, Any],
    files: list[dict[str, Any]],
    content_hash: str,
    data_hash: str,
    total: int,
) -> None:
    """Move the folder into place and mark the release ready, under the row lock, only if
    this attempt still owns it."""
    final = release_folder(release.version)
    with transaction.atomic():
        owned = Release.objects.filter(
            pk=release.pk, state=ReleaseState.BUILDING, build_token=token
        )
        if owned.select_for_update().first() is None:
            raise BuildSuperseded(release.version)
        if final.exists():
            shutil.rmtree(final)
        os.replace(folder, final)
        fsync_dir(final.parent)
        updated = owned.update(
            state=ReleaseState.READY,
            # The time the card gives (its year and month), a moment before the move.
            finished_at=finished_at,
            counts=counts,
            changes=changes,
            files=files,
            content_hash=content_hash,
            data_hash=data_hash,
            progress_done=total,
            progress_total=total,
        )
        if not updated:
            raise BuildSuperseded(release.version)
