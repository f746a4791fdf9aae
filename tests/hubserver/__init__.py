"""A Hugging Face Hub stand-in for tests: a small HTTP server on 127.0.0.1 that stores repos on
disk and speaks enough of the Hub API for the real ``huggingface_hub`` client and ``datasets``.

    with run_hub_server(tmp_path / "hub", token="hf_test") as server:
        api = HfApi(endpoint=server.url, token=server.token)
        ...
        server.commits("dataset", "hearth/oasst")   # newest first
        server.refs("dataset", "hearth/oasst")      # {"branches": {...}, "tags": {...}}

The client must also run with Xet disabled. The ``hub`` pytest fixture (tests/hubserver/fixtures.py)
does all of it: it starts a server and points huggingface_hub and datasets at it, including the
module-level constants they read at import time. See fixtures.py for what code outside a fixture
(or in a subprocess) must set.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .server import HubHTTPServer
from .store import Commit, Entry, HubError, Store

__all__ = ["Commit", "Entry", "HubServer", "run_hub_server"]


@dataclass
class HubServer:
    """A running test Hub; ``url`` is what HF_ENDPOINT must be."""

    url: str
    token: str
    user: str
    root: Path
    _http: HubHTTPServer

    @property
    def store(self) -> Store:
        return self._http.store

    @property
    def requests(self) -> list[tuple[str, str, int]]:
        """Every request so far as (method, path without query string, status)."""
        return self._http.requests

    def repos(self, repo_type: str = "model") -> list[str]:
        return self.store.list_repos(repo_type)

    def refs(self, repo_type: str, repo_id: str) -> dict[str, dict[str, str]]:
        """{"branches": {name: sha}, "tags": {name: sha}}."""
        return self.store.refs(repo_type, repo_id)

    def commits(self, repo_type: str, repo_id: str, revision: str = "main") -> list[Commit]:
        """First-parent history of ``revision``, newest first (the last is the initial commit)."""
        return self.store.history(
            repo_type, repo_id, self.store.resolve(repo_type, repo_id, revision)
        )

    def files(self, repo_type: str, repo_id: str, revision: str = "main") -> dict[str, Entry]:
        return self.commits(repo_type, repo_id, revision)[0].files

    def read(self, repo_type: str, repo_id: str, path: str, revision: str = "main") -> bytes:
        entry = self.files(repo_type, repo_id, revision).get(path)
        if entry is None:
            raise HubError(404, f"{path} not in {repo_id}@{revision}", "EntryNotFound")
        return self.store.blob_path(entry.sha256).read_bytes()


@contextmanager
def run_hub_server(root: Path, token: str, user: str = "hearth") -> Iterator[HubServer]:
    """Serve a Hub stored under ``root`` on a free port of 127.0.0.1 until the block ends.
    ``user`` is whoami's name and the namespace of repos created without one."""
    http = HubHTTPServer(Store(root), token, user)
    thread = threading.Thread(target=http.serve_forever, name="hubserver", daemon=True)
    thread.start()
    try:
        yield HubServer(http.url, token, user, root, http)
    finally:
        http.shutdown()
        http.server_close()
        thread.join(timeout=10)
