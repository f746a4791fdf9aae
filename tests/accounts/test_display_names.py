"""A display name may not pass for someone else (QA security #3): not another account's name,
also when it only looks the same; not the form the site gives people without a name
("Volunteer #4"); not a role ("Moderator") or the site itself. The API and the profile page
share the rule (services.profile_update)."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps
from django.test import Client

from apps.accounts.models import User, display_name_key
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TAKEN = "Someone else already goes by this name, or by one that looks the same. Choose another."


def role_word(word: str) -> str:
    return (
        f"A display name cannot hold “{word}”: readers would take you for one of Hearth's "
        "roles. Choose another name."
    )


def nameless(user_id: int) -> str:
    return (
        f"Names such as “Volunteer #{user_id}” are how Hearth shows people who have not "
        "chosen one. Choose another name."
    )


def rename(api, name: str):
    return api.patch("/api/v1/me/", {"display_name": name}, format="json")


@pytest.mark.parametrize(
    "name",
    [
        "Grace",
        "grace",
        "Grаce",  # Cyrillic а
        "ＧＲＡＣＥ",  # fullwidth
        "  Grace ",
    ],
)
def test_another_accounts_name_is_refused_also_when_it_only_looks_the_same(
    api, volunteer, volunteer2, name
):
    r = rename(api, name)
    assert (r.status_code, r.json()) == (400, {"display_name": [TAKEN]})
    volunteer.refresh_from_db()
    assert volunteer.display_name == "Ada"


@pytest.mark.parametrize(
    "name",
    [
        "Volunteer #4",
        "volunteer # 12",
        "VOLUNTEER #1234",
        "Voluntario/a #3",
        "Volunteer #",
        # Verification: the Spanish forms passed, the labels being the roles' names.
        "Voluntario #3",
        "voluntaria 10",
    ],
)
def test_the_form_of_a_nameless_person_is_refused_in_every_language(api, volunteer, name):
    r = rename(api, name)
    assert (r.status_code, r.json()) == (400, {"display_name": [nameless(volunteer.pk)]})


@pytest.mark.parametrize(
    ("name", "word"),
    [
        ("Moderator", "moderator"),
        ("The M0derators", "moderators"),
        ("Maintainer", "maintainer"),
        ("admin", "admin"),
        ("Hearth Security. Act now: http://evil.example/r", "hearth"),
        ("Moderación", "Moderación"),  # the Spanish role label
        ("Moderador General", "moderador"),  # and the people who hold it (verification)
        ("La moderadora", "moderadora"),
        ("Ｈｅａｒｔｈ team", "hearth"),
    ],
)
def test_a_role_word_or_the_sites_name_is_refused(api, name, word):
    r = rename(api, name)
    assert (r.status_code, r.json()) == (400, {"display_name": [role_word(word)]})


@pytest.mark.parametrize(
    "name", ["Hearthstone fan", "Badminton player", "Ada Lovelace", "Volunteer of the month"]
)
def test_names_that_only_contain_such_letters_are_fine(api, volunteer, name):
    r = rename(api, name)
    assert r.status_code == 200, r.json()
    volunteer.refresh_from_db()
    assert volunteer.display_name == name
    assert volunteer.display_name_key == display_name_key(name)


def test_the_profile_page_gives_the_same_answer(volunteer, volunteer2):
    web = Client()
    web.force_login(volunteer)
    r = web.post("/profile/", {"display_name": "Grаce", "languages": "en"})
    assert r.status_code == 200
    assert TAKEN in r.content.decode()
    volunteer.refresh_from_db()
    assert volunteer.display_name == "Ada"


def test_a_name_given_before_the_check_stays_and_may_be_sent_back_unchanged(moderator):
    """The moderator fixture is named "Moderator", as an account named before the check may
    be; saving the profile sends the name back with the rest."""
    web = Client()
    web.force_login(moderator)
    r = web.post("/profile/", {"display_name": "Moderator", "languages": "en, de"})
    assert r.status_code == 302
    moderator.refresh_from_db()
    assert (moderator.display_name, moderator.languages) == ("Moderator", ["en", "de"])


def test_clashing_names_from_before_stay_and_nobody_new_may_join_them(api, volunteer):
    first, second = UserFactory(display_name="Sam"), UserFactory(display_name="Ѕam")
    assert rename(api, "sam").json() == {"display_name": [TAKEN]}
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.display_name, second.display_name) == ("Sam", "Ѕam")


def test_a_deleted_accounts_name_is_free_again(api, make_volunteer):
    gone = make_volunteer(display_name="Lin")
    from apps.accounts.services import account_delete

    account_delete(user=gone)
    assert rename(api, "Lin").status_code == 200


def test_a_name_changed_in_the_admin_keeps_its_key(api, volunteer2):
    volunteer2.display_name = "Rosalind"
    volunteer2.save(update_fields=["display_name"])
    assert rename(api, "Rosalind").json() == {"display_name": [TAKEN]}


def test_the_migration_gives_every_named_account_its_key(volunteer, volunteer2):
    backfill = importlib.import_module("apps.accounts.migrations.0007_user_display_name_key")
    unnamed = UserFactory(display_name="")
    User.objects.update(display_name_key="")

    backfill.fill_display_name_keys(apps, None)

    keys = dict(User.objects.values_list("pk", "display_name_key"))
    assert keys == {
        volunteer.pk: display_name_key("Ada"),
        volunteer2.pk: display_name_key("Grace"),
        unnamed.pk: "",
    }
