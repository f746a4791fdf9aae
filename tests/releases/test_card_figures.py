"""What a release's card and page say about its data, checked against the files (QA by an
ML practitioner): the agreement of exactly the prompts whose pairs are released, the
``dataset_info`` ``datasets`` reads, ``sft``'s ``prompt_id``, and small test splits."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from apps.collection.models import Response
from apps.feedback.models import PromptConsensus
from apps.releases import selectors
from apps.releases.building import CONFIGS, SPLITS, release_build, release_schemas
from apps.releases.cards import render_card
from apps.releases.models import (
    FEW_TEST_PROMPTS,
    PromptSplit,
    Release,
    ReleaseFilter,
    ReleaseState,
)
from tests.releases.helpers import all_rows, build, folder_of, read_config


def _card_data(release: Release) -> Any:
    from huggingface_hub import DatasetCard

    return DatasetCard.load(folder_of(release) / "README.md").data


def _prompts_per_split(release: Release) -> dict[str, dict[str, int]]:
    """Each config's distinct prompts per split, read from its files."""
    key = {"sft": "prompt_id", "preferences": "prompt_id", "rankings": "prompt_id"}
    return {
        config: {
            split: len({row[key.get(config, "id")] for row in rows})
            for split, rows in read_config(release, config).items()
        }
        for config in CONFIGS
    }


# --- 1. agreement ---------------------------------------------------------------------------


def test_the_agreement_covers_exactly_the_prompts_whose_pairs_are_released(world):
    """QA: a prompt left with one answer (the others hidden) gives no pair, yet its stored
    agreement (1.0) was averaged in: "over 10 complete prompts" where 9 had pairs."""
    p1, p2 = world.prompts["p1"], world.prompts["p2"]
    Response.objects.filter(pk__in=[world.responses["p1.1"].pk, world.responses["p1.2"].pk]).update(
        hidden_at=timezone.now()
    )
    PromptConsensus.objects.filter(prompt=p1).update(agreement=1.0)
    p2_agreement = PromptConsensus.objects.get(prompt=p2).agreement
    assert p2_agreement < 1.0

    release = build()

    assert {row["prompt_id"] for row in all_rows(release, "preferences")} == {p2.pk}
    assert release.counts["agreement"] == {
        "prompts": 1,
        "preference_prompts": 1,
        "mean": round(p2_agreement, 6),
        "median": round(p2_agreement, 6),
    }
    card = (folder_of(release) / "README.md").read_text(encoding="utf-8")
    assert (
        "Rankers' agreement (Kendall's W, 0 to 1) over the 1 prompt whose preference pairs are "
        f"in this release: mean {p2_agreement:.3f}, median {p2_agreement:.3f}." in card
    )
    # The other reader counts the same prompts.
    Release.objects.filter(pk=release.pk).update(state=ReleaseState.FAILED)
    orm = release_build(release.pk, method="orm")
    assert orm.counts["agreement"] == release.counts["agreement"]
    assert orm.content_hash == release.content_hash


def test_the_card_says_over_how_many_of_the_paired_prompts_agreement_was_measured():
    def agreement_text(agreement: dict[str, Any]) -> str:
        counts = {"rows": {"sft": {"train": 1, "test": 0}}, "agreement": agreement}
        text = render_card(
            version="v1",
            release_filter=ReleaseFilter(),
            counts=counts,
            changes=None,
            previous_version=None,
            attributed=[],
        )
        return text.split("## Agreement\n\n", 1)[1].split("\n", 1)[0]

    measured = {"mean": 0.5, "median": 0.25}
    assert agreement_text({"prompts": 9, "preference_prompts": 9, **measured}) == (
        "Rankers' agreement (Kendall's W, 0 to 1) over the 9 prompts whose preference pairs "
        "are in this release: mean 0.500, median 0.250."
    )
    assert agreement_text({"prompts": 8, "preference_prompts": 9, **measured}) == (
        "Rankers' agreement (Kendall's W, 0 to 1) over 8 of the 9 prompts (the others have "
        "none measured) whose preference pairs are in this release: mean 0.500, median 0.250."
    )
    assert agreement_text(
        {"prompts": 0, "preference_prompts": 0, "mean": None, "median": None}
    ) == ("No prompt has preference pairs in this release, so no agreement to report.")


# --- 2. dataset_info ------------------------------------------------------------------------


def test_the_cards_dataset_info_matches_the_files_and_what_datasets_loads(world, load_dataset):
    """The card had only ``configs:``. Its ``dataset_info`` now gives each config's features
    and splits; ``datasets`` reads the features from it (a wrong dtype there is cast to), so
    they must be the Parquet schema's exactly."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets.info import DatasetInfosDict

    release = build(test_share=0.5)
    data = _card_data(release)
    entries = {entry["config_name"]: entry for entry in data.to_dict()["dataset_info"]}
    listed = {entry["config_name"]: entry for entry in data.to_dict()["configs"]}
    assert list(entries) == list(listed) == list(CONFIGS)
    # What datasets itself makes of the card.
    infos = DatasetInfosDict.from_dataset_card_data(data)
    schemas = release_schemas()
    for config in CONFIGS:
        entry, folder = entries[config], folder_of(release) / "data" / config
        features = datasets.Features._from_yaml_list(entry["features"])
        assert infos[config].features == features
        for path in folder.glob("*.parquet"):  # empty splits' files too
            assert pq.read_schema(path).remove_metadata() == schemas[config], path
            assert datasets.Features.from_arrow_schema(pq.read_schema(path)) == features, path
        per_split = read_config(release, config)
        with_rows = [split for split in SPLITS if per_split[split]]
        assert [s["split"] for s in listed[config]["data_files"]] == with_rows
        assert [split["name"] for split in entry["splits"]] == with_rows
        sizes = {}
        for split in entry["splits"]:
            rows = per_split[split["name"]]
            assert (
                split["num_examples"]
                == len(rows)
                == infos[config].splits[split["name"]].num_examples
            )
            # The split's rows in one Arrow table, as pyarrow counts its bytes.
            assert split["num_bytes"] == pa.Table.from_pylist(rows, schema=schemas[config]).nbytes
            sizes[split["name"]] = split["num_bytes"]
        assert entry["dataset_size"] == sum(sizes.values())
        assert entry["download_size"] == sum(
            path.stat().st_size for split in with_rows for path in folder.glob(f"{split}-*.parquet")
        )
        loaded = load_dataset(release, config)
        assert sorted(loaded) == sorted(with_rows)
        for split in loaded:
            assert loaded[split].features == features, (config, split)
            assert loaded[split].num_rows == len(per_split[split])


def test_dataset_info_lists_only_loadable_splits_and_leaves_out_sizes_it_was_not_given():
    from apps.releases.cards import front_matter

    counts = {
        "rows": {"sft": {"train": 3, "test": 0}, "prompts": {"train": 2, "test": 1}},
        "bytes": {"sft": {"train": 300, "test": 0}, "prompts": {"train": 50, "test": 20}},
        "file_bytes": {"sft": {"train": 3000, "test": 900}, "prompts": {"train": 800, "test": 700}},
    }
    info = front_matter(version="v1", counts=counts)["dataset_info"]
    assert [entry["config_name"] for entry in info] == ["sft", "prompts"]
    assert info[0]["splits"] == [{"name": "train", "num_bytes": 300, "num_examples": 3}]
    assert (info[0]["download_size"], info[0]["dataset_size"]) == (3000, 300)
    assert (info[1]["download_size"], info[1]["dataset_size"]) == (1500, 70)
    # Counts without sizes (a release built before they were counted): rows only.
    old = front_matter(version="v1", counts={"rows": counts["rows"]})["dataset_info"]
    assert old[0]["splits"] == [{"name": "train", "num_examples": 3}]
    assert "download_size" not in old[0] and "dataset_size" not in old[0]


# --- 3. sft's prompt_id ---------------------------------------------------------------------


def test_sft_rows_carry_their_prompts_id_to_join_the_other_configs(world):
    release = build(test_share=0.5)
    sft = all_rows(release, "sft")
    prompt_of = dict(Response.objects.values_list("pk", "prompt_id"))
    assert sft and all(row["prompt_id"] == prompt_of[row["id"]] for row in sft)
    prompts = {row["id"]: row for row in all_rows(release, "prompts")}
    for row in sft:
        prompt = prompts[row["prompt_id"]]
        assert (row["instruction"], row["context"]) == (prompt["instruction"], prompt["context"])
    answered = {row["prompt_id"] for row in sft}
    for config in ("preferences", "rankings"):
        assert {row["prompt_id"] for row in all_rows(release, config)} <= answered
    # A prompt's answers are in its split, as its other rows are.
    per_split = read_config(release, "sft")
    prompts_split = read_config(release, "prompts")
    for split in SPLITS:
        assert {row["prompt_id"] for row in per_split[split]} <= {
            row["id"] for row in prompts_split[split]
        }
    card = (folder_of(release) / "README.md").read_text(encoding="utf-8")
    assert "`prompt_id` (its prompt's: `id` in `prompts`" in card


# --- 5. small test splits -------------------------------------------------------------------


def test_prompts_per_split_are_counted_whatever_the_batches(world, monkeypatch):
    """Counted as rows stream (a prompt's answers can span two batches): the same as the
    files say, on both readers."""
    from apps.releases.building import passes, streams

    release = build(include_model_written=True, test_share=0.5)
    assert release.counts["split_prompts"] == _prompts_per_split(release)
    monkeypatch.setattr(passes, "PROMPT_CHUNK", 1)
    monkeypatch.setattr(streams, "BATCH_ROWS", 2)
    monkeypatch.setattr(streams, "CSV_BLOCK_BYTES", 700)
    for method in ("copy", "orm"):
        Release.objects.filter(pk=release.pk).update(state=ReleaseState.FAILED)
        again = release_build(release.pk, method=method)
        assert again.state == ReleaseState.READY, again.error
        assert again.counts["split_prompts"] == release.counts["split_prompts"], method
        assert again.content_hash == release.content_hash, method


def _card_with(split_prompts: dict[str, dict[str, int]]) -> str:
    rows = {
        config: {split: 5 * n for split, n in splits.items()}
        for config, splits in split_prompts.items()
    }
    return render_card(
        version="v1",
        release_filter=ReleaseFilter(),
        counts={"rows": rows, "split_prompts": split_prompts},
        changes=None,
        previous_version=None,
        attributed=[],
    )


def test_the_card_says_plainly_when_a_test_split_is_too_small_to_mean_much():
    """QA: v1 had 4 test prompts, 2 of them ranked; a reward evaluation ran on 1."""
    text = _card_with(
        {
            "sft": {"train": 40, "test": 4},
            "preferences": {"train": 20, "test": 1},
            "rankings": {"train": 20, "test": 2},
            "prompts": {"train": 60, "test": 5},
        }
    )
    assert (
        f"**Small test split.** Fewer than {FEW_TEST_PROMPTS} prompts in test (`sft`: 4 "
        "prompts; `preferences`: 1 prompt; `rankings`: 2 prompts): evaluation figures measured "
        "on it, such as a test loss or a reward model's accuracy, depend on which few prompts "
        "landed there and will be noisy." in text
    )
    many = {"train": 400, "test": FEW_TEST_PROMPTS}
    assert "Small test split" not in _card_with({c: many for c in CONFIGS})
    # An empty test split is not "small": it is left out of the configs and has no figures.
    assert "Small test split" not in _card_with({"sft": {"train": 30, "test": 0}})
    # Only the preferences split is small: only it is named.
    text = _card_with({"sft": many, "preferences": {"train": 30, "test": 3}})
    assert "(`preferences`: 3 prompts)" in text


def test_the_release_page_warns_of_a_small_test_split(world, maintainer):
    # Splits given beforehand: hashed from ids, which differ from run to run, all four prompts
    # went to one split one run in eight, and the page warned of an empty split instead.
    PromptSplit.objects.bulk_create(
        PromptSplit(prompt=prompt, split="test" if name == "p2" else "train")
        for name, prompt in world.prompts.items()
        if name in ("p1", "p2", "p3", "collecting")
    )
    release = build(test_share=0.5)
    prompts = release.counts["split_prompts"]
    assert 0 < prompts["sft"]["test"] < FEW_TEST_PROMPTS
    n = prompts["sft"]["test"]
    expected = f"Few prompts in the test split (sft: {n} prompt{'' if n == 1 else 's'}"
    warnings = selectors.release_split_warnings(release=release, with_advice=False)
    # One notice names every small split (QA: the same paragraph came once per config).
    (notice,) = [w for w in warnings if "noisy" in w]
    assert notice.startswith(expected)
    assert f"fewer than {FEW_TEST_PROMPTS}): evaluation figures measured on so few" in notice
    expected = notice
    html = Client().get(f"/releases/{release.version}/").content.decode()
    assert expected in html
    web = Client()
    web.force_login(maintainer)
    html = web.get(f"/releases/{release.version}/").content.decode()
    assert expected + " Prompts keep the split of the first release" in html
    pairs = release.counts["agreement"]["prompts"]
    assert f"over {pairs} prompt" in html and "whose preference pairs are in this release" in html


@pytest.mark.parametrize(("test", "warned"), [(0, False), (1, True), (19, True), (20, False)])
def test_a_trained_configs_test_split_is_small_below_the_documented_number(db, test, warned):
    release = Release(
        number=1,
        version="v1",
        state=ReleaseState.READY,
        counts={
            "rows": {"sft": {"train": 500, "test": 3 * test}, "preferences": {"train": 0}},
            "split_prompts": {"sft": {"train": 100, "test": test}},
        },
    )
    warnings = selectors.release_split_warnings(release=release, with_advice=False)
    assert (
        any("evaluation figures measured on so few will be noisy" in w for w in warnings) == warned
    )
    # A release built before prompts were counted per split: no guess.
    release.counts = {"rows": release.counts["rows"]}
    assert not any(
        "noisy" in w for w in selectors.release_split_warnings(release=release, with_advice=False)
    )


# --- 4. the test share a release gets when none is given ------------------------------------


def _shown_share(web: Client) -> float:
    import re

    html = web.get("/releases/").content.decode()
    return float(re.search(r'name="test_share" value="([^"]*)"', html).group(1))


def test_a_release_cut_without_a_test_share_gets_the_one_the_form_suggests(
    api_maintainer, maintainer, db, django_capture_on_commit_callbacks
):
    """QA: the form suggested 0.25 ("so that about ten prompts land in test") while the API
    without ``test_share`` used 0.05."""
    from django.core.management import call_command

    from apps.releases.models import DEFAULT_TEST_SHARE
    from tests.factories import PromptFactory, ResponseFactory

    for prompt in PromptFactory.create_batch(40, state="collecting"):
        ResponseFactory(prompt=prompt)
    web = Client()
    web.force_login(maintainer)
    shown = _shown_share(web)
    assert shown == 0.25 != DEFAULT_TEST_SHARE
    with django_capture_on_commit_callbacks(execute=False):
        r = api_maintainer.post("/api/v1/releases/", {"languages": ["en"]}, format="json")
        assert r.status_code == 201, r.json()
        assert r.json()["filter"]["test_share"] == shown
        # The form sent with its field emptied, and the command without --test-share: the same.
        r = web.post("/releases/new/", {"test_share": "", "idempotency_key": "emptied"})
        assert r.status_code == 302
        call_command("release", "create")
    assert (
        list(Release.objects.order_by("number").values_list("filter__test_share", flat=True))
        == [shown] * 3
    )
    # Given, it is taken as given.
    with django_capture_on_commit_callbacks(execute=False):
        r = api_maintainer.post("/api/v1/releases/", {"test_share": 0.1}, format="json")
    assert r.json()["filter"]["test_share"] == 0.1


def test_the_schema_says_what_test_share_defaults_to():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    body = schema["paths"]["/api/v1/releases/"]["post"]["requestBody"]["content"]
    ref = body["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    described = schema["components"]["schemas"][ref]["properties"]["test_share"]["description"]
    assert "Left out: the share the Releases page's form suggests" in described
