"""``manage.py reconsider_banned_reviews``: decide again what accounts banned before this
release helped reject.

Since this release a ban voids the banned person's reviews (``user_ban`` calls
``feedback.services.reviews_of_banned_reconsider``). Accounts banned earlier keep their past
effect: what their reviews helped reject stays rejected until a moderator runs this, once,
for every banned account (or ``--user ID`` for one). Each account is one transaction, taken
in the ban's lock order; running it again changes nothing it settled.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from apps.accounts.models import User
from apps.collection.policy import policy_gate
from apps.feedback.services import reviews_of_banned_reconsider


class Command(BaseCommand):
    help = (
        "Decide again, without their reviews, the prompts and answers that accounts banned "
        "before this release helped reject (a ban now does it itself)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", type=int, help="only this banned account (its #id)")

    def handle(self, *args: Any, **options: Any) -> None:
        banned = User.objects.filter(banned_at__isnull=False).order_by("pk")
        if options["user"] is not None:
            banned = banned.filter(pk=options["user"])
            if not banned.exists():
                raise CommandError(f"no banned account #{options['user']}")
        prompts = answers = 0
        for pk in banned.values_list("pk", flat=True):
            with transaction.atomic():
                policy_gate()  # before any lock, as a ban
                user = User.objects.select_for_update(no_key=True).get(pk=pk)
                if user.banned_at is None:
                    continue  # unbanned meanwhile
                reopened = reviews_of_banned_reconsider(reviewer=user)
            prompts += reopened[0]
            answers += reopened[1]
        self.stdout.write(
            f"Decided again: {prompts} prompt(s) and {answers} answer(s) reopened or accepted."
        )
