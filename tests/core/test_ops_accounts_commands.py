"""Operator QA of the commands that make accounts.

* ``make run`` printed the seeded demo passwords again after a person had changed theirs:
  seed_demo now prints only those that still sign in, and names the accounts whose password
  was changed (and leaves the new password alone).
* The README's first admin for Compose, ``createsuperuser``, could not sign in on the site:
  e-mail verification is mandatory, so the sign-in only sent a confirmation link (printed in
  the web log without EMAIL_HOST). ``createmaintainer`` makes an account that signs in at once.
"""

from __future__ import annotations

import io
import re
import sys

import pytest
from allauth.account.models import EmailAddress
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from apps.accounts import roles
from apps.accounts.models import User
from apps.core.management.commands import seed_demo

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"


# --- seed_demo ----------------------------------------------------------------------------------


@pytest.fixture
def fast_seed(settings, tmp_path, monkeypatch):
    """seed_demo's accounts, without the demo community and its release (not what these
    tests are about)."""
    settings.DATA_DIR = tmp_path

    class Nothing:
        prompts = 0
        already_there = 0

    monkeypatch.setattr(seed_demo.demo_community, "read_demo_prompts", lambda path: [])
    monkeypatch.setattr(seed_demo.demo_community, "replay", lambda **kwargs: Nothing())
    monkeypatch.setattr(seed_demo, "_demo_release", lambda report: None)
    monkeypatch.setattr(seed_demo, "_summary", lambda report, **kwargs: "")


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", force=True, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def stored_passwords() -> dict[str, str]:
    return seed_demo._read_credentials(seed_demo.credentials_path())


def shown(output: str, email: str, what: str) -> bool:
    """Whether ``output`` lists ``email`` with ``what`` in the password's column."""
    return re.search(rf"^  {re.escape(email)} +{re.escape(what)}  ", output, re.M) is not None


def test_a_second_seed_prints_the_passwords_that_still_work(fast_seed):
    seed()
    passwords = stored_passwords()
    output = seed()
    for email, password in passwords.items():
        assert shown(output, email, password)
    assert "changed" not in output


def test_a_password_changed_since_the_seed_is_not_printed_and_is_kept(fast_seed):
    seed()
    seeded = stored_passwords()
    ada = User.objects.get(email="ada@hearth.local")
    ada.set_password(PASSWORD)
    ada.save()

    output = seed()

    assert seeded["ada@hearth.local"] not in output
    assert shown(output, "ada@hearth.local", seed_demo.CHANGED)
    assert "Password changed since it was seeded: ada@hearth.local." in output
    assert User.objects.get(email="ada@hearth.local").check_password(PASSWORD)
    for email in ("maintainer@hearth.local", "moderator@hearth.local", "grace@hearth.local"):
        assert shown(output, email, seeded[email])


# --- createmaintainer ---------------------------------------------------------------------------


def sign_in(email: str, password: str) -> str:
    """Where the site's sign-in form sends the person."""
    r = Client().post("/accounts/login/", {"login": email, "password": password})
    assert r.status_code == 302, r.content.decode()[-1500:]
    return r["Location"]


def create(*args: str, stdin: str = PASSWORD + "\n", monkeypatch=None) -> str:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    call_command("createmaintainer", *args, "--password-stdin", stdout=out)
    return out.getvalue()


def test_createsuperuser_alone_cannot_sign_in_on_the_site():
    """The QA's case, which the README no longer suggests."""
    User.objects.create_superuser(email="root@example.org", password=PASSWORD)
    assert sign_in("root@example.org", PASSWORD) == "/accounts/confirm-email/"


def test_a_new_maintainer_signs_in_at_once(monkeypatch):
    output = create("Admin@Example.org", "--superuser", monkeypatch=monkeypatch)

    user = User.objects.get(email="admin@example.org")
    assert "Created admin@example.org: maintainer, superuser, e-mail address verified." in output
    assert user.is_staff and user.is_superuser
    assert roles.is_maintainer(user)
    assert set(user.groups.values_list("name", flat=True)) == {roles.VOLUNTEER, roles.MAINTAINER}
    address = EmailAddress.objects.get(user=user)
    assert (address.email, address.verified, address.primary) == ("admin@example.org", True, True)
    assert sign_in("admin@example.org", PASSWORD) == "/"
    assert not user.licence_acceptances.exists()  # the person accepts it on the site


def test_an_account_made_with_createsuperuser_is_put_right(monkeypatch):
    User.objects.create_superuser(email="root@example.org", password=PASSWORD)

    output = create("root@example.org", stdin="", monkeypatch=monkeypatch)

    assert output.startswith("Updated root@example.org: maintainer, superuser")
    assert sign_in("root@example.org", PASSWORD) == "/"  # its password unchanged


def test_a_volunteer_is_made_a_maintainer_without_the_admin(monkeypatch, volunteer):
    EmailAddress.objects.create(user=volunteer, email=volunteer.email, verified=False, primary=True)

    create(volunteer.email, stdin="", monkeypatch=monkeypatch)

    volunteer.refresh_from_db()
    assert roles.is_maintainer(volunteer) and not volunteer.is_staff
    assert EmailAddress.objects.get(user=volunteer).verified


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (["not-an-address"], PASSWORD, "is not an e-mail address"),
        (["new@example.org"], "short\n", "too short"),
        (["new@example.org"], "\n", "The password is empty."),
    ],
)
def test_createmaintainer_refuses_what_it_cannot_use(monkeypatch, args, stdin, says):
    with pytest.raises(CommandError, match=says):
        create(*args, stdin=stdin, monkeypatch=monkeypatch)
    assert not User.objects.filter(email="new@example.org").exists()


def test_without_a_terminal_or_password_stdin_a_new_account_is_refused(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    with pytest.raises(CommandError, match="needs a password"):
        call_command("createmaintainer", "new@example.org", stdout=io.StringIO())
