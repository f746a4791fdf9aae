"""Findings of the QA pass of the contribution tasks: the API goes back to the task of a kind
you hold, as the site does; a prompt's review words its labels for a prompt; the refusal page
does not read as if the refusal were right."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.assignments.models import Assignment, AssignmentState
from apps.collection.models import PromptState
from apps.collection.policy import current_policy
from tests.factories import PromptFactory

NEXT = "/api/v1/tasks/next/"


def test_asking_the_api_twice_for_a_kind_gives_back_the_task_held(api):
    first = api.get(NEXT, {"type": "write"})
    second = api.get(NEXT, {"type": "write"})
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert Assignment.objects.filter(state=AssignmentState.ACTIVE).count() == 1


def test_any_gives_back_any_task_held_and_another_kind_takes_a_new_one(api, volunteer2):
    PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    review = api.get(NEXT, {"type": "review"}).json()
    assert api.get(NEXT).json()["id"] == review["id"]
    write = api.get(NEXT, {"type": "write"}).json()
    assert write["id"] != review["id"]
    assert Assignment.objects.filter(state=AssignmentState.ACTIVE).count() == 2


def test_a_held_task_whose_hold_ran_out_is_not_given_back(api):
    first = api.get(NEXT, {"type": "write"}).json()
    Assignment.objects.filter(pk=first["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    second = api.get(NEXT, {"type": "write"}).json()
    assert second["id"] != first["id"]


def test_the_pending_limit_still_counts_tasks_of_other_kinds(api, volunteer2):
    policy = current_policy()
    policy.max_pending_assignments = 1
    policy.save()
    PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    assert api.get(NEXT, {"type": "write"}).status_code == 200
    r = api.get(NEXT, {"type": "review"})
    assert r.status_code == 409
    assert "submit or skip it" in r.json()["detail"]


def test_the_schema_says_the_task_held_comes_back():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    assert "you already hold" in schema["paths"][NEXT]["get"]["description"]


def test_a_prompt_review_words_fails_task_for_a_prompt(client, volunteer, volunteer2):
    PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    client.force_login(volunteer)
    page = client.get("/contribute/?type=review", follow=True).content.decode()
    assert "Cannot be answered" in page
    assert "It does not do what the instruction asks" not in page


def test_an_answer_review_keeps_its_fails_task_wording(volunteer):
    from apps.assignments.forms import label_choices

    labels = {
        name: (str(label), str(text)) for name, label, text in label_choices("review_response")
    }
    assert labels["fails_task"][0] == "Does not do the task"
    assert str(dict((n, lb) for n, lb, _t in label_choices("review_prompt"))["fails_task"]) == (
        "Cannot be answered"
    )


def test_the_refusal_page_asks_a_maintainer_if_it_is_a_mistake(rf):
    from django.template.loader import render_to_string

    page = render_to_string(
        "403.html",
        {"exception": "Your account is suspended from contributing: Abusive answers"},
        request=rf.get("/write/"),
    )
    assert "If you think this is a mistake, ask one of the site" in page
    assert "If you think it should be" not in page
