"""``manage.py seed_demo``: demo accounts and prompts for a local Hearth (``make run``).

Idempotent: a second run creates nothing new. Passwords are generated on the first run,
kept in ``DATA_DIR/demo-credentials.txt`` (mode 600) and printed on every run.
"""

from __future__ import annotations

import io
import json
import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

import apps.collection
from apps.accounts import roles
from apps.accounts import services as account_services
from apps.accounts.models import User
from apps.collection import flow
from apps.collection import services as collection_services
from apps.collection.importing import (
    REJECTED,
    ImportReport,
    check_import_options,
    prompts_import_jsonl,
)
from apps.collection.models import Prompt, PromptState, Response, ResponseState
from apps.collection.policy import current_policy

DEMO_SOURCE = "hearth-demo"
DEMO_PROMPTS_FILE = Path(apps.collection.__file__).resolve().parent / "demo_prompts.jsonl"
CREDENTIALS_FILE_NAME = "demo-credentials.txt"
# One demo prompt in this many stays in review, so the review queue has work in it (7, not
# 8, so that they are not all of one category: the file cycles through the eight).
REVIEW_EVERY = 7


@dataclass(frozen=True)
class DemoUser:
    email: str
    display_name: str
    role: str  # roles.VOLUNTEER, roles.MODERATOR or roles.MAINTAINER
    languages: tuple[str, ...]
    admin: bool = False


DEMO_USERS = (
    DemoUser("maintainer@hearth.local", "Maintainer", roles.MAINTAINER, ("en", "de"), admin=True),
    DemoUser("moderator@hearth.local", "Moderator", roles.MODERATOR, ("en", "fr")),
    DemoUser("ada@hearth.local", "Ada", roles.VOLUNTEER, ("en", "es")),
    DemoUser("grace@hearth.local", "Grace", roles.VOLUNTEER, ("en", "de", "fr")),
)
DEMO_AUTHORS = ("ada@hearth.local", "grace@hearth.local")


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
    """The demo user, created if missing; returns (user, password, created)."""
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


def _demo_author_index(index: int, authors: int) -> int:
    # The file cycles through the eight categories; shifting by the round gives every
    # category prompts from each author.
    return (index + index // 8) % authors


def _import_demo_prompts(authors: list[User]) -> tuple[ImportReport, dict[int, int]]:
    """Import the demo file line by line (so prompts keep the file's order), shared among
    ``authors``, most accepted and one in ``REVIEW_EVERY`` left in review.

    Returns the combined report and, for each line index of the file, its prompt's id.
    """
    lines = [line for line in DEMO_PROMPTS_FILE.read_bytes().splitlines() if line.strip()]
    options = {
        state: check_import_options(source=DEMO_SOURCE, state=state)
        for state in ("accepted", "review")
    }
    combined = ImportReport()
    prompt_ids: dict[int, int] = {}
    for index, line in enumerate(lines):
        state = "review" if index % REVIEW_EVERY == REVIEW_EVERY - 1 else "accepted"
        # Prompts left in review alternate authors, so each volunteer has some to review.
        author_index = (
            (index // REVIEW_EVERY) % len(authors)
            if state == "review"
            else _demo_author_index(index, len(authors))
        )
        report = prompts_import_jsonl(
            io.BytesIO(line + b"\n"),
            author=authors[author_index],
            options=options[state],
        )
        outcome = report.lines[0]
        if outcome.prompt_id is not None:
            prompt_ids[index] = outcome.prompt_id
        combined.add_batch([replace(outcome, line=index + 1)])
    return combined, prompt_ids


def _add_second_answers(authors: list[User], prompt_ids: dict[int, int]) -> int:
    """Give some accepted demo prompts a second accepted answer by the other volunteer, so
    prompt pages show several answers. Returns how many were added."""
    records = [
        json.loads(line)
        for line in DEMO_PROMPTS_FILE.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    added = 0
    for index, record in enumerate(records):
        text = record.get("second_response")
        if not text or index not in prompt_ids:
            continue
        prompt = Prompt.objects.filter(pk=prompt_ids[index]).first()
        if prompt is None or prompt.state != PromptState.COLLECTING:
            continue
        other = next((a for a in authors if a.pk != prompt.author_id), None)
        if other is None or Response.objects.filter(prompt=prompt, author=other).exists():
            continue
        try:
            response = collection_services.response_create(prompt=prompt, author=other, text=text)
        except (collection_services.NotEditable, ValidationError):
            continue
        # Demo data skips the review flow that would accept it: it is shown as accepted.
        Response.objects.filter(pk=response.pk).update(state=ResponseState.ACCEPTED)
        added += 1
    return added


RANKING_PROMPTS = 4


def _open_demo_rankings(writer: User) -> int:
    """Move a few two-answer demo prompts on to ranking, so the ranking task can be tried at
    once: ``writer`` adds a brief third answer (the first sentence of the first one).
    Returns how many prompts were moved; none once enough are in ranking or beyond."""
    policy = current_policy()
    demo = Prompt.objects.filter(origin=DEMO_SOURCE)
    done = demo.filter(state__in=[PromptState.RANKING, PromptState.COMPLETE]).count()
    moved = 0
    candidates = demo.filter(state=PromptState.COLLECTING).exclude(responses__author=writer)
    for prompt in candidates.order_by("id"):
        if done + moved >= RANKING_PROMPTS:
            break
        answers = list(prompt.responses.filter(state=ResponseState.ACCEPTED).order_by("id"))
        if len(answers) != 2:
            continue
        brief = answers[0].text.split("\n")[0].split(". ")[0].rstrip(".") + "."
        response = collection_services.response_create(prompt=prompt, author=writer, text=brief)
        Response.objects.filter(pk=response.pk).update(state=ResponseState.ACCEPTED)
        prompt.refresh_from_db()
        flow.prompt_transition(prompt=prompt, to=PromptState.RANKING, policy=policy)
        moved += 1
    return moved


class Command(BaseCommand):
    help = (
        "Create demo accounts (maintainer, moderator, two volunteers) and demo prompts. "
        "Safe to run again; prints the demo passwords every time."
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
            authors = [users[email] for email in DEMO_AUTHORS]
            report, prompt_ids = _import_demo_prompts(authors)
            second_answers = _add_second_answers(authors, prompt_ids)
            rankings_opened = _open_demo_rankings(users["moderator@hearth.local"])
        if passwords != {spec.email: known.get(spec.email) for spec in DEMO_USERS}:
            _write_credentials(path, passwords)
        else:
            os.chmod(path, 0o600)

        self.stdout.write(f"Demo accounts (also in {path}):")
        width = max(len(spec.email) for spec in DEMO_USERS)
        for spec in DEMO_USERS:
            self.stdout.write(
                f"  {spec.email:<{width}}  {passwords[spec.email]}  {_role_label(spec)}"
            )
        self.stdout.write(
            f"Demo data: {users_created} accounts created, {report.imported} prompts imported "
            f"({report.duplicates} already there), {second_answers} second answers added, "
            f"{rankings_opened} prompts opened for ranking."
        )
        for outcome in report.lines:
            if outcome.status == REJECTED:
                self.stderr.write(f"{DEMO_PROMPTS_FILE.name} line {outcome.line}: {outcome.errors}")
