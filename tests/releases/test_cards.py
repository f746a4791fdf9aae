"""The dataset card: YAML the Hub and ``datasets`` read, and text that never depends on
when it was built."""

from __future__ import annotations

import yaml

from apps.releases.cards import front_matter, licence_id, render_card, size_category
from apps.releases.models import ReleaseFilter
from tests.releases.helpers import build, folder_of

COUNTS = {
    "rows": {
        "sft": {"train": 1900, "test": 100},
        "preferences": {"train": 30, "test": 0},
        "rankings": {"train": 12, "test": 3},
        "prompts": {"train": 700, "test": 40},
    },
    "categories": {
        "open_qa": {"prompts": 500, "sft": 1500},
        "summarization": {"prompts": 240, "sft": 500},
    },
    "languages": {"en": {"prompts": 700, "sft": 1900}, "pt-BR": {"prompts": 40, "sft": 100}},
    "contributors": 42,
    "agreement": {"prompts": 11, "mean": 0.61234, "median": 0.7},
}


def card(**overrides):
    arguments = {
        "version": "v3",
        "release_filter": ReleaseFilter(languages=("en", "pt-BR"), min_agreement=0.4),
        "counts": COUNTS,
        "changes": {"sft": {"added": 120, "removed": 3}},
        "previous_version": "v2",
        "attributed": ["Ada Lovelace", "Grace *Hopper*"],
    }
    arguments.update(overrides)
    return render_card(**arguments)


def parse(text: str) -> tuple[dict, str]:
    assert text.startswith("---\n")
    header, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(header), body


def test_the_front_matter_parses_and_lists_every_config_with_both_splits():
    header, _ = parse(card())
    assert [c["config_name"] for c in header["configs"]] == [
        "sft",
        "preferences",
        "rankings",
        "prompts",
    ]
    for config in header["configs"]:
        name = config["config_name"]
        expected = [
            {"split": "train", "path": f"data/{name}/train-*.parquet"},
            {"split": "test", "path": f"data/{name}/test-*.parquet"},
        ]
        # datasets cannot load an empty split, so an empty one is not listed.
        assert config["data_files"] == (expected[:1] if name == "preferences" else expected)
    assert header["configs"][0]["default"] is True
    assert header["license"] == "cc-by-sa-3.0"
    assert header["language"] == ["en", "pt"]
    assert header["pretty_name"] == "Hearth v3"
    assert header["size_categories"] == ["1K<n<10K"]
    assert header["task_categories"] == ["question-answering", "summarization", "text-generation"]


def test_the_body_has_counts_agreement_contributors_changes_and_a_citation():
    _, body = parse(card())
    assert "| `sft` | 1,900 | 100 |" in body
    assert "| `summarization` | 240 | 500 |" in body
    assert "| `pt-BR` | 40 | 100 |" in body
    assert "over 11 complete prompts: mean 0.612, median 0.700" in body
    assert "42 people" in body
    assert "Ada Lovelace, Grace \\*Hopper\\*." in body
    assert "since v2" in body and "| `sft` | 120 | 3 |" in body
    assert "@misc{hearth_v3," in body
    assert 'load_dataset("path/to/release", "sft")' in body
    assert "- minimum agreement for preference pairs: 0.4" in body


def test_a_config_with_no_rows_is_left_out_of_the_configs_and_the_loading_snippet():
    counts = {
        **COUNTS,
        "rows": {
            **COUNTS["rows"],
            "preferences": {"train": 0, "test": 0},
            "rankings": {"train": 0, "test": 0},
        },
    }
    header, body = parse(card(counts=counts))
    assert [c["config_name"] for c in header["configs"]] == ["sft", "prompts"]
    assert 'load_dataset("path/to/release", "sft")' in body
    assert '"preferences"' not in body
    assert "- `rankings`: One row per individual ranking" in body
    assert "No rows in this release." in body


def test_a_release_with_only_an_sft_train_split_lists_just_that():
    counts = {"rows": {"sft": {"train": 3, "test": 0}, "prompts": {"train": 2, "test": 0}}}
    header = front_matter(version="v1", counts=counts)
    assert header["configs"] == [
        {
            "config_name": "sft",
            "data_files": [{"split": "train", "path": "data/sft/train-*.parquet"}],
            "default": True,
        },
        {
            "config_name": "prompts",
            "data_files": [{"split": "train", "path": "data/prompts/train-*.parquet"}],
        },
    ]


def test_the_first_release_says_so_and_unknown_changes_say_so():
    assert "The first release." in card(previous_version=None, changes=None)
    assert "Changes since v2 are unknown." in card(changes=None)


def test_the_card_and_its_citation_give_the_year_and_month_the_build_finished():
    """Data QA: no date anywhere, so citation managers showed "n.d."."""
    from datetime import UTC, datetime, timedelta, timezone

    # 23:30 on 31 January in New York is February in UTC, which the card gives.
    finished = datetime(2026, 1, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    _, body = parse(card(finished_at=finished, data_hash="d" * 64))
    assert "Version v3, built in 2026-02 (UTC), data hash `" + "d" * 64 + "`" in body
    assert "  year         = {2026},\n  month        = feb,\n" in body
    _, undated = parse(card(finished_at=None))
    assert "year" not in undated and "Version v3.\n" in undated
    assert card(finished_at=datetime(2026, 5, 1, tzinfo=UTC)) != card()


def test_the_card_says_the_split_is_per_prompt_and_translations_may_straddle_it():
    """Data QA: 9 of 40 English/Spanish translation pairs had one side in train and the other
    in test."""
    _, body = parse(card())
    assert (
        "a translation of a prompt, or a near-duplicate (the same question in other words), is a prompt of its own and may be in the other split"
        in " ".join(body.split())
    )


def test_the_card_says_what_a_margin_of_one_half_means_and_how_to_filter():
    _, body = parse(card())
    text = " ".join(body.split())
    assert "A `margin` of exactly 0.5 is a tie" in text
    assert "keep `margin > 0.5` for the pairs a majority agreed on" in text
    assert "such a pair is left out" in text


def test_the_card_is_the_same_text_whenever_it_is_rendered():
    assert card() == card()


def test_a_licence_the_hub_does_not_know_is_other_with_an_id_and_a_link(settings):
    """The Hub's card spec asks for ``license_name`` as an id (``my-license-1.0``) and a
    ``license_link`` with ``other``."""
    settings.HEARTH_LICENCE_NAME = "Community Data License 9"
    settings.HEARTH_LICENCE_URL = "https://example.org/licence"
    header = front_matter(version="v1", counts=COUNTS)
    assert header["license"] == "other"
    assert header["license_name"] == "community-data-license-9"
    assert header["license_link"] == "https://example.org/licence"


def test_several_licences_are_a_list_of_hub_ids_or_other_pointing_at_the_licence_section():
    both_known = {**COUNTS, "licences": {"CC BY-SA 3.0": 40, "CC BY 4.0": 3}}
    header = front_matter(version="v1", counts=both_known)
    assert header["license"] == ["cc-by-sa-3.0", "cc-by-4.0"]
    assert "license_name" not in header and "license_link" not in header
    # A licence only the prompts are under counts too.
    prompts_too = {**both_known, "prompt_licences": {"CC BY-SA 3.0": 20, "CC0 1.0": 2}}
    assert front_matter(version="v1", counts=prompts_too)["license"] == [
        "cc-by-sa-3.0",
        "cc-by-4.0",
        "cc0-1.0",
    ]
    unknown = {**COUNTS, "licences": {"CC BY-SA 3.0": 40, "Acme Data Terms 2": 3}}
    header = front_matter(version="v1", counts=unknown)
    assert header["license"] == "other"
    assert header["license_name"] == "mixed-cc-by-sa-3.0-acme-data-terms-2"
    assert header["license_link"] == "README.md#licence"
    # The card's section that link leads to, with every licence and the columns.
    body = card(counts=unknown)
    assert "\n## Licence\n" in body
    assert "- Acme Data Terms 2: 3 `sft` rows, 0 prompts" in body
    assert "`licence` and `origin` in `sft` (the answer's)" in body


def test_licence_names_map_to_hub_ids():
    assert licence_id("CC BY-SA 3.0") == "cc-by-sa-3.0"
    assert licence_id("CC BY 4.0") == "cc-by-4.0"
    assert licence_id("CC0 1.0") == "cc0-1.0"
    assert licence_id("Apache 2.0") == "apache-2.0"
    assert licence_id("MIT") == "mit"


def test_size_categories_follow_the_hubs_buckets():
    assert size_category(0) == "n<1K"
    assert size_category(999) == "n<1K"
    assert size_category(1_000) == "1K<n<10K"
    assert size_category(250_000) == "100K<n<1M"
    assert size_category(1_000_000) == "1M<n<10M"


# --- what datasets makes of a built release --------------------------------------------------


def _load_every_listed_split(release, tmp_path, monkeypatch) -> dict[str, dict[str, int]]:
    """Load each config the built release's card lists with ``datasets`` (local files only),
    and return its rows per split."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    folder = folder_of(release)
    header, _ = parse((folder / "README.md").read_text())
    loaded: dict[str, dict[str, int]] = {}
    for entry in header["configs"]:
        config = entry["config_name"]
        splits = datasets.load_dataset(str(folder), config, cache_dir=str(tmp_path / "cache"))
        loaded[config] = {name: split.num_rows for name, split in splits.items()}
    return loaded


def test_a_built_cards_date_and_data_hash_are_the_releases(world):
    release = build()
    text = (folder_of(release) / "README.md").read_text()
    assert f"built in {release.finished_at:%Y-%m} (UTC)" in text
    assert f"data hash `{release.data_hash}`" in text
    assert f"  year         = {{{release.finished_at.year}}},\n" in text


def test_datasets_loads_every_config_and_split_the_card_of_a_built_release_lists(
    world, tmp_path, monkeypatch
):
    release = build()
    loaded = _load_every_listed_split(release, tmp_path, monkeypatch)
    with_rows = {
        config: {split: n for split, n in splits.items() if n}
        for config, splits in release.counts["rows"].items()
    }
    assert loaded == {config: splits for config, splits in with_rows.items() if splits}
    assert loaded["sft"]["train"] > 0


def test_a_built_release_with_empty_configs_leaves_them_out_and_loads_the_rest(
    world, tmp_path, monkeypatch
):
    # Only the prompt still collecting answers: one answer, nothing ranked.
    release = build(languages=["en"], categories=["open_qa"])
    assert release.counts["rows"]["preferences"] == {"train": 0, "test": 0}
    assert release.counts["rows"]["rankings"] == {"train": 0, "test": 0}
    loaded = _load_every_listed_split(release, tmp_path, monkeypatch)
    assert set(loaded) == {"sft", "prompts"}
    assert sum(loaded["sft"].values()) == 1
    card = (folder_of(release) / "README.md").read_text()
    assert "config_name: preferences" not in card
    assert "config_name: rankings" not in card


def test_the_card_says_the_test_share_applies_only_to_prompts_released_for_the_first_time():
    _, body = parse(card(release_filter=ReleaseFilter(test_share=0.2)))
    assert "- test share of the prompts released for the first time: 0.2\n" in body
    assert (
        "A prompt keeps the split it got in the first version that included it, so it never "
        "moves between splits from one version to the next; a prompt released for the first "
        "time gets its split from a hash of its id at this version's test share, and prompts "
        "released before keep theirs." in " ".join(body.split())
    )
