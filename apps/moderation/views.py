"""Pages: the flag form under each prompt and answer, the moderators' queue, what they hid
or banned, and the audit log."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from apps.accounts import roles
from apps.accounts.models import User
from apps.accounts.permissions import licence_required
from apps.accounts.selectors import request_user
from apps.collection import selectors as collection_selectors
from apps.collection.models import Prompt, Response
from apps.moderation import selectors, services


def moderator_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not roles.is_moderator(request.user):
            raise PermissionDenied(_("Only moderators may open this page."))
        return view(request, *args, **kwargs)

    return wrapper


@licence_required
@require_POST
def flag(request: HttpRequest, kind: str, target_id: int) -> HttpResponse:
    user = request_user(request)
    target: Prompt | Response
    if kind == "prompt":
        target = collection_selectors.prompt_get_for_user(user=user, prompt_id=target_id)
        back = reverse("collection:prompt-detail", args=[target.pk])
    elif kind == "response":
        target = collection_selectors.response_get_for_user(user=user, response_id=target_id)
        back = reverse("collection:prompt-detail", args=[target.prompt_id])
    else:
        raise Http404
    try:
        services.flag_create(
            reporter=user,
            target=target,
            reason=request.POST.get("reason", ""),
            note=request.POST.get("note", ""),
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Thank you. A moderator will look at it."))
    return redirect(back)


@moderator_required
def queue(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "moderation/queue.html",
        {"items": selectors.moderation_queue()},
    )


@moderator_required
def hidden(request: HttpRequest) -> HttpResponse:
    """What moderators took down, to put back: hidden prompts and answers, banned users."""
    return render(
        request,
        "moderation/hidden.html",
        {
            "prompts": selectors.hidden_prompts(),
            "responses": selectors.hidden_responses(),
            "banned": selectors.banned_users(),
        },
    )


@moderator_required
def log(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.audit_log(), 50).get_page(request.GET.get("page"))
    return render(request, "moderation/log.html", {"page": page})


# Where an action sends the moderator back to: the page its form was on.
BACK = {"queue": "moderation:queue", "hidden": "moderation:hidden"}


@moderator_required
@require_POST
def act(request: HttpRequest, kind: str, target_id: int, action: str) -> HttpResponse:
    moderator = request_user(request)
    reason = request.POST.get("reason", "")
    try:
        if kind == "user":
            subject = User.objects.filter(pk=target_id).first()
            if subject is None or action not in ("ban", "unban"):
                raise Http404
            fn = services.user_ban if action == "ban" else services.user_unban
            fn(moderator=moderator, user=subject, reason=reason)
        else:
            target = selectors.flag_target(kind, target_id)
            if target is None:
                raise Http404
            if action == "halt" and isinstance(target, Prompt):
                services.prompt_halt(moderator=moderator, prompt=target, reason=reason)
            elif action == "hide":
                services.content_hide(moderator=moderator, target=target, reason=reason)
            elif action == "restore":
                services.content_restore(moderator=moderator, target=target, reason=reason)
            elif action == "dismiss":
                services.flags_dismiss(moderator=moderator, target=target, reason=reason)
            else:
                raise Http404
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except PermissionDenied as exc:
        # A refusal about the target (banning a maintainer) is shown like a missing reason,
        # on the page the moderator came from; the page itself is theirs to use.
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Done; it is in the audit log."))
    return redirect(BACK.get(request.POST.get("back", ""), "moderation:queue"))
