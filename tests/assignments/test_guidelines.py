"""The contributor guidelines (/guidelines/): public, built from the same guidance, labels and
policy the task pages use, and linked from each task at its own section."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from django.test import Client

from apps.assignments import forms as task_forms
from apps.collection.categories import GUIDANCE
from apps.collection.policy import current_policy
from tests.assignments.test_pages import client_for, open_task, prompt_in_ranking, prompt_in_review
from tests.factories import PromptFactory

pytestmark = pytest.mark.django_db

URL = "/guidelines/"


def page_text(client: Client) -> str:
    response = client.get(URL)
    assert response.status_code == 200
    return html_lib.unescape(response.content.decode())


def test_anyone_may_read_every_part_of_the_guidelines():
    html = page_text(Client())
    for section in ("prompts", "answers", "reviews", "ranking", "not-allowed", "what-happens"):
        assert f'id="{section}"' in html and f'href="#{section}"' in html
    for g in GUIDANCE:
        assert str(g.label) in html and str(g.guidance) in html
        assert str(g.example_instruction) in html and str(g.example_response) in html
    for name, label, help_text in task_forms.LABEL_CHOICES:
        assert f'<dt id="label-{name}">{label}</dt>' in html
        assert f"<dd>{help_text}</dd>" in html
    for value, word in task_forms.QUALITY_CHOICES:
        assert f'<li value="{value}">{word}</li>' in html
    assert str(task_forms.ANSWER_HELP) in html
    assert "I don't read this language well enough" in html
    assert (
        'href="https://creativecommons.org/licenses/by-sa/3.0/legalcode">CC BY-SA 3.0</a>' in html
    )
    # The contexts' rule is marked on exactly the categories that need one.
    assert html.count('<span class="tag">needs context</span>') == sum(
        g.context_required for g in GUIDANCE
    )


def test_rankers_learn_that_a_set_may_hold_a_model_written_answer_to_rank_like_the_others():
    text = page_text(Client())
    ranking = text[text.index('id="ranking"') : text.index('id="not-allowed"')]
    assert "One of the answers may have been written by a model" in ranking
    assert "no reason to mark the set unusable or to report it" in ranking
    assert "it needs no review and is ranked with the others" in text


def test_the_numbers_are_the_current_policys():
    html = page_text(Client())
    assert "A new prompt waits for 2 reviews." in html
    assert "it collects 3 accepted answers." in html
    assert "Then 3 people rank its answers" in html
    assert "accepted when more than 60% of its reviews" in html

    policy = current_policy()
    policy.prompt_reviews_required = 1
    policy.responses_to_collect = 5
    policy.rankings_required = 1
    policy.acceptance_threshold = 0.75
    policy.save()
    html = page_text(Client())
    assert "A new prompt waits for 1 review." in html
    assert "it collects 5 accepted answers." in html
    assert "Then 1 person ranks its answers" in html
    assert "accepted when more than 75% of its reviews" in html


@pytest.mark.parametrize(
    ("kind", "section"),
    [("review", "reviews"), ("respond", "answers"), ("write", "prompts"), ("rank", "ranking")],
)
def test_each_task_links_to_its_own_section_in_a_new_tab(volunteer, make_volunteer, kind, section):
    if kind == "review":
        prompt_in_review(make_volunteer())
    elif kind == "respond":
        PromptFactory(author=make_volunteer())
    elif kind == "rank":
        prompt_in_ranking(make_volunteer)
    _assignment, page = open_task(client_for(volunteer), kind)
    links = re.findall(
        r'<a class="guidelines-link" href="([^"]+)" target="_blank"', page.content.decode()
    )
    assert links == [f"{URL}#{section}"]
    assert f'id="{section}"' in page_text(Client())


def test_the_home_page_the_write_page_and_every_footer_link_to_it(volunteer):
    home = Client().get("/").content.decode()
    assert home.count(f'href="{URL}"') == 2  # "How it works" and the footer
    write = client_for(volunteer).get("/write/").content.decode()
    assert f'href="{URL}#prompts"' in write and f'href="{URL}"' in write
