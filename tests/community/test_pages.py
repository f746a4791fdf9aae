"""The Community page (/community/) and the Your impact panel on My contributions (/mine/)."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from apps.collection.models import PromptState
from apps.community import views
from tests.community.helpers import answer, contribute, prompt
from tests.query_counts import web

pytestmark = pytest.mark.django_db


def main(response) -> str:
    assert response.status_code == 200
    return response.content.decode().split('<main id="main"', 1)[1]


def rows(html: str) -> list[str]:
    """The table's rows as text: rank, name and the seven cells squeezed."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    found = []
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        tr = re.sub(r'<span class="by-type">.*?</span></th>', "</th>", tr, flags=re.S)
        found.append(" ".join(re.sub(r"<[^>]+>", " ", tr).split()))
    return found


@pytest.fixture
def board(volunteer, volunteer2):
    contribute(volunteer2, prompts=2, reviews=1)
    contribute(volunteer, answers=1, rankings=1)


def test_signed_out_visitors_see_the_leaderboard_of_this_week(board):
    html = main(web(None).get("/community/"))
    assert "<h1>Community</h1>" in html
    assert rows(html) == ["1 Grace 2 0 1 0 3", "2 Ada 0 1 0 1 2"]
    assert '<a href="/community/?period=week" aria-current="true">This week</a>' in html
    assert 'href="/community/?period=month">This month</a>' in html
    assert 'href="/community/?period=all">All time</a>' in html
    assert 'data-testid="own-standing"' not in html
    assert "is-you" not in html
    # The per-type counts also come as words, for a phone where the columns are hidden.
    # The phone's line under the name, each phrase kept whole.
    by_type = html.split('<span class="by-type">', 1)[1].split("</span></th>", 1)[0]
    assert " ".join(re.sub(r"<[^>]+>", "", by_type).split()) == (
        "2 prompts · 0 answers · 1 review · 0 rankings"
    )
    assert by_type.count('<span class="nowrap">') == 4


def test_the_nav_links_to_the_community_page_and_marks_it_current(board):
    html = web(None).get("/community/").content.decode()
    assert '<a href="/community/" aria-current="page">Community</a>' in html
    assert '<a href="/community/">Community</a>' in web(None).get("/browse/").content.decode()


def test_the_signed_in_persons_row_is_highlighted(board, volunteer):
    html = main(web(volunteer).get("/community/?period=all"))
    assert '<tr class="is-you" id="you" aria-current="true">' in html
    assert '<span class="badge you">you</span>' in html
    # Their row is on this page: no line above the table.
    assert 'data-testid="own-standing"' not in html


def test_a_person_outside_the_shown_page_gets_their_rank_above_the_table(
    volunteer, make_volunteer, monkeypatch
):
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    for n in range(3):
        contribute(make_volunteer(display_name=f"Busy {n}"), reviews=3)
    contribute(volunteer, reviews=1)

    html = main(web(volunteer).get("/community/?period=all"))

    assert rows(html) == ["1 Busy 0 0 0 3 0 3", "1 Busy 1 0 0 3 0 3"]
    assert "You are #4 with 1 contribution." in html
    assert '<a href="/community/?period=all&amp;page=2#you">See your row (page 2)</a>' in html
    page_two = main(web(volunteer).get("/community/?period=all&page=2"))
    assert rows(page_two) == ["1 Busy 2 0 0 3 0 3", "4 Ada you 0 0 1 0 1"]
    assert "See your row" not in page_two


def test_a_person_who_opted_out_is_not_listed_but_told_where_they_would_be(board, volunteer):
    volunteer.on_leaderboard = False
    volunteer.save(update_fields=["on_leaderboard"])

    html = main(web(volunteer).get("/community/?period=all"))

    assert rows(html) == ["1 Grace 2 0 1 0 3"]
    assert (
        "You chose not to appear here. With 2 contributions in this period you would be #2." in html
    )
    assert '<a href="/profile/">Change this on your Profile</a>' in html


def test_a_person_with_nothing_counted_is_pointed_to_a_task(board, make_volunteer):
    html = main(web(make_volunteer()).get("/community/"))
    assert "Nothing of yours is counted in this period yet." in html
    assert '<a href="/contribute/">Find a task</a>' in html


def test_a_banned_person_is_told_they_are_not_on_it(board, volunteer):
    volunteer.banned_at = timezone.now()
    volunteer.save(update_fields=["banned_at"])
    html = main(web(volunteer).get("/community/?period=all"))
    assert rows(html) == ["1 Grace 2 0 1 0 3"]
    assert "You are not on the leaderboard." in html


def test_an_empty_period_says_so(db):
    html = main(web(None).get("/community/?period=month"))
    assert "<table" not in html
    assert (
        "Nothing is counted in this period yet: the first accepted prompt or answer, review or "
        "ranking puts its author here." in html
    )
    assert '<a href="/community/?period=month" aria-current="true">This month</a>' in html


def test_an_unknown_period_is_shown_as_an_error_without_a_table(board):
    html = main(web(None).get("/community/?period=decade"))
    assert "<table" not in html
    assert (
        '<div class="empty" role="alert" data-testid="period-error">'
        "<p>Unknown period &#x27;decade&#x27;: use week, month or all.</p>" in html
    )
    # No period is marked as the current one (the Leaderboard tab still is).
    assert not re.search(r'period=\w+" aria-current', html)
    assert 'period=week">This week</a>' in html


def test_the_page_says_how_it_counts(db):
    html = main(web(None).get("/community/"))
    assert "Each counts one: people are ranked by their total, and equal totals share a rank." in (
        html
    )
    assert "Weeks start on Monday and months on the 1st, at 00:00 UTC." in html


# --- Your impact on My contributions --------------------------------------------------------


def impact(html: str) -> str:
    section = html.split('data-testid="impact"', 1)[1].split("</section>", 1)[0]
    return " ".join(re.sub(r"<[^>]+>", " ", section).split())


def test_my_contributions_opens_with_your_impact(volunteer, volunteer2):
    contribute(volunteer2, reviews=5)
    prompt(volunteer, state=PromptState.COLLECTING)
    prompt(volunteer, state=PromptState.COLLECTING)
    prompt(volunteer, state=PromptState.REJECTED)
    answer(volunteer, state="review")
    contribute(volunteer, reviews=1)

    html = main(web(volunteer).get("/mine/"))
    text = impact(html)

    assert html.index('data-testid="impact"') < html.index("Your prompts")
    assert "Prompts 2 Answers 0 Reviews 1 Rankings 0 Total 3" in text
    assert "1 more is in review: it counts once reviewers accept it." in text
    assert "Prompts accepted: 2 of 3 decided (67%)." in text
    assert "Answers accepted: none decided yet." in text
    assert "Rank this week: #2. All time: #2." in text
    assert "Current streak: 1 day. Longest: 1 day." in text
    assert (
        "4 contributions on 1 of the last 56 days (work in review included); the most in one "
        "day: 4, on " in text
    )
    assert (
        '<svg viewBox="0 0 558 61" preserveAspectRatio="none" role="img" '
        'aria-labelledby="impact-chart-title impact-chart-summary"' in html
    )
    assert html.count("<rect ") == 1


def test_the_busiest_day_is_written_as_the_pages_language_writes_a_date(volunteer):
    from django.utils import timezone, translation

    contribute(volunteer, reviews=1)
    today = timezone.localdate()
    with translation.override("es"):
        month = translation.gettext(today.strftime("%B"))
        text = impact(main(web(volunteer).get("/mine/", HTTP_ACCEPT_LANGUAGE="es")))
    assert f"el {today.day} de {month.lower()}" in text


def test_a_newcomers_impact_is_zeros_and_an_empty_chart(volunteer):
    text = impact(main(web(volunteer).get("/mine/")))
    assert "Total 0" in text
    assert "Rank this week: nothing counted yet. All time: nothing counted yet." in text
    assert "Current streak: 0 days. Longest: 0 days." in text
    assert "No contributions in the last 8 weeks." in text


def test_an_opted_out_persons_impact_says_the_ranks_are_where_they_would_be(volunteer, volunteer2):
    contribute(volunteer2, reviews=2)
    contribute(volunteer, reviews=1)
    volunteer.on_leaderboard = False
    volunteer.save(update_fields=["on_leaderboard"])
    text = impact(main(web(volunteer).get("/mine/")))
    assert (
        "Rank this week: #2. All time: #2. You chose not to appear on the leaderboard, so these "
        "are the places you would take ( Profile )." in text
    )


def test_imported_work_is_named_as_not_counted(volunteer):
    prompt(volunteer, origin="databricks-dolly-15k")
    text = impact(main(web(volunteer).get("/mine/")))
    assert "Prompts 0" in text
    assert "1 prompt or answer imported from a data set under your name is not counted." in text
