"""Operator QA: the collection policy's admin saved the row directly, skipping
``policy_update``, so raising a count there left work already at that step without the extra
task it now needs (PATCH /api/v1/policy/ gives it). The admin now saves through the service."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.collection.models import CollectionPolicy, Prompt, PromptState
from apps.collection.policy import current_policy
from tests.factories import PromptFactory

pytestmark = pytest.mark.django_db

FIELDS = [
    "prompt_reviews_required",
    "response_reviews_required",
    "acceptance_threshold",
    "responses_to_collect",
    "rankings_required",
    "write_minutes",
    "respond_minutes",
    "review_minutes",
    "rank_minutes",
    "max_pending_assignments",
    "weight_rank",
    "weight_review",
    "weight_respond",
    "weight_write",
    "auto_hide_flags",
]


@pytest.fixture
def staff(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def admin_save(staff: Client, **changes: object):
    policy = current_policy()
    data = {name: getattr(policy, name) for name in FIELDS} | changes
    return staff.post(f"/admin/collection/collectionpolicy/{policy.pk}/change/", data)


def test_raising_the_reviews_a_prompt_needs_in_the_admin_opens_one_more_slot(staff, api_maintainer):
    by_admin = PromptFactory(state=PromptState.REVIEW, open_slots=0)
    assert current_policy().prompt_reviews_required == 2

    r = admin_save(staff, prompt_reviews_required=3)

    assert r.status_code == 302, r.content.decode()[-2000:]
    assert current_policy().prompt_reviews_required == 3
    assert Prompt.objects.get(pk=by_admin.pk).open_slots == 1

    # As the API does it.
    by_api = PromptFactory(state=PromptState.REVIEW, open_slots=0)
    r = api_maintainer.patch("/api/v1/policy/", {"prompt_reviews_required": 4}, format="json")
    assert r.status_code == 200
    assert Prompt.objects.get(pk=by_api.pk).open_slots == 1
    assert Prompt.objects.get(pk=by_admin.pk).open_slots == 2


def test_the_admin_still_refuses_a_policy_that_hands_out_nothing(staff):
    r = admin_save(staff, weight_rank=0, weight_review=0, weight_respond=0, weight_write=0)
    assert r.status_code == 200  # the form again, with the error
    assert "At least one task weight must be above 0" in r.content.decode()
    assert current_policy().weight_rank == 8


def test_the_admin_adds_the_policy_row_when_there_is_none(staff):
    defaults = {name: getattr(current_policy(), name) for name in FIELDS}
    CollectionPolicy.objects.all().delete()

    r = staff.post("/admin/collection/collectionpolicy/add/", defaults | {"rankings_required": 5})

    assert r.status_code == 302, r.content.decode()[-2000:]
    assert CollectionPolicy.objects.count() == 1
    assert current_policy().rankings_required == 5
