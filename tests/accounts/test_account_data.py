"""Download your data, and delete your account."""

from __future__ import annotations

import json

import pytest
from allauth.account.models import EmailAddress
from django.test import Client

from apps.accounts import services
from apps.accounts.models import User
from apps.assignments.models import Assignment, AssignmentState
from apps.collection.models import Prompt, PromptState, Response
from apps.feedback.models import Ranking, Review
from apps.moderation.models import Flag
from tests.conftest import client_for
from tests.factories import PromptFactory, ResponseFactory, UserFactory
from tests.query_counts import web as signed_in

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's


@pytest.fixture
def web(volunteer) -> Client:
    return signed_in(volunteer)


@pytest.fixture
def work(volunteer, volunteer2):
    """Some of everything by the volunteer, and some by someone else."""
    mine = PromptFactory(author=volunteer, instruction="Name three rivers in Peru.")
    theirs = PromptFactory(author=volunteer2, instruction="Describe a fog bow.")
    answer = ResponseFactory(prompt=theirs, author=volunteer, text="A white rainbow in fog.")
    other_answer = ResponseFactory(prompt=mine, author=volunteer2, text="Amazon, Ucayali, Rimac.")
    Review.objects.create(reviewer=volunteer, response=other_answer, quality=4, pii=True)
    Review.objects.create(reviewer=volunteer2, response=answer, quality=2)
    Ranking.objects.create(ranker=volunteer, prompt=theirs, order=[answer.pk])
    Flag.objects.create(reporter=volunteer, prompt=theirs, reason="spam", note="looks like an ad")
    services.api_token_create(user=volunteer, name="laptop script")
    skipped = Assignment.objects.create(
        user=volunteer,
        task_type="respond",
        prompt=theirs,
        state=AssignmentState.SKIPPED,
        expires_at="2026-01-01T00:30:00Z",
        finished_at="2026-01-01T00:10:00Z",
        skip_reason="Call me on +44 7700 900123 about this one",
    )
    return {
        "mine": mine,
        "theirs": theirs,
        "answer": answer,
        "other_answer": other_answer,
        "skipped": skipped,
    }


def test_the_download_holds_everything_of_mine_and_nothing_of_anyone_else(web, volunteer, work):
    r = web.get("/profile/export/")
    assert r.status_code == 200
    assert r["Content-Type"] == "application/json"
    assert r["Content-Disposition"].startswith('attachment; filename="hearth-data-')
    assert "no-store" in r["Cache-Control"]
    content = b"".join(r.streaming_content)
    data = json.loads(content)
    assert data["format"] == "hearth-account-export/1"
    assert data["account"]["email"] == volunteer.email
    assert data["account"]["roles"] == ["volunteer"]
    assert [p["instruction"] for p in data["prompts"]] == ["Name three rivers in Peru."]
    assert [(a["text"], a["prompt_id"]) for a in data["answers"]] == [
        ("A white rainbow in fog.", work["theirs"].pk)
    ]
    assert [(v["response_id"], v["quality"], v["pii"]) for v in data["reviews"]] == [
        (work["other_answer"].pk, 4, True)
    ]
    assert [r["order"] for r in data["rankings"]] == [[work["answer"].pk]]
    assert [(f["reason"], f["note"]) for f in data["flags"]] == [("spam", "looks like an ad")]
    assert [(t["task_type"], t["prompt_id"], t["skip_reason"]) for t in data["skipped_tasks"]] == [
        ("respond", work["theirs"].pk, "Call me on +44 7700 900123 about this one")
    ]
    assert [t["name"] for t in data["api_tokens"]] == ["laptop script"]
    assert len(data["licence_acceptances"]) == 1
    # No secret of any kind travels in it.
    text = content.decode()
    assert "key_hash" not in text and "password" not in text


def test_the_api_gives_the_same_data_and_strangers_get_nothing(api, api_anon, web, work):
    r = api.get("/api/v1/me/export/")
    assert r.status_code == 200
    assert "no-store" in r["Cache-Control"]
    page = json.loads(b"".join(web.get("/profile/export/").streaming_content))
    body = json.loads(b"".join(r.streaming_content))
    body.pop("exported_at"), page.pop("exported_at")
    assert body == page
    assert api_anon.get("/api/v1/me/export/").status_code == 401
    assert Client().get("/profile/export/").status_code == 302


def test_the_profile_links_to_the_download_and_the_deletion_page(web):
    html = web.get("/profile/").content.decode()
    assert 'href="/profile/export/" download' in html
    assert 'href="/profile/delete/"' in html


def test_the_deletion_page_says_what_goes_and_what_stays(web):
    html = web.get("/profile/delete/").content.decode()
    assert "never enter a later release" in html
    assert "Your reviews and rankings stay" in html
    assert 'name="email"' in html and 'name="password"' in html


def test_the_deletion_page_writes_email_as_the_rest_of_the_site_does(web):
    """It said "Your e-mail address" and "e-mail" where every other page says "Email"."""
    html = web.get("/profile/delete/").content.decode()
    effects = html[html.index('<ul class="delete-effects">') :]
    effects = effects[: effects.index("</ul>")]
    assert "Your email address, display name, languages" in effects
    assert "with no name or email attached" in effects
    assert "e-mail" not in effects
    assert "e-mail" not in html and "Your email address" in html  # the form's label too
    refused = web.post("/profile/delete/", {"email": "not-me@example.org", "password": "x"})
    assert "This is not the email address of your account." in refused.content.decode()


@pytest.mark.parametrize(
    "form",
    [
        {"email": "someone-else@example.org", "password": PASSWORD},
        {"email": "", "password": PASSWORD},
        {"password": "wrong password"},
        {"password": ""},
    ],
)
def test_a_wrong_confirmation_deletes_nothing(web, volunteer, work, form):
    form.setdefault("email", volunteer.email)
    r = web.post("/profile/delete/", form)
    assert r.status_code == 400
    html = r.content.decode()
    assert 'class="errorlist"' in html
    volunteer.refresh_from_db()
    assert volunteer.deleted_at is None and volunteer.is_active
    assert Prompt.objects.get(pk=work["mine"].pk).withdrawn_at is None
    assert web.get("/profile/").status_code == 200  # still signed in


def test_deleting_erases_me_withdraws_my_work_and_keeps_my_judgements(
    web, volunteer, volunteer2, work
):
    email = volunteer.email
    EmailAddress.objects.create(user=volunteer, email=email, verified=True, primary=True)
    token_client = Client(headers={"Authorization": "Bearer " + _new_token(volunteer)})
    assert token_client.get("/api/v1/me/").status_code == 200

    r = web.post("/profile/delete/", {"email": email.upper(), "password": PASSWORD})
    assert r.status_code == 302 and r["Location"] == "/"
    assert "Your account is deleted" in web.get("/").content.decode()

    user = User.objects.get(pk=volunteer.pk)
    assert user.deleted_at is not None
    assert user.email == f"deleted-{user.pk}@deleted.invalid"
    assert (user.display_name, user.languages, user.attribution, user.on_leaderboard) == (
        "",
        [],
        False,
        False,
    )
    assert not user.is_active and not user.has_usable_password()
    assert not user.groups.exists()
    assert not EmailAddress.objects.filter(user=user).exists()
    assert not user.api_tokens.filter(revoked_at__isnull=True).exists()
    # Signed out here, and nothing else gets in: the token, the old password.
    assert web.get("/profile/").status_code == 302
    assert token_client.get("/api/v1/me/").status_code == 401
    assert not Client().login(email=email, password=PASSWORD)
    # My prompt and my answer are withdrawn; the other volunteer's work is untouched.
    assert Prompt.objects.get(pk=work["mine"].pk).withdrawn_at is not None
    assert Response.objects.get(pk=work["answer"].pk).withdrawn_at is not None
    assert Prompt.objects.get(pk=work["theirs"].pk).withdrawn_at is None
    assert Response.objects.get(pk=work["other_answer"].pk).withdrawn_at is None
    # What I wrote when skipping a task is gone with the rest.
    assert Assignment.objects.get(pk=work["skipped"].pk).skip_reason == ""
    # My reviews and rankings still count.
    assert Review.objects.filter(reviewer=user).count() == 1
    assert Ranking.objects.filter(ranker=user).count() == 1
    # The address is free again: the person may come back with a new account.
    assert UserFactory(email=email).pk != user.pk


def test_deleting_frees_my_open_task_and_is_idempotent(volunteer, volunteer2):
    prompt = PromptFactory(author=volunteer2, state=PromptState.REVIEW)
    task = client_for(volunteer).get("/api/v1/tasks/next/", {"type": "review"}).json()
    prompt.refresh_from_db()
    assert prompt.open_slots == 1
    deleted = services.account_delete(user=volunteer)
    assert Assignment.objects.get(pk=task["id"]).state == AssignmentState.RELEASED
    prompt.refresh_from_db()
    assert prompt.open_slots == 2
    again = services.account_delete(user=volunteer)
    assert again.deleted_at == deleted.deleted_at and again.email == deleted.email


def test_an_account_without_a_password_confirms_with_its_email_alone(make_volunteer):
    user = make_volunteer()
    user.set_unusable_password()
    user.save()
    client = signed_in(user)
    html = client.get("/profile/delete/").content.decode()
    assert 'name="email"' in html and 'name="password"' not in html
    assert client.post("/profile/delete/", {"email": user.email}).status_code == 302
    user.refresh_from_db()
    assert user.deleted_at is not None


def _new_token(user: User) -> str:
    return services.api_token_create(user=user, name="script")[1]


def test_staff_see_deleted_accounts_in_the_admin(admin_client, volunteer):
    services.account_delete(user=volunteer)
    listing = admin_client.get("/admin/accounts/user/", {"deleted_at__isnull": "False"})
    assert listing.status_code == 200
    assert f"deleted-{volunteer.pk}@deleted.invalid" in listing.content.decode()
    assert admin_client.get(f"/admin/accounts/user/{volunteer.pk}/change/").status_code == 200


def test_the_admin_names_hearths_accounts_apart_from_allauths(admin_client):
    page = admin_client.get("/admin/").content.decode()
    assert page.count(">Accounts<") == 1  # allauth's e-mail addresses
    assert ">People and tokens<" in page
    assert ">API tokens<" in page and "Api tokens" not in page


def test_the_header_names_a_volunteer_as_others_see_them(make_volunteer):
    """The name the boards show, not the e-mail's local part, which nobody else sees; the
    menu says which account is signed in by its whole address."""
    user = make_volunteer(email="newvol@example.org", display_name="")
    client = Client()
    client.force_login(user)
    page = client.get("/").content.decode()
    assert f'<span class="nav-menu-name">Volunteer #{user.pk}</span>' in page
    assert "Signed in as newvol@example.org" in page
    assert ">newvol<" not in page and "as newvol<" not in page
