"""One prompt through the whole flow over the API: written, reviewed, answered, answers
reviewed, ranked, and complete with a consensus."""

from __future__ import annotations

import pytest

from apps.assignments.models import Assignment, AssignmentState
from apps.collection.models import Prompt, PromptState, Response, ResponseState
from apps.feedback.models import PromptConsensus, Ranking, Review
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

NEXT = "/api/v1/tasks/next/"
CLEAN = {"labels": [], "quality": 4}


def submit(client, task_id, payload):
    return client.post(f"/api/v1/tasks/{task_id}/submit/", payload, format="json")


def test_a_prompt_goes_from_writing_to_complete(make_volunteer):
    author, *others = [make_volunteer() for _ in range(6)]
    api = {u.pk: client_for(u) for u in [author, *others]}

    task = api[author.pk].get(NEXT, {"type": "write"}).json()
    assert task["type"] == "write" and task["prompt"] is None
    r = submit(
        api[author.pk],
        task["id"],
        {
            "instruction": "List three uses for a paperclip.",
            "category": "brainstorming",
            "language": "en",
            "response": "Hold papers, reset a router, make a tiny hook.",
        },
    )
    assert r.status_code == 200, r.json()
    prompt = Prompt.objects.get(pk=r.json()["result"]["prompt_id"])
    assert (prompt.state, prompt.open_slots) == (PromptState.REVIEW, 2)

    # Two reviews accept it; the author never gets their own prompt.
    assert api[author.pk].get(NEXT, {"type": "review"}).status_code == 404
    for reviewer in others[:2]:
        task = api[reviewer.pk].get(NEXT, {"type": "review"}).json()
        assert task["type"] == "review_prompt" and task["prompt"]["id"] == prompt.pk
        assert submit(api[reviewer.pk], task["id"], CLEAN).status_code == 200
    prompt.refresh_from_db()
    assert (prompt.state, prompt.open_slots) == (PromptState.COLLECTING, 2)

    # Two more answers fill the three the policy asks for.
    for writer in others[2:4]:
        task = api[writer.pk].get(NEXT, {"type": "respond"}).json()
        assert task["type"] == "respond"
        r = submit(api[writer.pk], task["id"], {"text": f"An answer from {writer.pk}."})
        assert r.status_code == 200, r.json()
    prompt.refresh_from_db()
    assert prompt.open_slots == 0
    assert api[others[4].pk].get(NEXT, {"type": "respond"}).status_code == 404

    # Each answer needs two reviews from people who did not write it.
    for response in prompt.responses.all():
        reviewers = [u for u in others if u.pk != response.author_id][:2]
        for reviewer in reviewers:
            task = None
            for _ in range(5):
                task = api[reviewer.pk].get(NEXT, {"type": "review"}).json()
                if task["response"] and task["response"]["id"] == response.pk:
                    break
                api[reviewer.pk].post(f"/api/v1/tasks/{task['id']}/skip/", {"reason": "later"})
            assert task["response"]["id"] == response.pk
            assert submit(api[reviewer.pk], task["id"], CLEAN).status_code == 200
    assert set(prompt.responses.values_list("state", flat=True)) == {ResponseState.ACCEPTED}
    prompt.refresh_from_db()
    assert (prompt.state, prompt.open_slots) == (PromptState.RANKING, 3)

    # Three rankings by people with no answer in the set complete it.
    answer_authors = set(prompt.responses.values_list("author_id", flat=True))
    rankers = [u for u in others if u.pk not in answer_authors]
    assert len(rankers) == 3
    best_first = list(prompt.responses.order_by("-id").values_list("id", flat=True))
    for ranker in rankers:
        task = api[ranker.pk].get(NEXT, {"type": "rank"}).json()
        assert sorted(r["id"] for r in task["responses"]) == sorted(best_first)
        assert submit(api[ranker.pk], task["id"], {"order": best_first}).status_code == 200
    prompt.refresh_from_db()
    assert prompt.state == PromptState.COMPLETE
    consensus = PromptConsensus.objects.get(prompt=prompt)
    assert consensus.order == best_first
    assert consensus.agreement == 1.0
    assert [Response.objects.get(pk=i).consensus_rank for i in best_first] == [1, 2, 3]
    assert Ranking.objects.count() == 3
    assert Review.objects.count() == 2 + 3 * 2
    assert not Assignment.objects.filter(state=AssignmentState.ACTIVE).exists()


def test_a_prompt_with_a_spam_review_is_rejected(make_volunteer):
    author, first, second = make_volunteer(), make_volunteer(), make_volunteer()
    prompt = (
        client_for(author)
        .post(
            "/api/v1/prompts/",
            {
                "instruction": "Buy cheap watches at my shop",
                "category": "open_qa",
                "language": "en",
            },
            format="json",
        )
        .json()
    )
    for reviewer, labels in ((first, ["spam"]), (second, [])):
        client = client_for(reviewer)
        task = client.get(NEXT, {"type": "review"}).json()
        assert submit(client, task["id"], {"labels": labels, "quality": 1}).status_code == 200
    assert Prompt.objects.get(pk=prompt["id"]).state == PromptState.REJECTED
