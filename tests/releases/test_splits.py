"""Each prompt keeps the split of the first release that included it (PromptSplit): later
releases at another test share, failed and rebuilt releases, prompts that enter while a build
starts, the database's hash against Python's, and the splits of releases built before."""

from __future__ import annotations

import json

import pytest
from django.db import connection, transaction
from django.db.models.expressions import RawSQL

from apps.collection.models import Prompt, Response
from apps.releases import building
from apps.releases.building import SPLITS, passes, prompt_split, release_build
from apps.releases.building.splits import HashedSplit, splits_assign
from apps.releases.models import PromptSplit, Release, ReleaseState
from apps.releases.services import release_create
from tests.embedded import embedded_env, migrate, run_python
from tests.factories import ResponseFactory
from tests.locks import InThread, require_row_locks, wait_until_someone_waits_on_a_lock
from tests.releases.helpers import build, read_config, split_of_prompts


def _data_files(release: Release) -> dict[str, str]:
    """Every file's sha256 but the card's (it names the version)."""
    return {f["path"]: f["sha256"] for f in release.files if f["path"] != "README.md"}


def _movers(wanted: int, high: float, low: float) -> list[Response]:
    """Accepted answers to new prompts, until ``wanted`` of the prompts hash to test at share
    ``high`` and to train at ``low``: the prompts that moved between the audit's v1 and v2."""
    answers, moving = [], 0
    while moving < wanted:
        answer = ResponseFactory()
        answers.append(answer)
        pid = answer.prompt_id
        moving += prompt_split(pid, high) == "test" and prompt_split(pid, low) == "train"
        assert len(answers) < 500, "the hash never put a prompt in test at the higher share"
    return answers


def _every_row_follows_its_prompt(release: Release, splits: dict[int, str]) -> None:
    answers = dict(Response.objects.values_list("id", "prompt_id"))
    for split in SPLITS:
        for row in read_config(release, "sft")[split]:
            assert splits[answers[row["id"]]] == split, row
        for config in ("preferences", "rankings"):
            for row in read_config(release, config)[split]:
                assert splits[row["prompt_id"]] == split, (config, row)


@pytest.mark.django_db(transaction=True)
def test_no_prompt_changes_split_when_the_next_release_has_another_share(world):
    """The audit: v1 at 0.34, v2 at 0.05, and most of v1's test prompts were in v2's train."""
    _movers(3, 0.34, 0.05)
    v1 = build(test_share=0.34)
    first = split_of_prompts(v1)
    newcomers = [answer.prompt_id for answer in ResponseFactory.create_batch(8)]
    v2 = build(test_share=0.05)
    second = split_of_prompts(v2)

    assert {pid: second[pid] for pid in first} == first
    assert first == {pid: prompt_split(pid, 0.34) for pid in first}
    # Only prompts released for the first time take v2's share.
    assert {pid: second[pid] for pid in newcomers} == {
        pid: prompt_split(pid, 0.05) for pid in newcomers
    }
    _every_row_follows_its_prompt(v2, second)
    assert dict(PromptSplit.objects.values_list("prompt_id", "release__version")) == {
        **{pid: "v1" for pid in first},
        **{pid: "v2" for pid in newcomers},
    }
    # Cut again at the first share: nothing moves back either.
    assert split_of_prompts(build(test_share=0.34)) == second


@pytest.mark.django_db(transaction=True)
def test_a_failed_build_keeps_its_splits_and_a_rebuild_writes_the_same_bytes(world, monkeypatch):
    build(test_share=0.05)
    newcomers = [answer.prompt_id for answer in _movers(2, 0.5, 0.05)]
    real_run = passes.Build.run

    def broken(self):
        raise RuntimeError("the disk filled up")

    monkeypatch.setattr(passes.Build, "run", broken)
    v2 = release_create(user=None, enqueue=False, test_share=0.5)
    with pytest.raises(RuntimeError):
        release_build(v2.pk)
    # The failed attempt assigned its prompts before its rows streamed; they stand.
    assigned = PromptSplit.objects.filter(release=v2).values_list("prompt_id", flat=True)
    assert set(assigned) == set(newcomers)
    monkeypatch.setattr(passes.Build, "run", real_run)

    v3 = build(test_share=0.05)  # meanwhile, at another share
    assert {pid: split_of_prompts(v3)[pid] for pid in newcomers} == {
        pid: prompt_split(pid, 0.5) for pid in newcomers
    }
    rebuilt = release_build(v2.pk)
    assert rebuilt.state == ReleaseState.READY, rebuilt.error
    assert _data_files(rebuilt) == _data_files(v3)  # the same rows, the same splits
    Release.objects.filter(pk=v2.pk).update(state=ReleaseState.FAILED)
    again = release_build(v2.pk)
    assert (again.content_hash, again.files) == (rebuilt.content_hash, rebuilt.files)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("method", ["copy", "orm"])
def test_prompts_with_no_split_yet_get_one_as_the_stream_meets_them(world, monkeypatch, method):
    """A prompt accepted after the build assigned splits (and before its snapshot, or on the
    ORM path, during the build) is assigned when the prompts stream or a later pass meets it,
    and the files are those of a build that assigned it first."""
    reference = build(test_share=0.5)
    expected = split_of_prompts(reference)
    PromptSplit.objects.all().delete()
    monkeypatch.setattr(building, "splits_assign", lambda *, release: 0)
    late: list[Response] = []
    if method == "orm":
        # Accepted while the prompts pass runs: only the answers' pass meets its prompt.
        on_prompts = passes.Build.on_prompts

        def meanwhile(self, batch):
            on_prompts(self, batch)
            if not late:
                late.append(ResponseFactory())

        monkeypatch.setattr(passes.Build, "on_prompts", meanwhile)
    release = release_create(user=None, enqueue=False, test_share=0.5)
    built = release_build(release.pk, method=method)
    assert built.state == ReleaseState.READY, built.error
    stored = dict(PromptSplit.objects.values_list("prompt_id", "split"))
    assert stored == {
        **expected,
        **{answer.prompt_id: prompt_split(answer.prompt_id, 0.5) for answer in late},
    }
    if not late:
        assert _data_files(built) == _data_files(reference)
        return
    (answer,) = late
    sft = read_config(built, "sft")
    held = [split for split in SPLITS for row in sft[split] if row["id"] == answer.pk]
    assert held == [stored[answer.prompt_id]]


@pytest.mark.django_db
@pytest.mark.parametrize("share", [1e-9, 0.05, 0.34, 0.5])
def test_the_database_hashes_a_split_exactly_as_python_does(share):
    compiler = Prompt.objects.all().query.get_compiler(connection=connection)
    sql, params = compiler.compile(HashedSplit(RawSQL("g", ()), share))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT g, {sql} FROM generate_series(1, 5000) AS g", params)
        found = dict(cursor.fetchall())
    assert found == {pid: prompt_split(pid, share) for pid in range(1, 5001)}


@pytest.mark.django_db(transaction=True)
def test_assigning_again_finds_every_prompt_assigned(world):
    release = release_create(user=None, enqueue=False, test_share=0.5)
    assigned = splits_assign(release=release)
    assert splits_assign(release=release) == 0
    assert assigned == len(split_of_prompts(build())) == PromptSplit.objects.count()


@pytest.mark.django_db(transaction=True)
def test_two_builds_assigning_at_once_give_each_prompt_the_first_ones_split(world):
    require_row_locks()
    first = release_create(user=None, enqueue=False, test_share=0.5)
    second = release_create(user=None, enqueue=False, test_share=0.05)
    with transaction.atomic():
        assigned = splits_assign(release=first)  # not committed: the lock is still held
        other = InThread(lambda: splits_assign(release=second)).start()
        wait_until_someone_waits_on_a_lock()
    assert other.join() == 0  # it waited, then found every prompt assigned
    stored = PromptSplit.objects.values_list("prompt_id", "split", "release")
    assert len(stored) == assigned > 0
    assert all(split == prompt_split(pid, 0.5) and by == first.pk for pid, split, by in stored)


@pytest.mark.django_db(transaction=True)
def test_the_splits_of_releases_built_before_are_recorded_from_their_files(world):
    """What releases built before PromptSplit gave each prompt: the oldest release's split
    wins, and a release whose files are gone is passed over."""
    import importlib

    from django.apps import apps

    backfill = importlib.import_module("apps.releases.migrations.0005_prompt_split_backfill")
    v1 = build(test_share=0.34)
    PromptSplit.objects.all().delete()  # as before the table existed
    _movers(2, 0.34, 0.05)
    v2 = build(test_share=0.05)  # the old behaviour: v1's prompts hashed at 0.05 again
    first, second = split_of_prompts(v1), split_of_prompts(v2)
    PromptSplit.objects.all().delete()
    gone = Release.objects.create(
        number=3, version="v3", state=ReleaseState.READY, filter={}, content_hash="a" * 64,
        finished_at="2026-01-01T00:00:00Z",
    )  # fmt: skip
    backfill.record_splits(apps, None)
    assert dict(PromptSplit.objects.values_list("prompt_id", "split")) == {**second, **first}
    assert not PromptSplit.objects.filter(release=gone).exists()


SQLITE_SCRIPT = r"""
import json
import django
django.setup()
from django.conf import settings
from django.db import connection, transaction
# As the suite's own settings: the factories' users would each cost a real password hash.
settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
from apps.releases.building import release_build
from apps.releases.models import PromptSplit
from apps.releases.services import release_create
from tests.factories import ResponseFactory
from tests.locks import InThread, require_row_locks, wait_until_someone_waits_on_a_lock

assert connection.vendor == "sqlite"
ResponseFactory.create_batch(40)
out = {}
for version, share in (("v1", 0.34), ("v2", 0.05)):
    if version == "v2":
        ResponseFactory.create_batch(10)
    built = release_build(release_create(user=None, enqueue=False, test_share=share).pk)
    assert built.state == "ready", built.error
out["stored"] = list(PromptSplit.objects.values_list("prompt_id", "split", "release__version"))
print(json.dumps(out))
"""


@pytest.mark.slow(seconds=10)
def test_on_sqlite_prompts_keep_their_split_and_the_hash_is_pythons(tmp_path):
    env = embedded_env(tmp_path)
    migrate(env)
    result = run_python(env, "-c", SQLITE_SCRIPT)
    stored = json.loads(result.stdout.strip().splitlines()[-1])["stored"]
    shares = {"v1": 0.34, "v2": 0.05}
    assert len(stored) == 50
    assert sorted(version for _, _, version in stored) == ["v1"] * 40 + ["v2"] * 10
    for pid, split, version in stored:
        assert split == prompt_split(pid, shares[version]), (pid, version)
    # What v2 holds of v1's prompts is their v1 split: read back from its files.
    import pyarrow.parquet as pq

    folder = tmp_path / "releases" / "v2" / "data" / "prompts"
    held = {
        pid: split
        for split in SPLITS
        for path in folder.glob(f"{split}-*.parquet")
        for pid in pq.ParquetFile(path).read(columns=["id"]).column("id").to_pylist()
    }
    assert held == {pid: split for pid, split, _ in stored}
