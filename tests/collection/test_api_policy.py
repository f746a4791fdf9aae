from __future__ import annotations

import pytest

from apps.collection.policy import current_policy
from tests.marked_gettext import marked_gettext

pytestmark = pytest.mark.django_db


def test_everyone_signed_in_reads_the_policy(api):
    r = api.get("/api/v1/policy/")
    assert r.status_code == 200
    body = r.json()
    assert body["prompt_reviews_required"] == 2
    assert body["acceptance_threshold"] == 0.6
    assert body["responses_to_collect"] == 3
    assert body["rankings_required"] == 3
    assert body["max_pending_assignments"] == 5
    assert (
        body["weight_rank"] > body["weight_review"] > body["weight_respond"] > body["weight_write"]
    )


def test_maintainers_change_it(api_maintainer):
    r = api_maintainer.patch(
        "/api/v1/policy/", {"rankings_required": 5, "acceptance_threshold": 0.75}, format="json"
    )
    assert r.status_code == 200
    policy = current_policy()
    assert (policy.rankings_required, policy.acceptance_threshold) == (5, 0.75)


def test_what_was_read_can_be_sent_back_but_an_unknown_field_is_refused(api_maintainer):
    """A PATCH may carry the read-only fields it read (updated_at); a name the policy does not
    have is a 400 naming it, not a 200 that changed nothing."""
    read = api_maintainer.get("/api/v1/policy/").json()
    r = api_maintainer.patch("/api/v1/policy/", {**read, "rankings_required": 4}, format="json")
    assert r.status_code == 200 and r.json()["rankings_required"] == 4
    r = api_maintainer.patch("/api/v1/policy/", {"ranking_required": 5}, format="json")
    assert r.status_code == 400
    assert r.json()["ranking_required"][0].startswith("Not a field of this request; it takes:")


def test_volunteers_cannot_change_it(api):
    r = api.patch("/api/v1/policy/", {"rankings_required": 1}, format="json")
    assert r.status_code == 403
    assert current_policy().rankings_required == 3


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"acceptance_threshold": 1.5}, "acceptance_threshold"),
        ({"responses_to_collect": 1}, "responses_to_collect"),
        ({"rankings_required": 0}, "rankings_required"),
        ({"review_minutes": "soon"}, "review_minutes"),
        # JSON false is not 0.0: it would accept every prompt and answer.
        ({"acceptance_threshold": False}, "acceptance_threshold"),
        ({"acceptance_threshold": True}, "acceptance_threshold"),
    ],
)
def test_bad_values_are_refused(api_maintainer, change, field):
    r = api_maintainer.patch("/api/v1/policy/", change, format="json")
    assert r.status_code == 400
    assert field in r.json()
    assert current_policy().acceptance_threshold == 0.6


def test_all_task_weights_at_zero_are_refused(api_maintainer):
    """With every weight at 0 no task of any kind would be handed out, silently."""
    zero = {"weight_rank": 0, "weight_review": 0, "weight_respond": 0}
    assert api_maintainer.patch("/api/v1/policy/", zero, format="json").status_code == 200
    r = api_maintainer.patch("/api/v1/policy/", {"weight_write": 0}, format="json")
    assert r.status_code == 400
    assert "At least one task weight must be above 0" in r.json()["non_field_errors"][0]
    assert current_policy().weight_write == 1


def test_a_task_time_past_any_date_is_refused_and_tasks_are_still_handed_out(api_maintainer):
    """On SQLite, which stores any integer, 10**12 minutes were accepted and every next
    writing task was a 500: its deadline, now plus that, is past the last date there is."""
    r = api_maintainer.patch("/api/v1/policy/", {"write_minutes": 10**12}, format="json")
    assert r.status_code == 400
    assert r.json() == {"write_minutes": ["From 1 to 10080."]}
    assert current_policy().write_minutes == 30
    r = api_maintainer.get("/api/v1/tasks/next/", {"type": "write"})
    assert r.status_code == 200
    assert r.json()["type"] == "write"


@pytest.mark.parametrize(
    ("field", "low", "high"),
    [
        ("prompt_reviews_required", 1, 50),
        ("response_reviews_required", 1, 50),
        ("responses_to_collect", 2, 20),
        ("rankings_required", 1, 50),
        ("max_pending_assignments", 1, 100),
        ("write_minutes", 1, 10080),
        ("respond_minutes", 1, 10080),
        ("review_minutes", 1, 10080),
        ("rank_minutes", 1, 10080),
        ("weight_rank", 0, 1000),
        ("weight_write", 0, 1000),
        ("auto_hide_flags", 1, 1000),
    ],
)
def test_each_count_takes_its_range_and_names_both_ends_when_out_of_it(
    api_maintainer, field, low, high
):
    before = getattr(current_policy(), field)
    for wrong in (low - 1, high + 1):
        r = api_maintainer.patch("/api/v1/policy/", {field: wrong}, format="json")
        assert r.status_code == 400, wrong
        assert r.json() == {field: [f"From {low} to {high}."]}
        assert getattr(current_policy(), field) == before
    for right in (high, low):
        r = api_maintainer.patch("/api/v1/policy/", {field: right}, format="json")
        assert r.status_code == 200, r.json()
        assert r.json()[field] == right
        assert getattr(current_policy(), field) == right


def test_the_messages_are_translatable(api_maintainer):
    with marked_gettext():
        r = api_maintainer.patch(
            "/api/v1/policy/",
            {"max_pending_assignments": 10**9, "weight_rank": "8", "acceptance_threshold": "1"},
            format="json",
        )
    assert r.status_code == 400
    assert r.json() == {
        "max_pending_assignments": ["«From 1 to 100.»"],
        "weight_rank": ["«Must be a whole number (a JSON number).»"],
        "acceptance_threshold": ["«Must be a number (a JSON number).»"],
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"prompt_reviews_required": "3"}, "Must be a whole number (a JSON number)."),
        ({"prompt_reviews_required": 3.0}, "Must be a whole number (a JSON number)."),
        ({"prompt_reviews_required": True}, "Must be a whole number (a JSON number)."),
        ({"prompt_reviews_required": None}, "This field may not be null."),
        ({"acceptance_threshold": "0.5"}, "Must be a number (a JSON number)."),
        ({"acceptance_threshold": [0.5]}, "Must be a number (a JSON number)."),
    ],
)
def test_numbers_keep_their_json_type(api_maintainer, change, message):
    """As the README says of every value: text where a number belongs is a 400."""
    r = api_maintainer.patch("/api/v1/policy/", change, format="json")
    assert r.status_code == 400
    assert r.json() == {next(iter(change)): [message]}
    policy = current_policy()
    assert (policy.prompt_reviews_required, policy.acceptance_threshold) == (2, 0.6)


def test_a_form_body_sends_its_numbers_as_text(api_maintainer):
    """A form (or multipart) body has only text: its numbers are read from it."""
    r = api_maintainer.patch(
        "/api/v1/policy/", {"rankings_required": "5", "acceptance_threshold": "0.75"}
    )
    assert r.status_code == 200, r.json()
    policy = current_policy()
    assert (policy.rankings_required, policy.acceptance_threshold) == (5, 0.75)
    r = api_maintainer.patch("/api/v1/policy/", {"rankings_required": "five"})
    assert r.status_code == 400
    assert r.json() == {"rankings_required": ["Must be a whole number (a JSON number)."]}
