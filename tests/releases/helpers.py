"""Building a small world of prompts, answers and rankings, and reading releases back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apps.accounts.models import User
from apps.collection.models import Prompt, PromptState, Response, Source
from apps.feedback.models import Ranking
from apps.feedback.services import consensus_run
from apps.releases.building import SPLITS, release_build, release_folder
from apps.releases.models import Release
from apps.releases.services import release_create
from tests.factories import PromptFactory, ResponseFactory


@dataclass
class World:
    users: dict[str, User] = field(default_factory=dict)
    prompts: dict[str, Prompt] = field(default_factory=dict)
    responses: dict[str, Response] = field(default_factory=dict)


def ranked_prompt(
    world: World,
    name: str,
    *,
    author: User,
    answerers: list[User],
    rankers: list[User],
    model_author: User | None = None,
    orders: list[list[int]] | None = None,
    complete: bool = True,
    **prompt_fields: Any,
) -> Prompt:
    """A prompt with one accepted answer per answerer (``<name>.<i>``; and a model-written
    one, ``<name>.model``, when ``model_author`` is given) and one ranking per ranker.
    ``orders`` are permutations of answer indices, best first (default: by index); with
    ``complete`` the consensus is run, as the last ranking would."""
    prompt = PromptFactory(
        author=author,
        state=PromptState.COMPLETE if complete else PromptState.RANKING,
        **prompt_fields,
    )
    answers = []
    for index, answerer in enumerate(answerers):
        answer = ResponseFactory(prompt=prompt, author=answerer, text=f"{name} answer {index}")
        world.responses[f"{name}.{index}"] = answer
        answers.append(answer)
    if model_author is not None:
        answer = ResponseFactory(
            prompt=prompt, author=model_author, text=f"{name} by a model", source=Source.MODEL
        )
        world.responses[f"{name}.model"] = answer
        answers.append(answer)
    for number, ranker in enumerate(rankers):
        indices = orders[number] if orders else list(range(len(answers)))
        Ranking.objects.create(ranker=ranker, prompt=prompt, order=[answers[i].pk for i in indices])
    if complete:
        consensus_run(prompt=prompt)
    world.prompts[name] = prompt
    return prompt


def build(user: User | None = None, **filter_fields: Any) -> Release:
    """Create a release and build it in-process; returns it fresh from the database."""
    release = release_create(user=user, enqueue=False, **filter_fields)
    return release_build(release.pk)


def folder_of(release: Release) -> Path:
    return release_folder(release.version)


def read_config(release: Release, config: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of a config, per split, read back with pyarrow."""
    import pyarrow.parquet as pq

    folder = folder_of(release) / "data" / config
    out = {}
    for split in SPLITS:
        rows: list[dict[str, Any]] = []
        for path in sorted(folder.glob(f"{split}-*.parquet")):
            rows.extend(pq.read_table(path).to_pylist())
        out[split] = rows
    return out


def all_rows(release: Release, config: str) -> list[dict[str, Any]]:
    per_split = read_config(release, config)
    return [row for split in SPLITS for row in per_split[split]]


def split_of_prompts(release: Release) -> dict[int, str]:
    """Each prompt id's split, from the release's prompts config."""
    per_split = read_config(release, "prompts")
    return {row["id"]: split for split in SPLITS for row in per_split[split]}
