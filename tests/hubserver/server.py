"""A small Hugging Face Hub-compatible HTTP server, for tests that drive the real
``huggingface_hub`` client (and ``datasets``) without the network.

It speaks the subset of the Hub API those clients use: repos (create, delete, info), commits
(preupload → LFS batch with "basic" transfer → NDJSON commit), branches, tags, refs, commit
history, tree listings, paths-info, whoami, README YAML validation, and file downloads (HEAD/GET
on ``/resolve/``, with ranges). Xet is not spoken: clients must run with HF_HUB_DISABLE_XET=1.

Reads are public (except private repos); every write needs ``Authorization: Bearer <token>``.
A request that carries any other token gets 401, as on the Hub. Tokens are never logged.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import tempfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .store import (
    LFS_SUFFIXES,
    LFS_THRESHOLD,
    AddFile,
    Commit,
    DeleteFile,
    DeleteFolder,
    Entry,
    HubError,
    Operation,
    Store,
    check_path,
    lfs_pointer,
)

CHUNK = 1024 * 1024
_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_REPO = r"(?P<ns>[^/]+)/(?P<name>[^/]+?)"
_API = r"/api/(?P<types>models|datasets|spaces)/" + _REPO
_WEB = r"/(?:(?P<types>datasets|spaces)/)?" + _REPO


class HubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, store: Store, token: str, user: str):
        super().__init__(("127.0.0.1", 0), HubRequestHandler)
        self.store, self.token, self.user = store, token, user
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self.upload_key = secrets.token_bytes(32)  # signs LFS upload URLs (the PUT has no token)
        self.requests: list[tuple[str, str, int]] = []  # (method, path without query, status)

    def upload_signature(self, oid: str, size: int) -> str:
        return hmac.new(self.upload_key, f"{oid}:{size}".encode(), hashlib.sha256).hexdigest()


Route = tuple[str, re.Pattern[str], str]
ROUTES: list[Route] = [
    (m, re.compile(p), h)
    for m, p, h in [
        ("GET", r"/api/whoami-v2", "whoami"),
        ("POST", r"/api/validate-yaml", "validate_yaml"),
        ("POST", r"/api/repos/create", "create_repo"),
        ("DELETE", r"/api/repos/delete", "delete_repo"),
        ("GET", _API + r"(?:/revision/(?P<rev>[^/]+))?", "repo_info"),
        ("GET", _API + r"/refs", "list_refs"),
        ("GET", _API + r"/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", "tree"),
        ("POST", _API + r"/paths-info/(?P<rev>[^/]+)", "paths_info"),
        ("GET", _API + r"/commits/(?P<rev>[^/]+)", "list_commits"),
        ("POST", _API + r"/preupload/(?P<rev>[^/]+)", "preupload"),
        ("POST", _API + r"/commit/(?P<rev>[^/]+)", "commit"),
        ("POST", _API + r"/(?P<kind>tag|branch)/(?P<rev>[^/]+)", "create_ref"),
        ("DELETE", _API + r"/(?P<kind>tag|branch)/(?P<rev>[^/]+)", "delete_ref"),
        ("POST", _WEB + r"\.git/info/lfs/objects/batch", "lfs_batch"),
        ("PUT", r"/lfs-upload/(?P<oid>[0-9a-f]{64})", "lfs_upload"),
        ("GET", _WEB + r"/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
        ("HEAD", _WEB + r"/resolve/(?P<rev>[^/]+)/(?P<path>.+)", "resolve"),
    ]
]


class HubRequestHandler(BaseHTTPRequestHandler):
    server: HubHTTPServer
    protocol_version = "HTTP/1.1"
    timeout = 120  # idle keep-alive connections give their thread back eventually

    # -- plumbing ------------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:  # quiet; see server.requests
        pass

    def do_GET(self) -> None:
        self._dispatch()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        self.query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self._body_read = self._started = False
        self._expand = self.query.get("expand", "").lower() == "true"
        status = 500
        try:
            self.authed = self._authorized()
            for method, pattern, name in ROUTES:
                match = pattern.fullmatch(url.path)
                if method == self.command and match:
                    args = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                    if "ns" in args:
                        args["repo_type"] = _TYPES[args.pop("types", "models")]
                        args["repo_id"] = f"{args.pop('ns')}/{args.pop('name')}"
                    status = getattr(self, name)(**args)
                    break
            else:
                raise HubError(404, f"No route for {self.command} {url.path}")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away mid-response
        except Exception as e:
            if not isinstance(e, HubError):  # a bug here: tell the client rather than hang up
                e = HubError(500, f"{type(e).__name__}: {e}")
            status = e.status
            if self._started:  # too late for an error response: drop the connection
                self.close_connection = True
            else:
                self._error(e)
        self.server.requests.append((self.command, url.path, status))

    def _start(self, status: int, headers: dict[str, str]) -> None:
        """Send the status line and headers (values made header-safe)."""
        self.send_response(status)
        self._started = True
        if not self._body_read and self._has_body():
            self.close_connection = True  # the unread request body would desync the connection
            headers = {**headers, "Connection": "close"}
        for key, value in headers.items():
            self.send_header(
                key, " ".join(value.split()).encode("ascii", "backslashreplace").decode()
            )
        self.end_headers()

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> int:
        content_headers = {"Content-Type": "application/json", "Content-Length": str(len(body))}
        self._start(status, {**content_headers, **(headers or {})})
        if self.command != "HEAD":
            self.wfile.write(body)
        return status

    def _json(self, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> int:
        return self._send(status, json.dumps(data).encode(), headers)

    def _error(self, e: HubError) -> None:
        headers = {"X-Error-Message": e.message}
        if e.code:
            headers["X-Error-Code"] = e.code
        if e.commit:
            headers["X-Repo-Commit"] = e.commit
        self._send(e.status, json.dumps({"error": e.message}).encode(), headers)

    def _has_body(self) -> bool:
        chunked = self.headers.get("Transfer-Encoding", "").lower() == "chunked"
        return chunked or int(self.headers.get("Content-Length") or 0) > 0

    def _body_chunks(self) -> Iterator[bytes]:
        """The request body as a stream (Content-Length or chunked), never all in memory."""
        self._body_read = True
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while size := int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16):
                yield from self._read_exactly(size)
                self.rfile.readline(1024)
            while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                pass  # trailers
        else:
            yield from self._read_exactly(int(self.headers.get("Content-Length") or 0))

    def _read_exactly(self, size: int) -> Iterator[bytes]:
        while size > 0:
            chunk = self.rfile.read(min(size, CHUNK))
            if not chunk:
                raise HubError(400, "Request body ended early")
            size -= len(chunk)
            yield chunk

    def _body_json(self) -> Any:
        raw = b"".join(self._body_chunks())
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            raise HubError(400, "Malformed JSON body") from None

    # -- auth ----------------------------------------------------------------------------------
    def _authorized(self) -> bool:
        """True for the server's token, False for none; 401 for any other token."""
        header = self.headers.get("Authorization", "")
        if not header:
            return False
        given = header.removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), self.server.token.encode()):
            raise HubError(401, "Invalid credentials in Authorization header")
        return True

    def _require_write(self) -> None:
        if not self.authed:
            raise HubError(
                401, "You must be authenticated to do this (Authorization: Bearer <token>)"
            )

    def _readable(self, repo_type: str, repo_id: str) -> None:
        meta = self.server.store.meta(repo_type, repo_id)
        if meta["private"] and not self.authed:
            raise HubError(404, f"Repository {repo_id} not found", "RepoNotFound")

    def _writable(self, repo_type: str, repo_id: str) -> None:
        self._require_write()
        self.server.store.meta(repo_type, repo_id)

    # -- account -------------------------------------------------------------------------------
    def whoami(self) -> int:
        self._require_write()
        user = self.server.user
        token_info = {"displayName": "hubserver", "role": "write"}
        return self._json({
            "type": "user", "id": user, "name": user, "fullname": user, "email": f"{user}@example.invalid",
            "emailVerified": True, "isPro": False, "orgs": [],
            "auth": {"type": "access_token", "accessToken": token_info},
        })  # fmt: skip

    def validate_yaml(self) -> int:
        content = str(self._body_json().get("content", ""))
        match = re.match(r"\A---\r?\n(.*?)\r?\n---\r?\n?", content, re.DOTALL)
        if match:
            import yaml

            try:
                data = yaml.safe_load(match.group(1))
            except yaml.YAMLError as e:
                return self._json({"errors": [{"message": f"Invalid YAML: {e}"}]}, 400)
            if data is not None and not isinstance(data, dict):
                return self._json({"errors": [{"message": "Metadata must be a mapping"}]}, 400)
        return self._json({"errors": [], "warnings": []})

    # -- repos ---------------------------------------------------------------------------------
    def _repo_url(self, repo_type: str, repo_id: str) -> str:
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        return f"{self.server.url}/{prefix}{repo_id}"

    def _body_repo(self) -> tuple[dict[str, Any], str, str]:
        body = self._body_json()
        repo_type = body.get("type") or "model"
        return (
            body,
            repo_type,
            f"{body.get('organization') or self.server.user}/{body.get('name', '')}",
        )

    def create_repo(self) -> int:
        self._require_write()
        body, repo_type, repo_id = self._body_repo()
        private = body.get("visibility", "private" if body.get("private") else "public") != "public"
        created = self.server.store.create_repo(
            repo_type, repo_id, private=private, author=self.server.user
        )
        url = self._repo_url(repo_type, repo_id)
        if not created:
            return self._json({"error": "You already created this repo", "url": url}, 409)
        return self._json({"url": url, "name": repo_id, "id": repo_id})

    def delete_repo(self) -> int:
        self._require_write()
        _, repo_type, repo_id = self._body_repo()
        self.server.store.delete_repo(repo_type, repo_id)
        return self._json({})

    def repo_info(self, repo_type: str, repo_id: str, rev: str = "main") -> int:
        self._readable(repo_type, repo_id)
        store = self.server.store
        commit = store.commit(repo_type, repo_id, store.resolve(repo_type, repo_id, rev))
        meta = store.meta(repo_type, repo_id)
        siblings = [
            {"rfilename": p}
            if self.query.get("blobs", "").lower() != "true"
            else {"rfilename": p, **self._file_info(p, e, with_path=False)}
            for p, e in sorted(commit.files.items())
        ]
        return self._json({
            "_id": hashlib.sha1(f"{repo_type}/{repo_id}".encode()).hexdigest()[:24],
            "id": repo_id, "modelId": repo_id, "author": repo_id.split("/")[0], "sha": commit.id,
            "private": meta["private"], "gated": False, "disabled": False, "downloads": 0, "likes": 0,
            "tags": [], "createdAt": meta["createdAt"], "lastModified": commit.date, "siblings": siblings,
        })  # fmt: skip

    def list_refs(self, repo_type: str, repo_id: str) -> int:
        self._readable(repo_type, repo_id)
        refs = self.server.store.refs(repo_type, repo_id)

        def items(kind: str, prefix: str) -> list[dict[str, str]]:
            return [
                {"name": n, "ref": prefix + n, "targetCommit": sha}
                for n, sha in sorted(refs[kind].items())
            ]

        return self._json({
            "branches": items("branches", "refs/heads/"), "tags": items("tags", "refs/tags/"),
            "converts": [], "pullRequests": [],
        })  # fmt: skip

    def list_commits(self, repo_type: str, repo_id: str, rev: str) -> int:
        self._readable(repo_type, repo_id)
        store = self.server.store
        history = store.history(repo_type, repo_id, store.resolve(repo_type, repo_id, rev))
        return self._json([
            {"id": c.id, "title": c.title, "message": c.message, "date": c.date, "authors": [{"user": c.author}]}
            for c in history
        ])  # fmt: skip

    def create_ref(self, repo_type: str, repo_id: str, kind: str, rev: str) -> int:
        self._writable(repo_type, repo_id)
        body, store = self._body_json(), self.server.store
        if kind == "tag":
            name, target = str(body.get("tag", "")), rev
        else:
            name, target = rev, str(body.get("startingPoint") or "main")
        sha = store.resolve(repo_type, repo_id, target)
        store.set_ref(repo_type, repo_id, "tags" if kind == "tag" else "branches", name, sha)
        return self._json(
            {"name": name, "ref": f"refs/{'tags' if kind == 'tag' else 'heads'}/{name}"}
        )

    def delete_ref(self, repo_type: str, repo_id: str, kind: str, rev: str) -> int:
        self._writable(repo_type, repo_id)
        self.server.store.set_ref(
            repo_type, repo_id, "tags" if kind == "tag" else "branches", rev, None
        )
        return self._json({})

    # -- trees ---------------------------------------------------------------------------------
    def _commit_at(self, repo_type: str, repo_id: str, rev: str) -> Commit:
        self._readable(repo_type, repo_id)
        store = self.server.store
        return store.commit(repo_type, repo_id, store.resolve(repo_type, repo_id, rev))

    def _file_info(self, path: str, entry: Entry, *, with_path: bool = True) -> dict[str, Any]:
        info: dict[str, Any] = {"type": "file", "oid": entry.oid, "size": entry.size, "path": path}
        if not with_path:
            info = {"size": entry.size, "blobId": entry.oid}
        if entry.lfs:
            pointer_size = len(lfs_pointer(entry.sha256, entry.size))
            key = "oid" if with_path else "sha256"
            info["lfs"] = {key: entry.sha256, "size": entry.size, "pointerSize": pointer_size}
        return info

    def _entries(
        self, commit: Commit, path: str, *, recursive: bool
    ) -> list[tuple[str, Entry | None]]:
        """(path, entry) under ``path``, folders with entry None; direct children unless recursive."""
        prefix = f"{path}/" if path else ""
        found: dict[str, Entry | None] = {}
        for p, entry in commit.files.items():
            if not p.startswith(prefix):
                continue
            parts = p[len(prefix) :].split("/")
            depth = len(parts) if recursive else 1
            for i in range(1, min(depth, len(parts) - 1) + 1):
                found[prefix + "/".join(parts[:i])] = None
            if len(parts) == 1 or recursive:
                found[p] = entry
        return sorted(found.items(), key=lambda kv: (kv[1] is not None, kv[0]))

    def _info(
        self, repo_type: str, repo_id: str, commit: Commit, path: str, entry: Entry | None
    ) -> dict[str, Any]:
        if entry is not None:
            info = self._file_info(path, entry)
        else:
            children = sorted(
                (p, e.oid) for p, e in commit.files.items() if p.startswith(path + "/")
            )
            oid = hashlib.sha1(json.dumps(children).encode()).hexdigest()
            info = {"type": "directory", "oid": oid, "size": 0, "path": path}
        if self._expand:
            last = self._last_change(repo_type, repo_id, commit, path)
            info["lastCommit"] = {"id": last.id, "title": last.title, "date": last.date}
        return info

    def _last_change(self, repo_type: str, repo_id: str, commit: Commit, path: str) -> Commit:
        def state(c: Commit) -> list[tuple[str, str]]:
            return sorted(
                (p, e.oid) for p, e in c.files.items() if p == path or p.startswith(path + "/")
            )

        current = state(commit)
        while commit.parent is not None:
            parent = self.server.store.commit(repo_type, repo_id, commit.parent)
            if state(parent) != current:
                break
            commit = parent
        return commit

    def tree(self, repo_type: str, repo_id: str, rev: str, path: str = "") -> int:
        commit = self._commit_at(repo_type, repo_id, rev)
        path = path.strip("/")
        if path and not any(p.startswith(path + "/") for p in commit.files):
            raise HubError(404, f"Folder {path} not found at {rev}", "EntryNotFound", commit.id)
        recursive = self.query.get("recursive", "").lower() == "true"
        entries = self._entries(commit, path, recursive=recursive)
        return self._json([self._info(repo_type, repo_id, commit, p, e) for p, e in entries])

    def paths_info(self, repo_type: str, repo_id: str, rev: str) -> int:
        form = parse_qs(b"".join(self._body_chunks()).decode())
        commit = self._commit_at(repo_type, repo_id, rev)
        self._expand = form.get("expand", ["false"])[-1].lower() == "true"
        out = []
        for path in form.get("paths", []):
            path = path.strip("/")
            if path in commit.files:
                out.append(self._info(repo_type, repo_id, commit, path, commit.files[path]))
            elif path and any(p.startswith(path + "/") for p in commit.files):
                out.append(self._info(repo_type, repo_id, commit, path, None))
        return self._json(out)

    # -- uploads -------------------------------------------------------------------------------
    def preupload(self, repo_type: str, repo_id: str, rev: str) -> int:
        self._writable(repo_type, repo_id)
        body = self._body_json()
        files = self._commit_at(repo_type, repo_id, rev).files
        out = []
        for f in body.get("files", []):
            path = check_path(f["path"])
            sample = base64.b64decode(f.get("sample", ""))
            lfs = (
                f.get("size", 0) >= LFS_THRESHOLD or b"\0" in sample or path.endswith(LFS_SUFFIXES)
            )
            existing = files.get(path)
            oid = None if existing is None else existing.sha256 if lfs else existing.oid
            out.append(
                {
                    "path": path,
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                    "oid": oid,
                }
            )
        return self._json(
            {"files": out, "commitOid": self.server.store.resolve(repo_type, repo_id, rev)}
        )

    def lfs_batch(self, repo_type: str, repo_id: str) -> int:
        self._writable(repo_type, repo_id)
        body = self._body_json()
        if body.get("operation") != "upload":
            raise HubError(400, "Only LFS uploads are supported (downloads go through /resolve/)")
        objects = []
        for obj in body.get("objects", []):
            oid, size = str(obj["oid"]), int(obj["size"])
            item: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if not self.server.store.has_blob(oid):
                sig = self.server.upload_signature(oid, size)
                item["actions"] = {
                    "upload": {"href": f"{self.server.url}/lfs-upload/{oid}?size={size}&sig={sig}"}
                }
            objects.append(item)
        return self._json({"transfer": "basic", "objects": objects, "hash_algo": "sha256"})

    def lfs_upload(self, oid: str) -> int:
        size = int(self.query.get("size", "-1"))
        expected = self.server.upload_signature(oid, size)
        if not hmac.compare_digest(self.query.get("sig", ""), expected):
            raise HubError(403, "Invalid or missing upload signature")
        _, got = self.server.store.put_blob(self._body_chunks(), expected_sha256=oid)
        if got != size:
            raise HubError(400, f"Expected {size} bytes, got {got}")
        return self._send(200, b"", {"ETag": f'"{oid}"'})

    def commit(self, repo_type: str, repo_id: str, rev: str) -> int:
        self._writable(repo_type, repo_id)
        if self.query.get("create_pr"):
            raise HubError(400, "Pull requests are not supported by the test Hub")
        store = self.server.store
        header: dict[str, Any] = {}
        ops: list[Operation] = []
        with tempfile.SpooledTemporaryFile(max_size=16 * CHUNK) as spool:
            for chunk in self._body_chunks():
                spool.write(chunk)
            spool.seek(0)
            for line in spool:
                if not line.strip():
                    continue
                item = json.loads(line)
                key, value = item.get("key"), item.get("value", {})
                if key == "header":
                    header = value
                    continue
                path = check_path(
                    str(value.get("path", "")).strip("/")
                    if key == "deletedFolder"
                    else value.get("path", "")
                )
                if key == "file":
                    content = (
                        base64.b64decode(value["content"])
                        if value.get("encoding") == "base64"
                        else value["content"].encode()
                    )
                    ops.append(AddFile(path, store.put_bytes(content)))
                elif key == "lfsFile":
                    sha256 = str(value["oid"])
                    if not store.has_blob(sha256):
                        raise HubError(400, f"LFS object {sha256} for {path} was never uploaded")
                    ops.append(
                        AddFile(path, Entry.large(sha256, store.blob_path(sha256).stat().st_size))
                    )
                elif key == "deletedFile":
                    ops.append(DeleteFile(path))
                elif key == "deletedFolder":
                    ops.append(DeleteFolder(path))
                else:
                    raise HubError(400, f"Unknown commit operation {key!r}")
        if not header.get("summary"):
            raise HubError(400, "A commit needs a summary")
        commit = store.create_commit(
            repo_type, repo_id, rev, ops,
            title=header["summary"], message=header.get("description") or "", author=self.server.user,
            parent_commit=header.get("parentCommit"),
        )  # fmt: skip
        return self._json({
            "success": True, "commitOid": commit.id, "hookOutput": "", "pullRequestUrl": None,
            "commitUrl": f"{self._repo_url(repo_type, repo_id)}/commit/{commit.id}",
        })  # fmt: skip

    # -- downloads -----------------------------------------------------------------------------
    def resolve(self, repo_type: str, repo_id: str, rev: str, path: str) -> int:
        commit = self._commit_at(repo_type, repo_id, rev)
        entry = commit.files.get(path)
        if entry is None:
            raise HubError(404, f"Entry not found: {path}", "EntryNotFound", commit.id)
        headers = {
            "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes",
            "X-Repo-Commit": commit.id, "ETag": f'"{entry.sha256 if entry.lfs else entry.oid}"',
        }  # fmt: skip
        if entry.lfs:
            headers |= {"X-Linked-Etag": f'"{entry.sha256}"', "X-Linked-Size": str(entry.size)}
        start, end, status = 0, entry.size - 1, 200
        if (spec := self.headers.get("Range")) is not None:
            start, end = self._parse_range(spec, entry.size, commit.id)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{entry.size}"
        length = max(end - start + 1, 0)
        self._start(status, {**headers, "Content-Length": str(length)})
        if self.command == "GET":
            with self.server.store.blob_path(entry.sha256).open("rb") as f:
                f.seek(start)
                while length > 0 and (chunk := f.read(min(length, CHUNK))):
                    self.wfile.write(chunk)
                    length -= len(chunk)
        return status

    @staticmethod
    def _parse_range(spec: str, size: int, commit: str) -> tuple[int, int]:
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", spec.strip())
        if not match or not any(match.groups()):
            raise HubError(416, f"Unsupported range {spec!r}", commit=commit)
        first, last = match.groups()
        if not first:  # suffix: the last N bytes
            start, end = max(size - int(last), 0), size - 1
        else:
            start, end = int(first), min(int(last), size - 1) if last else size - 1
        if start >= size or start > end:
            raise HubError(416, f"Range {spec!r} outside 0-{size}", commit=commit)
        return start, end
