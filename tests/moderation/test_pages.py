from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from apps.accounts import roles
from apps.collection.models import Prompt, PromptState
from apps.collection.policy import current_policy
from apps.moderation import services
from apps.moderation.models import Flag, ModerationAction
from tests.factories import PromptFactory, ResponseFactory, reporter
from tests.marked_gettext import marked_gettext

pytestmark = pytest.mark.django_db


def _input(html: str, field_id: str) -> str:
    """The <input> tag with this id."""
    found = re.search(rf'<input [^>]*id="{field_id}"[^>]*>', html)
    assert found, field_id
    return found.group()


def _web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _flagged_shown_and_hidden(reporter, author) -> tuple[Prompt, Prompt]:
    """Two of ``author``'s prompts that ``reporter`` flagged, one still shown, one hidden."""
    shown = PromptFactory(author=author, state=PromptState.COLLECTING)
    hidden = PromptFactory(author=author, state=PromptState.COLLECTING, hidden_at=timezone.now())
    for prompt in (shown, hidden):
        Flag.objects.create(reporter=reporter, prompt=prompt, reason="spam")
    return shown, hidden


def test_a_volunteer_reports_a_prompt_from_its_page(volunteer, volunteer2):
    prompt = PromptFactory(author=volunteer2)
    web = _web(volunteer)
    assert "Send report" in web.get(f"/prompts/{prompt.pk}/").content.decode()
    r = web.post(f"/flag/prompt/{prompt.pk}/", {"reason": "pii", "note": "an address"})
    assert r.status_code == 302
    assert Flag.objects.get().reason == "pii"


def test_the_report_form_starts_on_no_reason_and_requires_one(volunteer, volunteer2):
    prompt = PromptFactory(author=volunteer2, state=PromptState.COLLECTING)
    ResponseFactory(prompt=prompt, author=volunteer2)
    html = _web(volunteer).get(f"/prompts/{prompt.pk}/").content.decode()
    selects = re.findall(r'<select name="reason"[^>]*>\s*<option[^>]*>[^<]*</option>', html)
    assert len(selects) == 2  # the prompt's and the answer's
    for select in selects:
        assert " required>" in select
        assert select.endswith('<option value="">Choose a reason…</option>')


@pytest.mark.parametrize("sent", [{}, {"reason": ""}, {"reason": "   "}])
def test_a_report_without_a_reason_is_refused_with_a_message(volunteer, volunteer2, sent):
    prompt = PromptFactory(author=volunteer2, state=PromptState.COLLECTING)
    r = _web(volunteer).post(f"/flag/prompt/{prompt.pk}/", {**sent, "note": "hm"}, follow=True)
    assert r.redirect_chain == [(f"/prompts/{prompt.pk}/", 302)]
    html = r.content.decode()
    assert "Choose a reason for the report." in html
    assert "Thank you" not in html
    assert not Flag.objects.exists()


def test_authors_get_no_report_button_on_their_own_work(volunteer):
    prompt = PromptFactory(author=volunteer)
    assert "Send report" not in _web(volunteer).get(f"/prompts/{prompt.pk}/").content.decode()


def test_the_queue_page_is_for_moderators(volunteer, moderator, volunteer2):
    prompt = PromptFactory(author=volunteer2, instruction="A flagged instruction here")
    Flag.objects.create(reporter=volunteer, prompt=prompt, reason="spam")
    assert _web(volunteer).get("/moderation/").status_code == 403
    html = _web(moderator).get("/moderation/").content.decode()
    assert "A flagged instruction here" in html
    assert "1 open flag" in html


def test_a_moderator_hides_from_the_queue_and_it_is_logged(moderator, volunteer, volunteer2):
    prompt = PromptFactory(author=volunteer2)
    Flag.objects.create(reporter=volunteer, prompt=prompt, reason="spam")
    web = _web(moderator)
    r = web.post(f"/moderation/prompt/{prompt.pk}/hide/", {"reason": "advert"})
    assert r.status_code == 302
    prompt.refresh_from_db()
    assert prompt.hidden_at is not None
    assert ModerationAction.objects.get().reason == "advert"
    assert "advert" in web.get("/moderation/log/").content.decode()


def test_a_missing_reason_is_shown_not_saved(moderator):
    prompt = PromptFactory(state=PromptState.COLLECTING)
    web = _web(moderator)
    r = web.post(f"/moderation/prompt/{prompt.pk}/hide/", {"reason": ""}, follow=True)
    assert "audit log" in r.content.decode()
    prompt.refresh_from_db()
    assert prompt.hidden_at is None


def test_the_browser_asks_for_a_reason_before_the_actions_that_need_one(
    moderator, volunteer, volunteer2
):
    shown, hidden = _flagged_shown_and_hidden(volunteer, volunteer2)
    html = _web(moderator).get("/moderation/").content.decode()

    def button(action: str, pk: int, kind: str = "prompt") -> str:
        found = re.search(
            rf'<button [^>]*formaction="/moderation/{kind}/{pk}/{action}/"[^>]*>', html
        )
        assert found, (action, pk)
        return found.group()

    for prompt in (shown, hidden):
        assert " required" in _input(html, f"reason-prompt-{prompt.pk}")
        # Hide, Keep hidden, Halt and Ban need the reason, so the browser checks it before
        # Hide's or Ban's confirm dialog; Restore, Dismiss and Unban take none.
        assert "formnovalidate" not in button("hide", prompt.pk)
        assert "formnovalidate" not in button("halt", prompt.pk)
    assert "formnovalidate" not in button("ban", volunteer2.pk, kind="user")
    assert "formnovalidate" in button("dismiss", shown.pk)
    assert "formnovalidate" in button("restore", hidden.pk)
    volunteer2.banned_at = timezone.now()
    volunteer2.save()
    html = _web(moderator).get("/moderation/").content.decode()
    assert "formnovalidate" in button("unban", volunteer2.pk, kind="user")


def test_a_refused_action_names_its_pages_address_for_the_address_bar(
    moderator, volunteer, volunteer2
):
    prompt = PromptFactory(author=volunteer2)
    Flag.objects.create(reporter=volunteer, prompt=prompt, reason="spam")
    web = _web(moderator)
    r = web.post(f"/moderation/prompt/{prompt.pk}/hide/?page=1", {"reason": "", "back": "queue"})
    assert r.status_code == 400
    assert '<div role="alert" data-address="/moderation/?page=1">' in r.content.decode()
    r = web.post(f"/moderation/user/{volunteer2.pk}/unban/", {"back": "hidden"})
    assert r.status_code == 400
    assert '<div role="alert" data-address="/moderation/hidden/">' in r.content.decode()


@pytest.mark.parametrize(
    ("path", "page"),
    [
        ("/moderation/prompt/{pk}/hide/", "/moderation/"),
        ("/moderation/prompt/{pk}/hide/?page=2", "/moderation/?page=2"),
        ("/moderation/prompt/{pk}/restore/?prompt_page=2", "/moderation/hidden/?prompt_page=2"),
        ("/moderation/user/{author}/ban/", "/moderation/"),
    ],
)
def test_visiting_an_actions_address_goes_to_its_page_and_does_nothing(
    moderator, volunteer, volunteer2, path, page
):
    prompt = PromptFactory(author=volunteer2)
    Flag.objects.create(reporter=volunteer, prompt=prompt, reason="spam")
    r = _web(moderator).get(path.format(pk=prompt.pk, author=volunteer2.pk))
    assert r.status_code == 302 and r.url == page
    assert not ModerationAction.objects.exists()
    assert Flag.objects.get().resolved_at is None
    # The page is still the moderators' alone.
    r = _web(volunteer).get(path.format(pk=prompt.pk, author=volunteer2.pk))
    assert r.status_code == 403


def test_the_queue_sets_each_items_reports_apart_from_its_text(moderator, volunteer, volunteer2):
    prompt = PromptFactory(author=volunteer2, instruction="Buy cheap watches")
    Flag.objects.create(reporter=volunteer, prompt=prompt, reason="spam")
    html = _web(moderator).get("/moderation/").content.decode()
    flags_end = html.index("</ul>", html.index('<ul class="flags"'))
    assert re.match(
        r'</ul>\s*<p class="card-title">The flagged prompt</p>\s*<div lang="en" class="markdown" dir="auto"><p>Buy cheap',
        html[flags_end:],
    )


def test_the_audit_log_shows_dates_like_the_rest_of_the_site(moderator):
    entry = ModerationAction.objects.create(actor=moderator, action="hide", reason="advert")
    ModerationAction.objects.filter(pk=entry.pk).update(
        created_at=datetime(2026, 11, 27, 0, 37, tzinfo=UTC)
    )
    html = _web(moderator).get("/moderation/log/").content.decode()
    assert '<time datetime="2026-11-27T00:37:00+00:00">27 Nov 2026, 00:37</time>' in html
    assert "11/27/2026" not in html and "a.m." not in html


def test_the_queue_shows_what_each_reporter_said_and_the_whole_prompt(
    moderator, volunteer, volunteer2
):
    prompt = PromptFactory(
        author=volunteer2, instruction="Summarise the text", context="A phone number: 555-0100"
    )
    Flag.objects.create(
        reporter=volunteer, prompt=prompt, reason="pii", note="<b>Has</b> a phone number"
    )
    html = _web(moderator).get("/moderation/").content.decode()
    assert "Personal information" in html
    assert "&lt;b&gt;Has&lt;/b&gt; a phone number" in html
    assert "<b>Has</b>" not in html
    assert "A phone number: 555-0100" in html
    assert f'href="/prompts/{prompt.pk}/"' in html


def test_the_queue_shows_a_flagged_answer_with_the_prompt_it_answers(
    moderator, volunteer, volunteer2
):
    answer = ResponseFactory(
        author=volunteer2,
        prompt=PromptFactory(instruction="Name a river in Spain"),
        text="The Ebro, and buy my pills",
    )
    Flag.objects.create(reporter=volunteer, response=answer, reason="spam", note="an advert")
    html = _web(moderator).get("/moderation/").content.decode()
    assert "Name a river in Spain" in html
    assert "The Ebro, and buy my pills" in html
    assert "Spam or advertising" in html and "an advert" in html
    assert f'href="/prompts/{answer.prompt_id}/#response-{answer.pk}"' in html


def test_the_hidden_page_is_for_moderators_and_says_when_it_is_empty(volunteer, moderator):
    assert _web(volunteer).get("/moderation/hidden/").status_code == 403
    html = _web(moderator).get("/moderation/hidden/").content.decode()
    assert "No prompt is hidden." in html
    assert "No answer is hidden." in html
    assert "Nobody is banned." in html
    assert 'href="/moderation/hidden/"' in _web(moderator).get("/moderation/").content.decode()


def test_a_moderator_restores_hidden_content_from_the_hidden_page(moderator, volunteer, volunteer2):
    prompt = PromptFactory(author=volunteer2, instruction="A hidden instruction")
    answer = ResponseFactory(author=volunteer2, text="A hidden answer")
    Flag.objects.create(reporter=volunteer, prompt=prompt, reason="spam")
    web = _web(moderator)
    web.post(f"/moderation/prompt/{prompt.pk}/hide/", {"reason": "advert"})
    web.post(f"/moderation/response/{answer.pk}/hide/", {"reason": "advert"})
    # Hiding resolves the flags, so the queue no longer lists them; this page does.
    assert "A hidden instruction" not in web.get("/moderation/").content.decode()
    html = web.get("/moderation/hidden/").content.decode()
    assert "A hidden instruction" in html and "A hidden answer" in html

    r = web.post(
        f"/moderation/prompt/{prompt.pk}/restore/", {"reason": "not an advert", "back": "hidden"}
    )
    assert r.status_code == 302 and r.url == "/moderation/hidden/"
    prompt.refresh_from_db()
    assert prompt.hidden_at is None
    entry = ModerationAction.objects.filter(action="restore").get()
    assert (entry.prompt_id, entry.actor_id, entry.reason) == (
        prompt.pk,
        moderator.pk,
        "not an advert",
    )
    html = web.get("/moderation/hidden/").content.decode()
    assert "A hidden instruction" not in html and "A hidden answer" in html


def test_a_moderator_unbans_from_the_hidden_page(moderator, volunteer):
    volunteer.banned_at = timezone.now()
    volunteer.ban_reason = "spam bot"
    volunteer.save()
    web = _web(moderator)
    html = web.get("/moderation/hidden/").content.decode()
    assert volunteer.email in html and "spam bot" in html
    r = web.post(f"/moderation/user/{volunteer.pk}/unban/", {"back": "hidden"})
    assert r.url == "/moderation/hidden/"
    volunteer.refresh_from_db()
    assert volunteer.banned_at is None
    assert "Nobody is banned." in web.get("/moderation/hidden/").content.decode()


def test_an_unknown_back_goes_to_the_queue(moderator, volunteer2):
    prompt = PromptFactory(author=volunteer2)
    r = _web(moderator).post(
        f"/moderation/prompt/{prompt.pk}/dismiss/", {"back": "https://evil.example/"}
    )
    assert r.url == "/moderation/"


def test_banning_a_maintainer_is_refused_inline_naming_the_role(moderator, maintainer):
    r = _web(moderator).post(f"/moderation/user/{maintainer.pk}/ban/", {"reason": "x"})
    assert r.status_code == 403
    html = r.content.decode()
    assert "Moderation queue" in html
    assert "Only an administrator may ban a maintainer." in html
    maintainer.refresh_from_db()
    assert maintainer.banned_at is None


def test_banning_a_moderator_is_refused_inline_like_banning_yourself(moderator, make_volunteer):
    other = make_volunteer()
    other.groups.add(Group.objects.get(name=roles.MODERATOR))
    web = _web(moderator)
    r = web.post(f"/moderation/user/{other.pk}/ban/", {"reason": "x"})
    assert r.status_code == 403
    assert "Only an administrator may ban a moderator." in r.content.decode()
    r = web.post(f"/moderation/user/{moderator.pk}/ban/", {"reason": "x"})
    assert r.status_code == 400
    assert "You cannot ban yourself." in r.content.decode()
    other.refresh_from_db()
    assert other.banned_at is None


# --- a repeat (a double click, the back button) never writes a second log row -----------------


def test_unbanning_twice_from_the_hidden_page_says_the_user_is_not_banned(moderator, volunteer):
    volunteer.banned_at = timezone.now()
    volunteer.save()
    web = _web(moderator)
    url = f"/moderation/user/{volunteer.pk}/unban/"
    assert web.post(url, {"back": "hidden", "reason": "appealed"}).status_code == 302
    r = web.post(url, {"back": "hidden", "reason": "appealed"})
    assert r.status_code == 400
    html = r.content.decode()
    assert "<h1>Hidden content and banned users</h1>" in html
    assert '<li class="message error" id="action-error">Ada is not banned.</li>' in html
    assert list(ModerationAction.objects.values_list("action", flat=True)) == ["unban"]


def test_a_moderator_unbanning_a_maintainer_or_themselves_is_refused(moderator, maintainer):
    web = _web(moderator)
    for person in (maintainer, moderator):
        r = web.post(f"/moderation/user/{person.pk}/unban/", {"back": "hidden"})
        assert r.status_code == 400
        assert f"{person.display_name} is not banned." in r.content.decode()
    assert not ModerationAction.objects.exists()


def test_hiding_twice_from_the_queue_changes_nothing_the_second_time(
    moderator, volunteer, volunteer2
):
    prompt = PromptFactory(author=volunteer2)
    Flag.objects.create(reporter=volunteer, prompt=prompt, reason="spam")
    web = _web(moderator)
    url = f"/moderation/prompt/{prompt.pk}/hide/"
    first = web.post(url, {"reason": "advert", "back": "queue"}, follow=True)
    assert "Done; it is in the audit log." in first.content.decode()
    again = web.post(url, {"reason": "advert", "back": "queue"}, follow=True)
    assert again.redirect_chain == [("/moderation/", 302)]
    html = again.content.decode()
    assert "Nothing to do: it was already hidden and had no open flag." in html
    assert "Done; it is in the audit log." not in html
    assert list(ModerationAction.objects.values_list("action", "reason")) == [("hide", "advert")]


def test_dismissing_twice_from_the_queue_logs_once(moderator, volunteer, volunteer2):
    prompt = PromptFactory(author=volunteer2)
    Flag.objects.create(reporter=volunteer, prompt=prompt, reason="spam")
    web = _web(moderator)
    url = f"/moderation/prompt/{prompt.pk}/dismiss/"
    web.post(url, {"back": "queue"})
    r = web.post(url, {"back": "queue"}, follow=True)
    assert "Nothing to do: it had no open flag." in r.content.decode()
    assert ModerationAction.objects.count() == 1


def test_a_refusal_from_the_queue_keeps_the_reason_in_the_items_form(
    moderator, volunteer, volunteer2
):
    volunteer2.banned_at = timezone.now()
    volunteer2.save()
    prompt = PromptFactory(author=volunteer2)
    Flag.objects.create(reporter=volunteer, prompt=prompt, reason="spam")
    # The page showed Ban before another moderator banned the author.
    r = _web(moderator).post(
        f"/moderation/user/{volunteer2.pk}/ban/",
        {"reason": "spam & ads", "back": "queue", "item": f"prompt-{prompt.pk}"},
    )
    assert r.status_code == 400
    html = r.content.decode()
    assert "Grace is already banned." in html
    field = _input(html, f"reason-prompt-{prompt.pk}")
    assert 'value="spam &amp; ads"' in field
    assert (
        f'aria-invalid="true" aria-describedby="action-error reason-hint-prompt-{prompt.pk}"'
        in field
    )
    assert not ModerationAction.objects.exists()


# --- a reason too long is refused, never cut --------------------------------------------------


LONG = "word " * 240 + "end"  # 1203 characters


def test_no_reason_field_lets_the_browser_cut_a_reason(moderator, volunteer, volunteer2):
    prompt = PromptFactory(author=volunteer2)
    Flag.objects.create(reporter=volunteer, prompt=prompt, reason="spam")
    hidden = PromptFactory(author=volunteer2, hidden_at=timezone.now())
    volunteer2.banned_at = timezone.now()
    volunteer2.save()
    web = _web(moderator)
    queue = web.get("/moderation/").content.decode()
    page = web.get("/moderation/hidden/").content.decode()
    for html, field_id in (
        (queue, f"reason-prompt-{prompt.pk}"),
        (page, f"restore-reason-prompt-{hidden.pk}"),
        (page, f"unban-reason-{volunteer2.pk}"),
    ):
        assert "maxlength" not in _input(html, field_id)


def test_a_reason_too_long_from_the_queue_is_refused_and_kept(moderator, volunteer, volunteer2):
    prompt = PromptFactory(author=volunteer2)
    Flag.objects.create(reporter=volunteer, prompt=prompt, reason="spam")
    r = _web(moderator).post(
        f"/moderation/prompt/{prompt.pk}/hide/",
        {"reason": LONG, "back": "queue", "item": f"prompt-{prompt.pk}"},
    )
    assert r.status_code == 400
    html = r.content.decode()
    assert (
        '<li class="message error" id="action-error">Keep the reason under 1000 characters.' in html
    )
    assert f'value="{LONG}"' in _input(html, f"reason-prompt-{prompt.pk}")
    prompt.refresh_from_db()
    assert prompt.hidden_at is None
    assert Flag.objects.get().resolved_at is None
    assert not ModerationAction.objects.exists()


def test_a_reason_too_long_from_the_hidden_page_is_refused_and_kept(moderator, volunteer):
    hidden = PromptFactory(hidden_at=timezone.now())
    volunteer.banned_at = timezone.now()
    volunteer.save()
    web = _web(moderator)
    for url, field_id in (
        (f"/moderation/prompt/{hidden.pk}/restore/", f"restore-reason-prompt-{hidden.pk}"),
        (f"/moderation/user/{volunteer.pk}/unban/", f"unban-reason-{volunteer.pk}"),
    ):
        r = web.post(url, {"reason": LONG, "back": "hidden"})
        assert r.status_code == 400
        html = r.content.decode()
        assert "<h1>Hidden content and banned users</h1>" in html
        assert "Keep the reason under 1000 characters." in html
        assert f'value="{LONG}"' in _input(html, field_id)
    hidden.refresh_from_db()
    volunteer.refresh_from_db()
    assert hidden.hidden_at is not None and volunteer.banned_at is not None
    assert not ModerationAction.objects.exists()


def test_a_reason_of_1000_characters_is_taken_whole(moderator, volunteer2):
    prompt = PromptFactory(author=volunteer2)
    reason = "x" * 1000
    r = _web(moderator).post(f"/moderation/prompt/{prompt.pk}/hide/", {"reason": reason})
    assert r.status_code == 302
    assert ModerationAction.objects.get().reason == reason


# --- keep hidden: confirming what flags hid ---------------------------------------------------


def _auto_hidden(make_volunteer, target) -> None:
    """Flag ``target`` until the policy's count hides it, as volunteers would."""
    for _ in range(current_policy().auto_hide_flags):
        services.flag_create(reporter=reporter(make_volunteer()), target=target, reason="harmful")
    target.refresh_from_db()
    assert target.hidden_at is not None


def _buttons(html: str, pk: int) -> list[str]:
    """The action buttons of the queue item for prompt ``pk``: their labels and actions."""
    item = html.split(f'value="prompt-{pk}"')[1].split("</form>")[0]
    return re.findall(r'formaction="/moderation/[a-z]+/\d+/([a-z]+)/"[^>]*>([^<]+)<', item)


def test_an_item_flags_hid_offers_restore_or_keep_hidden(moderator, make_volunteer):
    hidden = PromptFactory()
    _auto_hidden(make_volunteer, hidden)
    shown = PromptFactory()
    Flag.objects.create(reporter=make_volunteer(), prompt=shown, reason="spam")
    html = _web(moderator).get("/moderation/").content.decode()
    assert _buttons(html, hidden.pk) == [
        ("restore", "Restore"),
        ("hide", "Keep hidden"),
        ("halt", "Halt prompt"),
        ("ban", "Ban author"),
    ]
    assert _buttons(html, shown.pk) == [
        ("hide", "Hide"),
        ("dismiss", "Dismiss flags"),
        ("halt", "Halt prompt"),
        ("ban", "Ban author"),
    ]
    assert html.count('data-testid="hidden-note"') == 1
    assert "Keep hidden closes its flags and leaves it hidden." in html


@pytest.mark.parametrize("state", [PromptState.COMPLETE, PromptState.REJECTED, PromptState.HALTED])
def test_a_prompt_a_halt_cannot_stop_offers_no_halt(moderator, make_volunteer, state):
    """Halting is refused past review, collecting and ranking: no button that only leads to
    that refusal."""
    prompt = PromptFactory(state=state)
    Flag.objects.create(reporter=make_volunteer(), prompt=prompt, reason="spam")
    html = _web(moderator).get("/moderation/").content.decode()
    assert _buttons(html, prompt.pk) == [
        ("hide", "Hide"),
        ("dismiss", "Dismiss flags"),
        ("ban", "Ban author"),
    ]


def test_keep_hidden_closes_the_flags_leaves_it_hidden_and_logs_once(moderator, make_volunteer):
    answer = ResponseFactory(text="Something abusive")
    _auto_hidden(make_volunteer, answer)
    hidden_at = answer.hidden_at
    web = _web(moderator)
    url = f"/moderation/response/{answer.pk}/hide/"
    form = {"reason": "abusive, as reported", "back": "queue", "item": f"response-{answer.pk}"}
    r = web.post(url, form, follow=True)
    assert r.redirect_chain == [("/moderation/", 302)]
    html = r.content.decode()
    assert "Done; it is in the audit log." in html
    assert "Something abusive" not in html  # no open flag left: off the queue
    answer.refresh_from_db()
    assert answer.hidden_at == hidden_at
    assert not Flag.objects.filter(resolved_at__isnull=True).exists()
    assert set(Flag.objects.values_list("resolved_by", flat=True)) == {moderator.pk}
    assert "Something abusive" in web.get("/moderation/hidden/").content.decode()

    # A second click (the back button, a double submit) changes and logs nothing.
    again = web.post(url, form, follow=True)
    assert "Nothing to do: it was already hidden and had no open flag." in again.content.decode()
    rows = ModerationAction.objects.order_by("id").values_list("action", "actor", "reason")
    assert list(rows) == [
        ("auto_hide", None, f"{current_policy().auto_hide_flags} flags"),
        ("hide", moderator.pk, "abusive, as reported"),
    ]


def test_keep_hidden_needs_a_reason_like_hide(moderator, make_volunteer):
    prompt = PromptFactory()
    _auto_hidden(make_volunteer, prompt)
    r = _web(moderator).post(
        f"/moderation/prompt/{prompt.pk}/hide/",
        {"reason": " ", "back": "queue", "item": f"prompt-{prompt.pk}"},
    )
    assert r.status_code == 400
    assert (
        '<li class="message error" id="action-error">'
        "Say why, in a few words: it goes to the audit log.</li>"
    ) in r.content.decode()
    assert Flag.objects.filter(resolved_at__isnull=True).count() == 3
    assert list(ModerationAction.objects.values_list("action", flat=True)) == ["auto_hide"]


# --- the queue and the hidden page come a page at a time ---------------------------------------


def _queue_ids(html: str) -> list[int]:
    return [int(pk) for pk in re.findall(r'name="item" value="prompt-(\d+)"', html)]


def test_the_queue_page_shows_20_items_a_page_in_a_stable_order(moderator, make_volunteer):
    prompts = [PromptFactory() for _ in range(25)]
    for prompt in prompts:
        Flag.objects.create(reporter=make_volunteer(), prompt=prompt, reason="spam")
    # Flagged longest ago first: the last prompt's flag is the oldest.
    for minutes, prompt in enumerate(reversed(prompts)):
        Flag.objects.filter(prompt=prompt).update(
            created_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=minutes)
        )
    web = _web(moderator)
    first = web.get("/moderation/").content.decode()
    assert "25 flagged items, hidden ones first, then the most flagged." in first
    assert _queue_ids(first) == [p.pk for p in reversed(prompts)][:20]
    assert "Page 1 of 2" in first
    assert '<a href="/moderation/?page=2" rel="next">' in first
    assert 'rel="prev"' not in first
    second = web.get("/moderation/?page=2").content.decode()
    assert _queue_ids(second) == [p.pk for p in reversed(prompts)][20:]
    assert '<a href="/moderation/?page=1" rel="prev">' in second
    assert 'rel="next"' not in second
    assert _queue_ids(web.get("/moderation/").content.decode()) == _queue_ids(first)
    # A page past the last shows the last; one that is not a number, the first.
    assert _queue_ids(web.get("/moderation/?page=9").content.decode()) == _queue_ids(second)
    assert _queue_ids(web.get("/moderation/?page=x").content.decode()) == _queue_ids(first)


def test_an_action_on_the_queues_second_page_comes_back_to_it(moderator, make_volunteer):
    prompts = [PromptFactory() for _ in range(22)]
    for prompt in prompts:
        Flag.objects.create(reporter=make_volunteer(), prompt=prompt, reason="spam")
    web = _web(moderator)
    html = web.get("/moderation/?page=2").content.decode()
    on_page_2 = _queue_ids(html)
    assert len(on_page_2) == 2
    pk = on_page_2[0]
    assert f'formaction="/moderation/prompt/{pk}/dismiss/?page=2"' in html
    r = web.post(f"/moderation/prompt/{pk}/dismiss/?page=2", {"back": "queue"})
    assert r.status_code == 302 and r.url == "/moderation/?page=2"

    # Refused, the same page comes back with the reason kept, and its page links lead to the
    # queue, not to the action's address.
    other = on_page_2[1]
    r = web.post(
        f"/moderation/prompt/{other}/hide/?page=2",
        {"reason": LONG, "back": "queue", "item": f"prompt-{other}"},
    )
    assert r.status_code == 400
    html = r.content.decode()
    assert _queue_ids(html) == [other]
    assert f'value="{LONG}"' in _input(html, f"reason-prompt-{other}")
    assert '<a href="/moderation/?page=1" rel="prev">' in html


def test_the_hidden_pages_lists_are_paged_each_on_its_own(moderator):
    prompts = [PromptFactory(hidden_at=timezone.now()) for _ in range(23)]
    for _ in range(2):
        ResponseFactory(hidden_at=timezone.now())
    web = _web(moderator)
    first = web.get("/moderation/hidden/").content.decode()
    assert first.count('data-testid="hidden-prompt"') == 20
    assert first.count('data-testid="hidden-answer"') == 2
    assert "Nobody is banned." in first
    assert first.count('class="pagination"') == 1
    assert '<nav class="pagination" aria-label="Pages of hidden prompts">' in first
    assert (
        '<a href="/moderation/hidden/?prompt_page=2#hidden-prompts" rel="next">Next →</a>' in first
    )

    second = web.get("/moderation/hidden/?answer_page=1&prompt_page=2").content.decode()
    # Most recently hidden first: the three hidden first are on page 2.
    shown = [int(pk) for pk in re.findall(r'id="restore-reason-prompt-(\d+)"', second)]
    assert shown == [p.pk for p in reversed(prompts[:3])]
    assert second.count('data-testid="hidden-answer"') == 2
    assert (
        '<a href="/moderation/hidden/?answer_page=1&amp;prompt_page=1#hidden-prompts" rel="prev">'
    ) in second

    # Restoring from page 2 comes back to page 2.
    action = f"/moderation/prompt/{shown[0]}/restore/?answer_page=1&amp;prompt_page=2"
    assert f'action="{action}"' in second
    r = web.post(
        f"/moderation/prompt/{shown[0]}/restore/?answer_page=1&prompt_page=2", {"back": "hidden"}
    )
    assert r.url == "/moderation/hidden/?answer_page=1&prompt_page=2"
    assert ModerationAction.objects.get().prompt_id == shown[0]


def test_the_reason_field_says_which_actions_need_it(moderator, volunteer, volunteer2):
    shown, hidden = _flagged_shown_and_hidden(volunteer, volunteer2)
    html = _web(moderator).get("/moderation/").content.decode()

    for prompt, hint in (
        (shown, "Needed to hide, halt or ban; it goes into the audit log."),
        (hidden, "Needed to keep it hidden, halt or ban; it goes into the audit log."),
    ):
        hint_id = f"reason-hint-prompt-{prompt.pk}"
        assert f'aria-describedby="{hint_id}"' in _input(html, f"reason-prompt-{prompt.pk}")
        assert f'<span class="help" id="{hint_id}">{hint}</span>' in html

    # Refused for want of one: the field is described by the refusal and the hint.
    refused = _web(moderator).post(
        f"/moderation/prompt/{shown.pk}/hide/", {"reason": "", "back": "queue"}, follow=True
    )
    field = _input(refused.content.decode(), f"reason-prompt-{shown.pk}")
    assert f'aria-describedby="action-error reason-hint-prompt-{shown.pk}"' in field


def test_the_audit_log_links_an_answer_to_its_place_and_the_other_moderation_pages(
    moderator, volunteer
):
    """Prompts in the log were links and answers plain text; the log linked nowhere else,
    while the queue and the hidden page link to each other and to it."""
    answer = ResponseFactory(author=volunteer)
    services.content_hide(moderator=moderator, target=answer, reason="off topic")
    html = _web(moderator).get("/moderation/log/").content.decode()
    assert (
        f'<a href="/prompts/{answer.prompt_id}/#response-{answer.pk}">answer #{answer.pk}</a>'
        in html
    )
    assert '<a href="/moderation/">Moderation queue</a>' in html
    assert '<a href="/moderation/hidden/">Hidden content and banned users</a>' in html


def test_the_hidden_page_says_who_hid_each_item_and_why(moderator, volunteer, make_volunteer):
    """A banned user showed why; a hidden prompt or answer said nothing of who hid it or why,
    so restoring one meant reading the audit log first."""
    by_hand = ResponseFactory(author=volunteer)
    services.content_hide(moderator=moderator, target=by_hand, reason="off topic")
    by_flags = PromptFactory(author=volunteer, state=PromptState.COLLECTING)
    for _ in range(current_policy().auto_hide_flags):
        services.flag_create(
            reporter=reporter(make_volunteer()), target=by_flags, reason="spam", note=""
        )
    html = _web(moderator).get("/moderation/hidden/").content.decode()
    name = moderator.public_name
    assert (
        f'<p class="muted" data-testid="hidden-why">Hidden by {name}: <span dir="auto">off topic</span></p>'
        in html
    )
    assert (
        '<p class="muted" data-testid="hidden-why">Hidden automatically by reports: <span dir="auto">3 flags</span></p>'
        in html
    )


def test_the_hidden_page_says_who_wrote_each_item_and_when_it_was_hidden(
    moderator, volunteer, volunteer2
):
    """It said "by Ada · 28 Nov 2026, 16:40": the time was when the item was hidden, not
    written, and "by" was a word of its own, so a translation could not reorder the name."""
    when = datetime(2026, 11, 28, 16, 40, tzinfo=UTC)
    PromptFactory(author=volunteer, state=PromptState.COLLECTING, hidden_at=when)
    ResponseFactory(author=volunteer2, hidden_at=when)
    banned = volunteer2
    banned.banned_at, banned.ban_reason = when, "spam"
    banned.save(update_fields=["banned_at", "ban_reason"])
    web = _web(moderator)
    html = web.get("/moderation/hidden/").content.decode()
    time = '<time datetime="2026-11-28T16:40:00+00:00">28 Nov 2026, 16:40</time>'
    for name in ("Ada", "Grace"):
        assert f'data-testid="hidden-when">Written by {name}, hidden on {time}</span>' in html
    assert f"({banned.email}) · banned on {time}</span>" in html
    # One sentence each for translators, the name and the time inside it.
    with marked_gettext():
        html = web.get("/moderation/hidden/").content.decode()
    time = time.replace("Nov", "«Nov»")  # the month's name is translated too
    assert f'data-testid="hidden-when">«Written by Ada, hidden on {time}»</span>' in html
    assert f"· «banned on {time}»</span>" in html
