"""Pages: the flag form under each prompt and answer, the moderators' queue, what they hid
or banned, and the audit log."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_POST

from apps.accounts import roles
from apps.accounts.models import User
from apps.accounts.permissions import licence_required
from apps.accounts.selectors import request_user
from apps.collection import flow
from apps.collection import selectors as collection_selectors
from apps.collection.models import Prompt, PromptState, Response
from apps.core.throttling import throttle, throttled_page
from apps.feedback.models import LABELS, Review
from apps.moderation import selectors, services


@dataclass(frozen=True)
class Kept:
    """A refused action, shown on the page its form was on: the error, and what the moderator
    typed, put back into that form (the one for ``kind`` ``pk``: a queue item, a hidden
    prompt or answer, a banned user)."""

    error: str
    status: int
    kind: str
    pk: int
    reason: str
    # The address of the page it was on, which the browser shows instead of the action's.
    address: str


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
    # Counted with the API's reports: one budget a person.
    if (limited := throttle(request, "flags")) is not None:
        return throttled_page(
            request,
            limited,
            what_now=_("Your report was not sent."),
            back_url=back,
            back_label=_("Back to the prompt"),
        )
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


# Items per page. A queue item shows the whole prompt or answer, so pages stay short.
QUEUE_PER_PAGE = 20
HIDDEN_PER_PAGE = 20
LOG_PER_PAGE = 50
# The hidden page's three lists, each paged on its own: list -> its page's query parameter.
HIDDEN_PAGES = {"prompts": "prompt_page", "responses": "answer_page", "banned": "banned_page"}


@moderator_required
def queue(request: HttpRequest) -> HttpResponse:
    return _render_queue(request)


def _query(request: HttpRequest) -> str:
    """The page's query string (which pages are shown), for its action forms to carry: the
    action then comes back to the same pages."""
    return f"?{request.GET.urlencode()}" if request.GET else ""


# The prompt states a halt can stop: the queue offers Halt only there (elsewhere it is refused).
HALTABLE = frozenset(a for a, b in flow.PROMPT_EDGES if b == PromptState.HALTED)


def _render_queue(request: HttpRequest, *, kept: Kept | None = None) -> HttpResponse:
    page = Paginator(selectors.moderation_queue(), QUEUE_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "moderation/queue.html",
        {"page": page, "query": _query(request), "kept": kept, "haltable": HALTABLE},
        status=kept.status if kept else 200,
    )


@moderator_required
def hidden(request: HttpRequest) -> HttpResponse:
    return _render_hidden(request)


def _render_hidden(request: HttpRequest, *, kept: Kept | None = None) -> HttpResponse:
    """What moderators took down, to put back: hidden prompts and answers, banned users."""
    lists = {
        "prompts": selectors.hidden_prompts(),
        "responses": selectors.hidden_responses(),
        "banned": selectors.banned_users(),
    }
    pages = {
        name: Paginator(rows, HIDDEN_PER_PAGE).get_page(request.GET.get(HIDDEN_PAGES[name]))
        for name, rows in lists.items()
    }
    for name, target in (("prompts", "prompt"), ("responses", "response")):
        pages[name].object_list = selectors.with_latest_hides(pages[name].object_list, target)
    return render(
        request,
        "moderation/hidden.html",
        {**pages, "params": HIDDEN_PAGES, "query": _query(request), "kept": kept},
        status=kept.status if kept else 200,
    )


@moderator_required
def log(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.audit_log(), LOG_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "moderation/log.html", {"page": page})


PEOPLE_PER_PAGE = 20
# The People page's ban filter (?status=), as its links name it. "All" stays the default: the
# page is where a moderator looks anyone up, and a search for someone banned must find them
# (with their Unban form); the filter the moderator picks stays in the address that every Ban
# form posts to and comes back to, so a cleanup on "Not banned" keeps a full page to ban
# from (spam QA: after 20 bans, page 1 had nobody left to ban).
PEOPLE_STATUS_LABELS = {
    "all": gettext_lazy("All"),
    "not_banned": gettext_lazy("Not banned"),
    "banned": pgettext_lazy("state of an account", "Banned"),
}
ROLE_LABELS = {
    "administrator": gettext_lazy("Administrator"),
    "maintainer": gettext_lazy("Maintainer"),
    "moderator": gettext_lazy("Moderator"),
    "volunteer": "",
}


@moderator_required
def people(request: HttpRequest) -> HttpResponse:
    return _render_people(request)


def _with_role(person: User, viewer: User) -> User:
    """Give ``person`` its role's label (none for a volunteer), from its prefetched groups,
    and whether ``viewer`` may ban it at all: a Ban button that can only be refused is not
    offered (QA). The service decides all the same."""
    role = ROLE_LABELS[selectors.role_of(person)]
    person.role = role  # type: ignore[attr-defined]
    person.bannable = person.pk != viewer.pk and (  # type: ignore[attr-defined]
        viewer.is_superuser or not role
    )
    return person


def _render_people(request: HttpRequest, *, kept: Kept | None = None) -> HttpResponse:
    """Every account, searched by name, e-mail or #id and filtered by ban, with its work and
    a Ban or Unban form: a spammer whose work nobody flagged yet can be banned here (operator
    QA: a ban was only offered from a flagged item in the queue)."""
    search = request.GET.get("q", "")[: selectors.PEOPLE_SEARCH_MAX_CHARS].strip()
    status = request.GET.get("status", "all")
    if status not in selectors.PEOPLE_STATUSES:
        status = "all"
    page = Paginator(selectors.people(search=search, status=status), PEOPLE_PER_PAGE).get_page(
        request.GET.get("page")
    )
    page.object_list = selectors.with_work_counts(list(page.object_list))
    viewer = request_user(request)
    for person in page.object_list:
        _with_role(person, viewer)
    here = reverse("moderation:people")
    filters = [
        {
            "url": here + "?" + urlencode({**({"q": search} if search else {}), "status": value}),
            "label": label,
            "current": value == status,
        }
        for value, label in PEOPLE_STATUS_LABELS.items()
    ]
    return render(
        request,
        "moderation/people.html",
        {
            "page": page,
            "search": search,
            "status": status,
            "filters": filters,
            "query": _query(request),
            "kept": kept,
        },
        status=kept.status if kept else 200,
    )


@moderator_required
def person(request: HttpRequest, user_id: int) -> HttpResponse:
    return _render_person(request, user_id)


def _render_person(request: HttpRequest, user_id: int, *, kept: Kept | None = None) -> HttpResponse:
    """One account's work, reviews, rankings and flags, the most recent of each with what
    became of it, and its Ban or Unban form: what a moderator weighs before a ban (spam QA:
    the People page showed two counts and no link)."""
    activity = selectors.person_activity(user_id)
    if activity is None:
        raise Http404
    person = _with_role(activity.person, request_user(request))
    labels = {f.name: f.verbose_name for f in Review._meta.fields if f.name in LABELS}
    for review in activity.reviews:
        review.target = selectors.review_target(review)  # type: ignore[attr-defined]
        review.label_names = [labels[n] for n in selectors.review_labels(review)]  # type: ignore[attr-defined]
    for flag in [*activity.flags_raised, *activity.flags_against]:
        flag.target = selectors.flag_target_of(flag)  # type: ignore[attr-defined]
    for ranking in activity.rankings:
        ranking.counted = selectors.ranking_counted(ranking, person)  # type: ignore[attr-defined]
    return render(
        request,
        "moderation/person.html",
        {"activity": activity, "person": person, "query": _query(request), "kept": kept},
        status=kept.status if kept else 200,
    )


def _render_person_back(request: HttpRequest, *, kept: Kept) -> HttpResponse:
    """A Ban or Unban refused on an account's page: that page again, with the refusal."""
    return _render_person(request, kept.pk, kept=kept)


# Where an action sends the moderator back to: the page its form was on. "person" (an
# account's page) is the account's own address: see _back_address.
BACK = {"queue": "moderation:queue", "hidden": "moderation:hidden", "people": "moderation:people"}
RENDER_BACK = {
    "queue": _render_queue,
    "hidden": _render_hidden,
    "people": _render_people,
    "person": _render_person_back,
}


def _back_address(request: HttpRequest, kind: str, target_id: int) -> str:
    """The address of the page the action's form was on, with its query string."""
    back = request.POST.get("back", "")
    if back == "person" and kind == "user":
        return reverse("moderation:person", args=[target_id]) + _query(request)
    return reverse(BACK.get(back, "moderation:queue")) + _query(request)


# Said when an action found nothing to do (a repeat): nothing changed and nothing was logged.
NOTHING_TO_DO = {
    "hide": gettext_lazy("Nothing to do: it was already hidden and had no open flag."),
    "dismiss": gettext_lazy("Nothing to do: it had no open flag."),
}


def _kept_form(request: HttpRequest, kind: str, target_id: int) -> tuple[str, int]:
    """Which form on the page the action came from. Queue forms name their item (a ban from
    the queue acts on the author, not on the item); other forms act on what they show."""
    item_kind, _sep, item_pk = request.POST.get("item", "").partition("-")
    if item_kind in ("prompt", "response") and item_pk.isdigit():
        return item_kind, int(item_pk)
    return kind, target_id


def _do(moderator: User, kind: str, target_id: int, action: str, reason: str) -> object:
    """Run the service the address names; what it returns (None: there was nothing to do)."""
    if kind == "user":
        subject = User.objects.filter(pk=target_id).first()
        if subject is None or action not in ("ban", "unban"):
            raise Http404
        fn = services.user_ban if action == "ban" else services.user_unban
        return fn(moderator=moderator, user=subject, reason=reason)
    target = selectors.flag_target(kind, target_id)
    if target is None:
        raise Http404
    if action == "halt" and isinstance(target, Prompt):
        return services.prompt_halt(moderator=moderator, prompt=target, reason=reason)
    if action == "hide":
        return services.content_hide(moderator=moderator, target=target, reason=reason)
    if action == "restore":
        return services.content_restore(moderator=moderator, target=target, reason=reason)
    if action == "dismiss":
        return services.flags_dismiss(moderator=moderator, target=target, reason=reason)
    raise Http404


@moderator_required
def act(request: HttpRequest, kind: str, target_id: int, action: str) -> HttpResponse:
    """Act, then go back to the page the form was on (its query string, which the form's
    address carries, says which page of the list). A refusal is shown on that page (400, or
    403 for one about the target, such as banning a maintainer), with the reason the
    moderator typed kept in its form: a reason too long is refused, never cut.

    A visit (GET) acts on nothing and goes to the page: the address of a refused action,
    opened again from the history or the address bar."""
    if request.method != "POST":
        return redirect(_list_address(request))
    reason = request.POST.get("reason", "")
    try:
        done = _do(request_user(request), kind, target_id, action, reason)
    except ValidationError as exc:
        return _refused(request, kind, target_id, " ".join(exc.messages), status=400)
    except PermissionDenied as exc:
        return _refused(request, kind, target_id, str(exc), status=403)
    if done is None:
        messages.info(request, NOTHING_TO_DO[action])
    elif isinstance(done, User):
        said = (
            _("%(name)s is banned; it is in the audit log.")
            if action == "ban"
            else _("%(name)s is no longer banned; it is in the audit log.")
        )
        messages.success(request, said % {"name": done.public_name})
    else:
        messages.success(request, _("Done; it is in the audit log."))
    return redirect(_back_address(request, kind, target_id))


def _list_address(request: HttpRequest) -> str:
    """The page an action address visited belongs to: the hidden page when its query names
    one of that page's lists, else the queue."""
    hidden = any(param in request.GET for param in HIDDEN_PAGES.values())
    return reverse("moderation:hidden" if hidden else "moderation:queue") + _query(request)


def _refused(
    request: HttpRequest, kind: str, target_id: int, error: str, *, status: int
) -> HttpResponse:
    form_kind, form_pk = _kept_form(request, kind, target_id)
    kept = Kept(
        error=error,
        status=status,
        kind=form_kind,
        pk=form_pk,
        reason=request.POST.get("reason", ""),
        address=_back_address(request, kind, target_id),
    )
    back = request.POST.get("back", "")
    if back == "person" and kind != "user":
        back = "queue"
    return RENDER_BACK.get(back, _render_queue)(request, kept=kept)
