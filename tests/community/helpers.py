"""Contributions of each kind, at a chosen time, for the community tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from apps.collection.models import Prompt, PromptState, Response
from apps.feedback.models import Ranking, Review
from tests.factories import PromptFactory, ResponseFactory

UTC = dt.UTC


def at(obj: Any, when: dt.datetime | None) -> Any:
    """Move ``obj``'s created_at to ``when`` (auto_now_add sets it to now on insert)."""
    if when is not None:
        type(obj).objects.filter(pk=obj.pk).update(created_at=when)
        obj.created_at = when
    return obj


def _target() -> Prompt:
    # A prompt still in review: nothing counted for its author, so only the reviewer's or
    # ranker's row changes.
    return PromptFactory(state=PromptState.REVIEW)


def prompt(author: Any, when: dt.datetime | None = None, **fields: Any) -> Prompt:
    """An accepted prompt (collecting answers) unless ``fields`` say otherwise."""
    return at(PromptFactory(author=author, **fields), when)


def answer(author: Any, when: dt.datetime | None = None, **fields: Any) -> Response:
    """An accepted answer to a prompt in review, unless ``fields`` say otherwise."""
    fields.setdefault("prompt", _target())
    return at(ResponseFactory(author=author, **fields), when)


def review(reviewer: Any, when: dt.datetime | None = None) -> Review:
    return at(Review.objects.create(reviewer=reviewer, prompt=_target(), quality=4), when)


def ranking(ranker: Any, when: dt.datetime | None = None, **fields: Any) -> Ranking:
    return at(Ranking.objects.create(ranker=ranker, prompt=_target(), **fields), when)


def contribute(person: Any, prompts: int = 0, answers: int = 0, reviews: int = 0,
               rankings: int = 0, when: dt.datetime | None = None) -> None:  # fmt: skip
    for _ in range(prompts):
        prompt(person, when)
    for _ in range(answers):
        answer(person, when)
    for _ in range(reviews):
        review(person, when)
    for _ in range(rankings):
        ranking(person, when)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)
