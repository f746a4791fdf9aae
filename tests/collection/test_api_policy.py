from __future__ import annotations

import pytest

from apps.collection.policy import current_policy

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
