"""The Browse page (/browse/): search, filters and their errors, pagination, empty states."""

from __future__ import annotations

import re
from html import unescape

import pytest

from apps.collection.models import PromptState, ResponseState
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db


def listed(html: str) -> list[str]:
    """The instructions Browse lists, in order."""
    return [
        unescape(m).strip()
        for m in re.findall(r'class="instruction" dir="auto" href="[^"]+">([^<]*)</a>', html)
    ]


def browse(client, **params) -> str:
    r = client.get("/browse/", params)
    assert r.status_code == 200
    return r.content.decode()


@pytest.fixture
def bridge():
    return PromptFactory(
        category="closed_qa",
        instruction="When did the bridge open?",
        context="The Øresund Bridge, linking Copenhagen and Malmö, opened on 1 July 2000.",
    )


def test_the_search_finds_words_in_the_instruction_in_any_case(client, bridge):
    PromptFactory(instruction="Why is the sky blue?")
    assert listed(browse(client, q="BRIDGE")) == ["When did the bridge open?"]


def test_the_search_finds_words_in_the_context(client, bridge):
    PromptFactory(instruction="Name a Danish city.")
    assert listed(browse(client, q="copenhagen")) == ["When did the bridge open?"]


def test_the_search_finds_words_in_an_accepted_answer_only(client):
    answered = PromptFactory(instruction="Suggest a breakfast.")
    ResponseFactory(prompt=answered, text="Porridge with blueberries.")
    rejected = PromptFactory(instruction="Suggest a lunch.")
    ResponseFactory(prompt=rejected, text="Porridge again.", state=ResponseState.REJECTED)
    hidden = PromptFactory(instruction="Suggest a dinner.")
    ResponseFactory(prompt=hidden, text="Porridge, hidden.", hidden_at="2026-01-01T00:00:00Z")
    assert listed(browse(client, q="porridge")) == ["Suggest a breakfast."]


def test_every_word_must_appear_somewhere_in_the_prompt(client, bridge):
    PromptFactory(instruction="When did the tunnel open?")
    assert listed(browse(client, q="open malmö")) == ["When did the bridge open?"]
    assert listed(browse(client, q="open")) == [
        "When did the tunnel open?",
        "When did the bridge open?",
    ]


def test_the_search_lists_only_public_prompts(client):
    PromptFactory(instruction="Describe a lighthouse at night.")
    PromptFactory(instruction="Describe a lighthouse by day.", state=PromptState.REVIEW)
    PromptFactory(instruction="Describe a lighthouse in fog.", state=PromptState.REJECTED)
    PromptFactory(instruction="Describe a lighthouse in snow.", hidden_at="2026-01-01T00:00:00Z")
    assert listed(browse(client, q="lighthouse")) == ["Describe a lighthouse at night."]


def test_the_search_combines_with_the_category_and_language(client, bridge):
    PromptFactory(category="open_qa", instruction="Which bridge is the longest?")
    PromptFactory(category="closed_qa", language="de", instruction="Wann wurde die Bridge gebaut?")
    html = browse(client, q="bridge", category="closed_qa", language="EN")
    assert listed(html) == ["When did the bridge open?"]
    assert "1 prompt matches “bridge”" in html
    # The form shows what was searched and chosen.
    assert 'name="q" value="bridge"' in html
    assert '<option value="closed_qa" selected>' in html
    assert 'name="language" value="EN"' in html


def test_the_language_filter_takes_any_case_of_a_tag(client):
    PromptFactory(language="pt-BR", instruction="Como se faz pão?")
    assert listed(browse(client, language="pt-br")) == ["Como se faz pão?"]


def test_pagination_keeps_the_search_in_its_links(client):
    for n in range(25):
        PromptFactory(instruction=f"Plan a picnic for {n} friends.")
    PromptFactory(instruction="Plan a wedding.")
    html = browse(client, q="picnic for", category="open_qa")
    assert len(listed(html)) == 20
    assert "25 prompts match “picnic for”" in html
    assert 'href="?q=picnic%20for&amp;category=open_qa&amp;page=2" rel="next"' in html
    second = browse(client, q="picnic for", category="open_qa", page=2)
    assert len(listed(second)) == 5
    assert all("picnic" in i for i in listed(second))
    assert 'href="?q=picnic%20for&amp;category=open_qa&amp;page=1" rel="prev"' in second


def test_a_search_that_finds_nothing_says_so_and_links_to_clear_it(client, bridge):
    html = browse(client, q="zeppelin", category="closed_qa")
    assert listed(html) == []
    assert "No prompts match “zeppelin” with these filters." in html
    assert (
        '<a class="button secondary" href="/browse/?category=closed_qa">Clear the search</a>'
        in (html)
    )
    html = browse(client, q="zeppelin")
    assert "No prompts match “zeppelin”." in html
    assert '<a class="button secondary" href="/browse/">Clear the search</a>' in html


def test_the_search_is_escaped_where_it_is_shown(client):
    html = browse(client, q="<script>alert(1)</script>")
    assert "<script>alert(1)</script>" not in html
    assert "No prompts match “&lt;script&gt;alert(1)&lt;/script&gt;”." in html


def test_an_unknown_category_is_an_error_on_the_page_and_lists_nothing(client, bridge):
    html = browse(client, category="nonsense", q="bridge")
    assert "“nonsense” is not a category: pick one from the list." in html
    assert 'aria-invalid="true" aria-describedby="id_category_error"' in html
    assert listed(html) == []
    assert "Nothing is listed until the search and filters above are fixed." in html
    assert '<a class="button secondary" href="/browse/">Show all prompts</a>' in html


# What must never reach the page from the query string: C0/C1 controls and the bidirectional
# overrides and isolates.
UNSHOWABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_an_error_quoting_a_nul_shows_a_replacement_character_instead(client, bridge):
    html = browse(client, category="\x00")
    assert not UNSHOWABLE.search(html)
    assert "“\ufffd” is not a category: pick one from the list." in html
    assert listed(html) == []


@pytest.mark.parametrize(
    ("params", "shown"),
    [
        ({"category": "open\x1b[31mqa"}, "“open\ufffd[31mqa” is not a category"),
        ({"category": "a\u202eqa_nepo"}, "“a\ufffdqa_nepo” is not a category"),
        ({"language": "en\x01"}, "“en\ufffd” is not a valid BCP-47 language tag"),
        ({"q": "bri\x00dge"}, "No prompts match “bri\ufffddge”."),
        ({"q": "bridge\x7f\x85"}, 'value="bridge\ufffd\ufffd"'),
    ],
)
def test_control_characters_in_the_query_never_reach_the_page(client, bridge, params, shown):
    html = browse(client, **params)
    assert not UNSHOWABLE.search(html), UNSHOWABLE.findall(html)
    assert shown in html


def test_a_malformed_language_is_an_error_on_the_page(client, bridge):
    html = browse(client, language="english!")
    assert "“english!” is not a valid BCP-47 language tag" in html
    assert listed(html) == []


def test_a_search_over_200_characters_is_an_error_on_the_page(client, bridge):
    html = browse(client, q="b" * 201)
    assert "Search for at most 200 characters (this is 201)." in html
    assert listed(html) == []
    at_the_limit = browse(client, q="bridge " + "b" * 193)
    assert "Search for at most" not in at_the_limit
    assert "No prompts match “bridge b" in at_the_limit


def test_a_search_of_too_many_words_is_an_error_on_the_page(client, bridge):
    html = browse(client, q=" ".join(f"w{n}" for n in range(13)))
    assert "Search for at most 12 words (this has 13)." in html


def test_the_search_box_is_labelled_inside_a_search_landmark(client):
    html = browse(client)
    assert re.search(r'<form method="get" action="/browse/" class="filters" role="search"', html)
    assert '<label for="id_q">Search</label>' in html
    assert '<input type="search" name="q"' in html
    assert 'maxlength="200"' in html


def test_an_empty_site_and_empty_filters_say_so(client):
    assert "No accepted prompts yet." in browse(client)
    PromptFactory(category="open_qa")
    html = browse(client, category="summarization")
    assert "No accepted prompts match these filters yet." in html
    assert '<a class="button secondary" href="/browse/">Clear the filters</a>' in html
    # Empty fields, as the form sends them, filter nothing.
    assert len(listed(browse(client, q="", category="", language=""))) == 1


def test_pages_far_from_either_end_link_the_first_and_the_last(client):
    """Browse can run to thousands of pages: besides Previous and Next, a page two or more from
    an end links that end, keeping the search."""
    for n in range(81):
        PromptFactory(instruction=f"Plan a picnic for {n} friends.")
    first = browse(client, q="picnic")
    assert "Page 1 of 5" in first and "First page" not in first
    assert 'href="?q=picnic&amp;page=5">Last page »</a>' in first
    middle = browse(client, q="picnic", page=3)
    assert 'href="?q=picnic&amp;page=1">« First page</a>' in middle
    assert 'href="?q=picnic&amp;page=5">Last page »</a>' in middle
    assert 'href="?q=picnic&amp;page=2" rel="prev"' in middle
    fourth = browse(client, q="picnic", page=4)  # Next is the last page already
    assert "Last page" not in fourth and "First page" in fourth
