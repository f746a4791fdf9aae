"""Building releases against real PostgreSQL: what enters, the exact columns, reading back
with pyarrow, ``datasets`` and the worker's loader, stable splits, pseudonyms, determinism,
changes, and crash safety."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.db.models import QuerySet
from django.utils import timezone

from apps.collection.models import ACCEPTED_PROMPT_STATES, Prompt, Response, ResponseState
from apps.feedback.models import PromptConsensus, Ranking
from apps.releases import building
from apps.releases.building import (
    CONFIGS,
    SPLITS,
    passes,
    prompt_split,
    pseudonym,
    release_build,
    release_folder,
    streams,
)
from apps.releases.models import PromptSplit, Release, ReleaseState
from apps.releases.services import release_create
from tests.factories import PromptFactory, ResponseFactory
from tests.releases.helpers import (
    all_rows,
    build,
    folder_of,
    ranked_prompt,
    read_config,
    split_of_prompts,
)

# The columns worker/data.py documents, in order.
COLUMNS = {
    "sft": [
        "id",
        "prompt_id",
        "instruction",
        "context",
        "response",
        "category",
        "language",
        "source",
        "licence",
        "origin",
        "prompt_licence",
        "prompt_origin",
    ],
    "preferences": [
        "prompt_id",
        "instruction",
        "context",
        "chosen",
        "rejected",
        "chosen_rank",
        "rejected_rank",
        "margin",
        "rankers",
        "agreement",
        "prompt_licence",
        "prompt_origin",
        "chosen_licence",
        "chosen_origin",
        "rejected_licence",
        "rejected_origin",
    ],
    "rankings": [
        "prompt_id",
        "instruction",
        "context",
        "responses",
        "ranker",
        "order",
        "prompt_licence",
        "prompt_origin",
        "response_licences",
        "response_origins",
    ],
    "prompts": ["id", "instruction", "context", "category", "language", "licence", "origin"],
}


# --- an independent oracle: what a release must hold, computed the slow, obvious way ---------


def _prompt_enters(prompt: Prompt) -> bool:
    return (
        prompt.state in ACCEPTED_PROMPT_STATES
        and prompt.withdrawn_at is None
        and prompt.hidden_at is None
        and prompt.author.banned_at is None
    )


def _answers(prompt: Prompt, *, include_model_written: bool = False) -> list[Response]:
    return [
        r
        for r in prompt.responses.select_related("author").order_by("id")
        if r.state == ResponseState.ACCEPTED
        and r.withdrawn_at is None
        and r.hidden_at is None
        and r.author.banned_at is None
        and (include_model_written or r.source == "human")
    ]


def expected(**flags: Any) -> dict[str, list[dict[str, Any]]]:
    prompts = [
        p for p in Prompt.objects.select_related("author").order_by("id") if _prompt_enters(p)
    ]
    out: dict[str, list[dict[str, Any]]] = {config: [] for config in CONFIGS}
    sft = []
    for prompt in prompts:
        out["prompts"].append(
            {
                "id": prompt.pk,
                "instruction": prompt.instruction,
                "context": prompt.context,
                "category": prompt.category,
                "language": prompt.language,
                "licence": prompt.licence,
                "origin": prompt.origin,
            }
        )
        answers = _answers(prompt, **flags)
        of_prompt = {"prompt_licence": prompt.licence, "prompt_origin": prompt.origin}
        sft += [
            {
                "id": r.pk,
                "prompt_id": prompt.pk,
                "instruction": prompt.instruction,
                "context": prompt.context,
                "response": r.text,
                "category": prompt.category,
                "language": prompt.language,
                "source": r.source,
                "licence": r.licence,
                "origin": r.origin,
                **of_prompt,
            }
            for r in answers
        ]
        if len(answers) < 2:
            continue
        ids = [r.pk for r in answers]
        for ranking in (
            Ranking.objects.filter(prompt=prompt).select_related("ranker").order_by("id")
        ):
            if ranking.unusable or ranking.retired_at or ranking.ranker.banned_at is not None:
                continue
            out["rankings"].append(
                {
                    "prompt_id": prompt.pk,
                    "instruction": prompt.instruction,
                    "context": prompt.context,
                    "responses": [r.text for r in answers],
                    "ranker": pseudonym(ranking.ranker_id),
                    "order": [ids.index(i) for i in ranking.order if i in ids],
                    **of_prompt,
                    "response_licences": [r.licence for r in answers],
                    "response_origins": [r.origin for r in answers],
                }
            )
        consensus = PromptConsensus.objects.filter(prompt=prompt).first()
        if prompt.state != "complete" or consensus is None or not consensus.order:
            continue
        kept = [i for i in consensus.order if i in ids]
        by_id = {r.pk: r for r in answers}
        text = {r.pk: r.text for r in answers}
        for i, chosen in enumerate(kept):
            for j in range(i + 1, len(kept)):
                rejected = kept[j]
                if 2 * consensus.pairwise_wins.get(f"{chosen}>{rejected}", 0) < consensus.rankers:
                    continue  # most rankers put rejected first: left out
                out["preferences"].append(
                    {
                        "prompt_id": prompt.pk,
                        "instruction": prompt.instruction,
                        "context": prompt.context,
                        "chosen": text[chosen],
                        "rejected": text[rejected],
                        "chosen_rank": i + 1,
                        "rejected_rank": j + 1,
                        "margin": consensus.pairwise_wins.get(f"{chosen}>{rejected}", 0)
                        / consensus.rankers,
                        "rankers": consensus.rankers,
                        "agreement": consensus.agreement,
                        **of_prompt,
                        "chosen_licence": by_id[chosen].licence,
                        "chosen_origin": by_id[chosen].origin,
                        "rejected_licence": by_id[rejected].licence,
                        "rejected_origin": by_id[rejected].origin,
                    }
                )
    out["sft"] = sorted(sft, key=lambda row: row["id"])
    return out


def _prompt_of(config: str, row: dict[str, Any]) -> int:
    if config == "prompts":
        return row["id"]
    if config == "sft":
        return Response.objects.get(pk=row["id"]).prompt_id
    return row["prompt_id"]


def _in_release_order(config: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of both splits back in the order the oracle lists them."""
    if config in ("sft", "prompts"):
        return sorted(rows, key=lambda row: row["id"])
    return sorted(rows, key=lambda row: row["prompt_id"])  # stable: keeps order within a prompt


# --- what enters, and reading it back ------------------------------------------------------


def test_a_release_holds_exactly_the_accepted_live_work_in_every_config(world):
    release = build(test_share=0.5)
    assert release.state == ReleaseState.READY
    oracle = expected()
    for config in CONFIGS:
        rows = all_rows(release, config)
        assert _in_release_order(config, rows) == oracle[config], config
    sft_ids = {row["id"] for row in all_rows(release, "sft")}
    r = world.responses
    assert sft_ids == {
        r[k].pk
        for k in ("p1.0", "p1.1", "p1.2", "p2.0", "p2.1", "p2.2", "p3.0", "p3.1", "collecting.0")
    }
    prompt_ids = {row["id"] for row in all_rows(release, "prompts")}
    assert prompt_ids == {world.prompts[k].pk for k in ("p1", "p2", "p3", "collecting")}
    # Three rankings each of p1, p2; one of p3 (still ranking). Pairs only for complete ones.
    assert len(all_rows(release, "rankings")) == 7
    assert {row["prompt_id"] for row in all_rows(release, "preferences")} == {
        world.prompts["p1"].pk,
        world.prompts["p2"].pk,
    }
    assert release.counts["rows"] == {
        config: {split: len(read_config(release, config)[split]) for split in SPLITS}
        for config in CONFIGS
    }
    assert release.progress_done == release.progress_total > 0
    assert release.finished_at is not None and release.error == ""


def test_every_row_of_a_prompt_is_in_the_split_its_id_hashes_to(world):
    release = build(test_share=0.5)
    for config in CONFIGS:
        per_split = read_config(release, config)
        for split in SPLITS:
            for row in per_split[split]:
                assert prompt_split(_prompt_of(config, row), 0.5) == split, (config, row)


def test_the_columns_are_exactly_those_the_trainers_read(world):
    import pyarrow as pa
    import pyarrow.parquet as pq

    release = build()
    for config in CONFIGS:
        for path in (folder_of(release) / "data" / config).glob("*.parquet"):
            schema = pq.read_schema(path)
            assert schema.names == COLUMNS[config], path
    schema = pq.read_schema(next((folder_of(release) / "data" / "rankings").glob("*.parquet")))
    assert schema.field("responses").type == pa.list_(pa.string())
    assert schema.field("order").type == pa.list_(pa.int64())


def test_the_worker_loader_reads_every_config_and_split(world):
    from worker import data as worker_data

    release = build(test_share=0.5)
    location = str(folder_of(release))
    for config in CONFIGS:
        for split in SPLITS:
            assert (
                worker_data.read_rows(location, config, split)
                == read_config(release, config)[split]
            )
    ranked = {
        config: [
            group
            for split in SPLITS
            for group in worker_data.load_ranked_prompts(location, config, split)
        ]
        for config in ("rankings", "preferences")
    }
    p1, p2 = world.prompts["p1"], world.prompts["p2"]
    assert {g.prompt_id for g in ranked["preferences"]} == {str(p1.pk), str(p2.pk)}
    by_prompt = {g.prompt_id: g for g in ranked["preferences"]}
    consensus = PromptConsensus.objects.get(prompt=p2)
    texts = {r.pk: r.text for r in p2.responses.all()}
    assert list(by_prompt[str(p2.pk)].responses) == [texts[i] for i in consensus.order]


def test_datasets_loads_every_config_and_split_of_the_folder(world, load_dataset):
    release = build(test_share=0.5)
    for config in CONFIGS:
        loaded = load_dataset(release, config)
        per_split = read_config(release, config)
        # datasets cannot load an empty split; the card lists only splits with rows.
        assert sorted(loaded) == sorted(split for split in SPLITS if per_split[split])
        for split in loaded:
            assert loaded[split].column_names == COLUMNS[config]
            assert loaded[split].to_list() == per_split[split], (config, split)


def test_model_written_answers_enter_only_when_asked(world):
    without = build()
    with_model = build(include_model_written=True)
    model = world.responses["p1.model"]
    assert model.pk not in {row["id"] for row in all_rows(without, "sft")}
    row = next(row for row in all_rows(with_model, "sft") if row["id"] == model.pk)
    assert row["source"] == "model"
    assert (
        _in_release_order("rankings", all_rows(with_model, "rankings"))
        == expected(include_model_written=True)["rankings"]
    )
    p1_rankings = [r for r in all_rows(with_model, "rankings") if r["prompt_id"] == model.prompt_id]
    assert all(len(r["responses"]) == 4 for r in p1_rankings)
    # The account the model's answers are filed under is nobody: the people are the same.
    assert with_model.counts["contributors"] == without.counts["contributors"]
    Release.objects.filter(pk=with_model.pk).update(state=ReleaseState.FAILED)
    orm = release_build(with_model.pk, method="orm")
    assert orm.counts["contributors"] == without.counts["contributors"]


def test_languages_categories_and_min_agreement_filter_what_enters(world):
    german = build(languages=["de"])
    assert {row["language"] for row in all_rows(german, "sft")} == {"de"}
    assert {row["id"] for row in all_rows(german, "prompts")} == {world.prompts["p2"].pk}
    summaries = build(categories=["summarization", "closed_qa"])
    assert {row["id"] for row in all_rows(summaries, "prompts")} == {world.prompts["p1"].pk}

    agreements = {
        name: PromptConsensus.objects.get(prompt=world.prompts[name]).agreement
        for name in ("p1", "p2")
    }
    threshold = (agreements["p1"] + agreements["p2"]) / 2
    high = max(agreements, key=lambda name: agreements[name])
    agreeing = build(min_agreement=threshold)
    assert {row["prompt_id"] for row in all_rows(agreeing, "preferences")} == {
        world.prompts[high].pk
    }
    # Rankings and answers are not filtered by agreement.
    assert len(all_rows(agreeing, "rankings")) == 7
    # The card's agreement is that of the prompts whose pairs are in it: the one above the
    # minimum (QA: it counted every complete prompt, pairs or not).
    assert agreeing.counts["agreement"] == {
        "prompts": 1,
        "preference_prompts": 1,
        "mean": round(agreements[high], 6),
        "median": round(agreements[high], 6),
    }


def test_no_pair_is_published_against_the_majority_of_its_rankers(world):
    """Data QA: a cycle's consensus keeps a pair two of three rankers reversed; published as
    chosen over rejected, it taught a reward model the opposite of what most rankers said.
    Such a pair is left out; a tie (margin 0.5) stays."""
    u = world.users
    cycle = ranked_prompt(
        world,
        "cycle",
        author=u["ada"],
        answerers=[u["grace"], u["alan"], u["edsger"]],
        rankers=[u["barbara"], u["ken"], u["ada"]],
        orders=[[0, 1, 2], [1, 2, 0], [2, 0, 1]],
    )
    tie = ranked_prompt(
        world,
        "tie",
        author=u["ada"],
        answerers=[u["grace"], u["alan"]],
        rankers=[u["barbara"], u["ken"]],
        orders=[[0, 1], [1, 0]],
    )
    consensus = PromptConsensus.objects.get(prompt=cycle)
    order = list(consensus.order)
    reversed_pairs = [
        (order[i], order[j])
        for i in range(3)
        for j in range(i + 1, 3)
        if consensus.pairwise_wins[f"{order[i]}>{order[j]}"] * 2 < consensus.rankers
    ]
    assert len(reversed_pairs) == 1  # the weakest majority of the cycle, dropped by the vote
    release = build()
    texts = {r.pk: r.text for r in cycle.responses.all()}
    rows = [row for row in all_rows(release, "preferences") if row["prompt_id"] == cycle.pk]
    pairs = {(row["chosen"], row["rejected"]) for row in rows}
    assert len(rows) == 2 and all(row["margin"] > 0.5 for row in rows)
    (chosen, rejected) = reversed_pairs[0]
    assert (texts[chosen], texts[rejected]) not in pairs
    # The ranks are still those of the consensus order, chosen always the better one.
    assert all(row["chosen_rank"] < row["rejected_rank"] for row in rows)
    assert {row["chosen_rank"] for row in rows} | {row["rejected_rank"] for row in rows} == {
        1,
        2,
        3,
    }
    (tied,) = [row for row in all_rows(release, "preferences") if row["prompt_id"] == tie.pk]
    assert tied["margin"] == 0.5
    assert min(row["margin"] for row in all_rows(release, "preferences")) >= 0.5
    assert (
        _in_release_order("preferences", all_rows(release, "preferences"))
        == (expected()["preferences"])
    )
    # The card's agreement counts the prompts whose pairs are in it: both of these.
    assert release.counts["agreement"]["preference_prompts"] == 4


DOLLY_KEYS = [
    "instruction",
    "context",
    "response",
    "category",
    "language",
    "licence",
    "origin",
    "prompt_licence",
    "prompt_origin",
]


def test_the_dolly_downloads_hold_each_splits_sft_rows_with_their_language_and_licences(world):
    """Data QA: one JSONL of both splits, interleaved, had a consumer train on test rows, and
    without a language every row came back English when imported again."""
    Response.objects.filter(pk=world.responses["p2.1"].pk).update(
        licence="CC BY 4.0", origin="other-set"
    )
    # Both splits with rows, whatever ids the prompts got.
    PromptSplit.objects.bulk_create(
        PromptSplit(prompt=world.prompts[name], split=split)
        for name, split in (
            ("p1", "test"),
            ("p2", "train"),
            ("p3", "test"),
            ("collecting", "train"),
        )
    )
    release = build(test_share=0.5)
    assert sorted(
        entry["path"] for entry in release.files if entry["path"].startswith("dolly/")
    ) == ["dolly/test.jsonl", "dolly/train.jsonl"]
    for split, rows in read_config(release, "sft").items():
        assert rows, split  # both splits have rows at this share
        lines = (folder_of(release) / "dolly" / f"{split}.jsonl").read_text(encoding="utf-8")
        in_order = sorted(rows, key=lambda row: (row["prompt_id"], row["id"]))
        assert lines == "".join(
            json.dumps({key: row[key] for key in DOLLY_KEYS}, ensure_ascii=False) + "\n"
            for row in in_order
        )
    lines = [
        json.loads(line)
        for split in SPLITS
        for line in (folder_of(release) / "dolly" / f"{split}.jsonl").read_text().splitlines()
    ]
    assert {line["language"] for line in lines} == {"en", "de"}
    (other,) = [line for line in lines if line["origin"] == "other-set"]
    assert other["licence"] == "CC BY 4.0" and other["prompt_origin"] == "hearth"


def test_an_empty_release_still_has_every_config_and_split(transactional_db):
    """Cutting one is refused, but its only prompt may be withdrawn before the build runs."""
    from worker import data as worker_data

    answer = ResponseFactory()
    release = release_create(user=None, enqueue=False)
    Prompt.objects.filter(pk=answer.prompt_id).update(withdrawn_at=timezone.now())
    release = release_build(release.pk)
    assert release.state == ReleaseState.READY
    for config in CONFIGS:
        assert read_config(release, config) == {"train": [], "test": []}
        for split in SPLITS:
            assert worker_data.read_rows(str(folder_of(release)), config, split) == []
    for split in SPLITS:
        assert (folder_of(release) / "dolly" / f"{split}.jsonl").read_bytes() == b""


def test_a_large_split_is_sharded_and_reads_back_whole(world, settings):
    settings.HEARTH_RELEASE_SHARD_ROWS = 2
    release = build(test_share=0.01)
    names = sorted(p.name for p in (folder_of(release) / "data" / "sft").glob("train-*"))
    total = len(names)
    train_rows = release.counts["rows"]["sft"]["train"]
    assert train_rows >= 3
    assert total == (train_rows + 1) // 2  # two rows per shard
    assert names == [f"train-{i:05d}-of-{total:05d}.parquet" for i in range(total)]
    assert _in_release_order("sft", all_rows(release, "sft")) == expected()["sft"]


# --- what leaves --------------------------------------------------------------------------


def test_withdrawn_hidden_rejected_and_banned_work_leaves_the_next_release(world):
    v1 = build()
    r, p, u = world.responses, world.prompts, world.users
    now = timezone.now()
    Response.objects.filter(pk=r["p2.0"].pk).update(withdrawn_at=now)
    Response.objects.filter(pk=r["p2.1"].pk).update(hidden_at=now)
    Response.objects.filter(pk=r["collecting.0"].pk).update(state=ResponseState.REJECTED)
    Prompt.objects.filter(pk=p["p3"].pk).update(hidden_at=now)
    # Grace is banned: her prompt (p2) and her answers go. Alan is banned: his prompt
    # (collecting), his answer and his rankings go.
    u["grace"].banned_at = now
    u["grace"].save(update_fields=["banned_at"])
    u["alan"].banned_at = now
    u["alan"].save(update_fields=["banned_at"])
    v2 = build()

    gone = {r[k].pk for k in ("p2.0", "p2.1", "p2.2", "p3.0", "p3.1", "collecting.0")}
    gone |= {r["p1.0"].pk, r["p1.1"].pk}  # Grace's and Alan's answers to p1
    v1_sft = {row["id"] for row in all_rows(v1, "sft")}
    v2_sft = {row["id"] for row in all_rows(v2, "sft")}
    assert gone <= v1_sft
    assert not gone & v2_sft
    assert v2_sft == {r["p1.2"].pk}
    assert {row["id"] for row in all_rows(v2, "prompts")} == {p["p1"].pk}
    # p1 has one answer left: no rankings and no pairs can be made of it.
    assert all_rows(v2, "rankings") == []
    assert all_rows(v2, "preferences") == []
    for config in CONFIGS:
        assert _in_release_order(config, all_rows(v2, config)) == expected()[config], config
    assert v2.changes["sft"] == {"added": 0, "removed": len(gone), "changed": 0}


def test_rankings_by_a_banned_ranker_leave_but_the_answers_stay(world):
    v1 = build()
    barbara = world.users["barbara"]
    barbara.banned_at = timezone.now()
    barbara.save(update_fields=["banned_at"])
    v2 = build()
    tag = pseudonym(barbara.pk)
    assert tag in {row["ranker"] for row in all_rows(v1, "rankings")}
    assert tag not in {row["ranker"] for row in all_rows(v2, "rankings")}
    assert len(all_rows(v2, "rankings")) == 7 - 2  # she ranked p1 and p2


# --- stability, pseudonyms, determinism ------------------------------------------------------


def test_the_split_hash_grows_the_test_split_only_one_way():
    # At a larger share the test prompts are a superset: a prompt never moves back.
    for prompt_id in range(1, 3000):
        if prompt_split(prompt_id, 0.05) == "test":
            assert prompt_split(prompt_id, 0.2) == "test"
    shares = [prompt_split(i, 0.2) == "test" for i in range(1, 20001)]
    assert 0.18 < sum(shares) / len(shares) < 0.22


def test_a_prompt_keeps_its_split_from_one_version_to_the_next(world):
    v1 = build(test_share=0.5)
    ranked = world.prompts["p2"]
    Prompt.objects.filter(pk=world.prompts["collecting"].pk).update(withdrawn_at=timezone.now())
    for _ in range(6):
        PromptFactory(author=world.users["ken"])
    v2 = build(test_share=0.5)
    v3 = build(test_share=0.3)
    s1, s2, s3 = split_of_prompts(v1), split_of_prompts(v2), split_of_prompts(v3)
    for prompt_id in s1.keys() & s2.keys():
        assert s1[prompt_id] == s2[prompt_id]
    assert s3 == s2  # another share, the same prompts: nothing moves
    assert ranked.pk in s2


def test_rankers_appear_only_as_stable_pseudonyms(world, settings):
    v1 = build()
    v2 = build()
    rankers = [row["ranker"] for row in all_rows(v1, "rankings")]
    assert rankers == [row["ranker"] for row in all_rows(v2, "rankings")]
    assert all(re.fullmatch(r"[0-9a-f]{16}", tag) for tag in rankers)
    ids = set(Ranking.objects.values_list("ranker_id", flat=True))
    assert set(rankers) == {pseudonym(i) for i in ids}
    assert not {str(i) for i in ids} & set(rankers)
    settings.HEARTH_PSEUDONYM_SECRET = "another-deployment-secret-of-32-chars!"
    assert {pseudonym(i) for i in ids}.isdisjoint(rankers)


def test_no_email_or_unattributed_name_is_anywhere_in_a_release(world):
    import pyarrow.parquet as pq

    release = build(include_model_written=True)
    texts = [(folder_of(release) / "README.md").read_text(encoding="utf-8")]
    for split in SPLITS:
        texts.append((folder_of(release) / "dolly" / f"{split}.jsonl").read_text(encoding="utf-8"))
    for path in (folder_of(release) / "data").rglob("*.parquet"):
        texts.append(json.dumps(pq.read_table(path).to_pylist(), ensure_ascii=False))
    everything = "\n".join(texts)
    for name, user in world.users.items():
        assert user.email not in everything
        assert name + "@" not in everything
        if name != "ada":
            assert user.display_name not in everything
    assert "Ada Secretname" in texts[0]  # she asked to be credited, in the card only
    assert "Ada Secretname" not in "\n".join(texts[1:])


def test_the_same_rows_give_the_same_bytes_and_hash(world):
    v1 = build()
    first = (v1.content_hash, v1.files)
    Release.objects.filter(pk=v1.pk).update(state=ReleaseState.FAILED)
    again = release_build(v1.pk)
    assert (again.content_hash, again.files) == first
    # Another version of the same rows: the same data files; only the card names v2.
    v2 = build()
    data = {f["path"]: f["sha256"] for f in v1.files if f["path"] != "README.md"}
    assert data == {f["path"]: f["sha256"] for f in v2.files if f["path"] != "README.md"}
    assert v2.content_hash != v1.content_hash


def test_chunks_of_one_ranked_prompt_write_the_same_bytes(world, monkeypatch):
    """Every ranked prompt in a chunk of its own (the one still being ranked gives a chunk with
    no consensus to read), fetched ahead in a thread or in turn, and the answers streamed in
    batches so small that a prompt's answers span two of them: the same bytes either way."""
    from apps.releases.building import passes, streams

    whole = build(include_model_written=True)
    monkeypatch.setattr(passes, "PROMPT_CHUNK", 1)
    monkeypatch.setattr(streams, "BATCH_ROWS", 3)
    monkeypatch.setattr(streams, "CSV_BLOCK_BYTES", 600)
    sizes: list[int] = []
    add = passes.RankedAnswers.add

    def counted(self, batch):
        sizes.append(batch.num_rows)
        add(self, batch)

    monkeypatch.setattr(passes.RankedAnswers, "add", counted)
    for method in ("copy", "orm"):
        Release.objects.filter(pk=whole.pk).update(state=ReleaseState.FAILED)
        again = release_build(whole.pk, method=method)
        assert again.state == ReleaseState.READY, again.error
        assert (again.content_hash, again.files) == (whole.content_hash, whole.files)
        assert len(sizes) > 2 and max(sizes) <= 5, (method, sizes)
        sizes.clear()


def test_a_retired_ranking_enters_no_release(world):
    """Retired when its prompt's rank set fell apart and the prompt ranked afresh, a ranking
    ordered answers that are gone; both readers leave it out."""
    retired = Ranking.objects.filter(prompt=world.prompts["p1"]).order_by("id").first()
    Ranking.objects.filter(pk=retired.pk).update(retired_at=timezone.now())
    release = build()
    assert len(all_rows(release, "rankings")) == 6
    rows = all_rows(release, "rankings")
    assert _in_release_order("rankings", rows) == expected()["rankings"]
    Release.objects.filter(pk=release.pk).update(state=ReleaseState.FAILED)
    orm = release_build(release.pk, method="orm")
    assert (orm.content_hash, orm.files) == (release.content_hash, release.files)


def test_the_copy_and_orm_readers_write_the_same_bytes(world):
    release = build(include_model_written=True, test_share=0.5)
    Release.objects.filter(pk=release.pk).update(state=ReleaseState.FAILED)
    orm = release_build(release.pk, method="orm")
    assert orm.state == ReleaseState.READY
    assert (orm.content_hash, orm.files) == (release.content_hash, release.files)


def test_the_content_hash_covers_every_listed_file_by_path_and_bytes(world):
    import hashlib

    release = build()
    folder = folder_of(release)
    manifest = ""
    for entry in release.files:
        content = (folder / entry["path"]).read_bytes()
        assert entry["bytes"] == len(content)
        assert entry["sha256"] == hashlib.sha256(content).hexdigest()
        manifest += f"{entry['path']} {len(content)} {entry['sha256']}\n"
    assert hashlib.sha256(manifest.encode()).hexdigest() == release.content_hash
    paths = [entry["path"] for entry in release.files]
    assert paths == sorted(paths)
    assert "README.md" in paths and "dolly/train.jsonl" in paths and "dolly/test.jsonl" in paths
    assert not any(path.startswith(".hearth") for path in paths)


def test_changes_count_rows_added_and_removed_since_the_previous_release(world):
    v1 = build()
    assert v1.previous is None and v1.changes == {}
    Response.objects.filter(pk=world.responses["collecting.0"].pk).update(
        withdrawn_at=timezone.now()
    )
    ResponseFactory(prompt=world.prompts["collecting"], author=world.users["ada"])
    ResponseFactory(prompt=world.prompts["collecting"], author=world.users["grace"])
    failed = release_create(user=None, enqueue=False)
    Release.objects.filter(pk=failed.pk).update(state=ReleaseState.FAILED)
    v3 = build()
    assert v3.previous_id == v1.pk  # the failed v2 is skipped
    assert v3.changes == {
        "sft": {"added": 2, "removed": 1, "changed": 0},
        "preferences": {"added": 0, "removed": 0, "changed": 0},
        "rankings": {"added": 0, "removed": 0, "changed": 0},
        "prompts": {"added": 0, "removed": 0, "changed": 0},
    }
    card = (folder_of(v3) / "README.md").read_text(encoding="utf-8")
    assert "since v1, the latest earlier release cut with the same filter" in card


# --- crashes and concurrent attempts ---------------------------------------------------------


def _tmp_folders() -> list[str]:
    return [p.name for p in building.releases_root().glob(".tmp-*")]


def test_a_build_that_crashes_part_way_leaves_a_failed_release_and_nothing_in_place(
    world, monkeypatch
):
    written = {"rows": 0}
    original = streams.SplitWriter.write

    def crash_after_a_few_rows(self, table):
        written["rows"] += table.num_rows
        if written["rows"] > 4:
            raise OSError("disk full")
        original(self, table)

    monkeypatch.setattr(streams.SplitWriter, "write", crash_after_a_few_rows)
    release = release_create(user=None, enqueue=False)
    with pytest.raises(OSError, match="disk full"):
        release_build(release.pk)
    release.refresh_from_db()
    assert release.state == ReleaseState.FAILED
    assert release.error == "OSError: disk full"
    assert release.content_hash == "" and release.files == []
    assert not release_folder(release.version).exists()
    assert _tmp_folders() == []

    monkeypatch.setattr(streams.SplitWriter, "write", original)
    # Leftovers of an attempt killed outright (no chance to clean up) are removed too.
    (building.releases_root() / f".tmp-{release.version}-dead").mkdir()
    (release_folder(release.version) / "data").mkdir(parents=True)
    rebuilt = release_build(release.pk)
    assert rebuilt.state == ReleaseState.READY and rebuilt.error == ""
    assert _tmp_folders() == []
    Release.objects.filter(pk=release.pk).update(state=ReleaseState.FAILED)
    clean = release_build(release.pk)
    assert clean.content_hash == rebuilt.content_hash


def test_a_build_that_fails_writing_a_shard_holds_no_file_open(world, monkeypatch):
    """Crash QA: a build failed on a full disk kept its deleted shard open in the worker, and
    the space it took stayed used until the worker restarted."""
    import errno
    import os

    def disk_full(writer, group, size):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(streams, "_write_row_group", disk_full)
    release = release_create(user=None, enqueue=False)
    with pytest.raises(OSError, match="No space left"):
        release_build(release.pk)
    release.refresh_from_db()
    assert release.state == ReleaseState.FAILED
    assert _tmp_folders() == []
    held = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            held.append(os.readlink(f"/proc/self/fd/{fd}"))
        except FileNotFoundError:  # the listing's own descriptor, closed since
            continue
    assert not [path for path in held if ".parquet" in path], held


def test_a_failure_after_the_move_leaves_no_ready_looking_folder(world, monkeypatch):
    def refuse(*args, **kwargs):
        raise RuntimeError("database went away")

    release = release_create(user=None, enqueue=False)
    original_update = QuerySet.update

    def update(self, **fields):
        if fields.get("state") == ReleaseState.READY:
            refuse()
        return original_update(self, **fields)

    monkeypatch.setattr(QuerySet, "update", update)
    with pytest.raises(RuntimeError):
        release_build(release.pk)
    monkeypatch.setattr(QuerySet, "update", original_update)
    release.refresh_from_db()
    assert release.state == ReleaseState.FAILED
    assert not release_folder(release.version).exists()


def test_a_superseded_attempt_stops_and_never_marks_the_release_ready(world, monkeypatch):
    monkeypatch.setattr(passes, "PROGRESS_EVERY", 1)
    release = release_create(user=None, enqueue=False)

    def another_attempt_claims_it(done, total):
        Release.objects.filter(pk=release.pk).update(build_token="a-newer-attempt")

    result = release_build(release.pk, progress=another_attempt_claims_it)
    assert result.state == ReleaseState.BUILDING
    assert result.build_token == "a-newer-attempt"
    assert not release_folder(release.version).exists()
    assert _tmp_folders() == []


def test_building_a_finished_release_again_changes_nothing(world):
    release = build()
    before = (release.content_hash, release.finished_at)
    again = release_build(release.pk)
    assert (again.content_hash, again.finished_at) == before


def test_progress_is_offered_to_a_callback_and_ends_complete(world):
    """The total comes from counting the rows (on PostgreSQL in a thread, on a connection
    sharing the build's snapshot): at the end it equals the rows read."""
    seen: list[tuple[int, int]] = []
    release = release_create(user=None, enqueue=False)
    release = release_build(release.pk, progress=lambda done, total: seen.append((done, total)))
    assert seen and seen == sorted(seen)
    assert seen[-1][0] == seen[-1][1] == release.progress_total


def test_a_build_beats_while_it_runs_however_few_rows_it_reads(world, monkeypatch):
    """Data QA: a build whose worker was killed could be rebuilt only after 30 minutes without
    progress, as progress was written every 100,000 rows. It is written every
    PROGRESS_SECONDS too, so BUILD_STALE can be a few minutes: many heartbeats."""
    from apps.releases.models import BUILD_STALE

    assert BUILD_STALE.total_seconds() >= 20 * passes.PROGRESS_SECONDS
    monkeypatch.setattr(passes, "PROGRESS_SECONDS", 0)
    release = release_create(user=None, enqueue=False)
    beats: list[Any] = []

    def seen(done: int, total: int) -> None:
        beats.append(Release.objects.values_list("progress_at", flat=True).get(pk=release.pk))

    release_build(release.pk, progress=seen)
    # Far fewer rows than PROGRESS_EVERY, yet a heartbeat at each batch.
    assert len(set(beats)) > 2 and beats == sorted(beats)


def test_a_deleted_accounts_prompts_and_answers_leave_the_next_release(world):
    from apps.accounts.services import account_delete

    v1 = build()
    grace = world.users["grace"]
    hers = set(Response.objects.filter(author=grace).values_list("pk", flat=True))
    her_prompts = set(Prompt.objects.filter(author=grace).values_list("pk", flat=True))
    assert hers and hers <= {row["id"] for row in all_rows(v1, "sft")}
    assert her_prompts & {row["id"] for row in all_rows(v1, "prompts")}
    account_delete(user=grace)
    v2 = build()
    assert not hers & {row["id"] for row in all_rows(v2, "sft")}
    assert not her_prompts & {row["id"] for row in all_rows(v2, "prompts")}


def test_the_card_names_the_licence_each_answer_came_under(world, settings):
    """An import keeps its source's licence; the card says so rather than claiming the site's
    for every row."""
    plain = build()
    card = (folder_of(plain) / "README.md").read_text()
    assert plain.counts["licences"] == {settings.HEARTH_LICENCE_NAME: 9}
    assert plain.counts["prompt_licences"] == {settings.HEARTH_LICENCE_NAME: 4}
    assert "license: cc-by-sa-3.0" in card
    assert "Contributors agreed to publish their work under it." in card

    Response.objects.filter(pk=world.responses["p2.1"].pk).update(licence="Apache-2.0")
    mixed = build()
    assert mixed.counts["licences"] == {"Apache-2.0": 1, settings.HEARTH_LICENCE_NAME: 8}
    card = (folder_of(mixed) / "README.md").read_text()
    # Both are Hub ids: a list of them (data QA: "other" with a name the Hub cannot read).
    assert "license:\n- cc-by-sa-3.0\n- apache-2.0\n" in card
    assert "- CC BY-SA 3.0: 8 `sft` rows, 4 prompts\n- Apache-2.0: 1 `sft` rows, 0 prompts" in card
    assert "imported rows are under the licence of the data set they came from" in card
    assert "Each row names the licence of each text it holds" in card


def test_every_row_names_the_licence_and_origin_of_each_text_it_holds(world, load_dataset):
    """Data QA: a release mixing CC BY-SA and CC BY rows did not say which rows were which.
    An imported prompt answered on this site holds texts under two licences: each is named."""
    p2 = world.prompts["p2"]
    Prompt.objects.filter(pk=p2.pk).update(licence="CC BY 4.0", origin="other-set")
    Response.objects.filter(pk=world.responses["p2.0"].pk).update(
        licence="CC BY 4.0", origin="other-set"
    )
    release = build(test_share=0.5)
    own = Prompt.objects.get(pk=world.prompts["p1"].pk).licence
    imported = {"licence": "CC BY 4.0", "origin": "other-set"}
    here = {"licence": own, "origin": "hearth"}

    def of(row, prefix=""):
        return {"licence": row[f"{prefix}licence"], "origin": row[f"{prefix}origin"]}

    (prompt,) = [row for row in all_rows(release, "prompts") if row["id"] == p2.pk]
    assert of(prompt) == imported
    sft = {row["id"]: row for row in all_rows(release, "sft") if row["prompt_id"] == p2.pk}
    assert of(sft[world.responses["p2.0"].pk]) == imported
    assert of(sft[world.responses["p2.1"].pk]) == here
    assert all(of(row, "prompt_") == imported for row in sft.values())
    by_text = {row["response"]: of(row) for row in sft.values()}
    for row in (r for r in all_rows(release, "preferences") if r["prompt_id"] == p2.pk):
        assert of(row, "prompt_") == imported
        assert of(row, "chosen_") == by_text[row["chosen"]]
        assert of(row, "rejected_") == by_text[row["rejected"]]
    for row in (r for r in all_rows(release, "rankings") if r["prompt_id"] == p2.pk):
        assert of(row, "prompt_") == imported
        assert [
            {"licence": licence, "origin": origin}
            for licence, origin in zip(
                row["response_licences"], row["response_origins"], strict=True
            )
        ] == [by_text[text] for text in row["responses"]]
    # Both licences are Hub ids, and datasets reads the columns of every config.
    card = (folder_of(release) / "README.md").read_text()
    assert "license:\n- cc-by-sa-3.0\n- cc-by-4.0\n" in card
    for config in CONFIGS:
        for split in load_dataset(release, config).values():
            assert split.column_names == COLUMNS[config], config
