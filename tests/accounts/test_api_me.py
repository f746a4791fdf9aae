"""/api/v1/me/, /api/v1/me/licence/, /api/v1/tokens/ and token authentication."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.accounts.models import ApiToken, LicenceAcceptance

pytestmark = pytest.mark.django_db


def test_me_shows_the_profile(api, volunteer):
    r = api.get("/api/v1/me/")
    assert r.status_code == 200
    assert r.json() == {
        "id": volunteer.pk,
        "email": volunteer.email,
        "display_name": "Ada",
        "languages": ["en"],
        "attribution": False,
        "on_leaderboard": True,
        "roles": ["volunteer"],
        "licence_accepted": True,
    }


def test_a_field_the_profile_does_not_change_is_refused_by_name(api, volunteer):
    """It was a 200 that changed nothing: the client could not tell."""
    r = api.patch(
        "/api/v1/me/", {"email": "evil@example.org", "roles": ["maintainer"]}, format="json"
    )
    message = (
        "Cannot be changed: leave it out, or send it as it is now (it may have changed since "
        "you read it)."
    )
    assert (r.status_code, r.json()) == (400, {"email": [message], "roles": [message]})
    other = api.patch("/api/v1/me/", {"emial": "x@example.org"}, format="json")
    assert other.json() == {
        "emial": [
            "Not a field of this request; it takes: display_name, languages, attribution, "
            "on_leaderboard."
        ]
    }
    volunteer.refresh_from_db()
    assert volunteer.email != "evil@example.org"


def test_me_needs_a_login(api_anon):
    assert api_anon.get("/api/v1/me/").status_code in (401, 403)


def test_me_updates_name_and_canonical_languages(api, volunteer):
    r = api.patch(
        "/api/v1/me/",
        {"display_name": "  Ada   L. ", "languages": ["de", "pt-br", "de"]},
        format="json",
    )
    assert r.status_code == 200
    volunteer.refresh_from_db()
    assert volunteer.display_name == "Ada L."
    assert volunteer.languages == ["de", "pt-BR"]


def test_me_opts_out_of_the_leaderboard_and_back_in(api, volunteer):
    r = api.patch("/api/v1/me/", {"on_leaderboard": False}, format="json")
    assert r.status_code == 200
    assert r.json()["on_leaderboard"] is False
    volunteer.refresh_from_db()
    assert volunteer.on_leaderboard is False
    assert api.patch("/api/v1/me/", {"on_leaderboard": True}, format="json").json()[
        "on_leaderboard"
    ]


@pytest.mark.parametrize("value", [0, 1, "yes", "false", None])
def test_me_takes_true_or_false_only_for_a_setting(api, volunteer, value):
    """DRF read 0, 1, "yes" and "false" as booleans, so a number or a word sent by mistake
    flipped the setting."""
    r = api.patch("/api/v1/me/", {"attribution": value, "on_leaderboard": value}, format="json")
    assert r.status_code == 400
    message = "This field may not be null." if value is None else "Must be true or false."
    assert r.json() == {"attribution": [message], "on_leaderboard": [message]}
    volunteer.refresh_from_db()
    assert (volunteer.attribution, volunteer.on_leaderboard) == (False, True)


def test_a_form_that_leaves_a_setting_out_leaves_it_alone(api, volunteer):
    """DRF read a boolean missing from a form as an unticked box: renaming yourself in a
    form switched attribution and the leaderboard off."""
    volunteer.attribution = True
    volunteer.save(update_fields=["attribution"])
    r = api.patch("/api/v1/me/", {"display_name": "Ada L."}, format="multipart")
    assert r.status_code == 200
    volunteer.refresh_from_db()
    assert (volunteer.display_name, volunteer.attribution, volunteer.on_leaderboard) == (
        "Ada L.",
        True,
        True,
    )
    r = api.patch("/api/v1/me/", {"attribution": "false"}, format="multipart")
    assert r.status_code == 200
    assert r.json()["attribution"] is False


def test_a_language_that_is_not_text_is_400_naming_the_item(api):
    r = api.patch("/api/v1/me/", {"languages": ["en", 5]}, format="json")
    assert r.status_code == 400
    assert r.json() == {"languages": ["Item 2: Must be text (a JSON string)."]}


def test_me_refuses_an_invalid_language(api):
    r = api.patch("/api/v1/me/", {"languages": ["en", "not a tag"]}, format="json")
    assert r.status_code == 400
    assert "BCP-47" in r.json()["languages"][0]


def test_me_refuses_a_huge_language_without_repeating_it(api):
    r = api.patch("/api/v1/me/", {"languages": ["en", "x" * 500_000]}, format="json")
    assert r.status_code == 400
    assert r.json() == {
        "languages": [
            "A language tag has at most 35 characters, this one 500000; "
            "give a BCP-47 tag, e.g. en or pt-BR."
        ]
    }


def test_accepting_the_licence_records_version_and_time(api_outsider, outsider):
    r = api_outsider.get("/api/v1/me/licence/")
    assert r.json()["accepted"] is False
    r = api_outsider.post("/api/v1/me/licence/")
    assert r.status_code == 200
    assert r.json()["accepted"] is True
    acceptance = LicenceAcceptance.objects.get(user=outsider)
    assert acceptance.version == "cc-by-sa-3.0"
    assert acceptance.accepted_at is not None


def test_a_token_is_shown_once_and_authenticates(api, volunteer):
    r = api.post("/api/v1/tokens/", {"name": "laptop"}, format="json")
    assert r.status_code == 201
    key = r.json()["key"]
    assert key.startswith("hearth_")
    token = ApiToken.objects.get()
    assert token.key_hash != key and key not in token.key_hash
    assert "key" not in api.get("/api/v1/tokens/").json()[0]

    client = APIClient()
    r = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert r.status_code == 200
    assert r.json()["email"] == volunteer.email
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_a_revoked_token_no_longer_works(api):
    key = api.post("/api/v1/tokens/", {"name": "bot"}, format="json").json()["key"]
    token = ApiToken.objects.get()
    assert api.delete(f"/api/v1/tokens/{token.pk}/").status_code == 200
    r = APIClient().get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert r.status_code == 401
    assert "revoked" in r.json()["detail"]


def test_a_bad_token_is_401(api_anon):
    r = api_anon.get("/api/v1/me/", HTTP_AUTHORIZATION="Bearer hearth_nope")
    assert r.status_code == 401


def test_revoking_someone_elses_token_is_404(api, api2):
    api.post("/api/v1/tokens/", {"name": "mine"}, format="json")
    token = ApiToken.objects.get()
    assert api2.delete(f"/api/v1/tokens/{token.pk}/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


@pytest.mark.parametrize("name", ["\u202elaptop", "bell\u0007", "zero\u200bwidth"])
def test_a_token_name_with_unprintable_characters_is_refused(api, name):
    """The name is shown on the profile page, where a right-to-left override turns the rest
    of the line around; the display name refuses such characters already."""
    r = api.post("/api/v1/tokens/", {"name": name}, format="json")
    assert (r.status_code, r.json()) == (
        400,
        {"name": ["The token name has unprintable characters."]},
    )
    assert not ApiToken.objects.exists()


@pytest.mark.parametrize(
    "name",
    [
        "Grace \U0001f469\u200d\U0001f52c",  # woman scientist: a ZWJ sequence
        "Grace \U0001f3f3\ufe0f\u200d\U0001f308",  # rainbow flag
        "\u0639\u0644\u06cc\u200c\u0631\u0636\u0627",  # Persian, with its non-joiner
        "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # Scotland
    ],
)
def test_names_may_hold_the_joiners_emoji_and_scripts_need(api, name):
    """QA found a display name with 👩‍🔬 or a Persian name refused as "unprintable":
    ``str.isprintable`` refuses every format character, joiners included."""
    r = api.patch("/api/v1/me/", {"display_name": name}, format="json")
    assert r.status_code == 200, r.json()
    assert r.json()["display_name"] == name
    assert api.post("/api/v1/tokens/", {"name": name}, format="json").status_code == 201


@pytest.mark.parametrize("name", ["\u202eGrace", "Gr\u200bace", "Grace\u2066x"])
def test_a_display_name_with_a_direction_override_or_zero_width_space_is_refused(api, name):
    r = api.patch("/api/v1/me/", {"display_name": name}, format="json")
    assert (r.status_code, r.json()) == (
        400,
        {"display_name": ["The display name has unprintable characters."]},
    )
