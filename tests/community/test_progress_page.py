"""The Community page's Progress view (/community/?view=progress), public like the
leaderboard."""

from __future__ import annotations

import re

import pytest
from django.conf import settings

from apps.collection.models import Prompt, PromptState
from apps.community.selectors import progress as progress_selectors
from apps.core.text import dedupe_key
from tests.community.progress_data import TODAY
from tests.factories import PromptFactory
from tests.query_counts import web

pytestmark = pytest.mark.django_db

URL = "/community/?view=progress"


def main(response) -> str:
    assert response.status_code == 200
    return response.content.decode().split('<main id="main"', 1)[1]


def text(html: str, testid: str) -> str:
    """The words of the element with this data-testid, tags and extra spaces removed."""
    found = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</(ol|p|ul|dd|table)>', html, re.S)
    assert found, testid
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


@pytest.fixture
def on_today(monkeypatch):
    """The 30 days end on the data set's TODAY."""
    monkeypatch.setattr(progress_selectors, "today_utc", lambda: TODAY)


def test_anyone_sees_the_pipeline_with_withdrawn_and_hidden_apart(data_set, on_today):
    html = main(web(None).get(URL))
    assert text(html, "pipeline-prompts") == (
        "2 In review 2 Collecting answers 1 Ranking 3 Complete"
    )
    assert text(html, "pipeline-prompts-aside") == (
        "Rejected: 1 · Halted: 1 · Withdrawn: 1 · Hidden: 2"
    )
    assert text(html, "pipeline-answers") == "3 In review 2 Accepted"
    assert text(html, "pipeline-answers-aside") == (
        "Rejected: 1 · Withdrawn: 1 · Hidden: 1 · Accepted, written by a model: 1"
    )
    assert text(html, "pipeline-rankings") == (
        "1 ranking sent · 3 prompts with a consensus ranking"  # not the banned ranker's
    )
    assert ">13 prompts</h3>" in html
    assert ">8 answers</h3>" in html


def test_states_beside_counts_agree_with_the_count_in_spanish(data_set, on_today):
    """Spanish QA: a state's own label is one prompt's ("Completa"), which read "3 Completa"
    and "Ocultas" as "Oculta: 2" beside counts."""
    html = main(web(None).get(URL, HTTP_ACCEPT_LANGUAGE="es"))
    assert text(html, "pipeline-prompts") == (
        "2 En revisión 2 Recibiendo respuestas 1 En clasificación 3 Completas"
    )
    assert text(html, "pipeline-prompts-aside") == (
        "Rechazada: 1 · Detenida: 1 · Retirada: 1 · Ocultas: 2"
    )
    assert text(html, "pipeline-answers") == "3 En revisión 2 Aceptadas"


def test_each_kind_of_help_needed_links_to_that_kind_of_task(data_set, on_today):
    html = main(web(None).get(URL))
    needed = html.split('data-testid="help-needed"', 1)[1].split("</ul>", 1)[0]
    cards = [
        (href, " ".join(re.sub(r"<[^>]+>", " ", body).split()))
        for href, body in re.findall(r'<a href="([^"]+)">(.*?)</a>', needed, re.S)
    ]
    assert cards == [
        ("/contribute/?type=review", "1 prompt waiting for review 2 reviews to give Review →"),
        ("/contribute/?type=review", "1 answer waiting for review 2 reviews to give Review →"),
        ("/contribute/?type=respond", "1 prompt waiting for answers 3 answers to write Answer →"),
        (
            "/contribute/?type=rank",
            "1 prompt whose answers wait to be ranked 3 rankings to give Rank →",
        ),
    ]


def test_a_kind_with_nothing_waiting_has_no_link(volunteer):
    PromptFactory(author=volunteer)  # collecting: answers wanted, nothing else
    html = main(web(None).get(URL))
    needed = html.split('data-testid="help-needed"', 1)[1].split("</ul>", 1)[0]
    assert re.findall(r'<a href="([^"]+)"', needed) == ["/contribute/?type=respond"]
    assert needed.count('<div class="help-none">') == 3
    assert "0 prompts waiting for review" in " ".join(re.sub(r"<[^>]+>", " ", needed).split())


def test_the_30_days_come_as_a_chart_with_its_numbers_in_words_and_a_table(data_set, on_today):
    html = main(web(None).get(URL))
    summary = re.search(r'<p class="muted" id="days-summary">(.*?)</p>', html, re.S).group(1)
    assert summary == (
        "9 contributions in the last 30 days. Prompts: 3, answers: 2, reviews: 3, rankings: 1."
    )
    chart = html.split('data-testid="progress-chart"', 1)[1].split("</svg>", 1)[0]
    assert 'aria-labelledby="days-title days-summary"' in html
    # Four days have work; today's bar stacks all four kinds, the busiest at full height.
    assert chart.count("<g>") == 4
    today = chart.rsplit("<g>", 1)[1]
    assert "<title>Wed 11 Mar: 1 prompt, 1 answer, 2 reviews, 1 ranking</title>" in today
    assert re.findall(
        r'class="series-(\w+)" x="290" y="([\d.]+)" width="8" height="([\d.]+)"', today
    ) == [
        ("prompts", "64.00", "16.00"),
        ("answers", "48.00", "16.00"),
        ("reviews", "16.00", "32.00"),
        ("rankings", "0.00", "16.00"),
    ]
    rows = re.findall(r"<tr><th scope=\"row\">([^<]+)</th>(.*?)</tr>", html, re.S)
    assert len(rows) == 30
    assert rows[0] == (
        "Wed 11 Mar",
        '<td class="count">1</td><td class="count">1</td><td class="count">2</td>'
        '<td class="count">1</td>',
    )
    assert rows[-1][0] == "Tue 10 Feb"


def test_accepted_prompts_by_category_and_language(data_set, on_today, monkeypatch):
    monkeypatch.setattr(progress_selectors, "TOP_LANGUAGES", 2)
    html = main(web(None).get(URL))
    assert text(html, "categories") == (
        "Open Q&amp;A 4 General Q&amp;A 0 Closed Q&amp;A 1 Classification 0 Brainstorming 1 "
        "Information extraction 0 Summarization 0 Creative writing 0"
    )
    assert text(html, "languages") == "English 4 German 1 Other (1 language) 1"
    bars = html.split('data-testid="languages"', 1)[1].split("</ul>", 1)[0]
    assert re.findall(r'<rect width="([\d.]+)" height="10"/>', bars) == [
        "100.00", "25.00", "25.00",
    ]  # fmt: skip


def test_quality_shows_the_agreement_and_the_share_of_blocking_reviews(data_set, on_today):
    html = main(web(None).get(URL))
    assert text(html, "quality-agreement") == "0.60"
    assert text(html, "quality-blocking") == "33%"
    assert "Kendall's W (0 to 1), the mean over 2 prompts." in html
    assert (
        "1 of 3 reviews in the last 30 days ticked spam, harmful or another blocking label." in html
    )


def test_an_empty_site_says_so_and_links_to_contribute(db):
    html = main(web(None).get(URL))
    assert 'data-testid="progress-empty"' in html
    assert '<a class="button" href="/contribute/">Contribute</a>' in html
    assert 'data-testid="pipeline"' not in html
    assert 'data-testid="progress-chart"' not in html


def test_the_two_views_link_to_each_other_and_mark_the_current_one(db):
    board = main(web(None).get("/community/"))
    assert '<a href="/community/" aria-current="true">Leaderboard</a>' in board
    assert '<a href="/community/?view=progress">Progress</a>' in board
    progress = main(web(None).get(URL))
    assert '<a href="/community/">Leaderboard</a>' in progress
    assert '<a href="/community/?view=progress" aria-current="true">Progress</a>' in progress
    # The page is the header's Community link; its tab is the current one of a set, so a
    # screen reader hears "current page" once.
    assert progress.count('aria-current="page"') == 0
    assert web(None).get(URL).content.decode().count('aria-current="page"') == 1
    # An unknown view is the leaderboard, as before the views were added.
    assert 'data-testid="leaderboard-empty"' in main(web(None).get("/community/?view=nope"))


def test_a_site_without_model_written_answers_does_not_mention_them(on_today):
    PromptFactory()
    html = main(web(None).get(URL))
    assert "written by a model" not in html


def test_counts_are_grouped_as_the_pages_language_writes_them(volunteer):
    """UX QA: "1544 prompts" on Browse and "1550 PROMPTS" on Progress, beside "Open Q&A 1,506"
    on the same page: every count is grouped, in English and in Spanish."""
    instructions = [f"Explain idea {i} in simple words, please." for i in range(1001)]
    Prompt.objects.bulk_create(
        Prompt(
            author=volunteer,
            instruction=text_,
            instruction_key=dedupe_key(text_),
            category="open_qa",
            language="en",
            state=PromptState.COLLECTING,
            open_slots=3,
            licence=settings.HEARTH_LICENCE_NAME,
        )
        for text_ in instructions
    )
    english = main(web(None).get(URL))
    assert "1,001 prompts" in english and "1001" not in english
    assert "1,001 prompts" in web(None).get("/browse/").content.decode()
    spanish = web(None).get(URL, HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "1\xa0001 instrucciones" in spanish and "1001" not in spanish
