"""A search in quotes finds the quoted words together, as written; the quotes themselves are
not searched for (a quoted phrase found nothing: its terms were '"the' and 'bends"'). The
Browse page says how its search works under the box."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.collection import selectors
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ('"the river bends"', ["the river bends"]),
        ('"the   river" mill', ["the river", "mill"]),
        ("“the river bends” mill", ["the river bends", "mill"]),
        ("„der Fluss“ Mühle", ["der Fluss", "Mühle"]),
        ('"river bends', ["river", "bends"]),  # a quote left open
        ('mill "" "mill"', ["mill"]),
        ("river bends", ["river", "bends"]),
    ],
)
def test_a_quoted_phrase_is_one_term_without_its_quotes(text, terms):
    assert selectors.search_terms(text) == terms


def make_prompts() -> None:
    PromptFactory(instruction="Explain why the river bends toward the old mill.")
    PromptFactory(instruction="Where the road bends, which river do you cross?")
    ResponseFactory(
        prompt=PromptFactory(instruction="Describe a valley."),
        text="A small stream, and then THE RIVER BENDS east.",
    )


def found(search: str) -> list[str]:
    return sorted(p.instruction for p in selectors.prompt_list_public(search=search))


def test_a_quoted_phrase_finds_its_words_together_in_any_case():
    make_prompts()
    together = ["Describe a valley.", "Explain why the river bends toward the old mill."]

    assert found('"the river bends"') == together
    assert found("“the river bends”") == together
    assert found('"river bends" mill') == together[1:]
    assert len(found("the river bends")) == 3  # the words apart


def test_browse_finds_a_quoted_phrase_and_says_how_search_works():
    make_prompts()
    page = Client().get("/browse/", {"q": '"the river bends"'})

    assert page.status_code == 200
    text = page.content.decode()
    assert "2 prompts match" in text
    assert "Explain why the river bends toward the old mill." in text
    assert "Where the road bends" not in text
    assert "put words in quotes to find them together" in text
