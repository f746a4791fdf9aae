"""``manage.py release create|build|list``: cut dataset releases from the command line.

``create`` makes the next version and, by default, enqueues its build on the ``exports``
queue (a Celery worker builds it, as from the site); ``--sync`` builds it right here instead,
with a progress bar, and exits non-zero if the build fails. ``build VERSION`` builds a failed
(or stuck) release again in-process.
"""

from __future__ import annotations

import sys
from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from apps.accounts import roles
from apps.accounts.models import User
from apps.releases.building import release_build, release_folder
from apps.releases.models import DEFAULT_TEST_SHARE, Release, ReleaseState
from apps.releases.selectors import suggested_test_share_shown
from apps.releases.services import release_create, release_rebuild


class Command(BaseCommand):
    help = "Create (and build) dataset releases, build a failed one again, or list them."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Cut the next version.")
        create.add_argument(
            "--languages", nargs="+", default=[], help="BCP-47 tags (default: all languages)."
        )
        create.add_argument(
            "--categories", nargs="+", default=[], help="Dolly categories (default: all)."
        )
        create.add_argument(
            "--min-agreement",
            type=float,
            default=None,
            help="Leave out preference pairs of prompts whose Kendall's W is below this.",
        )
        create.add_argument(
            "--include-model-written",
            action="store_true",
            help="Include answers written by a model (default: people's answers only).",
        )
        create.add_argument(
            "--test-share",
            type=float,
            default=None,
            help=(
                "Share of the prompts released for the first time that go to the test split; "
                "prompts released before keep their split (default: the share the Releases "
                f"page suggests, {DEFAULT_TEST_SHARE} unless the test split is small)."
            ),
        )
        create.add_argument(
            "--sync",
            action="store_true",
            help="Build here, with a progress bar, instead of on the exports queue.",
        )
        create.add_argument(
            "--as",
            dest="as_email",
            default=None,
            metavar="EMAIL",
            help="The maintainer recorded as its creator (default: none).",
        )
        build = sub.add_parser("build", help="Build a failed or stuck release again, here.")
        build.add_argument("version")
        sub.add_parser("list", help="List releases, newest first.")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "list":
            self._list()
            return
        if action == "build":
            release = Release.objects.filter(version=options["version"]).first()
            if release is None:
                raise CommandError(f"No release {options['version']}.")
            try:
                release = release_rebuild(user=None, release=release, enqueue=False)
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from None
            self._build(release)
            return
        user = self._user(options["as_email"])
        try:
            release = release_create(
                user=user,
                languages=_split(options["languages"]),
                categories=_split(options["categories"]),
                min_agreement=options["min_agreement"],
                include_model_written=options["include_model_written"],
                test_share=(
                    suggested_test_share_shown()
                    if options["test_share"] is None
                    else options["test_share"]
                ),
                enqueue=not options["sync"],
            )
        except ValidationError as exc:
            problems = [
                " ".join(messages)
                if name == NON_FIELD_ERRORS
                else f"--{name.replace('_', '-')}: {' '.join(messages)}"
                for name, messages in exc.message_dict.items()
            ]
            raise CommandError("; ".join(problems)) from None
        if not options["sync"]:
            self.stdout.write(f"{release.version}: created; its build is queued (exports).")
            return
        self._build(release)

    def _user(self, email: str | None) -> User | None:
        if not email:
            return None
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No user has the email address {email}.")
        if not roles.is_maintainer(user):
            raise CommandError(f"{email} is not a maintainer.")
        return user

    def _build(self, release: Release) -> None:
        # tqdm draws with carriage returns; Django's OutputWrapper would add a newline to each.
        bar_file = getattr(self.stderr, "_out", sys.stderr)
        with tqdm(
            desc=release.version, unit="rows", unit_scale=True, file=bar_file, dynamic_ncols=True
        ) as bar:

            def progress(done: int, total: int) -> None:
                if total and bar.total != total:  # 0 while the rows are being counted
                    bar.total = total
                bar.update(done - bar.n)

            try:
                release = release_build(release.pk, progress=progress)
            except Exception as exc:
                bar.close()
                raise CommandError(f"{release.version}: build failed: {exc}") from exc
        if release.state != ReleaseState.READY:
            raise CommandError(f"{release.version}: {release.state} {release.error}".strip())
        rows = release.counts.get("rows", {})
        summary = ", ".join(f"{config} {sum(splits.values())}" for config, splits in rows.items())
        self.stdout.write(
            f"{release.version}: ready in {release_folder(release.version)} ({summary}; "
            f"sha256 {release.content_hash})."
        )

    def _list(self) -> None:
        for release in Release.objects.order_by("-number"):
            line = f"{release.version}\t{release.state}\t{release.created_at:%Y-%m-%d %H:%M}"
            if release.state == ReleaseState.FAILED:
                line += f"\t{release.error}"
            elif release.content_hash:
                line += f"\t{release.content_hash[:12]}"
            self.stdout.write(line)


def _split(values: list[str]) -> list[str]:
    """Accept both ``--languages en de`` and ``--languages en,de``."""
    return [item for value in values for item in value.split(",") if item.strip()]
