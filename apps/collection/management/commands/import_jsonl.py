"""``manage.py import_jsonl FILE --source NAME``: import a Dolly-format JSONL file."""

from __future__ import annotations

import json
import os
import sys
from argparse import ArgumentParser
from typing import IO, Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from apps.accounts import roles
from apps.accounts.models import User
from apps.collection.importing import (
    ANSWER_ADDED,
    DEFAULT_BATCH_SIZE,
    DUPLICATE,
    IMPORT_STATES,
    IMPORTED,
    SQLITE_BATCH_SIZE,
    ImportOptions,
    ImportProgress,
    ImportReport,
    LineOutcome,
    check_import_options,
    prompts_import_jsonl,
)

EXIT_INTERRUPTED = 130  # the shell's code for a process stopped by Ctrl-C (128 + SIGINT)


def _describe(outcome: LineOutcome) -> str:
    if outcome.status == IMPORTED:
        return f"line {outcome.line}: imported as prompt #{outcome.prompt_id}"
    if outcome.status == ANSWER_ADDED:
        return f"line {outcome.line}: answer added to prompt #{outcome.prompt_id}"
    if outcome.status == DUPLICATE:
        return f"line {outcome.line}: duplicate of prompt #{outcome.prompt_id}"
    reasons = "; ".join(
        f"{name}: {' '.join(messages)}" for name, messages in (outcome.errors or {}).items()
    )
    return f"line {outcome.line}: rejected: {reasons}"


class Command(BaseCommand):
    help = (
        "Import a Dolly-format JSONL file (instruction, context, response, category and "
        "optionally language on each line, and licence, origin, prompt_licence and "
        "prompt_origin in place of --licence and --source) through the same checks as the "
        "Write form. A line whose prompt is already in Hearth adds its answer to it. Safe to "
        "re-run: lines already in Hearth are reported as duplicates."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("file", help="The JSONL file, or - for standard input.")
        parser.add_argument(
            "--source", required=True, help="The data set's name, e.g. databricks-dolly-15k."
        )
        parser.add_argument(
            "--licence",
            default=None,
            help="The data's licence, for lines without their own (default: HEARTH_LICENCE_NAME).",
        )
        parser.add_argument(
            "--language", default="en", help="For lines without a language field (default: en)."
        )
        parser.add_argument(
            "--state",
            choices=sorted(IMPORT_STATES),
            default="accepted",
            help="accepted: open for answers at once (default); review: volunteers review first.",
        )
        parser.add_argument(
            "--as",
            dest="as_email",
            default=None,
            metavar="EMAIL",
            help="The maintainer who imports and authors the prompts (default: first superuser).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=(
                f"Lines per transaction (default: {DEFAULT_BATCH_SIZE}; on SQLite at most "
                f"{SQLITE_BATCH_SIZE}, with a pause between batches for other writers)."
            ),
        )
        parser.add_argument(
            "--report",
            default=None,
            metavar="OUT.jsonl",
            help="Write every line's outcome here as JSONL instead of listing problems.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        importer = self._importer(options["as_email"])
        try:
            import_options = check_import_options(
                source=options["source"],
                licence=options["licence"],
                language=options["language"],
                state=options["state"],
                batch_size=options["batch_size"],
            )
        except ValidationError as exc:
            problems = [
                f"--{name.replace('_', '-')}: {' '.join(messages)}"
                for name, messages in exc.message_dict.items()
            ]
            raise CommandError("; ".join(problems)) from None
        path = options["file"]
        if path == "-":
            self._run(sys.stdin.buffer, path, importer, import_options, options["report"])
            return
        try:
            stream = open(path, "rb")  # noqa: SIM115 - closed below, after the import
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}") from None
        with stream:
            self._run(stream, path, importer, import_options, options["report"])

    def _importer(self, email: str | None) -> User:
        if email:
            user = User.objects.filter(email__iexact=email.strip()).first()
            if user is None:
                raise CommandError(f"No user has the email address {email}.")
            if not user.is_active or not roles.is_maintainer(user):
                raise CommandError(
                    f"{email} is not a maintainer; only maintainers may import. "
                    "Give them the maintainer role in the admin, or pass another --as."
                )
            return user
        user = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
        if user is None:
            raise CommandError(
                "No superuser to import as: pass --as EMAIL of a maintainer, "
                "or create one with `manage.py createsuperuser`."
            )
        return user

    def _run(
        self,
        stream: IO[bytes],
        path: str,
        importer: User,
        options: ImportOptions,
        report_path: str | None,
    ) -> None:
        report = ImportReport()
        try:
            size: int | None = os.fstat(stream.fileno()).st_size or None
        except (OSError, ValueError):
            size = None  # a pipe: the bar counts bytes without a total
        # tqdm draws with carriage returns; Django's OutputWrapper would add a newline to each.
        bar_file = getattr(self.stderr, "_out", sys.stderr)
        with tqdm(
            total=size, desc="import", unit="B", unit_scale=True, file=bar_file, dynamic_ncols=True
        ) as bar:

            def progress(step: ImportProgress) -> None:
                bar.update(step.bytes_done - bar.n)

            try:
                prompts_import_jsonl(
                    stream,
                    author=importer,
                    options=options,
                    progress=progress,
                    bytes_total=size,
                    report=report,
                )
            except KeyboardInterrupt:
                bar.close()
                self._write_outcomes(report, report_path)
                self.stderr.write(
                    f"Interrupted: {report.batches_committed} batch(es) committed "
                    f"({report.lines_committed} lines: {report.imported} imported, "
                    f"{report.answers_added} answers added, {report.duplicates} duplicates, "
                    f"{report.rejected} rejected); the batch in "
                    "progress was rolled back. Run the same command again to finish: lines "
                    "already imported come back as duplicates."
                )
                raise SystemExit(EXIT_INTERRUPTED) from None
            except OSError as exc:
                raise CommandError(f"Cannot read {path}: {exc.strerror or exc}") from None
        self._write_outcomes(report, report_path)
        self.stdout.write(
            f"{path}: {report.imported} imported, {report.answers_added} answers added, "
            f"{report.duplicates} duplicates, {report.rejected} rejected "
            f"({report.lines_committed} lines, source "
            f"{options.source!r}, state {options.state}, as {importer.email})."
        )

    def _write_outcomes(self, report: ImportReport, report_path: str | None) -> None:
        if report_path:
            try:
                with open(report_path, "w", encoding="utf-8") as out:
                    for outcome in report.lines:
                        out.write(json.dumps(outcome.as_dict(), ensure_ascii=False) + "\n")
            except OSError as exc:
                raise CommandError(f"Cannot write {report_path}: {exc.strerror or exc}") from None
            return
        for outcome in report.lines:
            if outcome.status not in (IMPORTED, ANSWER_ADDED):
                self.stdout.write(_describe(outcome))
