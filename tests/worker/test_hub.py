"""worker.hub.publish_folder against the suite's Hub server: where a commit goes when two
publishers race for main."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.hubserver import HubServer
from worker import hub as hub_module
from worker.hub import publish_folder

pytest_plugins = ["tests.hubserver.fixtures"]  # the `hub` fixture
REPO = "hearth/hearth-data"


def _folder(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "README.md").write_text(f"# Hearth {name}\n")
    return folder


def _publish(folder: Path, number: int) -> str:
    return publish_folder(
        folder,
        repo_id=REPO,
        repo_type="dataset",
        tag=f"v{number}",
        marker=f"content-sha256: {number}",
        commit_message=f"Hearth release v{number}",
        order=number,
        branch=f"release-v{number}",
    )


def test_a_later_release_committed_while_an_older_one_commits_keeps_main(
    hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """v1 read main (nothing later there) and, before its commit, v2 committed on main: v1's
    commit, made over the head it had read, would have put the older data on main."""
    from huggingface_hub import HfApi

    v1, v2 = _folder(tmp_path, "v1"), _folder(tmp_path, "v2")
    real_create_commit = HfApi.create_commit
    parents: list[Any] = []

    def v2_lands_first(self: Any, repo_id: str, **kwargs: Any) -> Any:
        parents.append((kwargs["commit_message"], kwargs["revision"], kwargs["parent_commit"]))
        if kwargs["commit_message"] == "Hearth release v1" and len(parents) == 1:
            _publish(v2, 2)  # on another publisher, between v1's read and its commit
        return real_create_commit(self, repo_id, **kwargs)

    monkeypatch.setattr(HfApi, "create_commit", v2_lands_first)
    v1_commit = _publish(v1, 1)

    refs = hub.refs("dataset", REPO)
    assert refs["branches"]["main"] == refs["tags"]["v2"]
    assert refs["tags"]["v1"] == refs["branches"]["release-v1"] == v1_commit
    assert hub.read("dataset", REPO, "README.md", "main") == b"# Hearth v2\n"
    assert hub.read("dataset", REPO, "README.md", "v1") == b"# Hearth v1\n"
    # v1 tried main over the head it read, was refused (412), and chose again.
    assert [(m, r) for m, r, _ in parents] == [
        ("Hearth release v1", None),
        ("Hearth release v2", None),
        ("Hearth release v1", "release-v1"),
    ]
    assert parents[0][2] is not None and parents[2][2] is None
    assert len(hub.commits("dataset", REPO)) == 2  # the initial commit, then v2


def test_a_commit_raced_by_its_own_content_is_not_made_twice(
    hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Main moved because another attempt committed this very content: it is tagged, not
    committed again."""
    from huggingface_hub import CommitOperationAdd, HfApi

    v1 = _folder(tmp_path, "v1")
    real_create_commit = HfApi.create_commit
    calls = 0

    def twin_lands_first(self: Any, repo_id: str, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:  # the twin, with operations of its own
            twin = [
                CommitOperationAdd(op.path_in_repo, op.path_or_fileobj)
                for op in kwargs["operations"]
            ]
            real_create_commit(
                self, repo_id, **{**kwargs, "operations": twin, "parent_commit": None}
            )
        return real_create_commit(self, repo_id, **kwargs)

    monkeypatch.setattr(HfApi, "create_commit", twin_lands_first)
    commit = _publish(v1, 1)

    assert calls == 1
    commits = hub.commits("dataset", REPO)
    assert len(commits) == 2 and commits[0].id == commit
    assert hub.refs("dataset", REPO)["tags"]["v1"] == commit


def test_a_main_that_never_stops_moving_is_reported(
    hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    v1 = _folder(tmp_path, "v1")
    real_create_commit = HfApi.create_commit
    others = iter(range(100, 200))

    def always_raced(self: Any, repo_id: str, **kwargs: Any) -> Any:
        if kwargs["commit_message"] == "Hearth release v1":
            n = next(others)
            real_create_commit(
                self,
                repo_id,
                **{
                    **kwargs,
                    "operations": [CommitOperationAdd("x.txt", str(n).encode())],
                    "commit_message": f"other {n}",
                    "commit_description": "",
                    "parent_commit": None,
                },
            )
        return real_create_commit(self, repo_id, **kwargs)

    monkeypatch.setattr(HfApi, "create_commit", always_raced)
    with pytest.raises(HfHubHTTPError) as caught:
        _publish(v1, 1)
    assert caught.value.response.status_code == 412
    assert next(others) == 100 + hub_module.COMMIT_RACES
    assert "v1" not in hub.refs("dataset", REPO)["tags"]


def test_order_and_branch_go_together(hub: HubServer, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="together"):
        publish_folder(
            _folder(tmp_path, "v1"),
            repo_id=REPO,
            repo_type="dataset",
            tag="v1",
            marker="content-sha256: 1",
            commit_message="Hearth release v1",
            order=1,
        )
