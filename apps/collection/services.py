"""Writes for prompts and responses. Every check here is the one the forms, the API and the
JSONL import all use, so a rule cannot differ between them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F, OuterRef, QuerySet, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.accounts.services import check_language, check_may_contribute_now, check_not_banned
from apps.collection import flow, selectors
from apps.collection.models import (
    CONTEXT_REQUIRED,
    Category,
    CollectionPolicy,
    Prompt,
    PromptState,
    Response,
    ResponseState,
    Source,
)
from apps.collection.policy import current_policy, policy_gate
from apps.core.sql import insert
from apps.core.text import check_text, dedupe_key


@dataclass(frozen=True)
class PromptFields:
    instruction: str
    context: str
    category: str
    language: str


def _collect(errors: dict[str, list[str]], field: str, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for name, messages in error.message_dict.items():
            errors.setdefault(name, []).extend(str(m) for m in messages)
    else:
        errors.setdefault(field, []).extend(str(m) for m in error.messages)


def check_prompt_fields(
    *, instruction: Any, context: Any, category: Any, language: Any
) -> PromptFields:
    """Validate and normalise a prompt; raises one ValidationError naming every bad field."""
    errors: dict[str, list[str]] = {}
    clean: dict[str, str] = {}
    if not isinstance(category, str):
        # A list or object from JSON (a task's answer) is no category, and would break the
        # set lookups below; refused with the list of categories like any other.
        category = ""
    try:
        clean["instruction"] = check_text(
            instruction,
            label=_("The instruction"),
            min_chars=settings.HEARTH_INSTRUCTION_MIN_CHARS,
            max_chars=settings.HEARTH_INSTRUCTION_MAX_CHARS,
        )
    except ValidationError as exc:
        _collect(errors, "instruction", exc)
    if category not in Category.values:
        errors["category"] = [
            _("Choose one of the categories: %(choices)s.")
            % {"choices": ", ".join(Category.values)}
        ]
    try:
        clean["context"] = check_text(
            context,
            label=_("The context"),
            min_chars=1,
            max_chars=settings.HEARTH_CONTEXT_MAX_CHARS,
            required=category in CONTEXT_REQUIRED,
        )
    except ValidationError as exc:
        if category in CONTEXT_REQUIRED and exc.code == "required":
            exc = ValidationError(
                _("The %(category)s category needs a context: paste the text the task is about.")
                % {"category": Category(category).label}
            )
        _collect(errors, "context", exc)
    try:
        clean["language"] = check_language(language)
    except ValidationError as exc:
        _collect(errors, "language", exc)
    if errors:
        raise ValidationError(errors)
    return PromptFields(
        instruction=clean["instruction"],
        context=clean["context"],
        category=str(category),
        language=clean["language"],
    )


def check_response_text(text: Any, *, instruction: str) -> str:
    try:
        clean = check_text(
            text,
            label=_("The answer"),
            min_chars=1,
            max_chars=settings.HEARTH_RESPONSE_MAX_CHARS,
        )
    except ValidationError as exc:
        raise ValidationError({"response": exc.messages}) from None
    if dedupe_key(clean) == dedupe_key(instruction):
        raise ValidationError({"response": [_("The answer only repeats the instruction.")]})
    return clean


def _duplicate_error(existing: Prompt, *, user: User) -> ValidationError:
    """The refusal of an instruction and context ``existing`` already has (the context named
    only when there is one: the same instruction over another context is another prompt). It
    links the prompt only where ``user`` may open it: someone else's prompt in review,
    rejected or hidden is a 404 to them, so its link would send them to a page that says it
    does not exist, and its number is not theirs to know either."""
    with_context = bool(existing.context.strip())
    if not selectors.prompt_is_visible_to(user=user, prompt_id=existing.pk):
        message = (
            _(
                "Someone else has already written this instruction with this context. It is "
                "not public, so it cannot be shown: write a different one."
            )
            if with_context
            else _(
                "Someone else has already written this instruction. It is not public, so it "
                "cannot be shown: write a different one."
            )
        )
        params: dict[str, Any] = {}
    else:
        url = reverse("collection:prompt-detail", args=[existing.pk])
        message = (
            _(
                "This instruction, with this context, is already in Hearth as prompt #%(id)s: %(url)s"
            )
            if with_context
            else _("This instruction is already in Hearth as prompt #%(id)s: %(url)s")
        ) % {"id": existing.pk, "url": url}
        params = {"prompt_id": existing.pk, "url": url}
    return ValidationError(
        {"instruction": [ValidationError(message, code="duplicate", params=params)]}
    )


def _check_not_duplicate(
    *, key: str, user: User, exclude_id: int | None = None, include_withdrawn: bool = False
) -> None:
    """Refuse ``key`` when a prompt has it; ``user`` is the person writing, whom the refusal
    addresses."""
    existing = Prompt.objects.filter(instruction_key=key)
    if not include_withdrawn:
        existing = existing.filter(withdrawn_at__isnull=True)
    if exclude_id is not None:
        existing = existing.exclude(pk=exclude_id)
    found = existing.first()
    if found is not None:
        raise _duplicate_error(found, user=user)


@transaction.atomic
def prompt_create(
    *,
    author: User,
    instruction: Any,
    context: Any = "",
    category: Any,
    language: Any,
    response: Any = None,
    origin: str = "hearth",
    licence: str | None = None,
    state: str = PromptState.REVIEW,
    response_state: str = ResponseState.REVIEW,
    withdrawn_blocks: bool = False,
    task_held: bool = False,
) -> Prompt:
    """Create a prompt and, Dolly-style, optionally the author's own first response.

    Refuses an instruction already in Hearth with the same context (case, spacing and
    punctuation ignored; ``dedupe_key``), even under a race: the partial unique index has the
    last word. With ``withdrawn_blocks`` a
    withdrawn prompt counts too, so re-importing a file never brings withdrawn work back.
    ``task_held``: the dispatcher, holding the author's write task, checked their account.
    """
    if task_held:
        check_not_banned(user=author)
    else:
        check_may_contribute_now(user=author)
    # Every field's problem at once: the answer is checked even when the prompt's fields are
    # refused (a person fixing a too-long instruction should hear that the answer is too long
    # in the same round, not the next).
    errors: dict[str, list[str]] = {}
    fields = None
    try:
        fields = check_prompt_fields(
            instruction=instruction, context=context, category=category, language=language
        )
    except ValidationError as exc:
        errors.update(exc.message_dict)
    answer = None
    if response not in (None, ""):
        said = fields.instruction if fields else instruction if isinstance(instruction, str) else ""
        try:
            answer = check_response_text(response, instruction=said)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors or fields is None:
        raise ValidationError(errors)
    key = dedupe_key(fields.instruction, fields.context)
    _check_not_duplicate(key=key, user=author, include_withdrawn=withdrawn_blocks)
    licence = licence or settings.HEARTH_LICENCE_NAME
    policy_gate()  # the counts read below stay those of this prompt's commit
    try:
        with transaction.atomic():
            prompt = Prompt.objects.create(
                author=author,
                instruction=fields.instruction,
                context=fields.context,
                category=fields.category,
                language=fields.language,
                state=state,
                origin=origin,
                licence=licence,
                instruction_key=key,
            )
    except IntegrityError:
        _check_not_duplicate(key=key, user=author)
        raise
    policy = current_policy()
    if answer is not None:
        _first_answer(
            prompt=prompt, text=answer, response_state=response_state, policy=policy
        ).save()
    prompt.open_slots = flow.slots_for(prompt, state, policy)
    prompt.save(update_fields=["open_slots"])
    return prompt


def _answer_slots(*, prompt_state: str, response_state: str, policy: CollectionPolicy) -> int:
    """The review tasks a new answer in ``response_state`` to a prompt in ``prompt_state``
    opens: none until the prompt itself is accepted (feedback.services opens them then), and
    none for an answer already accepted."""
    reviewable = response_state == ResponseState.REVIEW and prompt_state == PromptState.COLLECTING
    return int(policy.response_reviews_required) if reviewable else 0


def _first_answer(
    *,
    prompt: Prompt,
    text: str,
    response_state: str,
    policy: CollectionPolicy,
    origin: str | None = None,
    licence: str | None = None,
) -> Response:
    """The author's own first answer to the new ``prompt``, unsaved: the same author, the
    prompt's origin and licence unless others are given (an imported line may name its
    answer's), and its review tasks open once the prompt itself is accepted (see
    feedback.services)."""
    return Response(
        prompt=prompt,
        author=prompt.author,
        text=text,
        state=response_state,
        source=Source.HUMAN,
        origin=origin or prompt.origin,
        licence=licence or prompt.licence,
        open_slots=_answer_slots(
            prompt_state=prompt.state, response_state=response_state, policy=policy
        ),
    )


@dataclass(frozen=True)
class CheckedPrompt:
    """A prompt and an answer to it, as ``check_prompt_fields`` and ``check_response_text``
    returned them; with the licence and origin its line names for the answer and for the
    prompt (checked as the import's options are; None: the import's own)."""

    fields: PromptFields
    response: str
    licence: str | None = None
    origin: str | None = None
    prompt_licence: str | None = None
    prompt_origin: str | None = None


@dataclass(frozen=True)
class ImportedPrompt:
    """What became of one ``CheckedPrompt`` in ``prompts_create_imported``: the prompt created
    for it, or (``created`` False) the prompt that already had its instruction; then
    ``answer_added`` when its answer was added to that prompt, or ``refusal`` saying why that
    prompt takes no answer now (neither: the answer is already there, or the prompt is
    withdrawn, hidden or its author banned)."""

    prompt_id: int
    created: bool
    answer_added: bool = False
    refusal: str | None = None


# Keys per lookup and rows per insert: well inside every database's limit on the parameters
# of one statement (65,535 with PostgreSQL's server-side binding, 32,766 on SQLite), whatever
# batch size an import asks for.
_KEYS_PER_QUERY = 500
_ROWS_PER_INSERT = 1000


def _prompt_ids_by_key(keys: Iterable[str], *, live_only: bool = False) -> dict[str, int]:
    """For each of ``keys`` that a prompt has, the newest such prompt's id (the one
    ``_check_not_duplicate`` names), withdrawn ones included unless ``live_only``."""
    keys = list(keys)
    found: dict[str, int] = {}
    for start in range(0, len(keys), _KEYS_PER_QUERY):
        rows = Prompt.objects.filter(instruction_key__in=keys[start : start + _KEYS_PER_QUERY])
        if live_only:
            rows = rows.filter(withdrawn_at__isnull=True)
        for key, pk in rows.order_by("-created_at", "-id").values_list("instruction_key", "pk"):
            found.setdefault(key, pk)
    return found


@transaction.atomic
def prompts_create_imported(
    *,
    author: User,
    prompts: Sequence[CheckedPrompt],
    origin: str,
    licence: str,
    state: str,
    response_state: str,
    policy: CollectionPolicy,
) -> list[ImportedPrompt]:
    """Create ``prompts``, each with ``author``'s first answer, as ``prompt_create`` with
    ``withdrawn_blocks`` would one at a time, but in a number of queries that does not grow
    with their number (an import writes thousands); and add the answers of the others to the
    prompts they repeat. Returns one outcome per prompt, in order.

    Preconditions: every prompt is a ``CheckedPrompt``, so it passed the Write form's checks;
    ``origin`` is not "hearth" (``importing.check_import_options``), nor any line's;
    ``policy`` is ``current_policy()``, which the caller may read once for many calls.

    A prompt whose instruction and context are already in Hearth (case, spacing and
    punctuation ignored; ``dedupe_key``), withdrawn or not, or that repeats one earlier in
    ``prompts``, is not created: its outcome names that prompt, the newest one when there are
    several, and its answer is added to that prompt unless it has it already (see
    ``_imported_answers_add``). The same instruction over another context is another prompt.
    A prompt with the same key that another writer commits meanwhile counts the same way: the
    partial unique index refuses the insert, and the batch is written again without it.
    """
    check_may_contribute_now(user=author)
    keys = [dedupe_key(checked.fields.instruction, checked.fields.context) for checked in prompts]
    existing = _prompt_ids_by_key(set(keys))
    # flow.slots_for, without its count of a collecting prompt's live answers (a query per
    # prompt): a new prompt's only answer is the one written here, by an author not banned.
    if state == PromptState.COLLECTING:
        live = 1 if response_state in (ResponseState.REVIEW, ResponseState.ACCEPTED) else 0
        open_slots = max(0, int(policy.responses_to_collect) - live)
    else:
        open_slots = flow.slots_for(Prompt(), state, policy)  # a count of the policy's alone
    while True:
        new: dict[str, tuple[Prompt, CheckedPrompt]] = {}
        for key, checked in zip(keys, prompts, strict=True):
            if key in existing or key in new:
                continue
            prompt = Prompt(
                author=author,
                instruction=checked.fields.instruction,
                context=checked.fields.context,
                category=checked.fields.category,
                language=checked.fields.language,
                state=state,
                origin=checked.prompt_origin or origin,
                licence=checked.prompt_licence or licence,
                instruction_key=key,
                open_slots=open_slots,
            )
            new[key] = (prompt, checked)
        try:
            # A savepoint: a refused insert must not spoil the caller's transaction.
            with transaction.atomic():
                Prompt.objects.bulk_create(
                    [prompt for prompt, _checked in new.values()], batch_size=_ROWS_PER_INSERT
                )
            break
        except IntegrityError:
            raced = _prompt_ids_by_key(new, live_only=True)
            if not raced:
                raise
            existing.update(raced)
    if any(prompt.pk is None for prompt, _checked in new.values()):
        # A database that cannot return the ids of a bulk insert (SQLite before 3.35): the
        # keys of live prompts are unique, so they find the rows just written.
        ids = _prompt_ids_by_key(new, live_only=True)
        for key, (prompt, _checked) in new.items():
            prompt.pk = ids[key]
    Response.objects.bulk_create(
        [
            _first_answer(
                prompt=prompt,
                text=checked.response,
                response_state=response_state,
                policy=policy,
                origin=checked.origin or origin,
                licence=checked.licence or licence,
            )
            for prompt, checked in new.values()
        ],
        batch_size=_ROWS_PER_INSERT,
    )
    # Every line but the one that created its prompt brings an answer to a prompt that
    # exists now: added in the file's order, after the new prompts' first answers.
    targets: list[tuple[int, int, CheckedPrompt]] = []
    created: set[str] = set()
    outcomes: list[ImportedPrompt] = []
    for key, checked in zip(keys, prompts, strict=True):
        if key in existing:
            prompt_id, first = existing[key], False
        else:
            prompt_id, first = new[key][0].pk, key not in created
            created.add(key)
        outcomes.append(ImportedPrompt(prompt_id=prompt_id, created=first))
        if not first:
            targets.append((len(outcomes) - 1, prompt_id, checked))
    added = _imported_answers_add(
        author=author,
        answers=[(prompt_id, checked) for _index, prompt_id, checked in targets],
        origin=origin,
        licence=licence,
        response_state=response_state,
        policy=policy,
    )
    for (index, prompt_id, _checked), (answer_added, refusal) in zip(targets, added, strict=True):
        outcomes[index] = ImportedPrompt(
            prompt_id=prompt_id, created=False, answer_added=answer_added, refusal=refusal
        )
    return outcomes


def _refusal_of_imported_answer(prompt: Prompt) -> str | None:
    """Why an import adds no answer to ``prompt`` (visible, live), by its state, or None.

    A prompt in review or collecting takes one; so does one ranking whose ranking has not
    begun (``_imported_answers_add`` checks that), since a file may hold more answers to a
    prompt than this site collects. Afterwards its rankings would have to be made again, and
    an answer to a prompt rejected or halted would wait for nothing."""
    reasons = {
        PromptState.RANKING: _(
            "Prompt #%(id)s, which has this instruction and context, is being ranked: an "
            "answer added now would be missing from its rankings."
        ),
        PromptState.COMPLETE: _(
            "Prompt #%(id)s, which has this instruction and context, is complete: it takes "
            "no more answers."
        ),
        PromptState.REJECTED: _(
            "Prompt #%(id)s, which has this instruction and context, was rejected in review: "
            "it takes no answers."
        ),
        PromptState.HALTED: _(
            "Prompt #%(id)s, which has this instruction and context, was halted by a "
            "moderator: it takes no more answers."
        ),
    }
    reason = reasons.get(PromptState(prompt.state))
    return None if reason is None else reason % {"id": prompt.pk}


class _KnownAnswers:
    """The texts of a prompt's answers, to tell whether it has one: the same text, or the same
    with case, spacing and punctuation ignored (``dedupe_key``, as for prompts). The keys,
    slow to compute for long texts, are computed only once a text is not there as it is: a
    file imported again finds every answer as it wrote it."""

    def __init__(self) -> None:
        self.texts: set[str] = set()
        self._keys: set[str] | None = None

    def has(self, text: str) -> bool:
        if text in self.texts:
            return True
        if self._keys is None:
            self._keys = {dedupe_key(known) for known in self.texts}
        return dedupe_key(text) in self._keys

    def add(self, text: str) -> None:
        self.texts.add(text)
        if self._keys is not None:
            self._keys.add(dedupe_key(text))


def _imported_answers_add(
    *,
    author: User,
    answers: Sequence[tuple[int, CheckedPrompt]],
    origin: str,
    licence: str,
    response_state: str,
    policy: CollectionPolicy,
) -> list[tuple[bool, str | None]]:
    """Add each of ``answers`` (a prompt's id and a line that repeats its instruction and
    context) to its prompt, in order, as the import's ``author``; for each, whether it was
    added, or why its prompt takes none (a message; None when there is nothing to say: the
    answer is there already, or the prompt is out of the collection). In a number of queries
    that does not grow with their number.

    An answer is added unless its prompt is withdrawn, hidden or by a banned author (as an
    import never brings withdrawn work back), or already has it: any answer of it, in any
    state, withdrawn or hidden ones too, whose text is the same with case, spacing and
    punctuation ignored (``dedupe_key``, as for prompts), so that importing a file again adds
    nothing. It gets the state and review tasks the prompt's first answer would
    (``_answer_slots``): in review with its prompt, or as the import says on a collecting
    prompt. A live answer takes one of a collecting prompt's open slots, as a volunteer's
    does, and the accepted answer that completes the policy's ``responses_to_collect`` moves
    the prompt on to ranking, as an accepted review does (``_prompts_to_ranking``). A prompt
    ranking takes accepted answers until its first ranking is made or its first rank task
    handed out; in review, an answer waits in review with its prompt whatever the import's
    state.

    Precondition: called inside a transaction; the prompts' rows are locked here (in id
    order, as the dispatcher locks them), so no task is handed out on them meanwhile."""
    if not answers:
        return []
    from apps.assignments.models import Assignment, AssignmentState, TaskType
    from apps.feedback.models import Ranking

    ids = sorted({prompt_id for prompt_id, _checked in answers})
    prompts: dict[int, Prompt] = {}
    known: dict[int, _KnownAnswers] = {pk: _KnownAnswers() for pk in ids}
    accepted: dict[int, int] = dict.fromkeys(ids, 0)
    for start in range(0, len(ids), _KEYS_PER_QUERY):
        part = ids[start : start + _KEYS_PER_QUERY]
        for row in (
            Prompt.objects.select_for_update(no_key=True)
            .filter(pk__in=part)
            .only("id", "author", "state", "withdrawn_at", "hidden_at", "open_slots")
            .order_by("pk")
        ):
            prompts[row.pk] = row
        rows = Response.objects.filter(prompt_id__in=part).values_list(
            "prompt_id", "text", "state", "source", "withdrawn_at", "hidden_at", "author__banned_at"
        )
        for prompt_id, text, answer_state, source, withdrawn, hidden, banned in rows:
            known[prompt_id].texts.add(text)
            # flow.count_responses's accepted answers, which move a prompt on to ranking.
            if (
                answer_state == ResponseState.ACCEPTED
                and source == Source.HUMAN
                and withdrawn is None
                and hidden is None
                and banned is None
            ):
                accepted[prompt_id] += 1
    banned_authors = set(
        User.objects.filter(
            pk__in={prompt.author_id for prompt in prompts.values()}, banned_at__isnull=False
        ).values_list("pk", flat=True)
    )
    ranking = [pk for pk, prompt in prompts.items() if prompt.state == PromptState.RANKING]
    rank_begun: set[int] = set()
    if ranking:
        rank_begun.update(
            Ranking.objects.filter(prompt_id__in=ranking, retired_at__isnull=True).values_list(
                "prompt_id", flat=True
            )
        )
        rank_begun.update(
            Assignment.objects.filter(
                prompt_id__in=ranking, task_type=TaskType.RANK, state=AssignmentState.ACTIVE
            ).values_list("prompt_id", flat=True)
        )
    target = int(policy.responses_to_collect)
    rows_to_add: list[Response] = []
    slots_taken: set[int] = set()
    to_ranking: list[int] = []
    results: list[tuple[bool, str | None]] = []
    for prompt_id, checked in answers:
        prompt = prompts.get(prompt_id)
        if (
            prompt is None  # deleted since it was looked up: nothing to add to
            or prompt.withdrawn_at is not None
            or prompt.hidden_at is not None
            or prompt.author_id in banned_authors
            or known[prompt_id].has(checked.response)
        ):
            results.append((False, None))
            continue
        answer_state = (
            ResponseState.REVIEW if prompt.state == PromptState.REVIEW else response_state
        )
        ranking_open = (
            prompt.state == PromptState.RANKING
            and prompt_id not in rank_begun
            and answer_state == ResponseState.ACCEPTED
        )
        if not ranking_open and (refusal := _refusal_of_imported_answer(prompt)) is not None:
            results.append((False, refusal))
            continue
        rows_to_add.append(
            Response(
                prompt_id=prompt_id,
                author=author,
                text=checked.response,
                state=answer_state,
                source=Source.HUMAN,
                origin=checked.origin or origin,
                licence=checked.licence or licence,
                open_slots=_answer_slots(
                    prompt_state=prompt.state, response_state=answer_state, policy=policy
                ),
            )
        )
        known[prompt_id].add(checked.response)
        if prompt.state == PromptState.COLLECTING:
            # Its answer is live (in review or accepted): one place fewer to hand out, as
            # response_create takes; none when volunteers hold them all.
            if prompt.open_slots > 0:
                prompt.open_slots -= 1
                slots_taken.add(prompt_id)
            if answer_state == ResponseState.ACCEPTED:
                accepted[prompt_id] += 1
                if accepted[prompt_id] >= target:
                    # Ranking from here on: the lines after take accepted answers still.
                    prompt.state = PromptState.RANKING
                    to_ranking.append(prompt_id)
        results.append((True, None))
    Response.objects.bulk_create(rows_to_add, batch_size=_ROWS_PER_INSERT)
    Prompt.objects.bulk_update(
        [prompts[pk] for pk in sorted(slots_taken - set(to_ranking))],
        ["open_slots"],
        batch_size=_ROWS_PER_INSERT,
    )
    _prompts_to_ranking(prompt_ids=to_ranking, policy=policy)
    return results


def _prompts_to_ranking(*, prompt_ids: Sequence[int], policy: CollectionPolicy) -> None:
    """``flow.prompt_transition`` from collecting to ranking for these prompts, with the
    retiring of earlier rankings an accepted review does (``feedback.services``), in a few
    statements however many they are. Precondition: the caller holds their row locks and
    they are collecting."""
    if not prompt_ids:
        return
    from apps.feedback.models import Ranking

    now = timezone.now()
    ids = list(prompt_ids)
    for start in range(0, len(ids), _KEYS_PER_QUERY):
        part = ids[start : start + _KEYS_PER_QUERY]
        Prompt.objects.filter(pk__in=part, state=PromptState.COLLECTING).update(
            state=PromptState.RANKING,
            open_slots=flow.slots_for(Prompt(), PromptState.RANKING, policy),
            updated_at=now,
        )
        # A prompt ranking again keeps its earlier rankings, retired: they ordered another
        # set (see feedback.services._retire_earlier_rankings).
        Ranking.objects.filter(prompt_id__in=part, retired_at__isnull=True).update(retired_at=now)


def _check_author_may_change(*, obj: Prompt | Response, user: User, what: str) -> None:
    """Only its author changes an item (403); whether it may still change is its state's
    question (``*_check_editable``: NotEditable, 409), withdrawn included."""
    if obj.author_id != user.pk:
        raise PermissionDenied(_("Only the author may change this %(what)s.") % {"what": what})


class NotEditable(Exception):
    """The object left the state in which it may be edited."""


def prompt_check_editable(*, prompt: Prompt) -> None:
    """Raise NotEditable unless its author may still edit ``prompt``: not withdrawn, in review,
    and nobody has reviewed it or holds a task to (``selectors.review_started``; the caller's
    lock on the prompt keeps a review task from being taken meanwhile: the dispatcher skips
    locked rows). The edit page asks before it shows the form, so nobody types into a form
    that cannot save."""
    if prompt.withdrawn_at is not None:
        raise NotEditable(_("This prompt was withdrawn."))
    if prompt.state != PromptState.REVIEW:
        raise NotEditable(_("A prompt can be edited only while it is in review."))
    if selectors.review_started(prompt_ids=[prompt.pk])[0]:
        raise NotEditable(
            _(
                "Someone has started reviewing this prompt, so it can no longer be edited: "
                "reviewers judge the text they were shown. You can withdraw it and write it "
                "again."
            )
        )


def response_check_editable(*, response: Response) -> None:
    """Raise NotEditable unless its author may still edit ``response``: neither it nor its
    prompt withdrawn, in review, and no review of it started (as ``prompt_check_editable``)."""
    if response.withdrawn_at is not None:
        raise NotEditable(_("This answer was withdrawn."))
    if response.prompt.withdrawn_at is not None:
        raise NotEditable(_("The prompt of this answer was withdrawn."))
    if response.state != ResponseState.REVIEW:
        raise NotEditable(_("An answer can be edited only while it is in review."))
    if selectors.review_started(response_ids=[response.pk])[1]:
        raise NotEditable(
            _(
                "Someone has started reviewing this answer, so it can no longer be edited: "
                "reviewers judge the text they were shown."
            )
        )


@transaction.atomic
def prompt_update(*, prompt: Prompt, user: User, **changes: Any) -> Prompt:
    """Edit one's own prompt while it is in review. Precondition: ``prompt`` is visible to
    ``user`` (fetched through a selector)."""
    check_not_banned(user=user)
    prompt = Prompt.objects.select_for_update(no_key=True).get(pk=prompt.pk)
    _check_author_may_change(obj=prompt, user=user, what=_("prompt"))
    prompt_check_editable(prompt=prompt)
    fields = check_prompt_fields(
        instruction=changes.get("instruction", prompt.instruction),
        context=changes.get("context", prompt.context),
        category=changes.get("category", prompt.category),
        language=changes.get("language", prompt.language),
    )
    key = dedupe_key(fields.instruction, fields.context)
    _check_not_duplicate(key=key, user=user, exclude_id=prompt.pk)
    unchanged = (
        fields.instruction == prompt.instruction
        and fields.context == prompt.context
        and fields.category == prompt.category
        and fields.language == prompt.language
    )
    if unchanged:
        return prompt  # nothing to save: an empty PATCH does not touch updated_at
    prompt.instruction = fields.instruction
    prompt.context = fields.context
    prompt.category = fields.category
    prompt.language = fields.language
    prompt.instruction_key = key
    prompt.save(
        update_fields=[
            "instruction",
            "context",
            "category",
            "language",
            "instruction_key",
            "updated_at",
        ]
    )
    return prompt


@transaction.atomic
def prompt_withdraw(*, prompt: Prompt, user: User) -> Prompt:
    """Withdraw one's own prompt, and the author's own answer to it: hidden at once, never in
    a later release. Idempotent. (UX QA: the author's first answer stayed "In review" beside
    the withdrawn prompt, counted as pending for ever.)"""
    prompt = Prompt.objects.select_for_update(no_key=True).get(pk=prompt.pk)
    if prompt.author_id != user.pk:
        raise PermissionDenied(_("Only the author may withdraw this prompt."))
    if prompt.withdrawn_at is None:
        now = timezone.now()
        prompt.withdrawn_at = now
        prompt.save(update_fields=["withdrawn_at", "updated_at"])
        # Locked after their prompt, as the dispatcher locks (prompt, then its answers).
        own = list(
            Response.objects.select_for_update(no_key=True)
            .filter(prompt_id=prompt.pk, author_id=user.pk, withdrawn_at__isnull=True)
            .values_list("pk", flat=True)
        )
        Response.objects.filter(pk__in=own).update(withdrawn_at=now, open_slots=0, updated_at=now)
        from apps.assignments.services import on_gone_work_commit  # it imports this module

        # Nobody goes on reading it under a task.
        on_gone_work_commit(prompt_ids=[prompt.pk], response_ids=own)
    return prompt


def answer_refusal(prompt: Prompt, *, slot_held: bool = False) -> str | None:
    """Why nobody may answer ``prompt`` now (not collecting, or no open slot: unless the
    answerer already holds one), or None.

    Read without a lock: pages use it to offer the answer form or not; response_create asks
    again under the prompt's row lock.
    """
    if prompt.state != PromptState.COLLECTING or prompt.withdrawn_at or prompt.hidden_at:
        return _("This prompt is not collecting answers.")
    if not slot_held and prompt.open_slots < 1:
        return _("This prompt has all the answers it needs for now.")
    return None


@transaction.atomic
def response_create(
    *,
    prompt: Prompt,
    author: User,
    text: Any,
    slot_held: bool = False,
    policy: CollectionPolicy | None = None,
) -> Response:
    """Answer a prompt that is collecting answers; one answer per person and prompt.

    The answer fills one of the prompt's open slots: one the dispatcher already gave the
    author (``slot_held``: the dispatcher also holds the prompt's row lock, and passes the
    policy it read), else one taken here, so a prompt never collects more answers than the
    policy asks for. Without a held slot the account is checked as it is now
    (``check_may_contribute_now``).
    """
    if slot_held:
        check_not_banned(user=author)
    else:
        check_may_contribute_now(user=author)
    if not slot_held:
        policy_gate()  # before the prompt's lock (the dispatcher passed it already)
        prompt = Prompt.objects.select_for_update(no_key=True).get(pk=prompt.pk)
    if (refusal := answer_refusal(prompt, slot_held=True)) is not None:
        raise NotEditable(refusal)
    clean = check_response_text(text, instruction=prompt.instruction)
    if Response.objects.filter(prompt=prompt, author=author).exists():
        raise ValidationError({"response": [_("You have already answered this prompt.")]})
    if not slot_held:
        if (refusal := answer_refusal(prompt)) is not None:
            raise NotEditable(refusal)
        prompt.open_slots -= 1
        prompt.save(update_fields=["open_slots"])
    return insert(
        Response(
            prompt=prompt,
            author=author,
            text=clean,
            licence=settings.HEARTH_LICENCE_NAME,
            open_slots=(policy or current_policy()).response_reviews_required,
        )
    )


@transaction.atomic
def response_update(*, response: Response, user: User, text: Any) -> Response:
    check_not_banned(user=user)
    # The prompt first, then the answer, as everywhere (one statement locking both would take
    # the answer first, and deadlock with a hide, withdrawal or review holding the prompt).
    prompt = Prompt.objects.select_for_update(no_key=True).get(pk=response.prompt_id)
    response = Response.objects.select_for_update(no_key=True).get(pk=response.pk)
    response.prompt = prompt
    _check_author_may_change(obj=response, user=user, what=_("answer"))
    response_check_editable(response=response)
    checked = check_response_text(text, instruction=response.prompt.instruction)
    if checked == response.text:
        return response  # nothing to save: updated_at says when the text last changed
    response.text = checked
    response.save(update_fields=["text", "updated_at"])
    return response


@transaction.atomic
def response_withdraw(*, response: Response, user: User) -> Response:
    # A prompt ranking that the answer leaves with fewer than two goes back to collecting
    # with slots from the policy: the gate before the prompt's lock (see policy_gate).
    policy_gate()
    prompt = Prompt.objects.select_for_update(no_key=True).get(pk=response.prompt_id)
    response = Response.objects.select_for_update(no_key=True).get(pk=response.pk)
    if response.author_id != user.pk:
        raise PermissionDenied(_("Only the author may withdraw this answer."))
    if response.withdrawn_at is None:
        # Only an answer that still held a place gives it back: one hidden, rejected or whose
        # author is banned gave it back then (or never held one, as a model's).
        held_place = flow.holds_place(response)
        response.withdrawn_at = timezone.now()
        response.open_slots = 0
        response.save(update_fields=["withdrawn_at", "open_slots", "updated_at"])
        from apps.assignments.services import on_gone_work_commit  # it imports this module

        on_gone_work_commit(response_ids=[response.pk])  # nobody goes on reviewing it
        if held_place and prompt.state == PromptState.COLLECTING:
            # The prompt needs another answer in its place.
            flow.give_back_place(response=response)
        from apps.feedback.services import rank_sets_changed  # feedback imports collection

        # Out of the consensus; a prompt ranking with fewer than two answers left goes back to
        # collecting.
        rank_sets_changed(prompt_ids=[prompt.pk])
    return response


def _answers_per_prompt(answers: QuerySet[Response]) -> Subquery:
    """SQL for how many of ``answers`` the prompt of the outer query (an UPDATE of prompts
    that have some) has."""
    return Subquery(
        answers.filter(prompt_id=OuterRef("pk"))
        .order_by()
        .values("prompt_id")
        .annotate(count=Count("pk"))
        .values("count")
    )


@transaction.atomic
def author_work_withdraw(*, author: User) -> tuple[int, int]:
    """Withdraw every live answer and then every live prompt of ``author`` in a fixed number
    of statements, however many there are (account deletion: a heavy contributor has tens of
    thousands), leaving the rows that ``response_withdraw`` on each answer and then
    ``prompt_withdraw`` on each prompt would. Returns how many answers and prompts it withdrew.

    Preconditions (``account_delete``): the caller holds ``author``'s row lock and has
    released their tasks, so no prompt or answer of theirs appears meanwhile (new work comes
    under a task, or after ``check_may_contribute_now``, which waits for that lock); and it
    holds the row locks of their live prompts, of the prompts their live answers answer, and
    of those answers, taken in the dispatcher's order with their tasks' (see
    ``assignments_release_for_user``).
    """
    now = timezone.now()
    answers = Response.objects.filter(author=author, withdrawn_at__isnull=True)
    # A collecting prompt needs another answer in the place of each one that still held a
    # place (``flow.holds_place``, and an author not banned: a hidden answer, or a banned
    # author's, gave its place back then): one for a volunteer (one live answer per author and
    # prompt, a constraint), as many as it holds of a maintainer's imported answers (which
    # that constraint leaves out).
    counted = answers.filter(
        source=Source.HUMAN,
        state__in=(ResponseState.REVIEW, ResponseState.ACCEPTED),
        hidden_at__isnull=True,
        author__banned_at__isnull=True,
    )
    Prompt.objects.filter(state=PromptState.COLLECTING, pk__in=counted.values("prompt_id")).update(
        open_slots=F("open_slots") + _answers_per_prompt(counted)
    )
    withdrawn_answers = answers.update(withdrawn_at=now, open_slots=0, updated_at=now)
    # Every prompt answered has a new response set: its consensus runs again, and one ranking
    # with fewer than two answers left goes back to collecting.
    from apps.feedback.services import rank_sets_changed  # feedback imports collection

    rank_sets_changed(
        prompt_ids=Response.objects.filter(author=author, withdrawn_at=now).values("prompt_id")
    )
    withdrawn_prompts = Prompt.objects.filter(author=author, withdrawn_at__isnull=True).update(
        withdrawn_at=now, updated_at=now
    )
    return withdrawn_answers, withdrawn_prompts


# ---------------------------------------------------------------------------------------------
# Model-written answers
# ---------------------------------------------------------------------------------------------


def prompts_for_model_answers(*, limit: int, languages: Sequence[str] = ()) -> list[Prompt]:
    """Up to ``limit`` prompts a model may answer now, longest waiting first: collecting,
    live, by an author not banned, in ``languages`` (all when empty), and with no live
    model-written answer yet."""
    return list(_answerable_by_model(languages).order_by("created_at", "id")[:limit])


def prompts_for_model_answers_count(languages: Sequence[str] = ()) -> int:
    return _answerable_by_model(languages).count()


def _answerable_by_model(languages: Sequence[str]) -> QuerySet[Prompt]:
    prompts = Prompt.objects.filter(
        state=PromptState.COLLECTING,
        withdrawn_at__isnull=True,
        hidden_at__isnull=True,
        author__banned_at__isnull=True,
    ).exclude(
        # Read through the partial index response_model_live_prompt (its condition is this
        # filter's): the few model-written answers, not every answer.
        pk__in=Response.objects.filter(source=Source.MODEL, withdrawn_at__isnull=True).values(
            "prompt_id"
        )
    )
    if languages:
        prompts = prompts.filter(language__in=list(languages))
    return prompts


@dataclass(frozen=True)
class ModelAnswers:
    """What ``model_answers_add`` did with a model's answers."""

    added: int
    # Prompts that had moved on (ranking, halted, withdrawn, hidden) or already held a
    # model-written answer, and answers the checks refused (empty, too long, the instruction).
    skipped: int


def model_answers_add(*, answers: Iterable[Any], origin: str) -> ModelAnswers:
    """File a model's answers (``[{"prompt_id", "text"}]``) under the model account
    (accounts.services.model_author), accepted, with ``origin`` saying where they came from
    (the training run). They join their prompt's rank set and take no person's place (see
    flow.count_responses); nobody reviews them, rankers judge them blind among the others.

    Only a prompt still collecting, live and without a model-written answer takes one, so
    applying the same answers again adds nothing. Each answer is added in its own atomic
    block (a savepoint within a caller's transaction, such as the training report's) under
    the prompt's row lock, taken in the dispatcher's order: prompt, then its answers.
    """
    from apps.accounts.services import model_author

    author = model_author()
    added = skipped = 0
    for item in answers:
        prompt_id = item.get("prompt_id") if isinstance(item, dict) else None
        if not isinstance(prompt_id, int) or isinstance(prompt_id, bool):
            skipped += 1
            continue
        if _model_answer_add(
            prompt_id=prompt_id, text=item.get("text"), author=author, origin=origin
        ):
            added += 1
        else:
            skipped += 1
    return ModelAnswers(added=added, skipped=skipped)


@transaction.atomic
def _model_answer_add(*, prompt_id: int, text: Any, author: User, origin: str) -> bool:
    # The prompt's row alone: locking through a join on its author would take the author's
    # row too, which a ban locks before the prompts.
    prompt = Prompt.objects.select_for_update(no_key=True).filter(pk=prompt_id).first()
    if prompt is None or answer_refusal(prompt, slot_held=True) is not None:
        return False
    if User.objects.filter(pk=prompt.author_id, banned_at__isnull=False).exists():
        return False
    try:
        clean = check_response_text(text, instruction=prompt.instruction)
    except ValidationError:
        return False
    if prompt.responses.filter(source=Source.MODEL, withdrawn_at__isnull=True).exists():
        return False
    insert(
        Response(
            prompt=prompt,
            author=author,
            text=clean,
            state=ResponseState.ACCEPTED,
            source=Source.MODEL,
            origin=origin[:100],
            licence=settings.HEARTH_LICENCE_NAME,
            open_slots=0,
        )
    )
    return True
