"""The Contribute page: one task at a time from the dispatcher (apps.assignments.services).

``/contribute/`` shows the volunteer's open task, or takes the next one, and redirects to the
task's own page, ``/contribute/<id>/``, so a reload never takes another. That page's form
POSTs to itself; skipping POSTs to ``/contribute/<id>/skip/``. ``?type=`` (any, review,
respond, rank, write) picks the kind and is kept from task to task.

Work the task can no longer take (it expired, was skipped in another tab, or its prompt moved
on) is never dropped: the page comes back with it and says why, and an answer or a new prompt
gets a form that sends it through the prompt's Answer page or the Write page instead. The
volunteer's own task opened again after it expired or was skipped shows the same page, the work
taken from the draft their browser kept of it.
"""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.models import User
from apps.accounts.permissions import licence_required
from apps.accounts.selectors import request_user
from apps.assignments import forms, selectors, services
from apps.assignments.models import Assignment, AssignmentState, TaskType
from apps.collection import forms as collection_forms
from apps.collection import selectors as collection_selectors
from apps.collection import services as collection_services
from apps.collection.categories import GUIDANCE
from apps.collection.models import Category
from apps.collection.policy import current_policy
from apps.core import idempotency
from apps.core.languages import common_languages
from apps.core.throttling import Throttled, kept_as_typed, throttle, throttled_page

# Verbs, as Community's links to them: in Spanish "Revisar", not the noun "Revisión". (The
# context is spelt out each time: makemessages reads only a literal.)
KINDS = [
    (services.ANY, gettext_lazy("Any task")),
    ("review", pgettext_lazy("a link to take a task of this kind", "Review")),
    ("respond", pgettext_lazy("a link to take a task of this kind", "Answer")),
    ("rank", pgettext_lazy("a link to take a task of this kind", "Rank")),
    ("write", pgettext_lazy("a link to take a task of this kind", "Write")),
]
EMPTY_TITLES: dict[str, Any] = {
    services.ANY: gettext_lazy("No task is waiting right now."),
    "review": gettext_lazy("Nothing is waiting for review right now."),
    "respond": gettext_lazy("No prompt is waiting for an answer right now."),
    "rank": gettext_lazy("No answers are waiting to be ranked right now."),
    "write": gettext_lazy("Writing is closed right now."),
}
THANKS: dict[str, Any] = {
    TaskType.WRITE: gettext_lazy("Thank you! Your prompt and answer are now in review."),
    TaskType.REVIEW_PROMPT: gettext_lazy("Thank you! Your review is saved."),
    TaskType.REVIEW_RESPONSE: gettext_lazy("Thank you! Your review is saved."),
    TaskType.RESPOND: gettext_lazy("Thank you! Your answer is now in review."),
    TaskType.RANK: gettext_lazy("Thank you! Your ranking is saved."),
}
HEADINGS: dict[str, Any] = {
    TaskType.REVIEW_PROMPT: gettext_lazy("Review this prompt"),
    TaskType.REVIEW_RESPONSE: gettext_lazy("Review this answer"),
    TaskType.RESPOND: gettext_lazy("Answer this prompt"),
    TaskType.RANK: gettext_lazy("Rank the answers"),
}


def _kind(request: HttpRequest) -> str:
    kind = request.GET.get("type", services.ANY)
    return kind if kind in services.REQUESTABLE else services.ANY


def _with_kind(url: str, kind: str) -> str:
    return url if kind == services.ANY else f"{url}?{urlencode({'type': kind})}"


def _contribute_url(kind: str) -> str:
    return _with_kind(reverse("assignments:contribute"), kind)


def _task_url(assignment_id: int, kind: str) -> str:
    return _with_kind(reverse("assignments:task", args=[assignment_id]), kind)


def _run_once(request: HttpRequest, key: str, action: Any) -> tuple[int, Any, bool]:
    """A double-clicked or re-sent form does its work once; the retry replays the result.
    What was sent is part of the key, as on the Write page (``form_once``): the same form sent
    again with other content is a new request, which the task refuses as already sent, with
    the new content shown back (crash QA: "Thank you!" replayed, and the edit dropped)."""
    if not key:
        status, data = action()
        return status, data, False
    return idempotency.form_once(request, key, action)


def _open_tasks(user: User, *, besides: int | None = None) -> list[Assignment]:
    return [
        a
        for a in selectors.active_tasks_for_user(user=user).order_by("created_at")
        if a.pk != besides
    ]


@require_GET  # it takes a task: not on HEAD, which is meant to change nothing
@licence_required
def contribute(request: HttpRequest) -> HttpResponse:
    """Go to the volunteer's open task of the chosen kind, or take the next one."""
    user = request_user(request)
    kind = _kind(request)
    assignment = services.task_held(user=user, kind=kind)
    if assignment is None:
        # Taking a task counts as the API's does; going back to one held does not.
        if (limited := throttle(request, "tasks_next")) is not None:
            return throttled_page(
                request,
                limited,
                what_now=_("No task was taken."),
                back_url=_contribute_url(kind),
                back_label=_("Try again"),
            )
        try:
            assignment = services.task_next(user=user, kind=kind, unless_held=True)
        except services.NoTaskAvailable:
            return _render_empty(request, user, kind, title=EMPTY_TITLES[kind])
        except services.TaskError as exc:
            messages.error(request, exc.message)
            return _render_empty(request, user, kind, title=None)
    return redirect(_task_url(assignment.pk, kind))


def _render_empty(request: HttpRequest, user: User, kind: str, *, title: Any) -> HttpResponse:
    return render(
        request,
        "assignments/empty.html",
        {"kind": kind, "kinds": KINDS, "title": title, "open_tasks": _open_tasks(user)},
    )


@licence_required
def task(request: HttpRequest, task_id: int) -> HttpResponse:
    """Show one open task (GET) or submit it (POST)."""
    user = request_user(request)
    kind = _kind(request)
    assignment = selectors.active_tasks_for_user(user=user).filter(pk=task_id).first()
    if request.method == "POST":
        return _submit(request, user, task_id, assignment, kind)
    if assignment is None:
        held = selectors.assignment_get_for_user(user=user, assignment_id=task_id)
        if held is not None and held.state != AssignmentState.SUBMITTED:
            # Their own task, gone before it was sent (the tab slept, it was skipped in another
            # tab): the work goes on from the draft this browser kept of it, as after a POST.
            gone = _gone_before_sent(held) or ""
            return _render_unsent(request, user, held, gone, kind, from_draft=True)
        messages.error(
            request,
            _("That task is no longer open to you: it was submitted, skipped or it expired."),
        )
        return redirect(_contribute_url(kind))
    return _render_task(request, user, assignment, _form(assignment, None), kind)


def _form(assignment: Assignment, data: Any) -> forms.TaskForm:
    if assignment.task_type == TaskType.RANK:
        ids = [a["id"] for a in _shuffled_answers(assignment, selectors.task_payload(assignment))]
        return forms.RankTaskForm(data, response_ids=ids)
    return forms.FORMS[assignment.task_type](data)


def _submit(
    request: HttpRequest, user: User, task_id: int, assignment: Assignment | None, kind: str
) -> HttpResponse:
    if (limited := throttle(request, "tasks_submit")) is not None:
        return _render_throttled_submit(request, user, task_id, assignment, kind, limited)
    key = request.POST.get("idempotency_key", "")[: idempotency.MAX_KEY_LENGTH]
    form: forms.TaskForm | None = None
    payload: dict[str, Any] = {}
    if assignment is not None:
        form = _form(assignment, request.POST)
        if not form.is_valid():
            return _render_task(request, user, assignment, form, kind)
        payload = form.payload()
    # A task no longer open (someone else's, done, skipped, expired) is still sent on: the
    # service says why, and a double submit of one that went through replays its success.

    def submit() -> tuple[int, Any]:
        done = services.task_submit(user=user, assignment_id=task_id, payload=payload)
        return 200, {"task_id": done.pk, "type": done.task_type, "result": done.result}

    try:
        _status, result, _replayed = _run_once(request, key, submit)
    except services.TaskConflict as exc:
        held = assignment or selectors.assignment_get_for_user(user=user, assignment_id=task_id)
        typed = held is not None and held.task_type in (TaskType.RESPOND, TaskType.WRITE)
        if held is None or (held.state == AssignmentState.SUBMITTED and not typed):
            messages.error(request, exc.message)
            return redirect(_contribute_url(kind))
        if held.state == AssignmentState.SUBMITTED:
            # Sent before with other text (back, edit, send): what was sent first stands; this
            # text comes back, not saved, to copy.
            return _render_unsent(request, user, held, str(SENT_BEFORE), kind)
        return _render_unsent(request, user, held, exc.message, kind)
    except services.TaskError as exc:
        messages.error(request, exc.message)
        return redirect(_contribute_url(kind))
    except idempotency.KeyReused as exc:
        messages.error(request, str(exc.detail))
        return redirect(_contribute_url(kind))
    except ValidationError as exc:
        if form is None or assignment is None:  # not reached: the service refuses first
            messages.error(request, " ".join(exc.messages))
            return redirect(_contribute_url(kind))
        form.add_service_errors(exc)
        return _render_task(request, user, assignment, form, kind)
    messages.success(request, THANKS.get(result.get("type", ""), _("Thank you!")))
    return redirect(_contribute_url(kind))


def _render_throttled_submit(
    request: HttpRequest,
    user: User,
    task_id: int,
    assignment: Assignment | None,
    kind: str,
    limited: Throttled,
) -> HttpResponse:
    """A submission over the limit: nothing is sent. The task page comes back with the work
    as it was chosen or typed, to send again when the wait is over."""
    if assignment is None:
        return throttled_page(
            request,
            limited,
            what_now=_("Nothing was sent."),
            back_url=_task_url(task_id, kind),
            back_label=_("Back to the task"),
        )
    form = _form(assignment, request.POST)
    form.is_valid()  # for the order a ranking was given in
    kept_as_typed(request, limited)
    return limited.retry_after(_render_task(request, user, assignment, form, kind))


# The fields of the Write page's form that a write task posts under the same names.
_WRITE_FIELDS = ("category", "instruction", "context", "response", "language")


def _answer_elsewhere(user: User, assignment: Assignment) -> tuple[str | None, str]:
    """Where an answer written for a task that can no longer take it may still go: the
    prompt's own Answer page (its URL), or None with the reason it cannot.

    Read without a lock, as the Answer page reads it before it offers its form: that page's
    service takes one of the prompt's open slots under the prompt's lock, so the prompt never
    gets more answers than the policy asks for."""
    try:
        prompt = collection_selectors.prompt_get_for_user(user=user, prompt_id=assignment.prompt_id)
    except Http404:
        return None, _("This prompt is not collecting answers.")
    if collection_selectors.response_by_author_on_prompt(prompt=prompt, user=user) is not None:
        return None, _("You have already answered this prompt.")
    if (refusal := collection_services.answer_refusal(prompt)) is not None:
        return None, refusal
    return reverse("collection:answer", args=[prompt.pk]), ""


def _gone_before_sent(assignment: Assignment) -> str | None:
    """Why ``assignment`` could not take the work, when it expired or was skipped: said
    without the service's "take a new one", for a page that offers another way to send it."""
    if assignment.state == AssignmentState.SKIPPED:
        return _("This task was skipped before it was sent.")
    if assignment.state == AssignmentState.RELEASED:
        return _("This task was taken back: what it was for is no longer open.")
    if assignment.state == AssignmentState.EXPIRED or (
        assignment.state == AssignmentState.ACTIVE and assignment.expires_at <= timezone.now()
    ):
        return _("This task expired before it was sent.")
    return None


SENT_BEFORE = gettext_lazy(
    "This task was sent before, as it was then: what is below was not saved. Work in review "
    "can still be edited from My contributions."
)


def _render_unsent(
    request: HttpRequest,
    user: User,
    assignment: Assignment,
    reason: str,
    kind: str,
    *,
    from_draft: bool = False,
) -> HttpResponse:
    """The task refused the volunteer's work (``reason``): show the work again, unsaved, so
    nothing they typed or chose is lost. A new prompt goes to the Write page, which needs no
    task; an answer goes to the prompt's Answer page while the prompt can take one from them;
    reviews and rankings need their task, so they are shown as they were chosen.

    ``from_draft``: the volunteer opened the gone task (a GET), so the work is not in the
    request; the page's form takes it from the browser's draft of the task instead (410, as
    the task is gone for good; a refused POST is 409)."""
    if assignment.state == AssignmentState.RELEASED and assignment.task_type != TaskType.RESPOND:
        # Taken back because what it was for left (withdrawn, hidden, its author banned): it
        # is not shown again, and a review or a ranking keeps nothing to copy.
        messages.error(request, services.TAKEN_BACK)
        return redirect(_contribute_url(kind))
    # Where the work can still be sent (the Write page, the prompt's Answer page), the page
    # says only why the task could not take it, not to take a new one.
    sendable_reason = _gone_before_sent(assignment) or reason
    if assignment.state == AssignmentState.ACTIVE and assignment.expires_at <= timezone.now():
        # Give the overdue task's slot back now rather than at the next sweep, so that the
        # Answer page can take the answer into that very slot.
        services.assignments_expire()
    active = assignment.state == AssignmentState.ACTIVE and assignment.expires_at > timezone.now()
    task_path = reverse("assignments:task", args=[assignment.pk])
    context: dict[str, Any] = {
        "assignment": assignment,
        "kind": kind,
        "kinds": KINDS,
        "reason": reason,
        "task_label": assignment.get_task_type_display(),
        "heading": HEADINGS.get(assignment.task_type, ""),
        "contribute_url": _contribute_url(kind),
        "unsent": True,
        # The task page's draft of this work (static/js/hearth.js), now kept under the page
        # that takes it instead.
        "draft_replaces": f"{assignment.task_type}:{task_path}",
        "from_draft": from_draft,
    }
    status = 410 if from_draft else 409
    if active:
        # Still held (its prompt moved on): the volunteer lets it go with the skip form.
        context.update(
            skip_form=forms.SkipForm(),
            skip_url=_with_kind(reverse("assignments:skip", args=[assignment.pk]), kind),
        )
    if assignment.task_type == TaskType.WRITE:
        initial = {name: request.POST.get(name, "") for name in _WRITE_FIELDS}
        if from_draft:
            initial["language"] = collection_selectors.default_language_for(user=user)
        context.update(
            reason=sendable_reason,
            form=collection_forms.WriteForm(initial=initial),
            form_action=reverse("collection:write"),
            guidance=GUIDANCE,
            languages=common_languages(),
            what_now=_(
                "Your draft, if this browser kept one, is below. The Write page takes it "
                "without a task: send it from here."
            )
            if from_draft
            else _(
                "Nothing was saved yet, but your prompt and answer are below. The Write page "
                "takes them without a task: send them from here."
            ),
        )
        return render(request, "assignments/unsent_write.html", context, status=status)
    payload = selectors.task_payload(assignment)
    if assignment.state == AssignmentState.RELEASED:
        payload["prompt"] = None  # what it was for has left: only the answer typed comes back
    prompt = payload["prompt"]
    context.update(
        task=payload, category_label=Category(prompt["category"]).label if prompt else ""
    )
    if assignment.task_type == TaskType.RESPOND:
        text = request.POST.get("response", "")
        answer_url, refusal = _answer_elsewhere(user, assignment)
        if answer_url is not None:
            context.update(
                reason=sendable_reason,
                answer_url=answer_url,
                answer_form=collection_forms.AnswerForm(initial={"text": text}),
                what_now=_(
                    "Your draft, if this browser kept one, is below, and this prompt still "
                    "takes answers: send it from here."
                )
                if from_draft
                else _(
                    "Nothing was saved yet, but your answer is below and this prompt still "
                    "takes answers: send it from here."
                ),
            )
        else:
            context.update(
                text=text,
                what_now=(
                    _(
                        "%(refusal)s Your draft, if this browser kept one, is below: copy it "
                        "to keep it."
                    )
                    if from_draft
                    else _(
                        "%(refusal)s Your answer was not saved: it is below, copy it to keep it."
                    )
                )
                % {"refusal": refusal},
            )
        return render(request, "assignments/unsent.html", context, status=status)
    form = _form(assignment, None if from_draft else request.POST)
    form.is_valid()  # for the order a ranking was given in
    context["form"] = form
    if assignment.task_type == TaskType.RANK:
        context.update(_rank_context(assignment, payload, form))
    else:
        context.update(_review_context(form, assignment.task_type))
    context["what_now"] = (
        _("Nothing from it was saved, and this browser keeps no draft of a review or a ranking.")
        if from_draft
        else _("What you chose is below; it was not saved.")
    )
    return render(request, "assignments/unsent.html", context, status=status)


@login_required
@require_POST
def skip(request: HttpRequest, task_id: int) -> HttpResponse:
    """Give the task back; the dispatcher will not offer the same target of that type again."""
    kind = _kind(request)
    # Counted as the API's skip is, with submissions.
    if (limited := throttle(request, "tasks_submit")) is not None:
        return throttled_page(
            request,
            limited,
            what_now=_("The task was not skipped: it is still yours."),
            back_url=_task_url(task_id, kind),
            back_label=_("Back to the task"),
        )
    form = forms.SkipForm(request.POST)
    if not form.is_valid():
        messages.error(
            request,
            _("The skip could not be read: %(errors)s")
            % {"errors": " ".join(str(e) for errors in form.errors.values() for e in errors)},
        )
        return redirect(_task_url(task_id, kind))

    def give_back() -> tuple[int, Any]:
        done = services.task_skip(
            user=request_user(request), assignment_id=task_id, reason=form.reason_text()
        )
        return 200, {"task_id": done.pk, "type": done.task_type}

    try:
        _status, result, _replayed = _run_once(
            request, form.cleaned_data["idempotency_key"], give_back
        )
    except services.TaskError as exc:
        messages.error(request, exc.message)
    except idempotency.KeyReused as exc:
        messages.error(request, str(exc.detail))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if result.get("type") == TaskType.WRITE:
            # A write task has no prompt: nobody else gets it and nothing is kept from the
            # volunteer. They are done writing for now, and the Write tab would only hand them
            # the same empty form again.
            messages.info(request, _("Skipped."))
            kind = services.ANY
        else:
            messages.info(request, _("Skipped. You will not get that one again."))
    return redirect(_contribute_url(kind))


# The guidelines' section for each kind of task, which its page links to.
GUIDELINES_SECTION = {
    TaskType.WRITE: "prompts",
    TaskType.RESPOND: "answers",
    TaskType.REVIEW_PROMPT: "reviews",
    TaskType.REVIEW_RESPONSE: "reviews",
    TaskType.RANK: "ranking",
}


def guidelines(request: HttpRequest) -> HttpResponse:
    """The contributor guidelines: the guidance every kind of task shows, in one public page,
    with the current policy's numbers for what happens to a contribution."""
    policy = current_policy()
    return render(
        request,
        "assignments/guidelines.html",
        {
            "guidance": GUIDANCE,
            "labels": forms.LABEL_CHOICES,
            "quality": forms.QUALITY_CHOICES,
            "answer_help": forms.ANSWER_HELP,
            "skip_reasons": [label for value, label in forms.SKIP_REASONS if value],
            "threshold": _acceptance_percent(policy),
            "policy": policy,
        },
    )


def _shuffled_answers(assignment: Assignment, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """The answers to rank in an order fixed per task, so the first-written answer (often the
    prompt author's) does not always sit on top; letters name them in that order."""
    answers = list(payload["responses"])
    random.Random(assignment.pk).shuffle(answers)
    return [
        {**answer, "letter": chr(ord("A") + n) if n < 26 else str(n + 1)}
        for n, answer in enumerate(answers)
    ]


def _rank_context(
    assignment: Assignment, payload: dict[str, Any], form: forms.TaskForm
) -> dict[str, Any]:
    answers = _shuffled_answers(assignment, payload)
    order = getattr(form, "cleaned_data", {}).get("order")
    if order and sorted(order) == sorted(a["id"] for a in answers):
        # Re-shown after a refusal: keep the order the volunteer gave.
        answers.sort(key=lambda a: order.index(a["id"]))
    for answer in answers:
        answer["field"] = form[f"rank_{answer['id']}"]
    return {"answers": answers, "count": len(answers)}


def _review_context(form: forms.TaskForm, task_type: str) -> dict[str, Any]:
    chosen = set(form["labels"].value() or []) if form.is_bound else set()
    labels = [
        {"name": name, "label": label, "help": help_text, "checked": name in chosen}
        for name, label, help_text in forms.label_choices(task_type)
    ]
    return {"labels": labels, "threshold": _acceptance_percent(current_policy())}


def _acceptance_percent(policy: Any) -> int:
    """The policy's acceptance threshold as the review form and the guidelines word it."""
    return round(float(policy.acceptance_threshold) * 100)


def _render_task(
    request: HttpRequest, user: User, assignment: Assignment, form: forms.TaskForm, kind: str
) -> HttpResponse:
    payload = selectors.task_payload(assignment)
    prompt = payload["prompt"]
    context: dict[str, Any] = {
        "task": payload,
        "assignment": assignment,
        "form": form,
        "kind": kind,
        "kinds": KINDS,
        "task_label": assignment.get_task_type_display(),
        "heading": HEADINGS.get(assignment.task_type, ""),
        "category_label": Category(prompt["category"]).label if prompt else "",
        "skip_form": forms.SkipForm(),
        "skip_url": _with_kind(reverse("assignments:skip", args=[assignment.pk]), kind),
        "open_tasks": _open_tasks(user, besides=assignment.pk),
        "contribute_url": _contribute_url(kind),
        "guidelines_url": reverse("assignments:guidelines")
        + f"#{GUIDELINES_SECTION[TaskType(assignment.task_type)]}",
        # The page's countdown counts from this, not from the browser's clock, which may be
        # off from the server's that decides.
        "seconds_left": max(0, int((assignment.expires_at - timezone.now()).total_seconds())),
        # Until their first task is sent, a few words on how contributing goes: QA's new
        # volunteer landed in a review with "You can contribute now" and nothing else.
        "first_task": not Assignment.objects.filter(
            user=user, state=AssignmentState.SUBMITTED
        ).exists(),
    }
    if assignment.task_type == TaskType.WRITE:
        context.update(guidance=GUIDANCE, languages=common_languages())
        if not form.is_bound:
            form.initial.setdefault(
                "language", collection_selectors.default_language_for(user=user)
            )
        return render(request, "assignments/task_write.html", context)
    if assignment.task_type == TaskType.RANK:
        context.update(_rank_context(assignment, payload, form))
    elif assignment.task_type in (TaskType.REVIEW_PROMPT, TaskType.REVIEW_RESPONSE):
        context.update(_review_context(form, assignment.task_type))
    return render(request, "assignments/task.html", context)
