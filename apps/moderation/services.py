"""Flags, hiding, halting and bans. Every moderator action is written to the audit log in
the same transaction as the action itself.

A retry never duplicates a log row. Each action checks, under the row lock, whether it would
change anything:

- Hiding and dismissing act on flags too, so a repeat is harmless: with nothing left to
  change they do nothing, log nothing and return None (the API answers 200 as for the first
  call). Hiding an item already hidden still resolves its open flags (an auto-hide awaiting a
  moderator: confirming it is a real action, logged once).
- Restoring, halting, banning and unbanning name a state to leave. When the item or user is
  not in it (restoring a visible item, halting a halted prompt, banning a banned user,
  unbanning one who is not banned, a moderator "unbanning" themselves) they raise a
  ValidationError that says so (a message on the pages, the API's 409): the moderator is probably
  acting on a stale page, and their reason would otherwise be dropped unseen.

A ban voids the banned account's reports (``_void_flags_of``): its open flags are closed, and
what they alone had hidden automatically is shown again, as a moderator's restore would.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts import roles
from apps.accounts.models import User
from apps.accounts.services import check_not_banned
from apps.assignments.models import Assignment, AssignmentState
from apps.assignments.services import assignments_release_for_user, on_gone_work_commit
from apps.collection import flow
from apps.collection.flow import ROWS_PER_STATEMENT, InvalidTransition
from apps.collection.models import (
    ACCEPTED_PROMPT_STATES,
    Prompt,
    PromptState,
    Response,
    ResponseState,
    Source,
)
from apps.collection.policy import current_policy, policy_gate
from apps.core.text import check_text
from apps.feedback.models import Ranking
from apps.feedback.services import (
    consensus_refresh,
    rank_sets_changed,
    rank_sets_check,
    reviewed_work_of,
    reviews_of_banned_reconsider,
)
from apps.moderation.models import Flag, FlagReason, FlagResolution, ModerationAction

Target = Prompt | Response
MAX_REASON = 1000


def _check_moderator(user: User) -> None:
    if not roles.is_moderator(user):
        raise PermissionDenied(_("Only moderators may do this."))


def _check_reason(reason: Any, *, required: bool) -> str:
    if not isinstance(reason, str):
        raise ValidationError({"reason": [_("The reason must be text.")]})
    reason = " ".join(reason.split())
    if required and not reason:
        raise ValidationError({"reason": [_("Say why, in a few words: it goes to the audit log.")]})
    if len(reason) > MAX_REASON:
        raise ValidationError({"reason": [_("Keep the reason under 1000 characters.")]})
    return reason


def _target_kwargs(target: Target) -> dict[str, Target]:
    return {"prompt": target} if isinstance(target, Prompt) else {"response": target}


def _name(target: Target) -> str:
    """How a message names a prompt or answer: "Prompt #12", "Answer #7"."""
    if isinstance(target, Prompt):
        return _("Prompt #%(id)d") % {"id": target.pk}
    return _("Answer #%(id)d") % {"id": target.pk}


def _log(
    actor: User | None,
    action: str,
    *,
    target: Target | None = None,
    subject: User | None = None,
    reason: str = "",
) -> ModerationAction:
    return ModerationAction.objects.create(
        actor=actor,
        action=action,
        subject=subject,
        reason=reason,
        **(_target_kwargs(target) if target is not None else {}),
    )


def _hide(target: Target) -> None:
    """Hide a target; a hidden answer frees its place in a collecting prompt, if it held one
    (``flow.give_back_place``), and leaves its prompt's consensus. A hidden target's own open
    slots stay as they are (the dispatcher skips hidden targets), so a restore needs no
    recount of those. Precondition: the caller holds the target's lock (``_lock``)."""
    # Only an answer that still held a place gives it back: not one withdrawn, rejected, or
    # whose author is banned (each gave it back then), nor a model's (it never held one).
    held_place = isinstance(target, Response) and flow.holds_place(target)
    target.hidden_at = timezone.now()
    target.save(update_fields=["hidden_at", "updated_at"])
    # Nobody goes on reading it under a task they took before.
    if not isinstance(target, Response):
        on_gone_work_commit(prompt_ids=[target.pk])
        return
    on_gone_work_commit(response_ids=[target.pk])
    if held_place:
        flow.give_back_place(response=target)
    # Whoever hides it, a moderator or the flags: the consensus is as if it had never been, and
    # a prompt ranking with fewer than two answers left goes back to collecting.
    rank_sets_changed(prompt_ids=[target.prompt_id])


def _lock(target: Target) -> Target:
    """Lock a target's row, an answer's prompt first: the order in which the dispatcher,
    withdrawals and bans lock (prompt, then its answers), so that hiding an answer never waits
    on one of them while it waits on the hide; and the prompt's slots and consensus, which a
    hidden or restored answer changes, are then changed under its lock."""
    if isinstance(target, Response):
        list(
            Prompt.objects.select_for_update(no_key=True)
            .filter(pk=target.prompt_id)
            .values_list("pk", flat=True)
        )
    model = type(target)
    return model.objects.select_for_update(no_key=True).get(pk=target.pk)


@transaction.atomic
def flag_create(*, reporter: User, target: Target, reason: Any, note: Any = "") -> Flag:
    """Flag a prompt or answer. At the policy's count of open flags from different people it
    is hidden until a moderator looks at it."""
    # A suspended account reports nothing: enough flags hide others' work. (The report page
    # refused it before this point; the API did not.)
    check_not_banned(user=reporter)
    if reason is None or (isinstance(reason, str) and not reason.strip()):
        # The report form's empty first choice, sent as it was.
        raise ValidationError({"reason": [_("Choose a reason for the report.")]})
    if reason not in FlagReason.values:
        raise ValidationError(
            {"reason": [_("Choose a reason: %(r)s.") % {"r": ", ".join(FlagReason.values)}]}
        )
    if not isinstance(note, str) or len(note) > MAX_REASON:
        raise ValidationError({"note": [_("Keep the note under 1000 characters.")]})
    try:
        # Control characters (a terminal's escape codes, a bell) and half surrogate pairs are
        # no part of a note; it is shown to moderators.
        note = check_text(
            note, label=_("The note"), min_chars=0, max_chars=MAX_REASON, required=False
        )
    except ValidationError as exc:
        raise ValidationError({"note": exc.messages}) from None
    if target.author_id == reporter.pk:
        raise ValidationError(_("You cannot flag your own work; withdraw it instead."))
    # An automatic hide may send a ranking prompt back to collecting with slots from the
    # policy: the gate before any lock (collection.policy.policy_gate).
    policy_gate()
    target = _lock(target)
    try:
        with transaction.atomic():
            flag = Flag.objects.create(
                reporter=reporter, reason=reason, note=note, **_target_kwargs(target)
            )
    except IntegrityError:
        raise ValidationError(
            _("You have already flagged this; a moderator will look at it.")
        ) from None
    open_flags = _counting_flags().filter(**_target_kwargs(target)).count()
    if target.hidden_at is None and open_flags >= current_policy().auto_hide_flags:
        _hide(target)
        _log(
            None,
            ModerationAction.Action.AUTO_HIDE,
            target=target,
            reason=_("%(n)d flags") % {"n": open_flags},
        )
    return flag


# Whose open reports count towards hiding an item before a moderator looks: a reporter with a
# prompt or an answer that others accepted. Security QA: three accounts signed up a minute
# before could hide anything. Every report still reaches the moderators' queue.
_REPORTER_WITH_ACCEPTED_WORK = Exists(
    Prompt.objects.filter(author=OuterRef("reporter_id"), state__in=ACCEPTED_PROMPT_STATES)
) | Exists(Response.objects.filter(author=OuterRef("reporter_id"), state=ResponseState.ACCEPTED))


def _counting_flags() -> QuerySet[Flag]:
    """The open flags that count towards hiding an item by themselves: from a reporter with
    accepted work (``_REPORTER_WITH_ACCEPTED_WORK``) who is not banned. A ban closes the
    banned account's open flags (``_void_flags_of``); one left open by a ban from before that
    did, or committed while a ban ran, counts no more for it."""
    return Flag.objects.filter(resolved_at__isnull=True, reporter__banned_at__isnull=True).filter(
        _REPORTER_WITH_ACCEPTED_WORK
    )


def _resolve_flags(target: Target, moderator: User) -> int:
    """Close the target's open flags; how many there were."""
    return Flag.objects.filter(resolved_at__isnull=True, **_target_kwargs(target)).update(
        resolved_at=timezone.now(), resolved_by=moderator
    )


@transaction.atomic
def content_hide(*, moderator: User, target: Target, reason: Any) -> ModerationAction | None:
    """Hide a prompt or answer from everyone but its author and moderators, and resolve its
    open flags. On a target already hidden (by a moderator, or by flags awaiting one) only the
    open flags are resolved, and the action is logged once; with none open there is nothing
    to do: nothing changes, nothing is logged, and None is returned. Otherwise returns the
    audit log entry."""
    _check_moderator(moderator)
    clean = _check_reason(reason, required=True)
    policy_gate()  # as flag_create's
    target = _lock(target)
    newly = target.hidden_at is None
    if newly:
        _hide(target)
    resolved = _resolve_flags(target, moderator)
    if not newly and not resolved:
        return None
    if not newly and isinstance(target, Response):
        # Confirming a hide by flags: an answer hidden before the automatic hide refreshed the
        # consensus still holds its rank there.
        rank_sets_changed(prompt_ids=[target.prompt_id])
    return _log(moderator, ModerationAction.Action.HIDE, target=target, reason=clean)


@transaction.atomic
def content_restore(*, moderator: User, target: Target, reason: Any = "") -> Target:
    """Show a hidden target again and close its flags. A restored answer that counts again
    toward its collecting prompt's target (``flow.holds_place``, its author not banned) takes
    back the place its hiding gave, while that place is still open; when a replacement has
    taken it, the prompt keeps the extra answer. A target that is not hidden is refused
    (ValidationError), and nothing is logged: its open flags, if any, are for Dismiss."""
    _check_moderator(moderator)
    clean = _check_reason(reason, required=False)
    target = _lock(target)
    if target.hidden_at is None:
        raise ValidationError(_("%(item)s is not hidden.") % {"item": _name(target)})
    target.hidden_at = None
    target.save(update_fields=["hidden_at", "updated_at"])
    if isinstance(target, Response):
        if flow.holds_place(target):
            flow.take_back_place(response=target)
        consensus_refresh(prompt_ids=[target.prompt_id])
    _resolve_flags(target, moderator)
    _log(moderator, ModerationAction.Action.RESTORE, target=target, reason=clean)
    return target


@transaction.atomic
def flags_dismiss(*, moderator: User, target: Target, reason: Any = "") -> ModerationAction | None:
    """Resolve the target's open flags and leave it as it is. With no flag open there is
    nothing to do: nothing is logged and None is returned; otherwise the audit log entry."""
    _check_moderator(moderator)
    clean = _check_reason(reason, required=False)
    target = _lock(target)
    if not _resolve_flags(target, moderator):
        return None
    return _log(moderator, ModerationAction.Action.DISMISS, target=target, reason=clean)


# How many times a halt locks the prompt's open tasks and then the prompt before it gives up
# (see _lock_open_tasks_then_prompt): more tries only happen while volunteers keep claiming
# and sending the prompt's tasks in the few milliseconds between its two locks.
HALT_TRIES = 5


def _open_task_ids(prompt_id: int) -> set[int]:
    """The prompt's open (active) tasks, read without locking them."""
    return set(
        Assignment.objects.filter(prompt_id=prompt_id, state=AssignmentState.ACTIVE).values_list(
            "pk", flat=True
        )
    )


def _lock_open_tasks_then_prompt(prompt_id: int) -> tuple[Prompt, list[int]]:
    """Lock the prompt's open tasks, then the prompt, in the dispatcher's order; return the
    prompt and the ids of the tasks locked, which are then all of its open tasks. Raises a
    ValidationError when the prompt stays too busy to do so.

    Why the retries: a volunteer can claim a task of the prompt after its open tasks were
    locked and before the prompt is (a claim takes the slot with an UPDATE of the prompt and
    inserts the task; the halt does not hold the prompt yet), and then start sending it: the
    submission locks that task and waits for the prompt. A halt that went on to lock the
    prompt and then the new task (to release it) would wait for the submission while it
    waits for the halt: a deadlock, which PostgreSQL ends by aborting one of them. So the
    open tasks are read again once the prompt is locked; if new ones appeared, the savepoint
    is rolled back, which releases the prompt's lock (and the tasks'; PostgreSQL releases
    row locks taken after a savepoint when it is rolled back to), and the halt starts over,
    waiting for the new tasks while it holds no prompt. The halt thus never waits for a task
    while it holds the prompt. (Precondition: the caller has not locked the prompt itself: a
    lock taken before the savepoint would outlive its rollback.)"""
    for _try in range(HALT_TRIES):
        with transaction.atomic():  # a savepoint: prompt_halt runs in a transaction
            locked = list(
                Assignment.objects.select_for_update(no_key=True)
                .filter(prompt_id=prompt_id, state=AssignmentState.ACTIVE)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
            prompt = Prompt.objects.select_for_update(no_key=True).get(pk=prompt_id)
            if _open_task_ids(prompt_id) <= set(locked):
                return prompt, locked
            transaction.set_rollback(True)
    raise ValidationError(
        _(
            "Prompt #%(id)d is busy: volunteers are taking and sending its tasks right now. "
            "Nothing was changed; try again in a moment."
        )
        % {"id": prompt_id}
    )


@transaction.atomic
def prompt_halt(*, moderator: User, prompt: Prompt, reason: Any) -> Prompt:
    """Stop a prompt for good: no more tasks, open ones are released. A prompt already halted,
    or past the states a halt leaves (complete, rejected), is refused (ValidationError), as is
    one too busy to lock (ValidationError: try again)."""
    _check_moderator(moderator)
    clean = _check_reason(reason, required=True)
    # Its open tasks before the prompt, in the dispatcher's order: a submission holds its task
    # and then waits for the prompt, so a halt holding the prompt must not then wait for it.
    prompt, open_tasks = _lock_open_tasks_then_prompt(prompt.pk)
    if prompt.state == PromptState.HALTED:
        raise ValidationError(_("Prompt #%(id)d is already halted.") % {"id": prompt.pk})
    try:
        flow.prompt_transition(prompt=prompt, to=PromptState.HALTED, policy=current_policy())
    except InvalidTransition:
        raise ValidationError(
            _("Prompt #%(id)d can no longer be halted: it is %(state)s.")
            % {"id": prompt.pk, "state": prompt.get_state_display()}
        ) from None
    # Only the tasks it holds: an UPDATE by prompt and state would also lock, and so wait for,
    # a task claimed since, while the halt holds the prompt. Only an answer's review can still
    # be claimed now (that claim locks the answer, not the prompt) until the halt commits; it
    # cannot be sent (the prompt is halted) and expires as any unsent task does.
    Assignment.objects.filter(pk__in=open_tasks).update(
        state=AssignmentState.RELEASED, finished_at=timezone.now()
    )
    _log(moderator, ModerationAction.Action.HALT, target=prompt, reason=clean)
    return prompt


@transaction.atomic
def user_ban(*, moderator: User, user: User, reason: Any) -> User:
    """Ban a user: no tasks, no submissions; their open tasks are released at once. Their
    prompts and answers leave public view, the task pool, rank sets and consensus until the
    ban is lifted (they and moderators still see them); a collecting prompt they answered
    collects another answer in the place of theirs, as for a hidden answer (an unban takes
    the place back while it is still open). Their reports are voided: their open flags are
    closed, and what those flags had hidden automatically comes back when the flags left
    no longer reach the policy's count (``_void_flags_of``). A user already banned is refused
    (ValidationError) and keeps the reason they were banned for.

    Rows are locked in one order, each kind by id: the user, their open tasks, then the
    prompts (``_work_of`` and those ``_flagged_by`` names), then the answers (theirs and
    those they flagged); everything after the locks is done in bulk, in a number of
    statements that does not grow with their work or their flags."""
    _check_moderator(moderator)
    clean = _check_reason(reason, required=True)
    if user.pk == moderator.pk:
        raise ValidationError(_("You cannot ban yourself."))
    if user.is_model_author:
        # A ban would hide every model-written answer, and each later run's too, in silence.
        raise ValidationError(
            _(
                "This account is not a person: Hearth files the answers its models write under "
                "it. Hide the answer instead. To have no more model-written answers, start "
                "training runs without “Then answer prompts”."
            )
        )
    if roles.is_moderator(user) and not moderator.is_superuser:
        # Name the role the person holds: every maintainer is also a moderator.
        if roles.is_maintainer(user):
            raise PermissionDenied(_("Only an administrator may ban a maintainer."))
        raise PermissionDenied(_("Only an administrator may ban a moderator."))
    # Prompts ranking that the ban leaves short go back to collecting with slots from the
    # policy: the gate before any lock (collection.policy.policy_gate). A raise and a ban
    # also deadlocked (race QA); they now wait for each other.
    policy_gate()
    user = User.objects.select_for_update(no_key=True).get(pk=user.pk)
    if user.banned_at is not None:
        raise ValidationError(_("%(name)s is already banned.") % {"name": user.public_name})
    user.banned_at = timezone.now()
    user.ban_reason = clean
    user.save(update_fields=["banned_at", "ban_reason"])
    # Their tasks' rows and what the ban changes, locked in one order (see _work_of,
    # _flagged_by and reviewed_work_of), then the work in bulk: one prompt at a time, a heavy
    # contributor's ban outlasted the request.
    flagged_prompts, flagged_answers = _flagged_by(user)
    reviewed_prompts, reviewed_answers = reviewed_work_of(user)
    assignments_release_for_user(
        user=user,
        prompts=_work_of(user) | flagged_prompts | reviewed_prompts,
        answers=Q(author=user) | flagged_answers | reviewed_answers,
    )
    on_gone_work_commit(author_id=user.pk)  # and other people's tasks on their work
    _give_back_places_of_answers(user)
    _recount_for(user)
    # Their reviews no longer count: what they helped reject is decided again by the others'
    # (spam QA: a ring's votes rejected 51 of 58 honest prompts, and the bans left them so).
    # Before the flags: work accepted now changes whose flags count.
    answered = Response.objects.filter(author=user).values("prompt_id")
    reviews_of_banned_reconsider(reviewer=user, locked=True, prompts=answered)  # locked above
    # A prompt ranking left with fewer than two answers without theirs collects again; one
    # complete without their answers or rankings reopens (spam QA: a ring's prompts stayed
    # complete on its terms), so the prompts they ranked as well as answered.
    rank_sets_check(prompt_ids=Prompt.objects.filter(_work_of(user)).values("pk"))
    _log(moderator, ModerationAction.Action.BAN, subject=user, reason=clean)
    # After the ban's own log row, so that the log reads in the order things happened.
    shown_again = _void_flags_of(user, moderator=moderator)
    if shown_again:
        # Answers there that an earlier ban's voided reviews rejected, left so while hidden.
        reviews_of_banned_reconsider(reviewer=user, locked=True, prompts=shown_again)
    return user


@transaction.atomic
def user_unban(*, moderator: User, user: User, reason: Any = "") -> User:
    """Lift a ban. Their answers that count again take back, in collecting prompts, the
    places the ban gave, as far as those are still open (``_take_back_places_of_answers``).
    The flags the ban closed stay closed, and what it showed again stays shown: they may
    report again, and a moderator decides on the rest from the queue. A user who is not
    banned (a moderator themselves, say) is refused (ValidationError) and nothing is
    logged."""
    _check_moderator(moderator)
    clean = _check_reason(reason, required=False)
    user = User.objects.select_for_update(no_key=True).get(pk=user.pk)
    if user.banned_at is None:
        raise ValidationError(_("%(name)s is not banned.") % {"name": user.public_name})
    user.banned_at = None
    user.ban_reason = ""
    user.save(update_fields=["banned_at", "ban_reason"])
    _lock_work_of(user)
    _take_back_places_of_answers(user)
    _recount_for(user)
    _log(moderator, ModerationAction.Action.UNBAN, subject=user, reason=clean)
    return user


def _flagged_by(user: User) -> tuple[Q, Q]:
    """The prompts and the answers that a ban of ``user`` voids flags on, as row filters
    for its locks: the prompts and answers they hold an open flag on, and the prompts of
    those answers (a restored answer takes back its place and rejoins its prompt's
    consensus, under the prompt's lock). Every such item is locked, hidden or not: a flag
    created meanwhile on one counts the open flags under its lock (``flag_create``), and so
    sees this ban's flags either all open or all closed."""
    flags = Flag.objects.filter(reporter=user, resolved_at__isnull=True)
    answers = flags.filter(response_id__isnull=False).values("response_id")
    prompts = Q(pk__in=flags.filter(prompt_id__isnull=False).values("prompt_id")) | Q(
        pk__in=Response.objects.filter(pk__in=answers).values("prompt_id")
    )
    return prompts, Q(pk__in=answers)


def _hidden_by_flags(model: type[Prompt] | type[Response], rows: Q) -> list[tuple[int, int]]:
    """The ``rows`` (prompts or answers) that are hidden and whose latest hide was the
    automatic one (the audit log's ``auto_hide``; a moderator's hide or Keep hidden logs
    ``hide``), each as (id, how many of its open flags count now: ``_counting_flags``), in
    id order. One query."""
    field = "prompt_id" if model is Prompt else "response_id"
    latest_hide = (
        ModerationAction.objects.filter(
            **{field: OuterRef("pk")},
            action__in=[ModerationAction.Action.HIDE, ModerationAction.Action.AUTO_HIDE],
        )
        .order_by("-created_at", "-id")
        .values("action")[:1]
    )
    counting = (
        _counting_flags()
        .filter(**{field: OuterRef("pk")})
        .order_by()
        .values(field)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return list(
        model.objects.filter(rows, hidden_at__isnull=False)
        .alias(latest_hide=Subquery(latest_hide))
        .filter(latest_hide=ModerationAction.Action.AUTO_HIDE)
        .annotate(counting=Coalesce(Subquery(counting), 0))
        .order_by("pk")
        .values_list("pk", "counting")
    )


def _void_flags_of(user: User, *, moderator: User) -> list[int]:
    """A banned account's reports count no more. Its open flags are closed (resolved by the
    banning moderator, ``resolution`` ``reporter_banned``), and each prompt or answer that the
    flags hid automatically (``_hidden_by_flags``) and that the open flags left, from
    reporters who count and are not banned, would no longer hide is shown again as
    ``content_restore`` shows it: a restored answer that holds a place takes it back while
    it is open and rejoins its prompt's consensus. What a moderator hid, or kept hidden,
    stays hidden. Each restore is logged as the banning moderator's ``restore`` (they
    decided the ban that voided the reports; the reason names the banned account). Unlike a
    moderator's restore, the item's other open flags stay open: nobody has judged those, and
    the item stays in the queue for a moderator to look at (enough new flags hide it again).

    In bulk: a few statements for each ROWS_PER_STATEMENT items, however many flags.
    Precondition: ``user`` is banned in this transaction, and the caller holds the row locks
    of the prompts and answers ``_flagged_by(user)`` names (the ban's lock order). Returns the
    ids of the prompts shown again."""
    flags = Flag.objects.filter(reporter=user, resolved_at__isnull=True)
    # Read before the flags close (the banned reporter counts no more either way), since
    # once closed they no longer say which items they were on.
    on_prompts = flags.filter(prompt_id__isnull=False).values("prompt_id")
    on_answers = flags.filter(response_id__isnull=False).values("response_id")
    prompts = _hidden_by_flags(Prompt, Q(pk__in=on_prompts))
    answers = _hidden_by_flags(Response, Q(pk__in=on_answers))
    # The policy is read only when there is something to decide: the first read creates it.
    needed = current_policy().auto_hide_flags if prompts or answers else 0
    prompt_ids = [pk for pk, counting in prompts if counting < needed]
    answer_ids = [pk for pk, counting in answers if counting < needed]
    now = timezone.now()
    flags.update(resolved_at=now, resolved_by=moderator, resolution=FlagResolution.REPORTER_BANNED)
    for part in _parts(prompt_ids):
        Prompt.objects.filter(pk__in=part).update(hidden_at=None, updated_at=now)
    for part in _parts(answer_ids):
        Response.objects.filter(pk__in=part).update(hidden_at=None, updated_at=now)
        _take_back_places_of_restored_answers(part)
        consensus_refresh(prompt_ids=Response.objects.filter(pk__in=part).values("prompt_id"))
    reason = _("Flags from a banned account no longer count: %(name)s") % {"name": user.public_name}
    action = ModerationAction.Action.RESTORE
    ModerationAction.objects.bulk_create(
        [
            *(
                ModerationAction(actor=moderator, action=action, prompt_id=pk, reason=reason)
                for pk in prompt_ids
            ),
            *(
                ModerationAction(actor=moderator, action=action, response_id=pk, reason=reason)
                for pk in answer_ids
            ),
        ],
        batch_size=ROWS_PER_STATEMENT,
    )
    return prompt_ids


def _parts(ids: list[int]) -> list[list[int]]:
    return [ids[i : i + ROWS_PER_STATEMENT] for i in range(0, len(ids), ROWS_PER_STATEMENT)]


def _take_back_places_of_restored_answers(answer_ids: list[int]) -> None:
    """``flow.take_back_place`` for each of these answers, just restored, that holds a place
    again (``flow.holds_place``, its author not banned), in one statement: each collecting
    prompt takes back one place per such answer, as far as they are open (never below 0).
    Precondition: the caller holds the prompts' row locks."""
    answers = Response.objects.filter(
        pk__in=answer_ids,
        source=Source.HUMAN,
        state__in=(ResponseState.REVIEW, ResponseState.ACCEPTED),
        withdrawn_at__isnull=True,
        hidden_at__isnull=True,
        author__banned_at__isnull=True,
    )
    per_prompt = Subquery(
        answers.filter(prompt_id=OuterRef("pk"))
        .order_by()
        .values("prompt_id")
        .annotate(count=Count("pk"))
        .values("count")
    )
    Prompt.objects.filter(state=PromptState.COLLECTING, pk__in=answers.values("prompt_id")).update(
        open_slots=Greatest(F("open_slots") - per_prompt, Value(0))
    )


def _work_of(user: User) -> Q:
    """The prompts a ban or an unban of ``user`` changes: every prompt they answered or ranked
    (slots, consensus). Locked, with their answers after them, a prompt cannot complete
    meanwhile with a consensus that still counts them."""
    answered = Response.objects.filter(author=user).values("prompt_id")
    ranked = Ranking.objects.filter(ranker=user).values("prompt_id")
    return Q(pk__in=answered) | Q(pk__in=ranked)


def _lock_work_of(user: User) -> None:
    """Lock what an unban of ``user`` changes, in the dispatcher's order, each kind by id (a
    banned person holds no task): ``_work_of``, then their answers. Precondition: the caller
    holds the user's row lock."""
    list(
        Prompt.objects.select_for_update(no_key=True)
        .filter(_work_of(user))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    list(
        Response.objects.select_for_update(no_key=True)
        .filter(author=user)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _places_of_answers(user: User) -> tuple[QuerySet[Response], Subquery]:
    """The answers of ``user`` that hold a place in their prompt's collection when the user
    is not banned (``flow.holds_place``), and SQL for how many of them the prompt of the
    outer query (an UPDATE of prompts that have some) has."""
    answers = Response.objects.filter(
        author=user,
        source=Source.HUMAN,
        state__in=(ResponseState.REVIEW, ResponseState.ACCEPTED),
        withdrawn_at__isnull=True,
        hidden_at__isnull=True,
    )
    per_prompt = (
        answers.filter(prompt_id=OuterRef("pk"))
        .order_by()
        .values("prompt_id")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return answers, Subquery(per_prompt)


def _give_back_places_of_answers(user: User) -> None:
    """A banned author's answers leave the collection as hidden ones do (they no longer count
    toward a prompt's target, and nobody is handed them to review): each collecting prompt
    they answered gets the place back, in one statement; only for the answers that still held
    one (one withdrawn, hidden or rejected gave it back then). One place per answer: one per
    prompt for a volunteer (one live answer per author and prompt, a constraint), as many as
    it holds of a maintainer's imported answers (which that constraint leaves out). An unban
    takes them back as far as they are still open (``_take_back_places_of_answers``).
    Precondition: the caller holds the prompts' row locks."""
    answers, per_prompt = _places_of_answers(user)
    Prompt.objects.filter(state=PromptState.COLLECTING, pk__in=answers.values("prompt_id")).update(
        open_slots=F("open_slots") + per_prompt
    )


def _take_back_places_of_answers(user: User) -> None:
    """An unbanned author's answers that hold a place count again: each collecting prompt they
    answered takes back the places the ban gave, in one statement, as far as they are still
    open (never below 0 open slots; when replacements have taken them, the prompt keeps the
    extra answers, as for a restored answer). Precondition: the caller holds the prompts' row
    locks (``_lock_work_of``)."""
    answers, per_prompt = _places_of_answers(user)
    Prompt.objects.filter(state=PromptState.COLLECTING, pk__in=answers.values("prompt_id")).update(
        open_slots=Greatest(F("open_slots") - per_prompt, Value(0))
    )


def _recount_for(user: User) -> None:
    """The consensus of every prompt this user ranked or answered, now with or without their
    votes and answers, all at once. Precondition: the caller holds the prompts' row locks
    (``_lock_work_of``)."""
    answered = Response.objects.filter(author=user).values("prompt_id")
    ranked = Ranking.objects.filter(ranker=user).values("prompt_id")
    consensus_refresh(
        prompt_ids=Prompt.objects.filter(Q(pk__in=answered) | Q(pk__in=ranked)).values("pk")
    )
