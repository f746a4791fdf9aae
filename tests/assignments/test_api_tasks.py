"""GET /api/v1/tasks/next/, POST /api/v1/tasks/{id}/submit/ and /skip/."""

from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from django.test import Client
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from apps.assignments.models import Assignment, AssignmentState
from apps.assignments.services import assignments_expire
from apps.collection import flow
from apps.collection.models import Prompt, PromptState, ResponseState
from apps.collection.policy import current_policy
from apps.collection.services import response_withdraw
from apps.core.throttling import ScopedThrottle, sliding_wait
from apps.feedback.models import PromptConsensus, Ranking, Review
from apps.moderation.services import content_hide, content_restore, user_ban, user_unban
from tests.conftest import client_for
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db

NEXT = "/api/v1/tasks/next/"


def test_next_returns_the_task_with_what_is_needed_to_do_it(api, volunteer2):
    prompt = PromptFactory(author=volunteer2, state=PromptState.REVIEW, context="Some context")
    r = api.get(NEXT, {"type": "review"})
    assert r.status_code == 200
    body = r.json()
    assignment = Assignment.objects.get()
    assert body == {
        "id": assignment.pk,
        "type": "review_prompt",
        "state": "active",
        "expires_at": body["expires_at"],
        "prompt": {
            "id": prompt.pk,
            "instruction": prompt.instruction,
            "context": "Some context",
            "category": "open_qa",
            "language": "en",
        },
        "response": None,
        "responses": [],
        "result": None,
    }
    prompt.refresh_from_db()
    assert prompt.open_slots == 1


def test_an_unknown_type_is_400(api):
    r = api.get(NEXT, {"type": "dance"})
    assert r.status_code == 400
    assert "Choose one of" in r.json()["type"][0]


def test_no_waiting_task_of_a_kind_is_404_with_a_hint(api):
    r = api.get(NEXT, {"type": "rank"})
    assert r.status_code == 404
    assert "write a new prompt" in r.json()["detail"]


def test_any_falls_back_to_writing(api):
    assert api.get(NEXT).json()["type"] == "write"


def test_tasks_follow_the_volunteers_languages(make_volunteer, volunteer2):
    PromptFactory(author=volunteer2, state=PromptState.REVIEW, language="de")
    english = client_for(make_volunteer(languages=["en"]))
    german = client_for(make_volunteer(languages=["de-AT", "de"]))
    assert english.get(NEXT, {"type": "review"}).status_code == 404
    assert german.get(NEXT, {"type": "review"}).json()["prompt"]["language"] == "de"


def test_a_skipped_target_is_never_offered_again(api, volunteer2):
    PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    task = api.get(NEXT, {"type": "review"}).json()
    r = api.post(f"/api/v1/tasks/{task['id']}/skip/", {"reason": "Not my field"}, format="json")
    assert r.status_code == 200
    assert r.json()["state"] == "skipped"
    assert Prompt.objects.get().open_slots == 2
    assert api.get(NEXT, {"type": "review"}).status_code == 404


def test_submitting_a_foreign_or_missing_task_is_404(api, api2, volunteer):
    PromptFactory(author=volunteer, state=PromptState.REVIEW)
    task = api2.get(NEXT, {"type": "review"}).json()
    for task_id in (task["id"], task["id"] + 1000):
        r = api.post(
            f"/api/v1/tasks/{task_id}/submit/", {"labels": [], "quality": 3}, format="json"
        )
        assert r.status_code == 404
        assert r.json()["detail"] == "This task is not yours, or does not exist."
    assert Review.objects.count() == 0


def test_submitting_twice_is_409_and_counts_once(api, volunteer2):
    PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    task = api.get(NEXT, {"type": "review"}).json()
    url = f"/api/v1/tasks/{task['id']}/submit/"
    assert api.post(url, {"labels": [], "quality": 3}, format="json").status_code == 200
    r = api.post(url, {"labels": [], "quality": 3}, format="json")
    assert r.status_code == 409
    assert "already submitted" in r.json()["detail"]
    assert Review.objects.count() == 1


def test_a_retry_with_the_idempotency_key_replays_the_first_answer(api, volunteer2):
    PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    task = api.get(NEXT, {"type": "review"}).json()
    url = f"/api/v1/tasks/{task['id']}/submit/"
    first = api.post(url, {"labels": [], "quality": 3}, format="json", HTTP_IDEMPOTENCY_KEY="r1")
    again = api.post(url, {"labels": [], "quality": 3}, format="json", HTTP_IDEMPOTENCY_KEY="r1")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert Review.objects.count() == 1


def test_an_expired_task_is_409_and_its_slot_is_free_again(api, volunteer2):
    prompt = PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    task = api.get(NEXT, {"type": "review"}).json()
    Assignment.objects.filter(pk=task["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    r = api.post(f"/api/v1/tasks/{task['id']}/submit/", {"labels": [], "quality": 3}, format="json")
    assert r.status_code == 409
    assert "expired" in r.json()["detail"]
    assert Review.objects.count() == 0
    # The next request for a task anywhere sweeps it and frees the slot.
    api.get(NEXT, {"type": "write"})
    prompt.refresh_from_db()
    assert prompt.open_slots == 2
    assert Assignment.objects.get(pk=task["id"]).state == AssignmentState.EXPIRED


def test_an_expired_task_with_an_idempotency_key_is_409_and_still_freed(api, volunteer2):
    prompt = PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    task = api.get(NEXT, {"type": "review"}).json()
    Assignment.objects.filter(pk=task["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    r = api.post(
        f"/api/v1/tasks/{task['id']}/submit/",
        {"labels": [], "quality": 3},
        format="json",
        HTTP_IDEMPOTENCY_KEY="late-1",
    )
    assert r.status_code == 409
    assert assignments_expire() == 1
    prompt.refresh_from_db()
    assert prompt.open_slots == 2


def test_the_sweeper_expires_overdue_tasks_and_frees_their_slots(api, volunteer2):
    prompt = PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    api.get(NEXT, {"type": "review"})
    Assignment.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    assert assignments_expire() == 1
    prompt.refresh_from_db()
    assert prompt.open_slots == 2
    assert assignments_expire() == 0


def test_a_slot_is_not_given_back_after_the_target_moved_on(api, volunteer2):
    prompt = PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    task = api.get(NEXT, {"type": "review"}).json()
    Prompt.objects.filter(pk=prompt.pk).update(state=PromptState.REJECTED, open_slots=0)
    api.post(f"/api/v1/tasks/{task['id']}/skip/", {}, format="json")
    prompt.refresh_from_db()
    assert prompt.open_slots == 0


def test_the_pending_limit_is_enforced(api, volunteer2):
    policy = current_policy()
    policy.max_pending_assignments = 2
    policy.save()
    PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    PromptFactory(author=volunteer2)  # to answer
    # One of each kind: asking again for a kind held gives that task back.
    assert api.get(NEXT, {"type": "write"}).status_code == 200
    assert api.get(NEXT, {"type": "review"}).status_code == 200
    r = api.get(NEXT, {"type": "respond"})
    assert r.status_code == 409
    assert "submit or skip one" in r.json()["detail"]


def test_the_tasks_you_hold_are_a_page_like_every_list(api, api2, volunteer2):
    policy = current_policy()
    policy.max_pending_assignments = 2
    policy.save()
    PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    first = api.get(NEXT, {"type": "write"}).json()
    second = api.get(NEXT, {"type": "review"}).json()
    api2.get(NEXT, {"type": "write"})  # someone else's: not listed
    r = api.get("/api/v1/tasks/")
    assert r.status_code == 200
    body = r.json()
    assert (body["count"], body["next"], body["previous"]) == (2, None, None)
    assert body["results"] == [first, second]

    one = api.get("/api/v1/tasks/", {"page_size": 1}).json()
    assert [t["id"] for t in one["results"]] == [first["id"]]
    assert one["next"].endswith("/api/v1/tasks/?page=2&page_size=1")
    assert api.get("/api/v1/tasks/", {"page": 3}).status_code == 404
    # A submitted or skipped task is no longer held.
    api.post(f"/api/v1/tasks/{first['id']}/skip/", {}, format="json")
    assert [t["id"] for t in api.get("/api/v1/tasks/").json()["results"]] == [second["id"]]


def test_a_banned_user_gets_no_task_and_cannot_submit(api, volunteer, volunteer2):
    PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    task = api.get(NEXT, {"type": "review"}).json()
    volunteer.banned_at = timezone.now()
    volunteer.ban_reason = "spam"
    volunteer.save()
    assert api.get(NEXT).status_code == 403
    r = api.post(f"/api/v1/tasks/{task['id']}/submit/", {"labels": [], "quality": 3}, format="json")
    assert r.status_code == 403
    assert "suspended" in r.json()["detail"]


@pytest.mark.parametrize("action", ["submit", "skip"])
def test_a_body_the_api_cannot_read_is_a_documented_415(api, volunteer2, action):
    PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    task = api.get(NEXT).json()
    r = api.post(f"/api/v1/tasks/{task['id']}/{action}/", "quality=5", content_type="text/plain")
    assert r.status_code == 415
    assert r.json() == {"detail": 'Unsupported media type "text/plain" in request.'}
    assert Assignment.objects.get().state == AssignmentState.ACTIVE
    operation = SchemaGenerator().get_schema(request=None, public=True)["paths"][
        f"/api/v1/tasks/{{task_id}}/{action}/"
    ]["post"]
    assert "415" in operation["responses"]


def test_a_bad_review_payload_is_400_and_keeps_the_task(api, volunteer2):
    PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    task = api.get(NEXT, {"type": "review"}).json()
    url = f"/api/v1/tasks/{task['id']}/submit/"
    r = api.post(url, {"labels": ["rude"], "quality": 9}, format="json")
    assert r.status_code == 400
    assert set(r.json()) == {"labels", "quality"}
    assert Assignment.objects.get().state == AssignmentState.ACTIVE
    assert api.post(url, {"labels": ["pii"], "quality": 2}, format="json").status_code == 200


def test_a_misspelt_field_is_400_naming_the_fields_the_task_takes(api, volunteer2):
    """Until now "label" was dropped unread and a review flagging nothing was stored."""
    PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    task = api.get(NEXT, {"type": "review"}).json()
    url = f"/api/v1/tasks/{task['id']}/submit/"
    r = api.post(url, {"label": ["spam"], "quality": 1, "bogus": 1}, format="json")
    assert r.status_code == 400
    message = "Not a field of this request; it takes: labels, quality."
    assert r.json() == {"bogus": [message], "label": [message]}
    assert not Review.objects.exists()
    assert Assignment.objects.get().state == AssignmentState.ACTIVE
    assert api.post(url, {"labels": ["spam"], "quality": 1}, format="json").status_code == 200
    assert Review.objects.get().spam


@pytest.mark.parametrize(
    ("kind", "sent", "takes"),
    [
        ("write", {"title": "Fruit"}, "instruction, context, category, language, response"),
        ("respond", {"text": "An answer.", "response": "An answer."}, "text"),
        ("rank", {"orders": []}, "order, unusable"),
        ("review", {"labels": [], "quality": 3, "spam": True}, "labels, quality"),
    ],
)
def test_each_task_type_refuses_a_field_it_does_not_take(make_volunteer, kind, sent, takes):
    author, a, b, volunteer = (make_volunteer() for _ in range(4))
    state = {"respond": PromptState.COLLECTING, "rank": PromptState.RANKING}
    prompt = PromptFactory(author=author, state=state.get(kind, PromptState.REVIEW))
    if kind == "rank":
        for answerer in (a, b):
            ResponseFactory(prompt=prompt, author=answerer)
    client = client_for(volunteer)
    task = client.get(NEXT, {"type": kind}).json()
    r = client.post(f"/api/v1/tasks/{task['id']}/submit/", sent, format="json")
    assert r.status_code == 400
    refused = sorted(set(sent) - set(takes.split(", ")))
    message = f"Not a field of this request; it takes: {takes}."
    assert r.json() == {key: [message] for key in refused}
    assert Assignment.objects.get(pk=task["id"]).state == AssignmentState.ACTIVE
    assert not (Review.objects.exists() or Ranking.objects.exists())
    assert Prompt.objects.count() == 1 and prompt.responses.count() == (2 if kind == "rank" else 0)


def test_a_bad_ranking_is_400(make_volunteer):
    from tests.factories import ResponseFactory

    author, a, b, ranker = (make_volunteer() for _ in range(4))
    prompt = PromptFactory(author=author, state=PromptState.RANKING)
    first = ResponseFactory(prompt=prompt, author=a)
    second = ResponseFactory(prompt=prompt, author=b)
    client = client_for(ranker)
    task = client.get(NEXT, {"type": "rank"}).json()
    url = f"/api/v1/tasks/{task['id']}/submit/"
    r = client.post(url, {"order": [first.pk]}, format="json")
    assert r.status_code == 400
    assert "exactly once" in r.json()["order"][0]
    # An order and "unusable" contradict each other: neither wins silently.
    both = {"order": [first.pk, second.pk], "unusable": True}
    r = client.post(url, both, format="json")
    assert r.status_code == 400
    assert "not both" in r.json()["order"][0]
    assert not Ranking.objects.exists()
    assert client.post(url, {"order": [], "unusable": True}, format="json").status_code == 200
    assert Ranking.objects.get().unusable


def test_next_needs_the_licence(api_outsider):
    r = api_outsider.get(NEXT)
    assert r.status_code == 403
    assert "licence" in r.json()["detail"]


@pytest.fixture
def two_per_minute(settings):
    """tasks_next limited to 2 a minute (each test has its own cache key prefix, so counts
    start at zero)."""
    rates = dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"])
    ScopedThrottle.THROTTLE_RATES = {**rates, "tasks_next": "2/min"}
    yield
    ScopedThrottle.THROTTLE_RATES = rates


@pytest.mark.parametrize("backend", ["redis", "cache"])
def test_next_is_rate_limited_with_a_message(api, settings, two_per_minute, backend):
    if backend == "cache":
        settings.REDIS_URL = ""  # DRF's own counting in the cache, as in the embedded default
    elif not settings.REDIS_URL:
        pytest.fail("REDIS_URL is not set: the tests run against real Redis")
    statuses = [api.get(NEXT, {"type": "write"}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    r = api.get(NEXT, {"type": "write"})
    assert r.status_code == 429
    wait = int(r["Retry-After"])
    assert 1 <= wait <= 120
    # The wait is said once, and agrees with the header.
    unit = "second" if wait == 1 else "seconds"
    assert r.json() == {"detail": f"Too many requests. Try again in {wait} {unit}."}


def test_a_refused_request_is_not_counted(api, volunteer, settings, two_per_minute):
    from django.core.cache import cache

    for _ in range(10):
        api.get(NEXT, {"type": "write"})
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter(cache.make_key(f"throttle_tasks_next_{volunteer.pk}") + ":*"))
    assert [int(client.get(k)) for k in keys] == [2]


@pytest.mark.parametrize(
    ("now", "current", "previous", "wait"),
    [
        (0.0, 0, 0, 0.0),  # nothing counted yet
        (30.0, 1, 0, 0.0),  # room left in this window
        (30.0, 0, 4, 15.0),  # 4 * 0.5 + 1 > 2: until the previous window weighs 1/4
        (45.0, 2, 0, 45.0),  # full: into the next window, until this one weighs (2 - 1) / 2
        (15.0, 2, 1, 75.0),
    ],
)
def test_the_sliding_window_wait(now, current, previous, wait):
    assert sliding_wait(
        now=now, duration=60, limit=2, current=current, previous=previous
    ) == pytest.approx(wait)


def test_the_expiry_sweep_is_a_registered_periodic_task(settings):
    from apps.celery import app

    app.loader.import_default_modules()
    schedule = settings.CELERY_BEAT_SCHEDULE["expire-assignments"]
    assert schedule["task"] in app.tasks
    assert schedule["schedule"] == 60.0


def test_the_task_endpoints_answer_json_whatever_the_accept_header_says(api):
    r = api.get(NEXT, {"type": "write"}, HTTP_ACCEPT="application/xml")
    assert r.status_code == 200
    assert r["Content-Type"] == "application/json"
    assert r.json()["type"] == "write"


# --- a banned author's work is not handed out ------------------------------------------------


def test_no_task_is_handed_out_on_a_banned_authors_work_until_the_unban(
    api, moderator, make_volunteer
):
    banned, author, other = (make_volunteer() for _ in range(3))
    PromptFactory(author=banned, state=PromptState.REVIEW)
    PromptFactory(author=banned, state=PromptState.COLLECTING)
    PromptFactory(author=banned, state=PromptState.RANKING)
    ResponseFactory(prompt=PromptFactory(author=banned, state=PromptState.RANKING), author=other)
    collecting = PromptFactory(author=author, state=PromptState.COLLECTING, open_slots=0)
    ResponseFactory(prompt=collecting, author=banned, state=ResponseState.REVIEW, open_slots=2)
    user_ban(moderator=moderator, user=banned, reason="spam")
    for kind in ("review", "rank"):
        r = api.get(NEXT, {"type": kind})
        assert r.status_code == 404, (kind, r.json())
    # Nobody reviews the answer in review, so the prompt it waits on collects another; the
    # banned author's own collecting prompt (older, with open slots) is passed over.
    collecting.refresh_from_db()
    assert collecting.open_slots == 1
    assert api.get(NEXT, {"type": "respond"}).json()["prompt"]["id"] == collecting.pk
    assert Assignment.objects.count() == 1

    user_unban(moderator=moderator, user=banned)
    task = Assignment.objects.get(pk=api.get(NEXT, {"type": "review"}).json()["id"])
    assert (task.response or task.prompt).author == banned


def test_a_banned_authors_accepted_answer_no_longer_counts_toward_the_collection(
    api, moderator, make_volunteer
):
    banned, author, other = (make_volunteer() for _ in range(3))
    collecting = PromptFactory(author=author, state=PromptState.COLLECTING, open_slots=0)
    ResponseFactory(prompt=collecting, author=banned, state=ResponseState.ACCEPTED)
    ResponseFactory(prompt=collecting, author=other, state=ResponseState.ACCEPTED)
    assert flow.live_responses(collecting) == 2

    user_ban(moderator=moderator, user=banned, reason="copied from a chatbot")

    # As for a hidden answer: the prompt counts one answer and collects another in its place.
    collecting.refresh_from_db()
    assert collecting.open_slots == 1
    assert flow.count_responses(collecting, (ResponseState.ACCEPTED,)) == 1
    assert api.get(NEXT, {"type": "respond"}).json()["prompt"]["id"] == collecting.pk


def test_a_rank_task_leaves_out_a_banned_authors_answer(moderator, make_volunteer):
    author, a, b, c, ranker = (make_volunteer() for _ in range(5))
    prompt = PromptFactory(author=author, state=PromptState.RANKING)
    first, second, _third = (ResponseFactory(prompt=prompt, author=x) for x in (a, b, c))
    user_ban(moderator=moderator, user=c, reason="copied from a chatbot")
    client = client_for(ranker)
    task = client.get(NEXT, {"type": "rank"}).json()
    assert sorted(r["id"] for r in task["responses"]) == [first.pk, second.pk]
    r = client.post(
        f"/api/v1/tasks/{task['id']}/submit/", {"order": [second.pk, first.pk]}, format="json"
    )
    assert r.status_code == 200
    assert Ranking.objects.get().order == [second.pk, first.pk]


# --- an answer leaves (or joins) the set while a ranker holds the task ---------------------------


@pytest.fixture
def rank_task(make_volunteer):
    """A prompt in ranking with three answers, a ranker holding its task, and the ranker's
    order of all three (as the task listed them)."""
    author, a, b, c, ranker = (make_volunteer() for _ in range(5))
    prompt = PromptFactory(author=author, state=PromptState.RANKING)
    answers = [ResponseFactory(prompt=prompt, author=x) for x in (a, b, c)]
    client = client_for(ranker)
    task = client.get(NEXT, {"type": "rank"}).json()
    assert sorted(r["id"] for r in task["responses"]) == sorted(x.pk for x in answers)
    order = [answers[2].pk, answers[0].pk, answers[1].pk]
    return prompt, answers, client, f"/api/v1/tasks/{task['id']}/submit/", order


def test_an_answer_withdrawn_while_ranking_is_dropped_from_the_order_and_the_rest_kept(
    rank_task,
):
    _prompt, answers, client, url, order = rank_task
    response_withdraw(response=answers[2], user=answers[2].author)
    r = client.post(url, {"order": order}, format="json")
    assert r.status_code == 200, r.json()
    assert Ranking.objects.get().order == [answers[0].pk, answers[1].pk]
    assert Assignment.objects.get().state == AssignmentState.SUBMITTED


def test_an_answer_hidden_while_ranking_is_dropped_too(rank_task, moderator):
    _prompt, answers, client, url, order = rank_task
    content_hide(moderator=moderator, target=answers[0], reason="copied")
    r = client.post(url, {"order": order}, format="json")
    assert r.status_code == 200, r.json()
    assert Ranking.objects.get().order == [answers[2].pk, answers[1].pk]


def test_an_order_still_must_name_each_remaining_answer_once(rank_task):
    _prompt, answers, client, url, _order = rank_task
    response_withdraw(response=answers[2], user=answers[2].author)
    stranger = ResponseFactory()  # an answer to another prompt is not a gone one
    for bad in (
        [answers[0].pk],
        [answers[0].pk, answers[0].pk, answers[1].pk],
        [answers[0].pk, answers[1].pk, stranger.pk],
    ):
        r = client.post(url, {"order": bad}, format="json")
        assert r.status_code == 400, bad
        assert r.json() == {
            "order": [f"Order every answer exactly once: {answers[0].pk}, {answers[1].pk}."]
        }
    assert not Ranking.objects.exists()
    assert Assignment.objects.get().state == AssignmentState.ACTIVE


def test_an_answer_restored_since_the_task_was_handed_out_must_be_ranked_too(
    make_volunteer, moderator
):
    author, a, b, c, ranker = (make_volunteer() for _ in range(5))
    prompt = PromptFactory(author=author, state=PromptState.RANKING)
    answers = [ResponseFactory(prompt=prompt, author=x) for x in (a, b, c)]
    content_hide(moderator=moderator, target=answers[1], reason="copied")
    client = client_for(ranker)
    task = client.get(NEXT, {"type": "rank"}).json()
    assert sorted(r["id"] for r in task["responses"]) == [answers[0].pk, answers[2].pk]
    content_restore(moderator=moderator, target=answers[1], reason="not copied after all")
    url = f"/api/v1/tasks/{task['id']}/submit/"
    r = client.post(url, {"order": [answers[2].pk, answers[0].pk]}, format="json")
    # The ranker has not seen it: the order is refused, the task stays theirs to redo.
    assert r.status_code == 400
    ids = ", ".join(str(x.pk) for x in answers)
    assert r.json() == {"order": [f"Order every answer exactly once: {ids}."]}
    assert Assignment.objects.get().state == AssignmentState.ACTIVE
    whole = [answers[2].pk, answers[1].pk, answers[0].pk]
    assert client.post(url, {"order": whole}, format="json").status_code == 200
    assert Ranking.objects.get().order == whole


def test_the_last_ranking_after_an_answer_left_completes_the_prompt_without_it(
    rank_task, make_volunteer
):
    """Two rankings made before the answer left still name it; the consensus ignores it."""
    prompt, answers, client, url, order = rank_task
    for _ in range(2):
        Ranking.objects.create(
            ranker=make_volunteer(), prompt=prompt, order=[x.pk for x in answers]
        )
    response_withdraw(response=answers[0], user=answers[0].author)
    assert client.post(url, {"order": order}, format="json").status_code == 200
    prompt.refresh_from_db()
    assert prompt.state == PromptState.COMPLETE
    consensus = PromptConsensus.objects.get(prompt=prompt)
    assert sorted(consensus.order) == sorted([answers[1].pk, answers[2].pk])
    assert consensus.rankers == 3
    answers[0].refresh_from_db()
    assert answers[0].consensus_rank is None


def test_head_takes_no_task(api, volunteer, volunteer2):
    """HEAD is a safe method (link checkers, proxies and monitors send it); answered as a GET
    it took a task each time, counted against the cap."""
    PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    r = api.head(NEXT, {"type": "review"})
    assert r.status_code == 405
    assert "HEAD" not in r["Allow"] and "GET" in r["Allow"]
    signed_in = Client()
    signed_in.force_login(volunteer)
    assert signed_in.head("/contribute/?type=review").status_code == 405
    assert not Assignment.objects.exists()
    assert api.get(NEXT, {"type": "review"}).status_code == 200  # GET still takes one


@pytest.mark.parametrize("action", ["submit", "skip"])
def test_a_task_taken_back_by_a_moderator_says_so_not_that_it_expired(
    api, volunteer2, moderator, action
):
    """API QA: a task released when its prompt was halted (or hidden, or its holder banned)
    was refused as "expired", well inside its time."""
    from apps.moderation.services import prompt_halt

    prompt = PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    task = api.get(NEXT, {"type": "review"}).json()
    prompt_halt(moderator=moderator, prompt=prompt, reason="off-topic")
    body = {"labels": [], "quality": 3} if action == "submit" else {}
    r = api.post(f"/api/v1/tasks/{task['id']}/{action}/", body, format="json")
    assert r.status_code == 409
    assert r.json() == {
        "detail": "This task was taken back: what it was for is no longer open. Take a new one."
    }


def test_a_write_task_with_an_instruction_already_in_hearth_names_that_prompt(api):
    """As POST /api/v1/prompts/ does (API QA F11): the prompt's id and API URL, beside the
    message; the task stays held, to be sent again with another instruction."""
    existing = PromptFactory(instruction="What is a hearth?")
    task = api.get(NEXT, {"type": "write"}).json()
    r = api.post(
        f"/api/v1/tasks/{task['id']}/submit/",
        {"instruction": "What is a hearth?", "category": "open_qa", "language": "en"},
        format="json",
    )
    assert r.status_code == 400
    assert r.json() == {
        "instruction": [
            f"This instruction is already in Hearth as prompt #{existing.pk}: "
            f"/prompts/{existing.pk}/"
        ],
        "existing_prompt": {
            "id": existing.pk,
            "url": f"http://testserver/api/v1/prompts/{existing.pk}/",
        },
    }
    assert Assignment.objects.get(pk=task["id"]).state == AssignmentState.ACTIVE
    operation = SchemaGenerator().get_schema(request=None, public=True)["paths"][
        "/api/v1/tasks/{task_id}/submit/"
    ]["post"]
    body = operation["responses"]["400"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/PromptValidationError"}
