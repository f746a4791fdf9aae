"""Flags, auto-hide, the moderator queue and actions, bans, and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.fields import DateTimeField

from apps.assignments.models import Assignment, AssignmentState
from apps.collection.models import Prompt, PromptState, ResponseState
from apps.collection.policy import current_policy
from apps.moderation import services
from apps.moderation.models import Flag, ModerationAction
from tests.conftest import client_for
from tests.factories import PromptFactory, ResponseFactory, UserFactory, reporter

pytestmark = pytest.mark.django_db


@pytest.fixture
def api_moderator(moderator):
    return client_for(moderator)


def test_a_volunteer_flags_a_prompt(api, volunteer2):
    prompt = PromptFactory(author=volunteer2)
    r = api.post(
        "/api/v1/flags/",
        {"prompt_id": prompt.pk, "reason": "pii", "note": "a phone number"},
        format="json",
    )
    assert r.status_code == 201
    flag = Flag.objects.get()
    assert (flag.prompt, flag.reason, flag.note) == (prompt, "pii", "a phone number")
    prompt.refresh_from_db()
    assert prompt.hidden_at is None


def test_flagging_twice_is_refused(api, volunteer2):
    prompt = PromptFactory(author=volunteer2)
    api.post("/api/v1/flags/", {"prompt_id": prompt.pk, "reason": "spam"}, format="json")
    r = api.post("/api/v1/flags/", {"prompt_id": prompt.pk, "reason": "spam"}, format="json")
    assert r.status_code == 400
    assert Flag.objects.count() == 1


def test_flags_need_exactly_one_target_and_a_known_reason(api):
    assert api.post("/api/v1/flags/", {"reason": "spam"}, format="json").status_code == 400
    prompt = PromptFactory()
    assert (
        api.post(
            "/api/v1/flags/", {"prompt_id": prompt.pk, "reason": "boring"}, format="json"
        ).status_code
        == 400
    )


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, "This field is required."),
        (
            {"reason": ""},
            (
                "“” is not a valid choice. Choose one of: spam, harmful, pii, copyright, "
                "machine_generated, other."
            ),
        ),
        ({"reason": None}, "This field may not be null."),
    ],
)
def test_a_flag_without_a_reason_is_refused(api, volunteer2, body, error):
    """The API never had a default reason: a report names what is wrong."""
    prompt = PromptFactory(author=volunteer2)
    r = api.post("/api/v1/flags/", {"prompt_id": prompt.pk, **body}, format="json")
    assert r.status_code == 400
    assert r.json() == {"reason": [error]}
    assert not Flag.objects.exists()


@pytest.mark.parametrize("field", ["prompt_id", "response_id"])
@pytest.mark.parametrize("kind", [str, float, bool])
def test_an_id_is_a_json_integer(api, volunteer2, field, kind):
    """Values keep their JSON types (README): "43" and 43.0 were read as 43."""
    answer = ResponseFactory(author=volunteer2)
    pk = {"prompt_id": answer.prompt.pk, "response_id": answer.pk}[field]
    value = True if kind is bool else kind(pk)
    r = api.post("/api/v1/flags/", {field: value, "reason": "spam"}, format="json")
    assert r.status_code == 400
    assert r.json() == {field: ["Must be a whole number (a JSON number)."]}
    assert not Flag.objects.exists()


def test_a_form_body_sends_its_id_as_text(api, volunteer2):
    prompt = PromptFactory(author=volunteer2)
    r = api.post("/api/v1/flags/", {"prompt_id": str(prompt.pk), "reason": "spam"})
    assert r.status_code == 201, r.json()
    assert Flag.objects.get().prompt == prompt


@pytest.mark.parametrize("pk", [0, -1, 2**31, 2**63, 10**30])
def test_an_id_no_row_can_have_is_404(api, pk):
    r = api.post("/api/v1/flags/", {"prompt_id": pk, "reason": "spam"}, format="json")
    assert r.status_code == 404
    assert not Flag.objects.exists()


def test_a_hidden_or_unknown_target_is_404(api):
    prompt = PromptFactory(state=PromptState.REVIEW)
    assert (
        api.post(
            "/api/v1/flags/", {"prompt_id": prompt.pk, "reason": "spam"}, format="json"
        ).status_code
        == 404
    )


def test_every_404_says_the_same_thing(api_moderator, api_maintainer):
    """Moderation, releases and training once said DRF's bare "Not found."."""
    expected = {"detail": "Not found, or you may not see it."}
    for r in (
        api_moderator.post(
            "/api/v1/moderation/prompts/999999/hide/", {"reason": "x"}, format="json"
        ),
        api_maintainer.post("/api/v1/releases/v999/publish/"),
        api_maintainer.get("/api/v1/training-runs/999999/"),
        api_moderator.get("/api/v1/prompts/999999/"),
    ):
        assert (r.status_code, r.json()) == (404, expected), r.request["PATH_INFO"]


def test_enough_flags_hide_an_answer_and_free_its_place(make_volunteer):
    prompt = PromptFactory(state=PromptState.COLLECTING, open_slots=0)
    answer = ResponseFactory(prompt=prompt, state=ResponseState.ACCEPTED)
    for _ in range(current_policy().auto_hide_flags):
        r = client_for(reporter(make_volunteer())).post(
            "/api/v1/flags/", {"response_id": answer.pk, "reason": "harmful"}, format="json"
        )
        assert r.status_code == 201
    answer.refresh_from_db()
    prompt.refresh_from_db()
    assert answer.hidden_at is not None
    assert prompt.open_slots == 1
    log = ModerationAction.objects.get()
    assert (log.action, log.actor, log.response) == ("auto_hide", None, answer)


def test_reports_from_accounts_with_no_accepted_work_do_not_hide_but_reach_the_queue(
    make_volunteer, api_moderator
):
    """Security QA: three accounts signed up a minute before could hide any prompt or answer
    until a moderator looked. Their reports still go to the queue; only reports from
    volunteers whose work others accepted hide an item on their own."""
    answer = ResponseFactory(state=ResponseState.ACCEPTED)
    needed = current_policy().auto_hide_flags
    for _ in range(needed * 2):
        r = client_for(make_volunteer()).post(
            "/api/v1/flags/", {"response_id": answer.pk, "reason": "harmful"}, format="json"
        )
        assert r.status_code == 201
    answer.refresh_from_db()
    assert answer.hidden_at is None and not ModerationAction.objects.exists()
    queued = api_moderator.get("/api/v1/moderation/queue/").json()["results"]
    assert [(q["id"], q["open_flags"], q["hidden"]) for q in queued] == [
        (answer.pk, needed * 2, False)
    ]
    # Established reporters' flags count alongside: the item hides once they reach the count.
    for _ in range(needed - 1):
        services.flag_create(reporter=reporter(make_volunteer()), target=answer, reason="spam")
    answer.refresh_from_db()
    assert answer.hidden_at is None
    services.flag_create(reporter=reporter(make_volunteer()), target=answer, reason="spam")
    answer.refresh_from_db()
    assert answer.hidden_at is not None


def test_the_queue_is_for_moderators_only(api, api_moderator, volunteer, volunteer2):
    prompt = PromptFactory(author=volunteer2)
    api.post("/api/v1/flags/", {"prompt_id": prompt.pk, "reason": "spam"}, format="json")
    assert api.get("/api/v1/moderation/queue/").status_code == 403
    r = api_moderator.get("/api/v1/moderation/queue/")
    assert r.status_code == 200
    flag = Flag.objects.get()
    assert r.json() == {
        "count": 1,
        "next": None,
        "previous": None,
        "results": [
            {
                "kind": "prompt",
                "id": prompt.pk,
                "text": prompt.instruction,
                "hidden": False,
                "open_flags": 1,
                "reasons": ["spam"],
                "flags": [
                    {
                        "id": flag.pk,
                        "reason": "spam",
                        "note": "",
                        "created_at": DateTimeField().to_representation(flag.created_at),
                        "reporter": {"id": volunteer.pk, "public_name": "Ada", "banned": False},
                    }
                ],
                "banned_reporters": 0,
            }
        ],
    }


def test_a_moderator_hides_and_restores_with_an_audit_trail(api_moderator, moderator):
    prompt = PromptFactory()
    r = api_moderator.post(
        f"/api/v1/moderation/prompts/{prompt.pk}/hide/", {"reason": "doxxing"}, format="json"
    )
    assert r.status_code == 200
    assert r.json() == {"kind": "prompt", "id": prompt.pk, "action": "hide"}
    prompt.refresh_from_db()
    assert prompt.hidden_at is not None
    api_moderator.post(
        f"/api/v1/moderation/prompts/{prompt.pk}/restore/", {"reason": "false alarm"}, format="json"
    )
    prompt.refresh_from_db()
    assert prompt.hidden_at is None
    log = api_moderator.get("/api/v1/moderation/log/").json()["results"]
    assert [(x["action"], x["reason"], x["prompt"]) for x in log] == [
        ("restore", "false alarm", prompt.pk),
        ("hide", "doxxing", prompt.pk),
    ]


def test_hiding_needs_a_reason(api_moderator):
    prompt = PromptFactory()
    r = api_moderator.post(f"/api/v1/moderation/prompts/{prompt.pk}/hide/", {}, format="json")
    assert r.status_code == 400
    assert "audit log" in r.json()["reason"][0]


def test_volunteers_cannot_moderate(api):
    prompt = PromptFactory()
    r = api.post(f"/api/v1/moderation/prompts/{prompt.pk}/hide/", {"reason": "x"}, format="json")
    assert r.status_code == 403
    prompt.refresh_from_db()
    assert prompt.hidden_at is None


def test_halting_a_prompt_releases_its_tasks(api_moderator, api, volunteer2):
    prompt = PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    task = api.get("/api/v1/tasks/next/", {"type": "review"}).json()
    r = api_moderator.post(
        f"/api/v1/moderation/prompts/{prompt.pk}/halt/", {"reason": "off-topic"}, format="json"
    )
    assert r.status_code == 200
    prompt.refresh_from_db()
    assert prompt.state == PromptState.HALTED
    assert Assignment.objects.get(pk=task["id"]).state == AssignmentState.RELEASED
    s = api.post(f"/api/v1/tasks/{task['id']}/submit/", {"labels": [], "quality": 3}, format="json")
    assert s.status_code == 409


def test_a_ban_releases_open_tasks_and_blocks_work_until_unbanned(
    api_moderator, api, volunteer, volunteer2
):
    prompt = PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    api.get("/api/v1/tasks/next/", {"type": "review"})
    r = api_moderator.post(
        f"/api/v1/moderation/users/{volunteer.pk}/ban/", {"reason": "spam bot"}, format="json"
    )
    assert r.status_code == 200
    assert r.json() == {"user": volunteer.pk, "action": "ban"}
    volunteer.refresh_from_db()
    assert volunteer.banned_at is not None
    prompt.refresh_from_db()
    assert prompt.open_slots == 2
    assert api.get("/api/v1/tasks/next/").status_code == 403
    api_moderator.post(f"/api/v1/moderation/users/{volunteer.pk}/unban/", {}, format="json")
    assert api.get("/api/v1/tasks/next/").status_code == 200
    assert list(ModerationAction.objects.values_list("action", flat=True)) == ["unban", "ban"]


def test_moderators_cannot_ban_each_other(api_moderator, make_volunteer):
    from django.contrib.auth.models import Group

    other = make_volunteer()
    other.groups.add(Group.objects.get(name="moderator"))
    r = api_moderator.post(
        f"/api/v1/moderation/users/{other.pk}/ban/", {"reason": "x"}, format="json"
    )
    assert r.status_code == 403


def test_the_schema_lists_the_moderation_actions_and_what_they_answer(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()

    def operation(path):
        post = schema["paths"][path]["post"]
        enums = {
            p["name"]: p["schema"].get("enum") for p in post["parameters"] if p["in"] == "path"
        }
        ref = post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        answer = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
        return post, enums, sorted(answer["properties"])

    content, enums, answer = operation("/api/v1/moderation/{kind}s/{target_id}/{action}/")
    assert enums == {
        "kind": ["prompt", "response"],
        "target_id": None,
        "action": ["dismiss", "halt", "hide", "restore"],
    }
    assert answer == ["action", "id", "kind"]
    assert "prompts/" in content["description"] and "{prompts|" not in content["description"]
    _, enums, answer = operation("/api/v1/moderation/users/{user_id}/{action}/")
    assert enums == {"user_id": None, "action": ["ban", "unban"]}
    assert answer == ["action", "user"]


# --- a retry never duplicates: an action with nothing to change logs nothing -----------------


def _log_rows():
    return list(ModerationAction.objects.order_by("id").values_list("action", "reason"))


def test_hiding_twice_answers_200_and_logs_once(api_moderator):
    prompt = PromptFactory()
    url = f"/api/v1/moderation/prompts/{prompt.pk}/hide/"
    first = api_moderator.post(url, {"reason": "r"}, format="json")
    prompt.refresh_from_db()
    hidden_at = prompt.hidden_at
    again = api_moderator.post(url, {"reason": "r"}, format="json")
    assert first.status_code == again.status_code == 200
    assert again.json() == {"kind": "prompt", "id": prompt.pk, "action": "hide"}
    prompt.refresh_from_db()
    assert prompt.hidden_at == hidden_at
    log = api_moderator.get("/api/v1/moderation/log/").json()
    assert log["count"] == 1
    assert [(x["action"], x["reason"]) for x in log["results"]] == [("hide", "r")]


def test_hiding_an_auto_hidden_answer_confirms_it_once(api_moderator, moderator, make_volunteer):
    prompt = PromptFactory(state=PromptState.COLLECTING, open_slots=0)
    answer = ResponseFactory(prompt=prompt, state=ResponseState.ACCEPTED)
    flags = current_policy().auto_hide_flags
    for _ in range(flags):
        client_for(reporter(make_volunteer())).post(
            "/api/v1/flags/", {"response_id": answer.pk, "reason": "harmful"}, format="json"
        )
    answer.refresh_from_db()
    assert answer.hidden_at is not None
    url = f"/api/v1/moderation/responses/{answer.pk}/hide/"
    for _ in range(2):
        r = api_moderator.post(url, {"reason": "abusive"}, format="json")
        assert r.status_code == 200
    assert _log_rows() == [("auto_hide", f"{flags} flags"), ("hide", "abusive")]
    assert not Flag.objects.filter(resolved_at__isnull=True).exists()
    assert set(Flag.objects.values_list("resolved_by", flat=True)) == {moderator.pk}
    prompt.refresh_from_db()
    assert prompt.open_slots == 1  # the auto-hide gave the place back, and only it


def test_dismissing_twice_logs_once(api_moderator, api, volunteer2):
    prompt = PromptFactory(author=volunteer2)
    api.post("/api/v1/flags/", {"prompt_id": prompt.pk, "reason": "spam"}, format="json")
    url = f"/api/v1/moderation/prompts/{prompt.pk}/dismiss/"
    for _ in range(2):
        assert api_moderator.post(url, {"reason": "fine"}, format="json").status_code == 200
    assert _log_rows() == [("dismiss", "fine")]


def test_restoring_an_item_that_is_not_hidden_is_refused(api_moderator):
    prompt = PromptFactory()
    answer = ResponseFactory()
    r = api_moderator.post(f"/api/v1/moderation/prompts/{prompt.pk}/restore/", {}, format="json")
    assert r.status_code == 409
    assert r.json() == {"detail": f"Prompt #{prompt.pk} is not hidden."}
    r = api_moderator.post(
        f"/api/v1/moderation/responses/{answer.pk}/restore/", {"reason": "r"}, format="json"
    )
    assert r.json() == {"detail": f"Answer #{answer.pk} is not hidden."}
    assert _log_rows() == []


def test_restoring_twice_is_refused_the_second_time(api_moderator):
    prompt = PromptFactory()
    api_moderator.post(
        f"/api/v1/moderation/prompts/{prompt.pk}/hide/", {"reason": "r"}, format="json"
    )
    url = f"/api/v1/moderation/prompts/{prompt.pk}/restore/"
    assert api_moderator.post(url, {}, format="json").status_code == 200
    assert api_moderator.post(url, {}, format="json").status_code == 409
    assert _log_rows() == [("hide", "r"), ("restore", "")]


def test_halting_twice_is_refused_not_a_server_error(api_moderator):
    prompt = PromptFactory(state=PromptState.REVIEW)
    url = f"/api/v1/moderation/prompts/{prompt.pk}/halt/"
    assert api_moderator.post(url, {"reason": "off-topic"}, format="json").status_code == 200
    r = api_moderator.post(url, {"reason": "off-topic"}, format="json")
    assert r.status_code == 409
    assert r.json() == {"detail": f"Prompt #{prompt.pk} is already halted."}
    complete = PromptFactory(state=PromptState.COMPLETE)
    r = api_moderator.post(
        f"/api/v1/moderation/prompts/{complete.pk}/halt/", {"reason": "x"}, format="json"
    )
    assert r.status_code == 409
    assert r.json() == {"detail": f"Prompt #{complete.pk} can no longer be halted: it is Complete."}
    assert _log_rows() == [("halt", "off-topic")]


def test_banning_a_banned_user_is_refused_and_keeps_the_first_reason(api_moderator, volunteer):
    url = f"/api/v1/moderation/users/{volunteer.pk}/ban/"
    assert api_moderator.post(url, {"reason": "spam bot"}, format="json").status_code == 200
    volunteer.refresh_from_db()
    banned_at = volunteer.banned_at
    r = api_moderator.post(url, {"reason": "again"}, format="json")
    assert r.status_code == 409
    assert r.json() == {"detail": "Ada is already banned."}
    volunteer.refresh_from_db()
    assert (volunteer.banned_at, volunteer.ban_reason) == (banned_at, "spam bot")
    assert _log_rows() == [("ban", "spam bot")]


def test_unbanning_a_user_who_is_not_banned_is_refused(api_moderator, moderator, maintainer):
    r = api_moderator.post(f"/api/v1/moderation/users/{maintainer.pk}/unban/", {}, format="json")
    assert r.status_code == 409
    assert r.json() == {"detail": "Maintainer is not banned."}
    r = api_moderator.post(f"/api/v1/moderation/users/{moderator.pk}/unban/", {}, format="json")
    assert r.status_code == 409
    assert r.json() == {"detail": "Moderator is not banned."}
    assert _log_rows() == []


# --- the queue and the log are paged like every list ------------------------------------------

QUEUE = "/api/v1/moderation/queue/"


def _flagged(target, *, flags: int, at: datetime, hidden: bool = False) -> tuple[str, int]:
    """``flags`` open flags on ``target``, the first raised at ``at`` (and a resolved one, which
    the queue ignores); hidden if asked, as flags hide. Returns its (kind, id) in the queue."""
    kind = "prompt" if isinstance(target, Prompt) else "response"
    for i in range(flags):
        flag = Flag.objects.create(reporter=UserFactory(), reason="spam", **{kind: target})
        Flag.objects.filter(pk=flag.pk).update(created_at=at + timedelta(minutes=i))
    Flag.objects.create(
        reporter=UserFactory(), reason="pii", resolved_at=timezone.now(), **{kind: target}
    )
    if hidden:
        type(target).objects.filter(pk=target.pk).update(hidden_at=timezone.now())
    return kind, target.pk


def _walk(api, url: str) -> list[dict]:
    """Every page from ``url`` on, by the next links; each page's body."""
    pages = []
    while url:
        r = api.get(url)
        assert r.status_code == 200, r.json()
        pages.append(r.json())
        url = r.json()["next"]
    return pages


def test_the_queue_is_paged_hidden_first_then_most_flagged_then_longest_waiting(api_moderator):
    t = datetime(2026, 11, 1, tzinfo=UTC)
    hours = [t + timedelta(hours=h) for h in range(6)]
    PromptFactory()  # never flagged: not listed
    Flag.objects.create(
        reporter=UserFactory(), reason="spam", resolved_at=timezone.now(), prompt=PromptFactory()
    )  # its only flag resolved: not listed
    hidden_later = _flagged(ResponseFactory(), flags=2, at=hours[3], hidden=True)
    hidden_earlier = _flagged(PromptFactory(), flags=2, at=hours[1], hidden=True)
    most_flagged = _flagged(PromptFactory(), flags=3, at=hours[5])
    # Flagged at the same moment: the prompt first, then the answer (ids break the tie).
    answer_at_0 = _flagged(ResponseFactory(), flags=1, at=hours[0])
    prompt_at_0 = _flagged(PromptFactory(), flags=1, at=hours[0])
    latest = _flagged(PromptFactory(), flags=1, at=hours[2])
    expected = [hidden_earlier, hidden_later, most_flagged, prompt_at_0, answer_at_0, latest]

    pages = _walk(api_moderator, f"{QUEUE}?page_size=2")
    assert [p["count"] for p in pages] == [6, 6, 6]
    assert [[(i["kind"], i["id"]) for i in p["results"]] for p in pages] == [
        expected[0:2],
        expected[2:4],
        expected[4:6],
    ]
    assert pages[0]["previous"] is None
    assert pages[0]["next"].endswith(f"{QUEUE}?page=2&page_size=2")
    assert pages[1]["previous"].endswith(f"{QUEUE}?page_size=2")
    assert pages[2]["next"] is None
    # The same order in one page, and again on a second read.
    whole = api_moderator.get(QUEUE, {"page_size": 100}).json()
    assert [(i["kind"], i["id"]) for i in whole["results"]] == expected
    assert api_moderator.get(QUEUE, {"page_size": 100}).json() == whole
    assert [(i["hidden"], i["open_flags"]) for i in whole["results"]] == [
        (True, 2), (True, 2), (False, 3), (False, 1), (False, 1), (False, 1),
    ]  # fmt: skip
    assert api_moderator.get(QUEUE, {"page": 4, "page_size": 2}).status_code == 404


def test_the_queue_gives_20_items_a_page_unless_asked(api_moderator):
    t = datetime(2026, 11, 1, tzinfo=UTC)
    for i in range(21):
        _flagged(PromptFactory(), flags=1, at=t + timedelta(hours=i))
    first = api_moderator.get(QUEUE).json()
    assert (first["count"], len(first["results"])) == (21, 20)
    assert first["next"].endswith(f"{QUEUE}?page=2")
    second = api_moderator.get(first["next"]).json()
    assert len(second["results"]) == 1 and second["next"] is None
    seen = [i["id"] for i in first["results"] + second["results"]]
    assert len(set(seen)) == 21
    assert len(api_moderator.get(QUEUE, {"page_size": 5}).json()["results"]) == 5


def test_the_log_is_paged_newest_first_and_entries_of_one_moment_by_id(api_moderator, moderator):
    prompt = PromptFactory()
    for i in range(5):
        ModerationAction.objects.create(
            actor=moderator, action="hide", reason=f"r{i}", prompt=prompt
        )
    ModerationAction.objects.update(created_at=datetime(2026, 11, 1, tzinfo=UTC))
    newest = ModerationAction.objects.create(actor=None, action="auto_hide", prompt=prompt)
    pages = _walk(api_moderator, "/api/v1/moderation/log/?page_size=2")
    assert [p["count"] for p in pages] == [6, 6, 6]
    ids = [entry["id"] for p in pages for entry in p["results"]]
    older = sorted(ModerationAction.objects.exclude(pk=newest.pk).values_list("pk", flat=True))
    assert ids == [newest.pk, *reversed(older)]
    assert pages[0]["next"].endswith("/api/v1/moderation/log/?page=2&page_size=2")
    assert pages[0]["results"][0]["actor"] is None


def test_a_banned_account_cannot_report_through_the_api(volunteer, volunteer2):
    """The report page refused a suspended account, the API did not: a banned person could
    still flag others' work, and enough flags hide it."""
    volunteer.banned_at = timezone.now()
    volunteer.ban_reason = "brigading"
    volunteer.save()
    prompt = PromptFactory(author=volunteer2, state=PromptState.COLLECTING)
    r = client_for(volunteer).post(
        "/api/v1/flags/", {"prompt_id": prompt.pk, "reason": "spam"}, format="json"
    )
    assert (r.status_code, r.json()) == (
        403,
        {"detail": "Your account is suspended from contributing: brigading"},
    )
    assert not Flag.objects.exists()


@pytest.mark.parametrize(
    ("note", "message"),
    [
        ("look \x1b[2Jhere", "The note contains a control character (U+001B); remove it."),
        ("ring\x07", "The note contains a control character (U+0007); remove it."),
    ],
)
def test_a_flag_note_with_control_characters_is_refused(api, volunteer2, note, message):
    """The skip reason refused them; the note, which moderators read, stored them."""
    prompt = PromptFactory(author=volunteer2)
    r = api.post(
        "/api/v1/flags/", {"prompt_id": prompt.pk, "reason": "spam", "note": note}, format="json"
    )
    assert (r.status_code, r.json()) == (400, {"note": [message]})
    assert not Flag.objects.exists()


def test_a_flag_note_keeps_its_lines_and_loses_its_outer_spaces(api, volunteer2):
    prompt = PromptFactory(author=volunteer2)
    r = api.post(
        "/api/v1/flags/",
        {"prompt_id": prompt.pk, "reason": "pii", "note": "  a phone number\r\nin line 2  "},
        format="json",
    )
    assert r.status_code == 201, r.json()
    assert Flag.objects.get().note == "a phone number\nin line 2"
