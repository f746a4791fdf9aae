"""A PATCH may send back what the GET gave, with the fields it changes: the read-only ones,
unchanged, are left as they are, as the README says. Security QA found all three resources
refusing them ("Not a field of this request"), so a client had to pick the writable fields
out of what it read. A read-only field sent with another value is still refused by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.collection.models import PromptState, ResponseState
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db


def _prompt(volunteer: Any) -> tuple[str, str, str]:
    prompt = PromptFactory(author=volunteer, state=PromptState.REVIEW, context="")
    return f"/api/v1/prompts/{prompt.pk}/", "context", "Only rivers longer than 500 km."


def _answer(volunteer: Any) -> tuple[str, str, str]:
    answer = ResponseFactory(author=volunteer, state=ResponseState.REVIEW)
    return f"/api/v1/responses/{answer.pk}/", "text", "The Danube, the Rhine, the Loire."


def _me(volunteer: Any) -> tuple[str, str, str]:
    return "/api/v1/me/", "display_name", "Ada L."


@pytest.mark.parametrize("resource", [_prompt, _answer, _me])
def test_what_the_get_gave_goes_back_with_one_field_changed(
    api: APIClient, volunteer: Any, resource: Callable[[Any], tuple[str, str, str]]
) -> None:
    url, field, value = resource(volunteer)
    read = api.get(url).json()
    changed = api.patch(url, {**read, field: value}, format="json")
    assert changed.status_code == 200, changed.json()
    assert changed.json()[field] == value
    again = api.get(url).json()
    assert again[field] == value
    assert {k: v for k, v in again.items() if k not in (field, "updated_at")} == {
        k: v for k, v in read.items() if k not in (field, "updated_at")
    }


@pytest.mark.parametrize(
    ("resource", "read_only", "other"),
    [
        (_prompt, "state", "accepted"),
        (_answer, "author_name", "Someone"),
        (_me, "roles", ["maintainer"]),
    ],
)
def test_a_read_only_field_sent_back_changed_is_refused_by_name(
    api: APIClient,
    volunteer: Any,
    resource: Callable[[Any], tuple[str, str, str]],
    read_only: str,
    other: Any,
) -> None:
    url, field, value = resource(volunteer)
    read = api.get(url).json()
    refused = api.patch(url, {**read, field: value, read_only: other}, format="json")
    assert refused.status_code == 400
    assert list(refused.json()) == [read_only]
    assert refused.json()[read_only] == [
        "Cannot be changed: leave it out, or send it as it is now (it may have changed since "
        "you read it)."
    ]
    assert api.get(url).json()[field] == read[field]  # nothing changed


@pytest.mark.parametrize("resource", [_prompt, _me])
def test_a_read_only_value_sent_back_must_keep_its_json_type(
    api: APIClient, volunteer: Any, resource: Callable[[Any], tuple[str, str, str]]
) -> None:
    """API QA: "id": 1552.0 and "licence_accepted": 1 passed as unchanged (Python's ==)."""
    url, field, value = resource(volunteer)
    read = api.get(url).json()
    name, other = ("id", float(read["id"])) if "id" in read else ("licence_accepted", 1)
    assert read[name] == other  # equal in Python, not in JSON
    refused = api.patch(url, {**read, field: value, name: other}, format="json")
    assert refused.status_code == 400 and list(refused.json()) == [name]
