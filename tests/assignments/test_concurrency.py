"""The dispatcher's invariants under real concurrency: 50+ volunteers on real PostgreSQL,
each in its own thread and connection, looping next → submit."""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest
from django.db import connection
from django.db.models import Count, Q

from apps.assignments.models import Assignment, AssignmentState, TaskType
from apps.collection.models import Prompt, PromptState, Response, ResponseState
from apps.collection.policy import current_policy
from apps.feedback.models import Ranking, Review
from tests.conftest import client_for
from tests.factories import PromptFactory, ResponseFactory

VOLUNTEERS = 56
LOOPS = 6


def _payload(task: dict, rng: random.Random, n: int) -> dict:
    kind = task["type"]
    if kind == "write":
        return {
            "instruction": f"Describe a day at the seaside, variant {n}.",
            "category": "creative_writing",
            "language": "en",
            "response": f"Salt, gulls and sand in every pocket ({n}).",
        }
    if kind in ("review_prompt", "review_response"):
        return {"labels": ["spam"] if rng.random() < 0.1 else [], "quality": rng.randint(1, 5)}
    if kind == "respond":
        return {"text": f"My answer number {n}."}
    order = [r["id"] for r in task["responses"]]
    rng.shuffle(order)
    return {"order": order}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_concurrent_volunteers_never_exceed_the_policy_and_lose_nothing(make_volunteer):
    assert connection.vendor == "postgresql"
    policy = current_policy()
    seeders = [make_volunteer() for _ in range(4)]
    # Work of every kind waiting at the start: prompts to review, to answer and to rank.
    for i in range(12):
        PromptFactory(author=seeders[i % 4], state=PromptState.REVIEW)
    for i in range(10):
        prompt = PromptFactory(author=seeders[i % 4], state=PromptState.COLLECTING, open_slots=2)
        ResponseFactory(
            prompt=prompt, author=prompt.author, state=ResponseState.REVIEW, open_slots=2
        )
    for i in range(8):
        prompt = PromptFactory(author=seeders[i % 4], state=PromptState.RANKING)
        for j in range(3):
            ResponseFactory(prompt=prompt, author=seeders[(i + j + 1) % 4])
    volunteers = [make_volunteer() for _ in range(VOLUNTEERS)]
    errors: list[str] = []
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(VOLUNTEERS)

    def run(index: int) -> None:
        rng = random.Random(index)
        client = client_for(volunteers[index])
        barrier.wait()
        try:
            for loop in range(LOOPS):
                r = client.get("/api/v1/tasks/next/")
                if r.status_code != 200:
                    with lock:
                        errors.append(f"next {r.status_code} {r.content[:200]!r}")
                    continue
                task = r.json()
                s = client.post(
                    f"/api/v1/tasks/{task['id']}/submit/",
                    _payload(task, rng, index * 100 + loop),
                    format="json",
                    HTTP_IDEMPOTENCY_KEY=f"{index}-{loop}",
                )
                with lock:
                    if s.status_code == 200:
                        outcomes[task["type"]] += 1
                    elif s.status_code == 409:
                        # The target moved on while the task was held (e.g. the prompt was
                        # rejected by its other reviewers): refused cleanly, nothing written.
                        outcomes["conflict"] += 1
                    else:
                        errors.append(f"submit {task['type']} {s.status_code} {s.content[:200]!r}")
        except Exception as exc:  # a crash in a thread must fail the test, not vanish
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(VOLUNTEERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert sum(outcomes.values()) == VOLUNTEERS * LOOPS
    assert {"write", "review_prompt", "respond", "rank"} <= set(outcomes)

    # No prompt got more reviews, answers or rankings than the policy asks for.
    over_reviewed = Prompt.objects.annotate(n=Count("reviews")).filter(
        n__gt=policy.prompt_reviews_required
    )
    assert not over_reviewed.exists()
    over_answered = Prompt.objects.annotate(
        n=Count(
            "responses",
            filter=Q(responses__state__in=[ResponseState.REVIEW, ResponseState.ACCEPTED]),
        )
    ).filter(n__gt=policy.responses_to_collect)
    assert not over_answered.exists()
    over_ranked = Prompt.objects.annotate(n=Count("rankings")).filter(
        n__gt=policy.rankings_required
    )
    assert not over_ranked.exists()
    over_reviewed_answers = Response.objects.annotate(n=Count("reviews")).filter(
        n__gt=policy.response_reviews_required
    )
    assert not over_reviewed_answers.exists()

    # Every accepted submission is exactly one row; nothing lost, nothing doubled.
    submitted = Counter(
        Assignment.objects.filter(state=AssignmentState.SUBMITTED).values_list(
            "task_type", flat=True
        )
    )
    assert submitted == Counter({k: v for k, v in outcomes.items() if k != "conflict"})
    assert Review.objects.filter(prompt__isnull=False).count() == submitted[TaskType.REVIEW_PROMPT]
    assert (
        Review.objects.filter(response__isnull=False).count() == submitted[TaskType.REVIEW_RESPONSE]
    )
    assert Ranking.objects.count() == submitted[TaskType.RANK]
    assert Prompt.objects.filter(author__in=volunteers).count() == submitted[TaskType.WRITE]
    answers = Response.objects.filter(text__startswith="My answer number")
    assert answers.count() == submitted[TaskType.RESPOND]

    # Slots add up: for prompts still in review, reviews + held slots + open slots = required.
    for prompt in Prompt.objects.filter(state=PromptState.REVIEW):
        held = Assignment.objects.filter(
            prompt=prompt, task_type=TaskType.REVIEW_PROMPT, state=AssignmentState.ACTIVE
        ).count()
        assert prompt.reviews.count() + held + prompt.open_slots == policy.prompt_reviews_required
