"""Bulk import of Dolly-format JSONL: one JSON object a line with ``instruction``,
``context``, ``response`` and ``category`` (and, optionally, ``language``, and the
``licence``, ``origin``, ``prompt_licence`` and ``prompt_origin`` a release's Dolly files
carry: the answer's and the prompt's, which take the place of the import's options).

Every line goes through the checks of ``services.prompt_create``, the same rules as the Write
form and the API, so an import cannot let in what a volunteer could not write. The file is
read line by line (bounded memory) and written in batches, one transaction each, by
``services.prompts_create_imported``: a batch costs the same few queries whether it holds one
line or five hundred. A crash or Ctrl-C loses only the batch in progress, and re-running the
same file is safe because lines already in Hearth come back as duplicates. A line that repeats
a prompt already in Hearth with another answer adds that answer to it (a prompt's several
answers are several lines, in a release's Dolly files as in Dolly-15k).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.template.defaultfilters import filesizeformat
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from apps.accounts.models import User
from apps.accounts.services import check_language
from apps.collection import search, services
from apps.collection.models import CollectionPolicy, PromptState, ResponseState
from apps.collection.policy import current_policy, policy_gate
from apps.core.parsers import json_reason

IMPORTED = "imported"
# The line's prompt was in Hearth already, without its answer: the answer was added to it.
ANSWER_ADDED = "answer_added"
DUPLICATE = "duplicate"
REJECTED = "rejected"
LINE_STATUSES = (IMPORTED, ANSWER_ADDED, DUPLICATE, REJECTED)

# The two states an import may leave its prompts in (prompt state, response state).
IMPORT_STATES: dict[str, tuple[str, str]] = {
    # Curated sources (Dolly itself): open for more answers at once.
    "accepted": (PromptState.COLLECTING, ResponseState.ACCEPTED),
    # Sources to be checked: volunteers review them like their own work.
    "review": (PromptState.REVIEW, ResponseState.REVIEW),
}
DEFAULT_BATCH_SIZE = 500
# On SQLite (the embedded default) one writer at a time holds the database's write lock, and
# a request that wants it meanwhile does not queue: it polls, every few milliseconds at first
# and every 100 ms once it has waited a quarter of a second. Batches committed back to back
# left it gaps of microseconds, and it could miss them for the whole busy timeout: 10-20 s
# waits and a "database is locked" 500 for volunteers while a 20,000-line import ran. So on
# SQLite a batch holds at most SQLITE_BATCH_SIZE lines (the write lock for some 40 ms), and at
# least SQLITE_PAUSE_SECONDS pass between one batch's commit and the next one's start (the
# next lines are checked meanwhile, outside the lock): a writer that began to wait during the
# batch gets in, one that has waited longer within a batch or two. Chosen with
# tests/bench/bench_sqlite_import.py (see README: writes' p95 0.1 s instead of 7-12 s, the
# import about half as long again). PostgreSQL locks rows, not the database: there batches
# keep their size and follow each other at once.
SQLITE_BATCH_SIZE = 100
SQLITE_PAUSE_SECONDS = 0.05
# The most lines of each status (imported, answer added, duplicate, rejected) that a report
# lists; its counts stay exact. The report is the API's answer, the row an Idempotency-Key
# replays and the Import page: at some 360 bytes a rejected line, listing every line of a
# 64 MB file of bad lines would take gigabytes. The first lines of each kind are the ones to
# fix first.
REPORT_LINES_PER_STATUS = 1000
# "hearth" marks work written on this site (Prompt.origin), so an import may not claim it.
RESERVED_SOURCE = "hearth"
# Whole-line problems (bad bytes, bad JSON) are reported under this key, not a field's name.
LINE_ERRORS = "line"

_DOLLY_FIELDS = ("instruction", "context", "response", "category")
# Where the answer and its prompt came from, as a release's Dolly lines say (DOLLY_KEYS in
# apps.releases.building.layout): each a licence or an origin, in place of the import's.
_LICENCE_FIELDS = ("licence", "prompt_licence")
_PROVENANCE_FIELDS = ("licence", "origin", "prompt_licence", "prompt_origin")
# A missing or null one of these means none given.
_OPTIONAL_FIELDS = ("context", "language", *_PROVENANCE_FIELDS)
_STRING_FIELDS = (*_DOLLY_FIELDS, "language", *_PROVENANCE_FIELDS)
_JSON_TYPE_NAMES = {
    str: gettext_lazy("a string"),
    dict: gettext_lazy("an object"),
    list: gettext_lazy("an array"),
    int: gettext_lazy("a number"),
    float: gettext_lazy("a number"),
    bool: pgettext_lazy("a JSON value", "true/false"),
    type(None): pgettext_lazy("a JSON value", "null"),
}


@dataclass(frozen=True)
class ImportOptions:
    """Checked options for one import; build with ``check_import_options``."""

    source: str
    licence: str
    language: str
    state: str
    batch_size: int = DEFAULT_BATCH_SIZE

    @property
    def prompt_state(self) -> str:
        return IMPORT_STATES[self.state][0]

    @property
    def response_state(self) -> str:
        return IMPORT_STATES[self.state][1]


@dataclass(frozen=True)
class LineOutcome:
    """What happened to one line of the file (line numbers count from 1, blank lines too)."""

    line: int
    status: str
    prompt_id: int | None = None
    errors: dict[str, list[str]] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LineOutcome:
        """The outcome ``as_dict`` wrote, its problems in the fields' order again (a database
        may keep an object's keys in another order: PostgreSQL's jsonb sorts them by length)."""
        errors = data.get("errors")
        return cls(
            line=data["line"],
            status=data["status"],
            prompt_id=data.get("prompt_id"),
            errors=ordered_errors(errors) if errors else None,
        )

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"line": self.line, "status": self.status}
        if self.prompt_id is not None:
            data["prompt_id"] = self.prompt_id
        if self.errors:
            data["errors"] = self.errors
        return data


@dataclass
class ImportReport:
    """The committed result of an import so far.

    It grows one batch at a time, after that batch commits, so after an interrupted import it
    describes exactly what is in the database. The counts cover every line; ``lines`` keeps
    the first ``lines_per_status`` outcomes of each status (all of them when None), in the
    file's order, so that memory stays bounded however long the file is.
    """

    imported: int = 0
    answers_added: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches_committed: int = 0
    lines_committed: int = 0
    lines: list[LineOutcome] = field(default_factory=list)
    lines_per_status: int | None = None

    def add_batch(self, outcomes: list[LineOutcome]) -> None:
        for outcome in outcomes:
            if outcome.status == IMPORTED:
                self.imported += 1
                seen = self.imported
            elif outcome.status == ANSWER_ADDED:
                self.answers_added += 1
                seen = self.answers_added
            elif outcome.status == DUPLICATE:
                self.duplicates += 1
                seen = self.duplicates
            else:
                self.rejected += 1
                seen = self.rejected
            if self.lines_per_status is None or seen <= self.lines_per_status:
                self.lines.append(outcome)
        self.lines_committed += len(outcomes)
        self.batches_committed += 1

    def lists_next_rejected(self, *, pending: int = 0) -> bool:
        """Whether the next rejected line would be listed, once ``pending`` rejected lines not
        yet added (those of the batch in progress) are."""
        return self.lines_per_status is None or self.rejected + pending < self.lines_per_status

    @property
    def lines_omitted(self) -> int:
        """Lines counted but not listed in ``lines``."""
        return self.lines_committed - len(self.lines)

    def as_dict(self) -> dict[str, Any]:
        """The answer of POST /api/v1/imports/, and what the Import page shows."""
        return {
            "imported": self.imported,
            "answers_added": self.answers_added,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "lines": [outcome.as_dict() for outcome in self.lines],
            "lines_truncated": self.lines_omitted > 0,
            "lines_omitted": self.lines_omitted,
            "lines_listed_per_status": self.lines_per_status,
        }


@dataclass(frozen=True)
class ImportProgress:
    """Handed to the progress callback after every line."""

    lines_done: int
    bytes_done: int
    bytes_total: int | None
    batches_committed: int


ProgressCallback = Callable[[ImportProgress], None]


@dataclass(frozen=True)
class ReadPosition:
    """Where reading stands in the file: the bytes read and the lines read (blank ones
    too). A batch's position is the one just after its last line."""

    lines: int = 0
    offset: int = 0


# Called inside each batch's transaction, once its lines are written, with the report as it
# will be once the batch commits and the read position after the batch. Whatever it writes
# commits with the batch; whatever it raises rolls the batch back.
BatchCallback = Callable[["ImportReport", ReadPosition], None]


# The longest source and licence names (Prompt.origin and Prompt.licence hold them).
SOURCE_MAX_CHARS = 100
LICENCE_MAX_CHARS = 64


def _clean_name(value: Any, *, max_chars: int) -> str:
    """A source's or licence's name as stored (stripped), or "" when it is no such name: 1 to
    ``max_chars`` printable characters."""
    clean = value.strip() if isinstance(value, str) else ""
    return clean if len(clean) <= max_chars and clean.isprintable() else ""


def _licence_message() -> str:
    return _("Name the licence in 1 to 64 printable characters, e.g. CC BY-SA 3.0.")


def check_import_options(
    *,
    source: Any,
    licence: Any = None,
    language: Any = "en",
    state: Any = "accepted",
    batch_size: Any = DEFAULT_BATCH_SIZE,
) -> ImportOptions:
    """Validate the options of an import; raises one ValidationError naming every bad one."""
    errors: dict[str, list[str]] = {}
    clean_source = _clean_name(source, max_chars=SOURCE_MAX_CHARS)
    if not clean_source:
        errors["source"] = [
            _("Name the source in 1 to 100 printable characters, e.g. databricks-dolly-15k.")
        ]
    elif clean_source == RESERVED_SOURCE:
        errors["source"] = [
            _("'%(name)s' marks work written in Hearth; name the data set you import.")
            % {"name": RESERVED_SOURCE}
        ]
    if licence is None or licence == "":
        licence = settings.HEARTH_LICENCE_NAME
    clean_licence = _clean_name(licence, max_chars=LICENCE_MAX_CHARS)
    if not clean_licence:
        errors["licence"] = [_licence_message()]
    clean_language = ""
    try:
        clean_language = check_language(language)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if state not in IMPORT_STATES:
        errors["state"] = [
            _("Choose one of the states: %(choices)s.") % {"choices": ", ".join(IMPORT_STATES)}
        ]
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        errors["batch_size"] = [_("The batch size must be a whole number of at least 1.")]
    if errors:
        raise ValidationError(errors)
    return ImportOptions(
        source=clean_source,
        licence=clean_licence,
        language=clean_language,
        state=str(state),
        batch_size=batch_size,
    )


def max_line_bytes() -> int:
    """The longest line worth parsing: every field at its longest, each character written as
    a JSON escape (up to 12 bytes for a character outside the BMP), plus room for keys."""
    chars = (
        settings.HEARTH_INSTRUCTION_MAX_CHARS
        + settings.HEARTH_CONTEXT_MAX_CHARS
        + settings.HEARTH_RESPONSE_MAX_CHARS
    )
    return 12 * chars + 64 * 1024


@dataclass(frozen=True)
class _RawLine:
    number: int
    data: bytes | None  # None: longer than max_line_bytes, skipped unread
    end_offset: int


def _read_lines(
    stream: IO[bytes], limit: int, start: ReadPosition = ReadPosition()
) -> Iterator[_RawLine]:
    """Yield the stream's lines one at a time; a line over ``limit`` bytes is skipped in
    pieces so that it never sits in memory whole. ``start`` is where the stream stands in its
    file, so that numbers and offsets count from the file's start."""
    number = start.lines
    offset = start.offset
    while True:
        raw = stream.readline(limit + 1)
        if not raw:
            return
        number += 1
        offset += len(raw)
        if len(raw) > limit and not raw.endswith(b"\n"):
            while True:
                rest = stream.readline(limit)
                offset += len(rest)
                if not rest or rest.endswith(b"\n"):
                    break
            yield _RawLine(number=number, data=None, end_offset=offset)
        else:
            yield _RawLine(number=number, data=raw, end_offset=offset)


def _json_type(value: Any) -> str:
    return str(_JSON_TYPE_NAMES.get(type(value), type(value).__name__))


def _bytes(limit: int) -> str:
    return number_format(limit, force_grouping=True)


def _too_long(limit: int) -> str:
    return _("The line is longer than %(limit)s bytes.") % {"limit": _bytes(limit)}


def _rejected(line: int, errors: dict[str, list[str]]) -> LineOutcome:
    return LineOutcome(line=line, status=REJECTED, errors=errors)


def _parse_line(raw: _RawLine, limit: int) -> dict[str, Any] | LineOutcome:
    """The line's JSON object, or the outcome that rejects it."""
    if raw.data is None:
        return _rejected(
            raw.number,
            {LINE_ERRORS: [_too_long(limit)]},
        )
    data = raw.data
    if raw.number == 1 and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]  # a UTF-8 byte-order mark, as some Windows editors write
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _rejected(
            raw.number,
            {
                LINE_ERRORS: [
                    _("Line %(line)d is not valid UTF-8: byte 0x%(byte)02x at position %(pos)d.")
                    % {"line": raw.number, "byte": data[exc.start], "pos": exc.start + 1}
                ]
            },
        )
    try:
        # Without its line ending: looking for a missing value, the decoder would skip the
        # newline and place the error at column 1 of a line after this one.
        record = json.loads(text.rstrip("\r\n"))
    except json.JSONDecodeError as exc:
        return _rejected(
            raw.number,
            {
                LINE_ERRORS: [
                    _("Not valid JSON: %(reason)s at column %(col)d.")
                    % {"reason": json_reason(exc), "col": exc.colno}
                ]
            },
        )
    except (ValueError, RecursionError):
        # Numbers with thousands of digits, arrays nested thousands deep: valid JSON, but
        # never a Dolly record.
        return _rejected(raw.number, {LINE_ERRORS: [_("Not a JSON value Hearth can read.")]})
    if not isinstance(record, dict):
        return _rejected(
            raw.number,
            {
                LINE_ERRORS: [
                    _(
                        "Each line must be a JSON object with instruction, context, response "
                        "and category; this one is %(type)s."
                    )
                    % {"type": _json_type(record)}
                ]
            },
        )
    return record


def _check_shape(record: dict[str, Any]) -> dict[str, list[str]]:
    """Errors in the record's shape (types, missing answer); the service checks the rest."""
    errors: dict[str, list[str]] = {}
    for name in _STRING_FIELDS:
        value = record.get(name)
        # A missing context, language, licence or origin, or a null one, means none given.
        if value is None and name in _OPTIONAL_FIELDS:
            continue
        if name in record and not isinstance(value, str):
            errors[name] = [_("Must be a JSON string, not %(type)s.") % {"type": _json_type(value)}]
    response = record.get("response")
    if "response" not in errors and (not isinstance(response, str) or not response.strip()):
        # The form lets a prompt go without an answer; an import is of pairs, so a missing
        # answer is more likely a misspelt key than a choice.
        errors["response"] = [_("The answer is required and cannot be only whitespace.")]
    return errors


def _messages(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {name: [str(m) for m in messages] for name, messages in exc.message_dict.items()}
    return {LINE_ERRORS: [str(m) for m in exc.messages]}


def _check_record(
    record: dict[str, Any], *, options: ImportOptions, every_problem: bool = True
) -> services.CheckedPrompt | dict[str, list[str]]:
    """The record as ``prompt_create`` would store it, or every problem of it in one pass: its
    shape, then the Write form's rules for each field (``prompt_create`` stops at the prompt's
    fields before it looks at the response), so one fix of the file is enough to get the line
    in. Whether it duplicates a prompt is for the batch's write to say. Without
    ``every_problem``, a record of the wrong shape comes back with its shape's problems only:
    enough to reject it, at a fraction of the cost."""
    errors = _check_shape(record)
    if errors and not every_problem:
        return errors
    instruction = record.get("instruction")
    fields: services.PromptFields | None = None
    try:
        fields = services.check_prompt_fields(
            instruction=instruction,
            context=record.get("context") or "",
            category=record.get("category"),
            language=record.get("language") or options.language,
        )
    except ValidationError as exc:
        for name, messages in _messages(exc).items():
            # A field of the wrong type already says what is wrong with it.
            errors.setdefault(name, messages)
        instruction = instruction if isinstance(instruction, str) else ""
    else:
        instruction = fields.instruction
    response = ""
    if "response" not in errors:
        try:
            response = services.check_response_text(record["response"], instruction=instruction)
        except ValidationError as exc:
            errors.update(_messages(exc))
    provenance = _check_provenance(record, errors)
    if fields is not None and not errors:
        return services.CheckedPrompt(fields=fields, response=response, **provenance)
    return ordered_errors(errors)


def _check_provenance(
    record: dict[str, Any], errors: dict[str, list[str]]
) -> dict[str, str | None]:
    """The licences and origins the line names for its answer and its prompt, checked as the
    import's options are (None where it names none: the import's own apply); each bad one
    goes into ``errors``, which rejects the line. An origin "hearth" (work written on the
    site that made the file, in a release's Dolly files) is the import's source here: this
    site did not write it, and "hearth" marks what it did."""
    found: dict[str, str | None] = {}
    for name in _PROVENANCE_FIELDS:
        value = record.get(name)
        found[name] = None
        if value is None or value == "" or name in errors:  # none given, or of the wrong type
            continue
        if name in _LICENCE_FIELDS:
            clean = _clean_name(value, max_chars=LICENCE_MAX_CHARS)
            if not clean:
                errors[name] = [_licence_message()]
        else:
            clean = _clean_name(value, max_chars=SOURCE_MAX_CHARS)
            if not clean:
                errors[name] = [
                    _(
                        "Name the data set it came from in 1 to 100 printable characters, e.g. "
                        "databricks-dolly-15k."
                    )
                ]
        if clean and clean != RESERVED_SOURCE:
            found[name] = clean
    return found


def ordered_errors(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """A line's problems in the order of a Dolly record's fields, whichever check found them."""
    order = {name: rank for rank, name in enumerate(_STRING_FIELDS)}
    return dict(sorted(errors.items(), key=lambda item: order.get(item[0], len(order))))


@dataclass
class _Batch:
    """The lines of one batch in the file's order; those that passed the checks wait in
    ``checked`` (with their place in ``outcomes``) to be written together."""

    outcomes: list[LineOutcome | None] = field(default_factory=list)
    checked: list[tuple[int, int, services.CheckedPrompt]] = field(default_factory=list)
    rejected: int = 0

    def __len__(self) -> int:
        return len(self.outcomes)

    def add(self, line: int, checked: services.CheckedPrompt | LineOutcome) -> None:
        if isinstance(checked, LineOutcome):
            self.rejected += 1
            self.outcomes.append(checked)
        else:
            self.checked.append((len(self.outcomes), line, checked))
            self.outcomes.append(None)

    def write(
        self, *, author: User, options: ImportOptions, policy: Callable[[], CollectionPolicy]
    ) -> list[LineOutcome]:
        """Create the checked lines' prompts; every line's outcome, in order. ``policy`` is
        asked for only when there is something to write."""
        if self.checked:
            written = services.prompts_create_imported(
                author=author,
                prompts=[checked for _index, _line, checked in self.checked],
                origin=options.source,
                licence=options.licence,
                state=options.prompt_state,
                response_state=options.response_state,
                policy=policy(),
            )
            for (index, line, _checked), result in zip(self.checked, written, strict=True):
                self.outcomes[index] = _outcome(line, result)
        return [outcome for outcome in self.outcomes if outcome is not None]


def _outcome(line: int, result: services.ImportedPrompt) -> LineOutcome:
    if result.refusal is not None:
        # Its prompt is there, in a state that takes no more answers: its answer is left out.
        return LineOutcome(
            line=line,
            status=REJECTED,
            prompt_id=result.prompt_id,
            errors={"response": [result.refusal]},
        )
    if result.created:
        status = IMPORTED
    elif result.answer_added:
        status = ANSWER_ADDED
    else:
        status = DUPLICATE
    return LineOutcome(line=line, status=status, prompt_id=result.prompt_id)


def _stream_size(stream: IO[bytes]) -> int | None:
    try:
        if not stream.seekable():
            return None
        here = stream.tell()
        end = stream.seek(0, 2)
        stream.seek(here)
        return end - here
    except (OSError, ValueError, AttributeError):
        return None


def _pacing(options: ImportOptions) -> tuple[int, float]:
    """The lines of a batch, and the least time from one batch's commit to the next one's
    start: on SQLite ``SQLITE_BATCH_SIZE`` at most, and ``SQLITE_PAUSE_SECONDS`` when batches
    commit (not inside a caller's transaction, which holds the lock throughout)."""
    if connection.vendor != "sqlite":
        return options.batch_size, 0.0
    pause = 0.0 if connection.in_atomic_block else SQLITE_PAUSE_SECONDS
    return min(options.batch_size, SQLITE_BATCH_SIZE), pause


def prompts_import_jsonl(
    stream: IO[bytes],
    *,
    author: User,
    options: ImportOptions,
    progress: ProgressCallback | None = None,
    bytes_total: int | None = None,
    report: ImportReport | None = None,
    start: ReadPosition = ReadPosition(),
    on_batch: BatchCallback | None = None,
) -> ImportReport:
    """Import a Dolly-format JSONL stream; returns what happened to its lines.

    Preconditions: the caller has checked that whoever asked for the import may import
    (``roles.is_maintainer``; the demo seed is the exception); ``author`` becomes the author
    of every prompt and of its first response; ``stream`` is open for reading bytes.

    Lines are checked one at a time and written ``options.batch_size`` at a time (on SQLite
    at most ``SQLITE_BATCH_SIZE``, with a pause between batches: see there), one transaction
    per batch (a savepoint when called inside a transaction), in a few queries per batch,
    with the collection policy of the batch's commit (``policy_gate``). If anything raises mid-batch — a database error,
    ``KeyboardInterrupt``, the ``progress`` callback — that batch is rolled back (or, raised
    while its lines are checked, never written), the exception propagates, and earlier
    batches stay committed. Pass your own ``report`` to learn what was committed before such
    an exception, or to list every line: the default report lists only the first
    ``REPORT_LINES_PER_STATUS`` lines of each status. ``progress`` is called after every
    non-blank line is checked, before its batch's transaction opens (the batch is written
    after its last line); ``bytes_total`` defaults to the stream's size when it can seek.

    To go on with an import that stopped, pass the ``report`` and ``start`` position that its
    last committed batch handed ``on_batch``, with ``stream`` at that position.
    """
    if report is None:
        report = ImportReport(lines_per_status=REPORT_LINES_PER_STATUS)
    # Every line is read and checked, even when none so far has passed: lines are imported one
    # by one, so stopping at the thousandth bad line would leave the good lines after it out
    # of Hearth, and the counts would no longer say what the file holds. What bounds the cost
    # instead: the upload limit, a report that stops growing at its lists' limit, and the
    # short check of unlisted lines below.
    if bytes_total is None:
        bytes_total = _stream_size(stream)
    limit = max_line_bytes()
    lines = _read_lines(stream, limit, start)
    lines_done = 0
    position = start
    size, pause = _pacing(options)
    committed_at: float | None = None
    exhausted = False
    while not exhausted:
        batch = _Batch()
        # The batch's lines are read and checked before its transaction opens: on SQLite the
        # transaction holds the database's write lock, which this work has no need of.
        while len(batch) < size:
            raw = next(lines, None)
            if raw is None:
                exhausted = True
                break
            position = ReadPosition(lines=raw.number, offset=raw.end_offset)
            if raw.data is not None and not raw.data.strip():
                continue  # blank lines are skipped silently
            parsed = _parse_line(raw, limit)
            if isinstance(parsed, LineOutcome):
                batch.add(raw.number, parsed)
            else:
                # Once the report lists no more rejected lines, a line rejected for its
                # shape skips the Write form's checks, whose messages no one would see:
                # most of the time a file of bad lines takes.
                checked = _check_record(
                    parsed,
                    options=options,
                    every_problem=report.lists_next_rejected(pending=batch.rejected),
                )
                batch.add(
                    raw.number,
                    _rejected(raw.number, checked) if isinstance(checked, dict) else checked,
                )
            lines_done += 1
            if progress is not None:
                progress(
                    ImportProgress(
                        lines_done=lines_done,
                        bytes_done=raw.end_offset,
                        bytes_total=bytes_total,
                        batches_committed=report.batches_committed,
                    )
                )
        if not len(batch):
            break  # only blank lines were left
        if committed_at is not None:
            # Other writers' turn (SQLite; see SQLITE_PAUSE_SECONDS).
            time.sleep(max(0.0, pause - (time.monotonic() - committed_at)))
        with transaction.atomic():
            # Each batch's rows get their slots from the policy of its commit: a raise during
            # an import tops up the batches before it, and those after read the new counts.
            policy_gate()
            search.lift_pending_limit(connection)
            outcomes = batch.write(
                author=author, options=options, policy=functools.cache(current_policy)
            )
            # The caller's report grows only once the batch has committed.
            committed = replace(report, lines=list(report.lines))
            committed.add_batch(outcomes)
            if on_batch is not None:
                on_batch(committed, position)
        report.add_batch(outcomes)
        if pause:
            committed_at = time.monotonic()
    if report.batches_committed:
        search.merge_pending(connection)
    return report


def _file_error(message: str) -> ValidationError:
    return ValidationError({"file": [message]})


def check_upload(stream: IO[bytes], *, size: int) -> None:
    """Refuse a file that is not a Dolly JSONL file at all, so that a wrong pick imports
    nothing: larger than ``HEARTH_IMPORT_MAX_BYTES``, not UTF-8 text anywhere in it, without a
    non-blank line, or with a first line that is not a JSON object with a Dolly field (lines
    too long to read are passed over). A later line's problems, and an overlong line's, are
    the report's business: that line is rejected, the others imported.

    Precondition: ``stream`` is open for reading bytes and can seek; it is read through once
    and left at its start. Raises a ValidationError on ``file``.
    """
    limit = int(settings.HEARTH_IMPORT_MAX_BYTES)
    if size > limit:
        raise _file_error(
            _("The file is %(size)s; the largest file this site takes is %(limit)s.")
            % {"size": filesizeformat(size), "limit": filesizeformat(limit)}
        )
    line_limit = max_line_bytes()
    first: dict[str, Any] | LineOutcome | None = None
    first_number = 0
    overlong = False
    stream.seek(0)
    try:
        for raw in _read_lines(stream, line_limit):
            if raw.data is not None:
                try:
                    raw.data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise _file_error(
                        _(
                            "The file is not UTF-8 text: line %(line)d has the byte "
                            "0x%(byte)02x. Save it as UTF-8 (and unpack it, if it is "
                            "compressed), then upload it again."
                        )
                        % {"line": raw.number, "byte": raw.data[exc.start]}
                    ) from None
                if not raw.data.strip():
                    continue
            # A line too long to read tells nothing of the file's kind: the report rejects it,
            # wherever it is, and the first line that can be read is the one looked at.
            overlong = overlong or raw.data is None
            if first is None and raw.data is not None:
                first, first_number = _parse_line(raw, line_limit), raw.number
    finally:
        stream.seek(0)
    if first is None and overlong:
        raise _file_error(
            _(
                "This does not look like a Dolly JSONL file: every line is longer than %(limit)s bytes."
            )
            % {"limit": _bytes(line_limit)}
        )
    if first is None:
        raise _file_error(_("The file is empty: it has no line to import."))
    if isinstance(first, LineOutcome):
        problems = first.errors or {}
        raise _file_error(
            _("This does not look like a Dolly JSONL file. Line %(line)d: %(problem)s")
            % {"line": first_number, "problem": " ".join(problems.get(LINE_ERRORS, []))}
        )
    if not set(first) & set(_DOLLY_FIELDS):
        raise _file_error(
            _(
                "This does not look like a Dolly JSONL file: line %(line)d has none of the "
                "fields instruction, context, response and category (it has %(fields)s)."
            )
            % {"line": first_number, "fields": ", ".join(sorted(first)) or _("no field")}
        )
