"""The Django admin's lists run no query per row, the nullable foreign keys they show
included (Django follows only those that cannot be null by itself), and a prompt's page runs
none per answer: each is fetched with a few rows and with a page's worth, and must run the
same number of queries. (Scale QA: 106 to 192 queries a page on the lists below.)"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client

from apps.assignments.models import TaskType
from apps.collection.models import Import, PromptState, ResponseState
from apps.feedback.models import PromptConsensus, Ranking, Review
from apps.moderation.models import Flag, FlagReason, ModerationAction
from apps.releases.models import PromptSplit, Release
from tests.factories import PromptFactory, ResponseFactory, UserFactory, held_task
from tests.query_counts import assert_flat

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def tasks(n: int) -> None:
    for _ in range(n):
        held_task(UserFactory(), TaskType.REVIEW_PROMPT, PromptFactory(state=PromptState.REVIEW))


def reviews(n: int) -> None:
    for i in range(n):
        if i % 2:
            Review.objects.create(reviewer=UserFactory(), prompt=PromptFactory(), quality=4)
        else:
            Review.objects.create(reviewer=UserFactory(), response=ResponseFactory(), quality=4)


def rankings(n: int) -> None:
    for _ in range(n):
        Ranking.objects.create(ranker=UserFactory(), prompt=PromptFactory())


def consensus(n: int) -> None:
    for _ in range(n):
        PromptConsensus.objects.create(prompt=PromptFactory(), order=[], rankers=3)


def flags(n: int) -> None:
    for i in range(n):
        target = {"prompt": PromptFactory()} if i % 2 else {"response": ResponseFactory()}
        Flag.objects.create(reporter=UserFactory(), reason=FlagReason.SPAM, **target)


def audit_log(n: int) -> None:
    for _ in range(n):
        answer = ResponseFactory()
        ModerationAction.objects.create(
            actor=UserFactory(),
            action=ModerationAction.Action.HIDE,
            prompt=answer.prompt,
            response=answer,
            subject=answer.author,
        )


def prompts(n: int) -> None:
    PromptFactory.create_batch(n)


def answers(n: int) -> None:
    ResponseFactory.create_batch(n)


def imports(n: int) -> None:
    for i in range(n):
        Import.objects.create(
            created_by=UserFactory(), file_name=f"part-{i}.jsonl", file_size=10, lines_per_status=50
        )


def releases(n: int) -> None:
    start = Release.objects.count()
    for i in range(start + 1, start + n + 1):
        Release.objects.create(number=i, version=f"v{i}", filter={}, created_by=UserFactory())


def splits(n: int) -> None:
    release = Release.objects.create(
        number=Release.objects.count() + 1, version=f"v{Release.objects.count() + 1}", filter={}
    )
    for prompt in PromptFactory.create_batch(n):
        PromptSplit.objects.create(prompt=prompt, split="train", release=release)


CHANGELISTS: dict[str, Callable[[int], None]] = {
    "/admin/assignments/assignment/": tasks,
    "/admin/feedback/review/": reviews,
    "/admin/feedback/ranking/": rankings,
    "/admin/feedback/promptconsensus/": consensus,
    "/admin/moderation/flag/": flags,
    "/admin/moderation/moderationaction/": audit_log,
    "/admin/collection/prompt/": prompts,
    "/admin/collection/response/": answers,
    "/admin/collection/import/": imports,
    "/admin/releases/release/": releases,
    "/admin/releases/promptsplit/": splits,
}


@pytest.mark.parametrize("url", list(CHANGELISTS))
def test_an_admin_list_runs_no_query_per_row(url, staff):
    assert_flat(lambda: staff.get(url), CHANGELISTS[url])


def test_the_task_list_has_no_date_hierarchy(staff):
    tasks(2)
    page = staff.get("/admin/assignments/assignment/").text
    assert "xfull" not in page  # the hierarchy's links: ?created_at__year=…
    assert "created_at__year" not in page


def test_a_prompts_admin_page_runs_no_query_per_answer(staff):
    prompt = PromptFactory(state=PromptState.COLLECTING)

    def add_answers(n: int) -> None:
        ResponseFactory.create_batch(n, prompt=prompt, state=ResponseState.ACCEPTED)

    assert_flat(lambda: staff.get(f"/admin/collection/prompt/{prompt.pk}/change/"), add_answers)
    page = staff.get(f"/admin/collection/prompt/{prompt.pk}/change/").text
    # Each answer's author is named on it, as the raw-id widget named them.
    for answer in prompt.responses.select_related("author"):
        assert str(answer.author) in page
