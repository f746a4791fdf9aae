"""Operator QA of the admin: an "Add API token" made a row with no secret and an empty hash
(the second one a 500); tokens are revoked there as the site revokes them; releases and
training runs, which the Hub, the cards and the model folders name, cannot be deleted there."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts import services
from apps.accounts.models import ApiToken
from apps.releases.models import Release, ReleaseState
from apps.training.models import TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def test_api_tokens_cannot_be_added_in_the_admin(staff, volunteer):
    assert staff.get("/admin/accounts/apitoken/add/").status_code == 403
    r = staff.post("/admin/accounts/apitoken/add/", {"user": volunteer.pk, "name": "x"})
    assert r.status_code == 403
    assert not ApiToken.objects.exists()
    assert "/admin/accounts/apitoken/add/" not in staff.get("/admin/accounts/apitoken/").text


def test_the_admin_revokes_the_selected_tokens_as_the_site_does(staff, volunteer, volunteer2):
    kept, kept_key = services.api_token_create(user=volunteer, name="kept")
    revoked, revoked_key = services.api_token_create(user=volunteer, name="lost laptop")
    other, other_key = services.api_token_create(user=volunteer2, name="script")
    api = APIClient()

    r = staff.post(
        "/admin/accounts/apitoken/",
        {"action": "revoke_tokens", "_selected_action": [revoked.pk, other.pk]},
        follow=True,
    )

    assert r.status_code == 200
    assert "2 token(s) revoked." in r.text
    for token in (revoked, other):
        token.refresh_from_db()
        assert token.revoked_at is not None  # still listed, as on the profile page
    kept.refresh_from_db()
    assert kept.revoked_at is None
    for key, status in ((revoked_key, 401), (other_key, 401), (kept_key, 200)):
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        assert api.get("/api/v1/me/").status_code == status


def test_revoking_an_already_revoked_token_keeps_when_it_was_revoked(staff, volunteer):
    token, _key = services.api_token_create(user=volunteer, name="old")
    services.api_token_revoke(token=token)
    token.refresh_from_db()
    when = token.revoked_at

    staff.post(
        "/admin/accounts/apitoken/",
        {"action": "revoke_tokens", "_selected_action": [token.pk]},
    )

    token.refresh_from_db()
    assert token.revoked_at == when


def test_a_tokens_owner_and_revocation_are_not_edited_in_the_admin(staff, volunteer, volunteer2):
    token, _key = services.api_token_create(user=volunteer, name="laptop")
    services.api_token_revoke(token=token)
    form = staff.get(f"/admin/accounts/apitoken/{token.pk}/change/").text
    assert 'name="user"' not in form and 'name="revoked_at' not in form

    staff.post(
        f"/admin/accounts/apitoken/{token.pk}/change/",
        {"name": "renamed", "user": volunteer2.pk, "revoked_at_0": "", "revoked_at_1": ""},
    )

    token.refresh_from_db()
    assert token.name == "renamed"
    assert token.user == volunteer and token.revoked_at is not None


def _release() -> Release:
    return Release.objects.create(
        number=4,
        version="v4",
        state=ReleaseState.READY,
        finished_at=timezone.now(),
        content_hash="a" * 64,
    )


def test_releases_cannot_be_deleted_in_the_admin(staff):
    release = _release()
    assert staff.get(f"/admin/releases/release/{release.pk}/delete/").status_code == 403
    assert (
        staff.post(f"/admin/releases/release/{release.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    staff.post(
        "/admin/releases/release/",
        {"action": "delete_selected", "_selected_action": [release.pk], "post": "yes"},
    )
    assert Release.objects.filter(pk=release.pk).exists()


def test_training_runs_cannot_be_deleted_in_the_admin(staff):
    run = TrainingRun.objects.create(release=_release(), kind="sft", base_model="org/base")
    url = f"/admin/training/trainingrun/{run.pk}/delete/"
    assert staff.get(url).status_code == 403
    assert staff.post(url, {"post": "yes"}).status_code == 403
    staff.post(
        "/admin/training/trainingrun/",
        {"action": "delete_selected", "_selected_action": [run.pk], "post": "yes"},
    )
    assert TrainingRun.objects.filter(pk=run.pk).exists()
