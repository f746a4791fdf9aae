"""Browse's search ignores case in every script, on PostgreSQL and on SQLite (the embedded
default, whose LIKE folds only ASCII letters): the same searches find the same prompts."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.collection import search, selectors
from tests.embedded import embedded_env, migrate, run_python
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db


# Each search, and the instructions of the prompts it finds. "ß" has no one-letter capital:
# PostgreSQL's UPPER leaves it as it is, so "straße" finds "STRAßE" but not "Strasse".
CASES: list[tuple[str, list[str]]] = [
    ("élan", ["What gives a dance its Élan?"]),
    ("ÉLAN", ["What gives a dance its Élan?"]),
    ("zürich", ["Name a street in ZÜRICH.", "Where is the lake?"]),
    ("ZÜRICH", ["Name a street in ZÜRICH.", "Where is the lake?"]),
    ("zurich", []),
    ("straße", ["Wie heißt die STRAßE?"]),
    ("STRAßE", ["Wie heißt die STRAßE?"]),
    ("strasse", ["Where is the Strasse museum?"]),
    ("ёлка", ["Что такое Ёлка?"]),
    ("ÅRHUS ÉLAN", []),
    ("dance élan", ["What gives a dance its Élan?"]),
]


def make_prompts() -> None:
    """The prompts CASES searches (one word only in an accepted answer)."""
    PromptFactory(instruction="What gives a dance its Élan?")
    PromptFactory(instruction="Name a street in ZÜRICH.")
    PromptFactory(instruction="Wie heißt die STRAßE?")
    PromptFactory(instruction="Where is the Strasse museum?")
    PromptFactory(instruction="Что такое Ёлка?")
    ResponseFactory(prompt=PromptFactory(instruction="Where is the lake?"), text="In Zürich.")


def found(text: str) -> list[str]:
    return sorted(p.instruction for p in selectors.prompt_list_public(search=text))


def test_on_postgresql_a_search_finds_its_words_in_any_case():
    make_prompts()

    assert [(text, found(text)) for text, _ in CASES] == CASES


@pytest.mark.parametrize(
    "text", ["élan über", "STRAßE ﬁne", "ᾳ ᾈ ΐ", "ı ſ ǆ İ", "Ёлка σς", "Øresund 100%_x"]
)
def test_the_sqlite_function_maps_characters_to_capitals_as_postgresql_does(text):
    with connection.cursor() as cursor:
        cursor.execute("SELECT UPPER(%s)", [text])
        (expected,) = cursor.fetchone()

    assert search.upper(text) == expected


def test_the_sqlite_function_leaves_null_alone():
    assert search.upper(None) is None


SQLITE_SEARCH = """
import django
django.setup()
from django.db import connection
from tests.collection.test_search_case import CASES, found, make_prompts
assert connection.vendor == "sqlite"
make_prompts()
results = [(text, found(text)) for text, _ in CASES]
assert results == CASES, results
print("searched")
"""


@pytest.mark.slow
def test_on_sqlite_the_same_searches_find_the_same_prompts(tmp_path):
    env = embedded_env(tmp_path)
    migrate(env)
    assert "searched" in run_python(env, "-c", SQLITE_SEARCH).stdout
