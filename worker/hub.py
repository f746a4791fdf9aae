"""Publishing a folder to a Hub repo as one commit plus a tag, safely repeatable. Django-free:
GPU nodes publish models with it, and apps.releases.publishing publishes releases with it.

Safe to repeat and to retry after a crash at any point:
- the tag already there on a commit with ``marker`` → nothing is uploaded; its commit is the
  answer (the tag on any other commit is refused with TagTaken, and left alone);
- a commit on main whose description holds ``marker`` but no tag yet (a crash between the
  two steps) → that commit is tagged;
- otherwise one ``create_commit`` with every file of the folder (and deletes of files the
  repo has that the folder lacks, except the Hub's own ``.gitattributes``), then the tag.

Main keeps the newest content of the series (releases by number, models by run), which the
repo's page, a plain ``load_dataset(repo)`` and ``from_pretrained(repo)`` give: each commit
notes its place (``hearth-order: N`` in its description), and content older than a commit
on main goes on a branch of its own (``branch``, made from main), tagged as usual. The Hub
decides, at commit time, not whoever sent the work: a commit on main names the head it read
(``parent_commit``), and when another commit landed meanwhile (HTTP 412) the choice is made
again, so two publishers at once (two GPU nodes, a retried release beside a new one) never
leave the older on main.

The token is read from the publishing process's environment (``HF_TOKEN``) at call time and
handed to the client; it is never stored or logged. ``HF_ENDPOINT`` (optional) points the
client at another Hub. ``huggingface_hub`` is imported inside the functions only.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# Files a Hub repo keeps that a published folder does not own.
KEEP = frozenset({".gitattributes"})
# A commit description's line naming its content's place in the series.
ORDER_PREFIX = "hearth-order:"
# Commits on main raced by another publisher (HTTP 412) before giving up.
COMMIT_RACES = 5


class MissingToken(RuntimeError):
    """HF_TOKEN is not set in this process's environment."""


class TagTaken(RuntimeError):
    """The repo already has ``tag`` on a commit that is not this content (its description
    lacks the marker): another deployment's, or one made by hand. Nothing was uploaded and
    the tag is left alone; publishing it as ours would name other data."""

    def __init__(self, repo_id: str, tag: str, commit: str) -> None:
        super().__init__(
            f"{repo_id} already has the tag {tag} on commit {commit}, which is not this content"
        )
        self.repo_id, self.tag, self.commit = repo_id, tag, commit


def hub_api() -> Any:
    """An HfApi with this process's HF_TOKEN and HF_ENDPOINT (read now, not at import)."""
    from huggingface_hub import HfApi

    token = os.environ.get("HF_TOKEN")
    if not token:
        raise MissingToken("HF_TOKEN is not set in the publishing process's environment")
    return HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=token)


def folder_files(folder: Path) -> list[str]:
    """Every file under ``folder`` as a POSIX path relative to it, sorted."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _marked(commit: Any, marker: str) -> bool:
    """Whether a commit's title or description has ``marker`` as one of its lines."""
    text = f"{commit.title or ''}\n{commit.message or ''}"
    return any(line.strip() == marker for line in text.splitlines())


def find_marked_commit(
    api: Any, repo_id: str, repo_type: str, marker: str, revision: str | None = None
) -> str | None:
    """A commit on main (or the branch ``revision``) whose title or description has
    ``marker`` as one of its lines."""
    for commit in api.list_repo_commits(repo_id, repo_type=repo_type, revision=revision):
        if _marked(commit, marker):
            return str(commit.commit_id)
    return None


def _order(commit: Any) -> int | None:
    """The ``hearth-order:`` a commit's description names, if any."""
    for line in (commit.message or "").splitlines():
        key, _, value = line.strip().partition(" ")
        if key == ORDER_PREFIX and value.strip().isdigit():
            return int(value)
    return None


def _precondition_failed(exc: BaseException) -> bool:
    """The Hub refused a commit because the branch moved since its head was read."""
    return getattr(getattr(exc, "response", None), "status_code", None) == 412


def publish_folder(
    folder: Path,
    *,
    repo_id: str,
    repo_type: str,
    tag: str,
    marker: str,
    commit_message: str,
    files: Iterable[str] | None = None,
    order: int | None = None,
    branch: str | None = None,
) -> str:
    """Publish ``folder`` (or only ``files``, paths relative to it) to ``repo_id`` as one
    commit tagged ``tag``; return the tagged commit's sha. See the module docstring for why
    repeating it is safe.

    ``marker`` must identify this content (a hash, a run id and config fingerprint): it goes
    into the commit description and is how a commit left untagged by a crash is recognised.
    ``order`` (with ``branch``): this content's place in its series; when a commit on main
    names a later place, the commit goes on ``branch`` and main is left as it is. Raises
    MissingToken without HF_TOKEN; client errors propagate (see is_transient).
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    if (order is None) != (branch is None):
        raise ValueError("order and branch go together")
    api = hub_api()
    api.create_repo(repo_id, repo_type=repo_type, exist_ok=True)
    refs = api.list_repo_refs(repo_id, repo_type=repo_type)
    tags = {ref.name: ref.target_commit for ref in refs.tags}
    if tag in tags:
        # Ours only if the tagged commit carries this content's marker; a tag of the same
        # name on other data is refused rather than taken as published.
        tagged = next(iter(api.list_repo_commits(repo_id, repo_type=repo_type, revision=tag)))
        if not _marked(tagged, marker):
            raise TagTaken(repo_id, tag, str(tags[tag]))
        return str(tags[tag])
    branches = {ref.name for ref in refs.branches}
    revision = find_marked_commit(api, repo_id, repo_type, marker)
    if revision is None and branch is not None and branch in branches:
        revision = find_marked_commit(api, repo_id, repo_type, marker, revision=branch)
    paths = sorted(files) if files is not None else folder_files(folder)
    description = marker if order is None else f"{marker}\n{ORDER_PREFIX} {order}"
    race = 0
    while revision is None:
        main = list(api.list_repo_commits(repo_id, repo_type=repo_type))
        later = order is not None and any((_order(c) or 0) > order for c in main)
        target = branch if later else None
        if target is not None and target not in branches:
            api.create_branch(repo_id, repo_type=repo_type, branch=target)
            branches.add(target)
        present = set(api.list_repo_files(repo_id, repo_type=repo_type, revision=target))
        operations: list[Any] = [
            CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(folder / path))
            for path in paths
        ]
        operations += [
            CommitOperationDelete(path_in_repo=path) for path in sorted(present - set(paths) - KEEP)
        ]
        try:
            commit = api.create_commit(
                repo_id,
                repo_type=repo_type,
                operations=operations,
                commit_message=commit_message,
                commit_description=description,
                revision=target,
                # On main, only over the head just read: a later release or model committed
                # meanwhile changes where this one goes.
                parent_commit=None if target is not None else str(main[0].commit_id),
            )
        except Exception as exc:
            race += 1
            if not _precondition_failed(exc) or race >= COMMIT_RACES:
                raise
            # Main moved: perhaps by this very content (another attempt's); else choose again.
            revision = find_marked_commit(api, repo_id, repo_type, marker)
            continue
        revision = str(commit.oid)
    api.create_tag(repo_id, repo_type=repo_type, tag=tag, revision=revision)
    return revision


def is_transient(exc: BaseException) -> bool:
    """Whether trying again later may succeed: the network failed, or the Hub answered 429 or
    5xx. Authentication, a missing repo or a bad request are not transient."""
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(status, int):
        return status == 429 or status >= 500
    # The client's transport errors (connect, read, timeout, protocol) share this base name
    # in httpx and its forks; matching by name keeps this module free of the HTTP library.
    return any(cls.__name__ == "TransportError" for cls in type(exc).__mro__)
