"""The test Hub, driven by the real huggingface_hub client (and datasets), with no network."""

from __future__ import annotations

import os
from pathlib import Path

import httpx2
import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    HfApi,
    hf_hub_download,
    snapshot_download,
)
from huggingface_hub.errors import (
    EntryNotFoundError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from tests.hubserver import HubServer

pytest_plugins = ["tests.hubserver.fixtures"]  # the `hub` fixture

MODEL = "hearth/sft-run-1"
DATASET = "hearth/oasst-hearth"
BIG = 12 * 1024 * 1024  # over the Hub's 10 MB limit for regular files


def _write(folder: Path, files: dict[str, bytes]) -> Path:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return folder


def _lfs_puts(server: HubServer) -> int:
    return sum(
        1
        for method, path, status in server.requests
        if method == "PUT" and path.startswith("/lfs-upload/")
    )


def test_create_repo_model_and_dataset(hub: HubServer) -> None:
    api = HfApi()  # endpoint and token come from the fixture's patched constants / HF_TOKEN
    assert api.whoami()["name"] == "hearth"
    url = api.create_repo(MODEL)
    assert url.repo_id == MODEL and url.repo_type == "model"
    assert api.create_repo(MODEL, exist_ok=True).repo_id == MODEL
    with pytest.raises(HfHubHTTPError) as exc:
        api.create_repo(MODEL)
    assert exc.value.response.status_code == 409

    ds = api.create_repo(DATASET, repo_type="dataset", exist_ok=True)
    assert ds.repo_type == "dataset" and ds.repo_id == DATASET
    assert api.create_repo(DATASET, repo_type="dataset", exist_ok=True).repo_id == DATASET
    assert hub.repos("model") == [MODEL] and hub.repos("dataset") == [DATASET]

    info = api.dataset_info(DATASET)
    assert info.id == DATASET and info.sha == hub.refs("dataset", DATASET)["branches"]["main"]
    assert api.list_repo_files(DATASET, repo_type="dataset") == [".gitattributes"]
    assert len(hub.commits("dataset", DATASET)) == 1  # the initial commit, as on the Hub


def test_commit_tag_list_and_download(hub: HubServer, tmp_path: Path) -> None:
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_repo(MODEL)
    weights = os.urandom(BIG)
    folder = _write(tmp_path / "v1", {
        "config.json": b'{"hidden": 64}\n',
        "README.md": b"---\nlicense: apache-2.0\n---\n# Run 1\n",
        "eval/metrics.json": b'{"loss": 1.5}\n',
        "model.safetensors": weights,
    })  # fmt: skip
    first = api.upload_folder(repo_id=MODEL, folder_path=folder, commit_message="Run 1 weights")
    assert _lfs_puts(hub) == 1  # the binary went through the LFS batch API, the rest inline
    entries = hub.files("model", MODEL)
    assert entries["model.safetensors"].lfs and not entries["config.json"].lfs
    assert hub.read("model", MODEL, "model.safetensors") == weights

    api.create_tag(MODEL, tag="v1", tag_message="first run")
    refs = api.list_repo_refs(MODEL)
    assert [(t.name, t.target_commit) for t in refs.tags] == [("v1", first.oid)]
    assert [b.name for b in refs.branches] == ["main"]
    assert sorted(api.list_repo_files(MODEL, revision="v1")) == [
        ".gitattributes", "README.md", "config.json", "eval/metrics.json", "model.safetensors",
    ]  # fmt: skip
    tree = {f.path: f for f in api.list_repo_tree(MODEL, revision="v1", recursive=True)}
    assert tree["model.safetensors"].lfs.size == BIG  # type: ignore[union-attr]
    assert "eval" in tree

    by_tag = hf_hub_download(MODEL, "model.safetensors", revision="v1")
    by_sha = hf_hub_download(MODEL, "config.json", revision=first.oid)
    assert Path(by_tag).read_bytes() == weights
    assert Path(by_sha).read_bytes() == b'{"hidden": 64}\n'

    # A second commit changes and deletes files on main; the tag keeps the old tree.
    second = api.create_commit(
        MODEL,
        operations=[
            CommitOperationAdd("config.json", b'{"hidden": 128}\n'),
            CommitOperationDelete("eval/"),
        ],
        commit_message="Run 2",
    )
    assert hub.read("model", MODEL, "config.json") == b'{"hidden": 128}\n'
    assert hub.read("model", MODEL, "config.json", revision="v1") == b'{"hidden": 64}\n'
    assert "eval/metrics.json" not in api.list_repo_files(MODEL)
    history = hub.commits("model", MODEL)
    assert [c.id for c in history[:2]] == [second.oid, first.oid]
    assert history[0].parent == first.oid and history[1].parent == history[2].id
    assert [c.title for c in api.list_repo_commits(MODEL)] == [
        "Run 2",
        "Run 1 weights",
        "initial commit",
    ]
    assert api.model_info(MODEL, revision="v1").sha == first.oid

    old = snapshot_download(MODEL, revision="v1", local_dir=tmp_path / "snap-v1")
    new = snapshot_download(MODEL, local_dir=tmp_path / "snap-main")
    assert (Path(old) / "config.json").read_bytes() == b'{"hidden": 64}\n'
    assert (Path(old) / "eval/metrics.json").read_bytes() == b'{"loss": 1.5}\n'
    assert (Path(old) / "model.safetensors").read_bytes() == weights
    assert (Path(new) / "config.json").read_bytes() == b'{"hidden": 128}\n'
    assert not (Path(new) / "eval").exists()
    cached = hf_hub_download(MODEL, "config.json", revision="v1")  # into the cache, not local_dir
    assert Path(cached).read_bytes() == b'{"hidden": 64}\n'

    # Re-uploading identical content uploads nothing: the server already has the LFS blob.
    api.upload_file(path_or_fileobj=weights, path_in_repo="copy.safetensors", repo_id=MODEL)
    assert _lfs_puts(hub) == 1


def test_retagging_conflicts_unless_exist_ok(hub: HubServer) -> None:
    api = HfApi()
    api.create_repo(DATASET, repo_type="dataset")
    api.create_tag(DATASET, tag="v1", repo_type="dataset")
    with pytest.raises(HfHubHTTPError) as exc:
        api.create_tag(DATASET, tag="v1", repo_type="dataset")
    assert exc.value.response.status_code == 409
    api.create_tag(DATASET, tag="v1", repo_type="dataset", exist_ok=True)
    api.create_branch(DATASET, branch="staging", repo_type="dataset")
    api.delete_tag(DATASET, tag="v1", repo_type="dataset")
    assert hub.refs("dataset", DATASET)["tags"] == {}
    assert set(hub.refs("dataset", DATASET)["branches"]) == {"main", "staging"}


def test_writes_need_the_token(hub: HubServer) -> None:
    anonymous = HfApi(endpoint=hub.url, token=False)
    with pytest.raises(HfHubHTTPError) as exc:
        anonymous.create_repo(MODEL)
    assert exc.value.response.status_code == 401
    HfApi().create_repo(MODEL)
    with pytest.raises(HfHubHTTPError) as exc:
        anonymous.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=MODEL)
    assert exc.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as exc:
        anonymous.create_tag(MODEL, tag="v1")
    assert exc.value.response.status_code == 401
    wrong = HfApi(endpoint=hub.url, token="hf_wrong")
    with pytest.raises(HfHubHTTPError) as exc:
        wrong.whoami()
    assert exc.value.response.status_code == 401
    with pytest.raises(HfHubHTTPError) as exc:
        wrong.list_repo_files(MODEL)  # a bad token is refused even for reads, as on the Hub
    assert exc.value.response.status_code == 401
    assert anonymous.list_repo_files(MODEL) == [".gitattributes"]  # public reads need none
    assert len(hub.commits("model", MODEL)) == 1


def test_missing_repo_revision_and_file(hub: HubServer) -> None:
    api = HfApi()
    api.create_repo(MODEL, private=True)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("hearth/nope", "config.json")
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(MODEL, ".gitattributes", revision="v9")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(MODEL, "missing.json")
    with pytest.raises(RepositoryNotFoundError):  # private: invisible without the token
        HfApi(token=False).model_info(MODEL)
    assert api.model_info(MODEL).private is True
    assert not api.file_exists(MODEL, "missing.json") and api.file_exists(MODEL, ".gitattributes")
    api.delete_repo(MODEL)
    assert hub.repos("model") == []


def test_range_requests(hub: HubServer) -> None:
    api = HfApi()
    api.create_repo(MODEL)
    api.upload_file(path_or_fileobj=bytes(range(256)) * 4, path_in_repo="data.bin", repo_id=MODEL)
    url = f"{hub.url}/{MODEL}/resolve/main/data.bin"
    part = httpx2.get(url, headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == bytes(range(10, 20))
    assert part.headers["Content-Range"] == "bytes 10-19/1024"
    assert httpx2.get(url, headers={"Range": "bytes=-4"}).content == bytes(range(252, 256))
    assert httpx2.get(url, headers={"Range": "bytes=2000-"}).status_code == 416
    head = httpx2.head(url)
    assert head.headers["X-Linked-Size"] == "1024" and len(head.headers["X-Repo-Commit"]) == 40


SFT_CARD = """---
license: cc-by-sa-3.0
configs:
- config_name: sft
  data_files:
  - split: train
    path: data/sft/train-*
  - split: test
    path: data/sft/test-*
---
# Hearth test release
"""


def test_load_dataset_from_a_tag(hub: HubServer, tmp_path: Path) -> None:
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    def rows(n: int, offset: int = 0) -> list[dict[str, str]]:
        return [
            {
                "id": f"p{i}",
                "instruction": f"Question {i}?",
                "response": f"Answer {i}.",
                "language": "en",
            }
            for i in range(offset, offset + n)
        ]

    def release(folder: Path, train: list[dict[str, str]], test: list[dict[str, str]]) -> Path:
        (folder / "data/sft").mkdir(parents=True)
        pq.write_table(
            pa.Table.from_pylist(train), folder / "data/sft/train-00000-of-00001.parquet"
        )
        pq.write_table(pa.Table.from_pylist(test), folder / "data/sft/test-00000-of-00001.parquet")
        (folder / "README.md").write_text(SFT_CARD)
        return folder

    api = HfApi()
    api.create_repo(DATASET, repo_type="dataset")
    train, test = rows(8), rows(3, offset=100)
    api.upload_folder(repo_id=DATASET, repo_type="dataset", folder_path=release(tmp_path / "v1", train, test),
                      commit_message="Release v1")  # fmt: skip
    api.create_tag(DATASET, tag="v1", repo_type="dataset")
    # v2 on main: different rows. Loading v1 must still give v1's.
    api.upload_folder(repo_id=DATASET, repo_type="dataset", folder_path=release(tmp_path / "v2", rows(2), rows(1)),
                      commit_message="Release v2")  # fmt: skip

    loaded = datasets.load_dataset(DATASET, "sft", revision="v1")
    assert set(loaded) == {"train", "test"}
    assert loaded["train"].to_list() == train
    assert loaded["test"].to_list() == test
    assert datasets.load_dataset(DATASET, "sft", revision="main", split="train").num_rows == 2


def test_paths_info_and_hf_filesystem(hub: HubServer) -> None:
    from huggingface_hub import HfFileSystem

    api = HfApi()
    api.create_repo(DATASET, repo_type="dataset")
    first = api.upload_file(path_or_fileobj=b"a" * 100, path_in_repo="data/a.txt", repo_id=DATASET,
                            repo_type="dataset")  # fmt: skip
    api.upload_file(
        path_or_fileobj=b"b", path_in_repo="data/b.txt", repo_id=DATASET, repo_type="dataset"
    )
    infos = api.get_paths_info(
        DATASET, ["data/a.txt", "data", "nope"], repo_type="dataset", expand=True
    )
    by_path = {i.path: i for i in infos}
    assert set(by_path) == {"data/a.txt", "data"}
    assert by_path["data/a.txt"].last_commit.oid == first.oid  # type: ignore[union-attr]
    assert by_path["data"].last_commit.title == "Upload data/b.txt with huggingface_hub"  # type: ignore[union-attr]

    fs = HfFileSystem()
    root = f"datasets/{DATASET}"
    assert sorted(str(p) for p in fs.ls(f"{root}/data", detail=False)) == [
        f"{root}/data/a.txt",
        f"{root}/data/b.txt",
    ]
    assert fs.glob(f"{root}/**/*.txt") == [f"{root}/data/a.txt", f"{root}/data/b.txt"]
    assert fs.info(f"{root}/data/a.txt")["size"] == 100
    with fs.open(f"{root}@{first.oid}/data/a.txt", "rb") as f:
        f.seek(90)
        assert f.read() == b"a" * 10
    assert not fs.exists(f"{root}@{first.oid}/data/b.txt")


def test_chunked_lfs_upload_and_stale_parent(hub: HubServer) -> None:
    import hashlib

    from huggingface_hub.lfs import UploadInfo, post_lfs_batch_info

    api = HfApi()
    api.create_repo(MODEL)
    blob = os.urandom(3 * 1024 * 1024 + 7)
    actions, errors, transfer = post_lfs_batch_info(
        upload_infos=[UploadInfo.from_bytes(blob)], token=hub.token, repo_type="model", repo_id=MODEL,
        endpoint=hub.url,
    )  # fmt: skip
    assert transfer == "basic" and not errors
    href = actions[0]["actions"]["upload"]["href"]
    assert httpx2.put(href, content=b"wrong").status_code == 400  # size and sha256 are checked
    assert httpx2.put(href.split("&sig=")[0] + "&sig=forged", content=blob).status_code == 403
    chunks = (blob[i : i + 65536] for i in range(0, len(blob), 65536))  # no Content-Length: chunked
    assert httpx2.put(href, content=chunks).status_code == 200
    assert hub.store.has_blob(hashlib.sha256(blob).hexdigest())

    stale = hub.commits("model", MODEL)[0].id
    api.upload_file(path_or_fileobj=blob, path_in_repo="w.bin", repo_id=MODEL, parent_commit=stale)
    assert _lfs_puts(hub) == 3  # the commit reused the uploaded blob: no fourth PUT
    with pytest.raises(HfHubHTTPError) as exc:
        api.upload_file(
            path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=MODEL, parent_commit=stale
        )
    assert exc.value.response.status_code == 412


def test_concurrent_commits_serialise(hub: HubServer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    api = HfApi()
    api.create_repo(MODEL)

    def upload(i: int) -> str:
        return api.upload_file(
            path_or_fileobj=f"{i}\n".encode(), path_in_repo=f"f{i}.txt", repo_id=MODEL
        ).oid

    with ThreadPoolExecutor(4) as pool:
        oids = set(pool.map(upload, range(6)))
    history = hub.commits("model", MODEL)
    assert len(history) == 7 and oids == {c.id for c in history[:6]}
    assert {f"f{i}.txt" for i in range(6)} <= set(hub.files("model", MODEL))
