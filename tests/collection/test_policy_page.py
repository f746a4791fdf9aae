"""The collection policy page: everyone signed in reads it, maintainers change it."""

from __future__ import annotations

import re

import pytest

from apps.collection.policy import current_policy
from tests.query_counts import web

pytestmark = pytest.mark.django_db


def _form(**changes):
    """Every field of the policy as the page posts it, with ``changes``."""
    policy = current_policy()
    data = {
        name: getattr(policy, name)
        for name in (
            "prompt_reviews_required",
            "response_reviews_required",
            "acceptance_threshold",
            "responses_to_collect",
            "rankings_required",
            "max_pending_assignments",
            "write_minutes",
            "respond_minutes",
            "review_minutes",
            "rank_minutes",
            "weight_rank",
            "weight_review",
            "weight_respond",
            "weight_write",
            "auto_hide_flags",
        )
    }
    return {**data, **changes}


def test_a_maintainer_changes_the_policy(maintainer):
    client = web(maintainer)
    page = client.get("/policy/").content.decode()
    assert 'name="responses_to_collect"' in page and "Save policy" in page
    r = client.post("/policy/", _form(responses_to_collect=5, acceptance_threshold="0.75"))
    assert r.status_code == 302 and r["Location"] == "/policy/"
    assert "Policy saved." in client.get("/policy/").content.decode()
    policy = current_policy()
    assert (policy.responses_to_collect, policy.acceptance_threshold) == (5, 0.75)


def test_posting_the_same_numbers_changes_nothing(maintainer):
    before = current_policy().updated_at
    client = web(maintainer)
    r = client.post("/policy/", _form(), follow=True)
    assert "Nothing changed." in r.content.decode()
    assert current_policy().updated_at == before


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"prompt_reviews_required": 0}, "prompt_reviews_required", "From 1 to 50."),
        ({"responses_to_collect": 1}, "responses_to_collect", "From 2 to 20."),
        ({"responses_to_collect": 21}, "responses_to_collect", "From 2 to 20."),
        ({"acceptance_threshold": "1.5"}, "acceptance_threshold", "Give a number from 0 to 1."),
        ({"acceptance_threshold": "nan"}, "acceptance_threshold", "Enter a number."),
        ({"review_minutes": "ten"}, "review_minutes", "Enter a whole number."),
        ({"review_minutes": 99999}, "review_minutes", "From 1 to 10080."),
        # Past any date on SQLite: every next writing task was a 500.
        ({"write_minutes": 10**12}, "write_minutes", "From 1 to 10080."),
        ({"max_pending_assignments": 10**9}, "max_pending_assignments", "From 1 to 100."),
        ({"rankings_required": 2**40}, "rankings_required", "From 1 to 50."),
        ({"weight_rank": -1}, "weight_rank", "From 0 to 1000."),
        ({"weight_rank": 1001}, "weight_rank", "From 0 to 1000."),
        ({"auto_hide_flags": 0}, "auto_hide_flags", "From 1 to 1000."),
    ],
)
def test_a_wrong_number_is_refused_with_a_message_and_nothing_saved(
    maintainer, changes, field, message
):
    before = current_policy()
    r = web(maintainer).post("/policy/", _form(**changes))
    assert r.status_code == 400
    html = r.content.decode()
    errors = re.search(rf'<ul class="errorlist" id="id_{field}_error">(.*?)</ul>', html)
    assert errors is not None and message in errors.group(1)
    assert html.count(message) == 1  # once, by its field
    after = current_policy()
    assert after.updated_at == before.updated_at
    assert getattr(after, field) == getattr(before, field)


def test_all_weights_at_zero_would_hand_out_no_task_and_are_refused(maintainer):
    r = web(maintainer).post(
        "/policy/", _form(weight_rank=0, weight_review=0, weight_respond=0, weight_write=0)
    )
    assert r.status_code == 400
    assert "At least one task weight must be above 0" in r.content.decode()
    assert current_policy().weight_rank == 8


def test_volunteers_read_it_but_cannot_change_it(volunteer):
    client = web(volunteer)
    page = client.get("/policy/").content.decode()
    assert "Maintainers change these." in page
    assert "Save policy" not in page
    # The numbers as text: no boxes that look editable, no required marks.
    assert (
        '<dt>Rankings a prompt needs</dt><dd data-testid="policy-rankings_required">3</dd>' in page
    )
    assert "<input" not in page.split('<main id="main"', 1)[1].split("</main>", 1)[0]
    assert "required-mark" not in page
    assert client.post("/policy/", _form(rankings_required=9)).status_code == 403
    assert current_policy().rankings_required == 3


def test_strangers_are_sent_to_sign_in():
    r = web(None).get("/policy/")
    assert r.status_code == 302 and r["Location"].startswith("/accounts/login/")


def test_the_nav_offers_the_page_to_maintainers_only(maintainer, volunteer):
    assert 'href="/policy/"' in web(maintainer).get("/browse/").content.decode()
    assert 'href="/policy/"' not in web(volunteer).get("/browse/").content.decode()


def test_the_page_in_spanish(maintainer):
    page = web(maintainer).get("/policy/", headers={"Accept-Language": "es"}).content.decode()
    assert "Política de recopilación" in page and "Guardar la política" in page


def test_the_number_boxes_offer_each_range(maintainer):
    page = web(maintainer).get("/policy/").content.decode()
    assert re.search(r'<input type="number" name="write_minutes"[^>]* min="1" max="10080"', page)
    assert re.search(r'<input type="number" name="weight_rank"[^>]* min="0" max="1000"', page)


def _as_the_page_sends_it(page: str, **changes) -> dict:
    """Every input of the page's form with the value it showed, then ``changes``."""
    fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page))
    fields.pop("csrfmiddlewaretoken", None)
    return {**fields, **changes}


def test_a_page_opened_before_another_maintainers_change_does_not_undo_it(
    maintainer, api_maintainer
):
    client = web(maintainer)
    page = client.get("/policy/").content.decode()
    # Meanwhile another maintainer raises the rankings a prompt needs.
    r = api_maintainer.patch("/api/v1/policy/", {"rankings_required": 5}, format="json")
    assert r.status_code == 200
    # The first one changes a weight only; the page still shows the old rankings.
    r = client.post("/policy/", _as_the_page_sends_it(page, weight_write="3"))
    assert r.status_code == 302
    policy = current_policy()
    assert (policy.weight_write, policy.rankings_required) == (3, 5)
