"""On-disk storage for the test Hub.

Layout under ``root``::

    blobs/ab/abcdef…            file contents, named by their sha256 (shared by every repo)
    tmp/                        uploads in progress (renamed into blobs/ when complete)
    repos/{type}s/{ns}/{name}/
        repo.json               {"private": bool, "createdAt": iso}
        refs.json               {"branches": {"main": sha}, "tags": {"v1": sha}}
        commits/{sha}.json      one manifest per commit: parents, message, date and the
                                whole tree ({path: entry}); unchanged files share blobs

Every write goes to a temporary file first and is renamed into place, so readers never see a
half-written manifest; writers to one repo hold that repo's lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO_TYPES = ("model", "dataset", "space")
LFS_THRESHOLD = 10 * 1024 * 1024
# The Hub's default .gitattributes: these suffixes always go through LFS.
LFS_SUFFIXES = (
    ".7z", ".arrow", ".bin", ".bz2", ".ckpt", ".ftz", ".gguf", ".gz", ".h5", ".joblib", ".lfs",
    ".mlmodel", ".model", ".msgpack", ".npy", ".npz", ".onnx", ".ot", ".parquet", ".pb",
    ".pickle", ".pkl", ".pt", ".pth", ".rar", ".safetensors", ".tar", ".tflite", ".tgz",
    ".wasm", ".xz", ".zip", ".zst",
)  # fmt: skip
GITATTRIBUTES = "".join(f"*{s} filter=lfs diff=lfs merge=lfs -text\n" for s in LFS_SUFFIXES)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_SHA1 = re.compile(r"[0-9a-f]{40}")


class HubError(Exception):
    """An error the server reports as ``status`` with the Hub's ``X-Error-Code`` header."""

    def __init__(
        self, status: int, message: str, code: str | None = None, commit: str | None = None
    ):
        super().__init__(message)
        self.status, self.message, self.code, self.commit = status, message, code, commit


def git_blob_oid(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return (
        f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()
    )


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Entry:
    """One file in a tree. ``oid`` is the git blob id (of the pointer file, for LFS files)."""

    sha256: str
    size: int
    lfs: bool
    oid: str

    @classmethod
    def regular(cls, sha256: str, content: bytes) -> Entry:
        return cls(sha256, len(content), False, git_blob_oid(content))

    @classmethod
    def large(cls, sha256: str, size: int) -> Entry:
        return cls(sha256, size, True, git_blob_oid(lfs_pointer(sha256, size)))


@dataclass(frozen=True)
class Commit:
    id: str
    parents: list[str]
    title: str
    message: str
    date: str
    author: str
    files: dict[str, Entry] = field(default_factory=dict)

    @property
    def parent(self) -> str | None:
        return self.parents[0] if self.parents else None


@dataclass(frozen=True)
class AddFile:
    path: str
    entry: Entry


@dataclass(frozen=True)
class DeleteFile:
    path: str


@dataclass(frozen=True)
class DeleteFolder:
    path: str


Operation = AddFile | DeleteFile | DeleteFolder


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


def check_path(path: str) -> str:
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise HubError(400, f"Invalid path in repo: {path!r}")
    return path


class Store:
    def __init__(self, root: Path):
        self.root = root
        for sub in ("blobs", "tmp", "repos"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        self._locks: dict[tuple[str, str], threading.RLock] = {}
        self._locks_guard = threading.Lock()

    # -- blobs ---------------------------------------------------------------------------------
    def blob_path(self, sha256: str) -> Path:
        return self.root / "blobs" / sha256[:2] / sha256

    def has_blob(self, sha256: str) -> bool:
        return self.blob_path(sha256).is_file()

    def put_blob(
        self, chunks: Iterable[bytes], expected_sha256: str | None = None
    ) -> tuple[str, int]:
        """Stream ``chunks`` to disk; returns (sha256, size). Rejects a content/oid mismatch."""
        digest, size = hashlib.sha256(), 0
        tmp = self.root / "tmp" / uuid.uuid4().hex
        try:
            with tmp.open("wb") as out:
                for chunk in chunks:
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            sha256 = digest.hexdigest()
            if expected_sha256 is not None and sha256 != expected_sha256:
                raise HubError(400, f"Uploaded content does not match oid {expected_sha256}")
            final = self.blob_path(sha256)
            final.parent.mkdir(exist_ok=True)
            os.replace(tmp, final)
            return sha256, size
        finally:
            tmp.unlink(missing_ok=True)

    def put_bytes(self, content: bytes) -> Entry:
        sha256, _ = self.put_blob([content])
        return Entry.regular(sha256, content)

    # -- repos ---------------------------------------------------------------------------------
    def repo_dir(self, repo_type: str, repo_id: str) -> Path:
        parts = repo_id.split("/")
        if (
            repo_type not in REPO_TYPES
            or len(parts) != 2
            or not all(_NAME.fullmatch(p) for p in parts)
        ):
            raise HubError(400, f"Invalid repo: {repo_type} {repo_id!r}")
        return self.root / "repos" / f"{repo_type}s" / parts[0] / parts[1]

    @contextmanager
    def locked(self, repo_type: str, repo_id: str) -> Iterator[None]:
        with self._locks_guard:
            lock = self._locks.setdefault((repo_type, repo_id), threading.RLock())
        with lock:
            yield

    def exists(self, repo_type: str, repo_id: str) -> bool:
        return (self.repo_dir(repo_type, repo_id) / "refs.json").is_file()

    def meta(self, repo_type: str, repo_id: str) -> dict[str, Any]:
        if not self.exists(repo_type, repo_id):
            raise HubError(404, f"Repository {repo_id} not found", "RepoNotFound")
        return json.loads((self.repo_dir(repo_type, repo_id) / "repo.json").read_text())

    def list_repos(self, repo_type: str) -> list[str]:
        base = self.root / "repos" / f"{repo_type}s"
        return sorted(
            f"{p.parent.name}/{p.name}" for p in base.glob("*/*") if (p / "refs.json").is_file()
        )

    def create_repo(self, repo_type: str, repo_id: str, *, private: bool, author: str) -> bool:
        """Create the repo with an initial commit holding .gitattributes, as the Hub does.
        Returns False (and changes nothing) when it already exists."""
        with self.locked(repo_type, repo_id):
            if self.exists(repo_type, repo_id):
                return False
            folder = self.repo_dir(repo_type, repo_id)
            (folder / "commits").mkdir(parents=True, exist_ok=True)
            _write_json(folder / "repo.json", {"private": private, "createdAt": now_iso()})
            attrs = self.put_bytes(GITATTRIBUTES.encode())
            first = self._save_commit(
                folder, [], {".gitattributes": attrs}, "initial commit", "", author
            )
            _write_json(folder / "refs.json", {"branches": {"main": first.id}, "tags": {}})
            return True

    def delete_repo(self, repo_type: str, repo_id: str) -> None:
        with self.locked(repo_type, repo_id):
            self.meta(repo_type, repo_id)
            shutil.rmtree(self.repo_dir(repo_type, repo_id))

    # -- refs and commits ----------------------------------------------------------------------
    def refs(self, repo_type: str, repo_id: str) -> dict[str, dict[str, str]]:
        self.meta(repo_type, repo_id)
        return json.loads((self.repo_dir(repo_type, repo_id) / "refs.json").read_text())

    def resolve(self, repo_type: str, repo_id: str, revision: str) -> str:
        """A branch, a tag (also as refs/heads/…, refs/tags/…) or a full commit sha → commit sha."""
        refs = self.refs(repo_type, repo_id)
        for prefix, kind in (("refs/heads/", "branches"), ("refs/tags/", "tags")):
            if revision.startswith(prefix) and revision[len(prefix) :] in refs[kind]:
                return refs[kind][revision[len(prefix) :]]
        if revision in refs["branches"]:
            return refs["branches"][revision]
        if revision in refs["tags"]:
            return refs["tags"][revision]
        folder = self.repo_dir(repo_type, repo_id)
        if _SHA1.fullmatch(revision) and (folder / "commits" / f"{revision}.json").is_file():
            return revision
        raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")

    def commit(self, repo_type: str, repo_id: str, sha: str) -> Commit:
        path = self.repo_dir(repo_type, repo_id) / "commits" / f"{sha}.json"
        data = json.loads(path.read_text())
        files = {p: Entry(**e) for p, e in data.pop("files").items()}
        return Commit(files=files, **data)

    def history(self, repo_type: str, repo_id: str, sha: str) -> list[Commit]:
        """First-parent history from ``sha``, newest first."""
        out: list[Commit] = []
        next_sha: str | None = sha
        while next_sha is not None:
            commit = self.commit(repo_type, repo_id, next_sha)
            out.append(commit)
            next_sha = commit.parent
        return out

    def _save_commit(
        self,
        folder: Path,
        parents: list[str],
        files: dict[str, Entry],
        title: str,
        message: str,
        author: str,
    ) -> Commit:
        date = now_iso()
        body = json.dumps([parents, title, message, date, uuid.uuid4().hex, sorted(files)])
        commit = Commit(
            hashlib.sha1(body.encode()).hexdigest(), parents, title, message, date, author, files
        )
        data = asdict(commit)
        _write_json(folder / "commits" / f"{commit.id}.json", data)
        return commit

    def create_commit(
        self,
        repo_type: str,
        repo_id: str,
        branch: str,
        operations: list[Operation],
        *,
        title: str,
        message: str,
        author: str,
        parent_commit: str | None = None,
    ) -> Commit:
        with self.locked(repo_type, repo_id):
            refs = self.refs(repo_type, repo_id)
            if branch.startswith("refs/heads/"):
                branch = branch[len("refs/heads/") :]
            if branch not in refs["branches"]:
                raise HubError(
                    404, f"Invalid rev id: {branch} (commits go to a branch)", "RevisionNotFound"
                )
            head = refs["branches"][branch]
            if parent_commit is not None and parent_commit != head:
                raise HubError(412, "A commit has happened since. Please refresh and try again.")
            files = dict(self.commit(repo_type, repo_id, head).files)
            for op in operations:
                if isinstance(op, AddFile):
                    files[op.path] = op.entry
                elif isinstance(op, DeleteFile):
                    if op.path not in files:
                        raise HubError(
                            404, f"A file with this name doesn't exist: {op.path}", "EntryNotFound"
                        )
                    del files[op.path]
                else:
                    prefix = op.path.rstrip("/") + "/"
                    gone = [p for p in files if p.startswith(prefix)]
                    if not gone:
                        raise HubError(
                            404,
                            f"A folder with this name doesn't exist: {op.path}",
                            "EntryNotFound",
                        )
                    for p in gone:
                        del files[p]
            folder = self.repo_dir(repo_type, repo_id)
            commit = self._save_commit(folder, [head], files, title, message, author)
            refs["branches"][branch] = commit.id
            _write_json(folder / "refs.json", refs)
            return commit

    def set_ref(self, repo_type: str, repo_id: str, kind: str, name: str, sha: str | None) -> None:
        """Create (sha given; 409 if it exists) or delete (sha None; 404 if missing) a branch or tag."""
        with self.locked(repo_type, repo_id):
            refs = self.refs(repo_type, repo_id)
            if sha is not None:
                if not _NAME.fullmatch(name) or name in refs["branches"] or name in refs["tags"]:
                    raise HubError(409, f"Reference {name} already exists or is invalid")
                refs[kind][name] = sha
            else:
                if name not in refs[kind] or (kind == "branches" and name == "main"):
                    raise HubError(404, f"Invalid rev id: {name}", "RevisionNotFound")
                del refs[kind][name]
            _write_json(self.repo_dir(repo_type, repo_id) / "refs.json", refs)
