"""Flags, hiding, halting and bans. Every moderator action is written to the audit log in
the same transaction as the action itself."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts import roles
from apps.accounts.models import User
from apps.assignments.models import Assignment, AssignmentState
from apps.assignments.services import assignments_release_for_user
from apps.collection import flow
from apps.collection.models import Prompt, PromptState, Response, ResponseState
from apps.collection.policy import current_policy
from apps.feedback.models import Ranking
from apps.feedback.services import consensus_refresh
from apps.moderation.models import Flag, FlagReason, ModerationAction

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
    """Hide a target; a hidden answer frees its place in a collecting prompt. Open slots stay
    as they are (the dispatcher skips hidden targets), so a restore needs no recount."""
    target.hidden_at = timezone.now()
    target.save(update_fields=["hidden_at", "updated_at"])
    if isinstance(target, Response) and target.state != ResponseState.REJECTED:
        flow.give_back_prompt_slot(prompt_id=target.prompt_id, phase=PromptState.COLLECTING)


def _lock(target: Target) -> Target:
    model = type(target)
    return model.objects.select_for_update(no_key=True).get(pk=target.pk)


@transaction.atomic
def flag_create(*, reporter: User, target: Target, reason: Any, note: Any = "") -> Flag:
    """Flag a prompt or answer. At the policy's count of open flags from different people it
    is hidden until a moderator looks at it."""
    if reason not in FlagReason.values:
        raise ValidationError(
            {"reason": [_("Choose a reason: %(r)s.") % {"r": ", ".join(FlagReason.values)}]}
        )
    if not isinstance(note, str) or len(note) > MAX_REASON:
        raise ValidationError({"note": [_("Keep the note under 1000 characters.")]})
    if target.author_id == reporter.pk:
        raise ValidationError(_("You cannot flag your own work; withdraw it instead."))
    target = _lock(target)
    try:
        with transaction.atomic():
            flag = Flag.objects.create(
                reporter=reporter, reason=reason, note=note.strip(), **_target_kwargs(target)
            )
    except IntegrityError:
        raise ValidationError(
            _("You have already flagged this; a moderator will look at it.")
        ) from None
    open_flags = Flag.objects.filter(resolved_at__isnull=True, **_target_kwargs(target)).count()
    if target.hidden_at is None and open_flags >= current_policy().auto_hide_flags:
        _hide(target)
        _log(
            None,
            ModerationAction.Action.AUTO_HIDE,
            target=target,
            reason=_("%(n)d flags") % {"n": open_flags},
        )
    return flag


def _resolve_flags(target: Target, moderator: User) -> None:
    Flag.objects.filter(resolved_at__isnull=True, **_target_kwargs(target)).update(
        resolved_at=timezone.now(), resolved_by=moderator
    )


@transaction.atomic
def content_hide(*, moderator: User, target: Target, reason: Any) -> Target:
    _check_moderator(moderator)
    clean = _check_reason(reason, required=True)
    target = _lock(target)
    if target.hidden_at is None:
        _hide(target)
        if isinstance(target, Response):
            consensus_refresh(prompt_ids=[target.prompt_id])
    _resolve_flags(target, moderator)
    _log(moderator, ModerationAction.Action.HIDE, target=target, reason=clean)
    return target


@transaction.atomic
def content_restore(*, moderator: User, target: Target, reason: Any = "") -> Target:
    """Show a hidden target again and close its flags. A restored answer does not take a
    slot back: the prompt may already have collected a replacement."""
    _check_moderator(moderator)
    clean = _check_reason(reason, required=False)
    target = _lock(target)
    target.hidden_at = None
    target.save(update_fields=["hidden_at", "updated_at"])
    if isinstance(target, Response):
        consensus_refresh(prompt_ids=[target.prompt_id])
    _resolve_flags(target, moderator)
    _log(moderator, ModerationAction.Action.RESTORE, target=target, reason=clean)
    return target


@transaction.atomic
def flags_dismiss(*, moderator: User, target: Target, reason: Any = "") -> None:
    _check_moderator(moderator)
    clean = _check_reason(reason, required=False)
    _resolve_flags(target, moderator)
    _log(moderator, ModerationAction.Action.DISMISS, target=target, reason=clean)


@transaction.atomic
def prompt_halt(*, moderator: User, prompt: Prompt, reason: Any) -> Prompt:
    """Stop a prompt for good: no more tasks, open ones are released."""
    _check_moderator(moderator)
    clean = _check_reason(reason, required=True)
    prompt = Prompt.objects.select_for_update(no_key=True).get(pk=prompt.pk)
    flow.prompt_transition(prompt=prompt, to=PromptState.HALTED, policy=current_policy())
    Assignment.objects.filter(prompt=prompt, state=AssignmentState.ACTIVE).update(
        state=AssignmentState.RELEASED, finished_at=timezone.now()
    )
    _log(moderator, ModerationAction.Action.HALT, target=prompt, reason=clean)
    return prompt


@transaction.atomic
def user_ban(*, moderator: User, user: User, reason: Any) -> User:
    """Ban a user: no tasks, no submissions; their open tasks are released at once. Their
    prompts and answers leave public view, the task pool, rank sets and consensus until the
    ban is lifted (they and moderators still see them); a collecting prompt they answered
    collects another answer in the place of theirs, as for a hidden answer."""
    _check_moderator(moderator)
    clean = _check_reason(reason, required=True)
    if user.pk == moderator.pk:
        raise ValidationError(_("You cannot ban yourself."))
    if roles.is_moderator(user) and not moderator.is_superuser:
        # Name the role the person holds: every maintainer is also a moderator.
        if roles.is_maintainer(user):
            raise PermissionDenied(_("Only an administrator may ban a maintainer."))
        raise PermissionDenied(_("Only an administrator may ban a moderator."))
    user = User.objects.select_for_update(no_key=True).get(pk=user.pk)
    newly = user.banned_at is None
    user.banned_at = timezone.now()
    user.ban_reason = clean
    user.save(update_fields=["banned_at", "ban_reason"])
    assignments_release_for_user(user=user)
    if newly:
        _give_back_places_of_answers(user)
    _recount_for(user)
    _log(moderator, ModerationAction.Action.BAN, subject=user, reason=clean)
    return user


@transaction.atomic
def user_unban(*, moderator: User, user: User, reason: Any = "") -> User:
    _check_moderator(moderator)
    clean = _check_reason(reason, required=False)
    user = User.objects.select_for_update(no_key=True).get(pk=user.pk)
    user.banned_at = None
    user.ban_reason = ""
    user.save(update_fields=["banned_at", "ban_reason"])
    _recount_for(user)
    _log(moderator, ModerationAction.Action.UNBAN, subject=user, reason=clean)
    return user


def _give_back_places_of_answers(user: User) -> None:
    """A banned author's answers leave the collection as hidden ones do (they no longer count
    toward a prompt's target, and nobody is handed them to review): each collecting prompt
    they answered gets the place back. (An unban takes none back, as a restore does not: the
    prompt may have collected a replacement.)"""
    answered = Response.objects.filter(
        author=user,
        state__in=(ResponseState.REVIEW, ResponseState.ACCEPTED),
        withdrawn_at__isnull=True,
        hidden_at__isnull=True,
        prompt__state=PromptState.COLLECTING,
    ).values_list("prompt_id", flat=True)
    for prompt_id in list(answered):
        flow.give_back_prompt_slot(prompt_id=prompt_id, phase=PromptState.COLLECTING)


def _recount_for(user: User) -> None:
    """The consensus of every prompt this user ranked or answered, now with or without their
    votes and answers."""
    ranked = Ranking.objects.filter(ranker=user).values_list("prompt_id", flat=True)
    answered = Response.objects.filter(author=user).values_list("prompt_id", flat=True)
    consensus_refresh(prompt_ids=[*ranked, *answered])
