"""A model's card pins the data it learned from: the release's content hash goes from the
release into the run's spec and from there into the card, Hub or not, and the card carries the
Hub's own ``base_model`` and ``datasets`` metadata where they apply."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from huggingface_hub import ModelCardData

from apps.releases.models import ReleaseState
from apps.training import services
from tests.training.conftest import make_release
from worker.cards import model_card
from worker.config import SFTConfig

pytestmark = pytest.mark.django_db

CONTENT_HASH = "5e" * 32
COMMIT = "c" * 40


def spec_of(release: Any, base_model: str = "org/base") -> dict[str, Any]:
    run = services.run_create(
        user=None, release=release, kind="sft", base_model=base_model, dispatch=False
    )
    return services.run_dispatch(run).spec


def card_of(spec: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The card the worker writes for this spec: its front matter and its text."""
    config = SFTConfig.from_spec({**spec["train"], "output_dir": "/srv/runs/run-1"})
    text = model_card(
        kind="sft", config=config.to_dict(), metrics={"eval_loss": 1.5}, model_name="run-1"
    )
    _, front, body = text.split("---\n", 2)
    return yaml.safe_load(front), body


def test_a_run_on_a_local_release_is_sent_with_the_releases_content_hash():
    release = make_release(content_hash=CONTENT_HASH)
    assert spec_of(release)["train"]["release_content_hash"] == CONTENT_HASH


def test_without_the_hub_the_card_names_the_content_hash_in_its_metadata_and_its_text():
    """The card said only `revision: "v1"`: after a database reset another v1 may exist, and
    nothing in the card told the two apart."""
    front, body = card_of(spec_of(make_release(content_hash=CONTENT_HASH)))
    assert front["hearth"] == {"release": "v1", "release_content_hash": CONTENT_HASH}
    assert f"| content hash | `{CONTENT_HASH}` |" in body
    # Lineage, not a knob: it is not listed with the hyperparameters.
    assert "| release_content_hash |" not in body
    # A local release has no Hub dataset to name.
    assert "datasets" not in front


def test_a_published_release_gives_the_hub_dataset_and_the_content_hash():
    release = make_release(
        content_hash=CONTENT_HASH,
        state=ReleaseState.PUBLISHED,
        hub_repo="hearth/hearth-data",
        hub_revision=COMMIT,
    )
    front, body = card_of(spec_of(release, base_model="HuggingFaceTB/SmolLM2-135M"))
    assert front["hearth"]["release_content_hash"] == CONTENT_HASH
    assert f"| content hash | `{CONTENT_HASH}` |" in body
    assert front["model-index"][0]["results"][0]["dataset"]["revision"] == COMMIT
    # The Hub's own field names, as huggingface_hub reads them.
    data = ModelCardData(**front)
    assert data.base_model == "HuggingFaceTB/SmolLM2-135M"
    assert data.datasets == ["hearth/hearth-data"]


def test_a_local_base_model_is_not_named_as_the_hubs_base_model():
    spec = spec_of(make_release())
    spec["train"]["base_model"] = "/srv/models/my-base"  # a folder on the GPU node
    front, body = card_of(spec)
    assert "base_model" not in front
    assert "/srv/models" not in body


def test_a_spec_sent_before_there_was_a_content_hash_still_gives_a_card():
    """A run sent before this change is retried from a new spec, but a spec without the
    field (a GPU worker's own job file) still trains and gives a card without it."""
    spec = spec_of(make_release())
    del spec["train"]["release_content_hash"]
    front, body = card_of(spec)
    assert front["hearth"] == {"release": "v1"}
    assert "content hash" not in body


def test_the_content_hash_is_not_a_hyperparameter_anyone_can_set():
    with pytest.raises(Exception, match="release_content_hash"):
        services.run_create(
            user=None,
            release=make_release(),
            kind="sft",
            base_model="org/base",
            hyperparameters={"release_content_hash": "0" * 64},
            dispatch=False,
        )


def test_the_run_page_shows_the_content_hash_of_a_local_release(client, maintainer):
    run = services.run_create(
        user=None,
        release=make_release(content_hash=CONTENT_HASH),
        kind="sft",
        base_model="org/base",
        dispatch=False,
    )
    services.run_dispatch(run)
    client.force_login(maintainer)
    page = client.get(f"/training/runs/{run.pk}/").content.decode()
    assert f'<code title="{CONTENT_HASH}">sha256:{CONTENT_HASH[:12]}</code>' in page
