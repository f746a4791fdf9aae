"""``manage.py createmaintainer EMAIL``: the first maintainer of a new site, or a maintainer
made of an existing account, who can sign in at once.

``createsuperuser`` makes an account whose e-mail address allauth does not know, so with
e-mail verification mandatory (the default) its first sign-in on the site only sends a
confirmation link, which without EMAIL_HOST is printed in the web process's log. This command
records the address as verified and primary, and puts the account in the maintainer group
(and the volunteer one, as sign-up does). ``--superuser`` also opens the admin (/admin/).

A new account's password is asked for twice (or read from standard input with
``--password-stdin``) and checked like the site's. An existing account keeps its password.
The data licence is not accepted for anyone: its person does that on the site.
"""

from __future__ import annotations

import getpass
import sys
from typing import Any

from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email
from django.db import transaction

from apps.accounts import roles
from apps.accounts import services as account_services
from apps.accounts.models import MODEL_AUTHOR_EMAIL, User


class Command(BaseCommand):
    help = (
        "Create a maintainer who can sign in at once (e-mail address verified), or make an "
        "existing account one. --superuser also opens the admin."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="the account's e-mail address, which signs in")
        parser.add_argument(
            "--superuser",
            action="store_true",
            help="also staff and superuser: the admin (/admin/) opens to this account",
        )
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="a new account's password from the first line of standard input, instead "
            "of asking for it (for scripts: `docker compose exec -T …`)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        email = User.objects.normalize_email(options["email"].strip()).lower()
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"{options['email']!r} is not an e-mail address") from None
        if email == MODEL_AUTHOR_EMAIL:
            raise CommandError(f"{email} is the account of model-written answers")
        user = User.objects.filter(email__iexact=email).first()
        if user is not None and user.deleted_at is not None:
            raise CommandError(f"The account {email} was deleted.")
        taken = EmailAddress.objects.filter(email__iexact=email)
        if user is not None:
            taken = taken.exclude(user=user)
        if taken.exists():
            raise CommandError(f"{email} is an address of another account.")
        password = None if user is not None else self._password(email, options)

        with transaction.atomic():
            roles.sync_role_groups()
            created = user is None
            if user is None:
                user = User.objects.create_user(email=email, password=password)
            if options["superuser"] and not (user.is_staff and user.is_superuser):
                user.is_staff = user.is_superuser = True
                user.save(update_fields=["is_staff", "is_superuser"])
            address = EmailAddress.objects.filter(user=user, email__iexact=user.email).first()
            if address is None:
                address = EmailAddress.objects.create(
                    user=user, email=user.email, verified=True, primary=True
                )
            EmailAddress.objects.filter(user=user).exclude(pk=address.pk).update(primary=False)
            if not (address.verified and address.primary):
                address.verified = address.primary = True
                address.save(update_fields=["verified", "primary"])
            account_services.user_setup_volunteer(user=user)
            user.groups.add(Group.objects.get(name=roles.MAINTAINER))

        what = "Created" if created else "Updated"
        admin = ", superuser" if user.is_superuser else ""
        self.stdout.write(
            f"{what} {user.email}: maintainer{admin}, e-mail address verified. Sign in on "
            "the site with it; the site asks once for the data licence before any contribution."
        )
        if user.banned_at is not None or not user.is_active:
            self.stdout.write(
                self.style.WARNING(f"{user.email} is banned or inactive and cannot sign in.")
            )

    def _password(self, email: str, options: dict[str, Any]) -> str:
        if options["password_stdin"]:
            password = sys.stdin.readline().rstrip("\r\n")
        elif sys.stdin.isatty():
            password = getpass.getpass(f"Password for {email}: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The two passwords differ.")
        else:
            raise CommandError(
                "A new account needs a password: run this in a terminal (docker compose exec "
                "without -T), or pass --password-stdin and send it on standard input."
            )
        if not password:
            raise CommandError("The password is empty.")
        try:
            validate_password(password, User(email=email))
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        return password
