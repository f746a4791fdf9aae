"""The world releases are cut from in these tests.

Builds read through a second database connection (one snapshot for the whole build), so the
tests that build use the ``world`` fixture or ``transactional_db``: rows must be committed to
be seen.
"""

from __future__ import annotations

from typing import Any

import pytest

from apps.collection.models import PromptState, ResponseState
from tests.factories import PromptFactory, ResponseFactory, UserFactory
from tests.releases.helpers import World, folder_of, ranked_prompt

NAMES = ("ada", "grace", "alan", "edsger", "barbara", "ken", "bot")


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    """Releases are written under a fresh data folder per test."""
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()


@pytest.fixture
def load_dataset(tmp_path, monkeypatch):
    """``datasets.load_dataset`` offline, with its cache under the test's folder."""
    import datasets
    import huggingface_hub.constants

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(datasets.config, "HF_DATASETS_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)

    def load(release: Any, config: str) -> Any:
        return datasets.load_dataset(
            str(folder_of(release)), config, cache_dir=str(tmp_path / "hf-cache")
        )

    return load


@pytest.fixture
def an_answer(db):
    """One accepted answer (English, open_qa, by a person): the least a release is cut from."""
    return ResponseFactory()


@pytest.fixture
def world(transactional_db) -> World:
    """Two complete prompts (one with a tricky context, one in German) and one still being
    ranked; a prompt collecting answers; and what must never enter a release: prompts in
    review, rejected or halted, answers in review or rejected. Ada asked to be credited by
    name; nobody else did."""
    w = World()
    for name in NAMES:
        w.users[name] = UserFactory(
            email=f"{name}@example.org",
            display_name=f"{name.capitalize()} Secretname",
            attribution=(name == "ada"),
        )
    ada, grace, alan, edsger, barbara, ken, bot = (w.users[n] for n in NAMES)
    ranked_prompt(
        w,
        "p1",
        author=ada,
        answerers=[grace, alan, edsger],
        model_author=bot,
        rankers=[barbara, ken, ada],
        orders=[[0, 1, 2, 3], [1, 0, 2, 3], [0, 2, 3, 1]],
        instruction="Summarise the passage about rivers.",
        context='Rivers bend.\nThey carry "silt", \\ stones\tand ☃.',
        category="summarization",
    )
    ranked_prompt(
        w,
        "p2",
        author=grace,
        answerers=[ada, barbara, ken],
        rankers=[alan, edsger, barbara],
        orders=[[2, 1, 0], [2, 0, 1], [1, 2, 0]],
        instruction="Nenne drei Flüsse in Europa.",
        language="de",
        category="open_qa",
    )
    ranked_prompt(
        w,
        "p3",
        author=ken,
        answerers=[ada, grace],
        rankers=[alan],
        complete=False,
        instruction="Classify: whale, shark, dolphin.",
        category="classification",
    )
    collecting = PromptFactory(author=alan, instruction="Why is the sky blue?")
    w.prompts["collecting"] = collecting
    w.responses["collecting.0"] = ResponseFactory(prompt=collecting, author=edsger)
    w.responses["collecting.review"] = ResponseFactory(
        prompt=collecting, author=ken, state=ResponseState.REVIEW
    )
    w.responses["collecting.rejected"] = ResponseFactory(
        prompt=collecting, author=barbara, state=ResponseState.REJECTED
    )
    for name, state in (
        ("review", PromptState.REVIEW),
        ("rejected", PromptState.REJECTED),
        ("halted", PromptState.HALTED),
    ):
        w.prompts[name] = PromptFactory(author=alan, state=state)
    return w
