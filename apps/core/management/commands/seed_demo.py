"""``manage.py seed_demo``: demo accounts and a demo community for a local Hearth
(``make run``).

Four accounts have a login (a maintainer, a moderator, two volunteers); four more demo
volunteers have none. Together they write, answer, review and rank the demo prompts over the
last eight weeks (``apps.core.management.demo_community``), so the Community page and Your
impact have something to show. All of it is made up, and backdated.

Idempotent: a second run creates nothing new. Passwords are generated on the first run,
kept in ``DATA_DIR/demo-credentials.txt`` (mode 600) and printed on every run while they
still work: an account whose person changed its password is named instead, and keeps the new
one.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

import apps.collection
from apps.accounts import roles
from apps.accounts import services as account_services
from apps.accounts.models import User
from apps.collection.models import Prompt, PromptState
from apps.core.management import demo_community
from apps.releases.building import release_build
from apps.releases.models import Release
from apps.releases.selectors import suggested_test_share
from apps.releases.services import release_create

DEMO_PROMPTS_FILE = Path(apps.collection.__file__).resolve().parent / "demo_prompts.jsonl"
# The origin of the demo prompts of earlier seeds, which imported them (see ``handle``).
OLD_DEMO_SOURCE = "hearth-demo"
CREDENTIALS_FILE_NAME = "demo-credentials.txt"
# Printed instead of a seeded password that no longer works.
CHANGED = "(password changed)"


@dataclass(frozen=True)
class DemoUser:
    email: str
    display_name: str
    role: str  # roles.VOLUNTEER, roles.MODERATOR or roles.MAINTAINER
    languages: tuple[str, ...]
    admin: bool = False


# The accounts one can sign in with: their passwords are printed and kept in the credentials
# file.
DEMO_USERS = (
    DemoUser("maintainer@hearth.local", "Maintainer", roles.MAINTAINER, ("en", "de"), admin=True),
    DemoUser("moderator@hearth.local", "Moderator", roles.MODERATOR, ("en", "fr")),
    DemoUser("ada@hearth.local", "Ada", roles.VOLUNTEER, ("en", "es")),
    DemoUser("grace@hearth.local", "Grace", roles.VOLUNTEER, ("en", "de", "fr")),
)
# Volunteers who are there to make a community (and to speak the demo's other languages):
# no password, so nobody signs in as them.
DEMO_VOLUNTEERS = (
    DemoUser("tomas@hearth.local", "Tomás", roles.VOLUNTEER, ("es", "en")),
    DemoUser("jonas@hearth.local", "Jonas", roles.VOLUNTEER, ("de", "en")),
    DemoUser("amara@hearth.local", "Amara", roles.VOLUNTEER, ("fr", "en", "es")),
    DemoUser("mei@hearth.local", "Mei", roles.VOLUNTEER, ("en",)),
)


def credentials_path() -> Path:
    return Path(settings.DATA_DIR) / CREDENTIALS_FILE_NAME


def _read_credentials(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) >= 2:
            found[parts[0].strip().lower()] = parts[1].strip()
    return found


def _write_credentials(path: Path, passwords: dict[str, str]) -> None:
    lines = [
        "# Hearth demo accounts, made by `manage.py seed_demo`. For a local demo only.",
        "# email\tpassword\trole",
    ]
    for spec in DEMO_USERS:
        lines.append(f"{spec.email}\t{passwords[spec.email]}\t{_role_label(spec)}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)  # in case the file was already there with looser permissions


def _role_label(spec: DemoUser) -> str:
    return f"{spec.role}, admin" if spec.admin else spec.role


def _ensure_user(spec: DemoUser, known_password: str | None) -> tuple[User, str, bool]:
    """The demo account, created if missing; returns (user, password, created)."""
    user = User.objects.filter(email__iexact=spec.email).first()
    created = user is None
    password = known_password or secrets.token_urlsafe(12)
    if user is None:
        user = User.objects.create_user(
            email=spec.email,
            password=password,
            display_name=spec.display_name,
            is_staff=spec.admin,
            is_superuser=spec.admin,
        )
        account_services.profile_update(user=user, languages=list(spec.languages))
    else:
        changed: list[str] = []
        if known_password is None:
            # The credentials file was lost: without a new password it could not be printed.
            user.set_password(password)
            changed.append("password")
        if spec.admin and not (user.is_staff and user.is_superuser):
            user.is_staff = user.is_superuser = True
            changed += ["is_staff", "is_superuser"]
        if changed:
            user.save(update_fields=changed)
    address, _ = EmailAddress.objects.get_or_create(
        user=user, email=spec.email, defaults={"verified": True, "primary": True}
    )
    if not (address.verified and address.primary):
        EmailAddress.objects.filter(user=user).exclude(pk=address.pk).update(primary=False)
        address.verified = address.primary = True
        address.save(update_fields=["verified", "primary"])
    account_services.user_setup_volunteer(user=user)
    user.groups.add(Group.objects.get(name=spec.role))
    account_services.licence_accept(user=user)
    return user, password, created


def _ensure_volunteer(spec: DemoUser) -> tuple[User, bool]:
    """A demo volunteer without a login, created if missing; returns (user, created)."""
    user = User.objects.filter(email__iexact=spec.email).first()
    created = user is None
    if user is None:
        user = User.objects.create_user(email=spec.email, display_name=spec.display_name)
        account_services.profile_update(user=user, languages=list(spec.languages))
    account_services.user_setup_volunteer(user=user)
    account_services.licence_accept(user=user)
    return user, created


class Command(BaseCommand):
    help = (
        "Create demo accounts (maintainer, moderator, two volunteers, and four volunteers "
        "without a login) and eight weeks of made-up, backdated activity on the demo "
        "prompts. Safe to run again; prints the demo passwords every time, except those "
        "changed since."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even with DEBUG off. The demo maintainer is a superuser whose password "
            "this command prints: never use this on a public site.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "seed_demo makes a superuser with a printed password, so it runs only with "
                "DEBUG=true (as `make run` sets it). Pass --force if you really mean it."
            )
        if not DEMO_PROMPTS_FILE.exists():
            raise CommandError(f"The demo prompts file is missing: {DEMO_PROMPTS_FILE}")
        prompts = demo_community.read_demo_prompts(DEMO_PROMPTS_FILE)
        path = credentials_path()
        known = _read_credentials(path)
        passwords: dict[str, str] = {}
        users_created = 0
        with transaction.atomic():
            roles.sync_role_groups()
            users: dict[str, User] = {}
            for spec in DEMO_USERS:
                user, password, created = _ensure_user(spec, known.get(spec.email))
                users[spec.email] = user
                passwords[spec.email] = password
                users_created += int(created)
            for spec in DEMO_VOLUNTEERS:
                user, created = _ensure_volunteer(spec)
                users[spec.email] = user
                users_created += int(created)
            report = demo_community.replay(
                users=users, prompts=prompts, tasks_left_to=[spec.email for spec in DEMO_USERS]
            )
        release = _demo_release(report)
        if passwords != {spec.email: known.get(spec.email) for spec in DEMO_USERS}:
            _write_credentials(path, passwords)
        else:
            os.chmod(path, 0o600)

        # A password its person changed since (on the site, or in the admin) is left alone,
        # and the seeded one, which no longer signs in, is not shown.
        changed = [
            spec.email
            for spec in DEMO_USERS
            if not users[spec.email].check_password(passwords[spec.email])
        ]
        self.stdout.write(f"Demo accounts (also in {path}):")
        width = max(len(spec.email) for spec in DEMO_USERS)
        for spec in DEMO_USERS:
            shown = CHANGED if spec.email in changed else passwords[spec.email]
            self.stdout.write(f"  {spec.email:<{width}}  {shown}  {_role_label(spec)}")
        if changed:
            self.stdout.write(
                f"Password changed since it was seeded: {', '.join(changed)}. Sign in with the "
                f"new one (the seeded one in {path.name} no longer works), or set another with "
                "`manage.py changepassword EMAIL`."
            )
        self.stdout.write(_summary(report, users_created=users_created, prompts=len(prompts)))
        if release is not None:
            rows = release.counts.get("rows", {}).get("sft", {})
            self.stdout.write(
                f"Demo release: {release.version}, built from it ({rows.get('train', 0)} sft rows "
                f"in train, {rows.get('test', 0)} in test)."
            )
        if report.already_there and Prompt.objects.filter(origin=OLD_DEMO_SOURCE).exists():
            self.stdout.write(
                "These demo prompts were imported by an earlier seed_demo, so they do not count "
                "on the leaderboard: seed an empty database (with `make run`, remove "
                "var/hearth.sqlite3 first) for the current demo community."
            )


def _demo_release(report: demo_community.ReplayReport) -> Release | None:
    """The first release, built here from the demo data, so that a visitor finds a release to
    read and download and the demo maintainer one to train on. Only when this run added the
    demo prompts to a site with no release yet; built in-process, as ``manage.py release``
    does, because the worker that ``make run`` starts is not running yet. The ORM reader, not
    PostgreSQL's COPY: a few dozen rows, read on this connection, so inside a caller's
    transaction too."""
    if not report.prompts or Release.objects.exists():
        return None
    release = release_create(user=None, test_share=suggested_test_share(), enqueue=False)
    return release_build(release.pk, method="orm")


def _summary(report: demo_community.ReplayReport, *, users_created: int, prompts: int) -> str:
    accounts = f"Demo data: {users_created} accounts created"
    if not report.prompts:
        return (
            f"{accounts}; the demo prompts are already there ({report.already_there} of "
            f"{prompts}): nothing added."
        )
    states = ", ".join(
        f"{report.states[state]} {label}"
        for state, label in (
            (PromptState.REVIEW, "in review"),
            (PromptState.COLLECTING, "collecting answers"),
            (PromptState.RANKING, "ranking"),
            (PromptState.COMPLETE, "complete"),
        )
    )
    return (
        f"{accounts}; {demo_community.DAYS // 7} weeks of made-up, backdated activity: "
        f"{report.prompts} prompts written, {report.answers} more answers, "
        f"{report.reviews} reviews and {report.rankings} rankings. Prompts: {states}."
    )
