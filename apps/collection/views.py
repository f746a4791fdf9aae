"""Pages for writing, browsing and managing one's own contributions, and maintainers' imports."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_htmx.http import HTMX_STOP_POLLING  # htmx stops polling, and still swaps

from apps.accounts import roles
from apps.accounts.permissions import licence_required
from apps.accounts.selectors import request_user
from apps.accounts.services import check_not_banned
from apps.collection import forms, import_jobs, importing, selectors, services
from apps.collection.categories import GUIDANCE
from apps.collection.models import Import, ImportStatus
from apps.collection.policy import current_policy, policy_update
from apps.community.selectors import impact_for_user
from apps.core import idempotency, markdown
from apps.core.forms import add_validation_errors
from apps.core.languages import common_languages
from apps.core.paging import IdsFirst
from apps.core.throttling import kept_as_typed, throttle
from apps.feedback.selectors import attach_rejection_reasons, consensus_for_prompt


@licence_required
def write(request: HttpRequest) -> HttpResponse:
    limited = throttle(request, "writing") if request.method == "POST" else None
    if request.method == "POST":
        form = forms.WriteForm(request.POST)
        if limited is not None:
            form.is_valid()  # the work comes back as typed, with its own errors
            kept_as_typed(request, limited)
        elif form.is_valid():
            data = form.cleaned_data

            def create() -> tuple[int, Any]:
                prompt = services.prompt_create(
                    author=request_user(request),
                    instruction=data["instruction"],
                    context=data["context"],
                    category=data["category"],
                    language=data["language"],
                    response=data["response"],
                )
                return 201, {"prompt_id": prompt.pk}

            try:
                idempotency.form_once(request, data["idempotency_key"], create)
            except ValidationError as exc:
                add_validation_errors(form, exc)
            else:
                messages.success(request, _("Thank you! Your prompt and answer are now in review."))
                return redirect("collection:mine")
    else:
        category = request.GET.get("category", "")
        form = forms.WriteForm(
            initial={
                "language": selectors.default_language_for(user=request.user),
                "category": category,
            }
        )
    page = render(
        request,
        "collection/write.html",
        {"form": form, "guidance": GUIDANCE, "languages": common_languages()},
    )
    return page if limited is None else limited.retry_after(page)


PREVIEW_LIMITS = {
    "instruction": settings.HEARTH_INSTRUCTION_MAX_CHARS,
    "context": settings.HEARTH_CONTEXT_MAX_CHARS,
    "response": settings.HEARTH_RESPONSE_MAX_CHARS,
    "text": max(settings.HEARTH_RESPONSE_MAX_CHARS, settings.HEARTH_INSTRUCTION_MAX_CHARS),
}


@login_required
@require_POST
def preview(request: HttpRequest) -> HttpResponse:
    """htmx: render the posted field as sanitised Markdown."""
    field = request.POST.get("field", "")
    # No more than the field may hold: what is past it would never be saved, and rendering
    # it costs the server (some Markdown parses in quadratic time).
    limit = PREVIEW_LIMITS.get(field, 0)
    text = request.POST.get(field, "")[: int(limit)] if limit else ""
    html = markdown.render(text) if text.strip() else ""
    return render(request, "collection/_preview.html", {"html": html})


# My contributions: each list has its own page and state filter (query parameters), so one
# can be paged or filtered while the other stays where it was.
MINE_PER_PAGE = 25
MINE_LISTS = {
    "prompts": {"page": "page", "state": "prompt_state", "anchor": "your-prompts"},
    "responses": {"page": "answer_page", "state": "answer_state", "anchor": "your-answers"},
}


def _mine_filters(request: HttpRequest, list_name: str) -> tuple[str, list[dict[str, Any]]]:
    """The state a list of My contributions is filtered by ("" for all), and its filter links:
    each keeps the other list's page and filter, and starts this list on its first page."""
    params = MINE_LISTS[list_name]
    state = request.GET.get(params["state"], "")
    if state not in selectors.OWN_WORK_STATES:
        state = ""
    labels = {
        "": _("All"),
        "review": _("In review"),
        "accepted": _("Accepted"),
        "rejected": _("Rejected"),
        "withdrawn": _("Withdrawn"),
    }
    links: list[dict[str, Any]] = []
    for value, label in labels.items():
        query = request.GET.copy()
        query.pop(params["page"], None)
        query.pop(params["state"], None)
        if value:
            query[params["state"]] = value
        url = reverse("collection:mine") + (f"?{query.urlencode()}" if query else "")
        links.append(
            {"label": label, "url": f"{url}#{params['anchor']}", "current": value == state}
        )
    return state, links


def _back_to_mine(request: HttpRequest) -> HttpResponse:
    """Back to My contributions after an action on it, on the pages and filters its form
    carried (only those: the address stays on this site's page)."""
    kept = {
        key: value
        for params in MINE_LISTS.values()
        for key in (params["page"], params["state"])
        if (value := request.GET.get(key, ""))
    }
    return redirect(reverse("collection:mine") + (f"?{urlencode(kept)}" if kept else ""))


@login_required
def mine(request: HttpRequest) -> HttpResponse:
    """The author's own work: their prompts (with their own answers to them), and their answers
    to other people's prompts, each list paged and filtered by state on its own. A suspended
    author is told why once, at the top (the words the Write page's refusal uses), and offered
    no Edit or Write: only Withdraw, which a ban leaves open."""
    try:
        check_not_banned(user=request_user(request))
    except PermissionDenied as exc:
        suspended = str(exc)
    else:
        suspended = ""
    prompt_state, prompt_filters = _mine_filters(request, "prompts")
    answer_state, answer_filters = _mine_filters(request, "responses")
    prompts = Paginator(
        IdsFirst(selectors.prompt_list_with_own_answers(user=request.user, state=prompt_state)),
        MINE_PER_PAGE,
    ).get_page(request.GET.get(MINE_LISTS["prompts"]["page"]))
    prompts.object_list = list(prompts.object_list)
    answers = Paginator(
        IdsFirst(selectors.response_list_on_others_prompts(user=request.user, state=answer_state)),
        MINE_PER_PAGE,
    ).get_page(request.GET.get(MINE_LISTS["responses"]["page"]))
    answers.object_list = list(answers.object_list)
    own_answers = [
        *answers.object_list,
        *(r for p in prompts.object_list for r in p.responses.all()),
    ]
    # Authors see why reviewers turned their work down, and what they may still edit.
    attach_rejection_reasons(prompts=prompts.object_list, responses=own_answers)
    selectors.attach_editable(prompts=prompts.object_list, responses=own_answers)
    return render(
        request,
        "collection/mine.html",
        {
            "prompts": prompts,
            "responses": answers,
            "prompt_state": prompt_state,
            "answer_state": answer_state,
            "prompt_filters": prompt_filters,
            "answer_filters": answer_filters,
            "lists": MINE_LISTS,
            "query": f"?{request.GET.urlencode()}" if request.GET else "",
            "suspended": suspended,
            "impact": impact_for_user(user=request.user),
        },
    )


def browse(request: HttpRequest) -> HttpResponse:
    """Public prompts, searched and filtered from the query string. A filter the form refuses
    (an unknown category, a malformed language, a search too long) is shown with its error and
    no list: prompts under a filter that was not applied would read as its results."""
    filters = forms.BrowseFilterForm(request.GET)
    page, search, capped = None, "", False
    if filters.is_valid():
        data = filters.cleaned_data
        search = data["q"]
        prompts = selectors.prompt_browse_public(
            category=data["category"] or None, language=data["language"] or None, search=search
        )
        page = Paginator(prompts, 20).get_page(request.GET.get("page"))
        page.object_list = selectors.with_public_answer_counts(page.object_list)
        capped = prompts.capped
    # The same page without the search (other filters kept), for the empty state's link.
    kept = {k: v for k, v in request.GET.items() if k in ("category", "language") and v}
    clear_search_url = reverse("collection:browse") + (f"?{urlencode(kept)}" if kept else "")
    return render(
        request,
        "collection/browse.html",
        {
            "filters": filters,
            "page": page,
            "search": search,
            "capped": capped,
            "filtered": bool(kept),
            "clear_search_url": clear_search_url,
            "languages": common_languages(),
        },
    )


# A prompt's answers are shown this many to a page, oldest first. (Scale QA: a prompt with 455
# answers took 1.8 s to render, each answer with its report form, and weighed 830 KB.)
ANSWERS_PER_PAGE = 20


def prompt_detail(request: HttpRequest, prompt_id: int) -> HttpResponse:
    prompt = selectors.prompt_get_for_user(user=request.user, prompt_id=prompt_id)
    responses = Paginator(
        selectors.responses_visible_on_prompt(prompt=prompt, user=request.user),
        ANSWERS_PER_PAGE,
    ).get_page(request.GET.get("page"))
    own = selectors.response_by_author_on_prompt(prompt=prompt, user=request.user)
    # Moderators and maintainers see how the answers were ranked (ML QA: checking the
    # released preference pairs against the rankings took the database).
    consensus = consensus_for_prompt(prompt=prompt) if roles.is_moderator(request.user) else None
    if request.user.is_authenticated:
        mine = [r for r in responses.object_list if r.author_id == request.user.pk]
        selectors.attach_editable(
            prompts=[prompt] if prompt.author_id == request.user.pk else [], responses=mine
        )
    return render(
        request,
        "collection/prompt_detail.html",
        {
            "prompt": prompt,
            "responses": responses,
            "own_response": own,
            "consensus": consensus,
            "answer_refusal": services.answer_refusal(prompt),
        },
    )


def _save_edit(
    request: HttpRequest, form: Any, refusal: str | None, save: Callable[[], object]
) -> tuple[HttpResponse | None, str | None]:
    """Run an edit's service on a valid form with nothing refusing it: (a redirect once saved,
    why it cannot be saved). Neither: the form comes back with the service's messages on its
    fields. NotEditable (it left review meanwhile) is a refusal, shown with the typed text
    rather than dropped."""
    if refusal is not None or not form.is_valid():
        return None, refusal
    try:
        save()
    except ValidationError as exc:
        add_validation_errors(form, exc)
        return None, None
    except services.NotEditable as exc:
        return None, str(exc)
    messages.success(request, _("Saved."))
    return redirect("collection:mine"), None


def _edit_refusal(check: Callable[[], None]) -> str | None:
    """Why the edit page cannot save (``check`` raised NotEditable), or None. The edit views
    send a GET to My contributions with it, and answer a POST with the page, the volunteer's
    changes in it: reviewers may accept the work while its author is still typing."""
    try:
        check()
    except services.NotEditable as exc:
        return str(exc)
    return None


def _render_edit(
    request: HttpRequest, context: dict[str, Any], refusal: str | None
) -> HttpResponse:
    return render(
        request,
        "collection/edit.html",
        {**context, "refusal": refusal},
        status=409 if refusal else 200,
    )


@licence_required
def prompt_edit(request: HttpRequest, prompt_id: int) -> HttpResponse:
    prompt = selectors.prompt_get_for_user(user=request.user, prompt_id=prompt_id)
    if prompt.author_id != request.user.pk:
        raise PermissionDenied(_("Only the author may change this prompt."))
    refusal = _edit_refusal(lambda: services.prompt_check_editable(prompt=prompt))
    if refusal is not None and request.method != "POST":
        # To the prompt the refusal is about (QA: the top of My contributions named none).
        messages.error(request, refusal)
        return redirect("collection:prompt-detail", prompt_id=prompt.pk)
    if request.method == "POST":
        form = forms.PromptEditForm(request.POST)
        done, refusal = _save_edit(
            request,
            form,
            refusal,
            lambda: services.prompt_update(
                prompt=prompt, user=request_user(request), **form.cleaned_data
            ),
        )
        if done is not None:
            return done
    else:
        form = forms.PromptEditForm(
            initial={
                f: getattr(prompt, f) for f in ("category", "instruction", "context", "language")
            }
        )
    context = {
        "form": form,
        "prompt": prompt,
        "languages": common_languages(),
        "title": _("Edit prompt"),
    }
    return _render_edit(request, context, refusal)


@licence_required
def response_edit(request: HttpRequest, response_id: int) -> HttpResponse:
    response = selectors.response_get_for_user(user=request.user, response_id=response_id)
    if response.author_id != request.user.pk:
        raise PermissionDenied(_("Only the author may change this answer."))
    refusal = _edit_refusal(lambda: services.response_check_editable(response=response))
    if refusal is not None and request.method != "POST":
        messages.error(request, refusal)
        return redirect(
            reverse("collection:prompt-detail", args=[response.prompt_id])
            + f"#response-{response.pk}"
        )
    if request.method == "POST":
        form = forms.ResponseEditForm(request.POST)
        done, refusal = _save_edit(
            request,
            form,
            refusal,
            lambda: services.response_update(
                response=response, user=request_user(request), text=form.cleaned_data["text"]
            ),
        )
        if done is not None:
            return done
    else:
        form = forms.ResponseEditForm(initial={"text": response.text})
    context = {"form": form, "prompt": response.prompt, "title": _("Edit answer")}
    return _render_edit(request, context, refusal)


@login_required
@require_POST
def prompt_withdraw(request: HttpRequest, prompt_id: int) -> HttpResponse:
    prompt = selectors.prompt_get_for_user(user=request.user, prompt_id=prompt_id)
    services.prompt_withdraw(prompt=prompt, user=request_user(request))
    messages.success(request, _("Withdrawn. It is hidden now and will never enter a release."))
    return _back_to_mine(request)


@login_required
@require_POST
def response_withdraw(request: HttpRequest, response_id: int) -> HttpResponse:
    response = selectors.response_get_for_user(user=request.user, response_id=response_id)
    services.response_withdraw(response=response, user=request_user(request))
    messages.success(request, _("Withdrawn. It is hidden now and will never enter a release."))
    return _back_to_mine(request)


@licence_required
def answer(request: HttpRequest, prompt_id: int) -> HttpResponse:
    """Answer one prompt outside a task: the respond task's page, less the task.

    Once sent it goes back to the prompt's page, where the volunteer came from: it shows the
    message, and their answer in review among the prompt's answers."""
    # The respond task's guidance; imported here, as the tasks build on this app, not it on them.
    from apps.assignments.forms import ANSWER_HELP

    prompt = selectors.prompt_get_for_user(user=request.user, prompt_id=prompt_id)
    context: dict[str, Any] = {"prompt": prompt, "category_label": prompt.get_category_display()}
    if request.method != "POST":
        # Say so before they write, not after; a POST still meets the service's own check.
        own = selectors.response_by_author_on_prompt(prompt=prompt, user=request.user)
        if own is not None:
            return render(request, "collection/answer.html", {**context, "own_response": own})
        if (refusal := services.answer_refusal(prompt)) is not None:
            messages.info(request, refusal)
            return redirect(reverse("collection:prompt-detail", args=[prompt.pk]))
    form = forms.AnswerForm(request.POST or None)
    form.fields["text"].help_text = ANSWER_HELP
    limited = throttle(request, "writing") if request.method == "POST" else None
    if limited is not None:
        form.is_valid()
        kept_as_typed(request, limited)
    elif request.method == "POST" and form.is_valid():

        def create() -> tuple[int, Any]:
            response = services.response_create(
                prompt=prompt,
                author=request_user(request),
                text=form.cleaned_data["text"],
            )
            return 201, {"response_id": response.pk}

        try:
            idempotency.form_once(request, form.cleaned_data["idempotency_key"], create)
        except ValidationError as exc:
            # The service names the answer "response", the field it has on the Write page;
            # here it is "text": put its errors on that field, not above the form.
            if hasattr(exc, "error_dict"):
                exc = ValidationError(
                    {("text" if k == "response" else k): v for k, v in exc.error_dict.items()}
                )
            add_validation_errors(form, exc)
        except services.NotEditable as exc:
            # The prompt stopped taking answers while they wrote (others filled it): the
            # answer comes back to copy, not dropped for a redirect.
            return render(
                request,
                "collection/answer.html",
                {**context, "form": form, "refusal": str(exc)},
                status=409,
            )
        else:
            messages.success(request, _("Thank you! Your answer is now in review."))
            return redirect(reverse("collection:prompt-detail", args=[prompt.pk]))
    page = render(request, "collection/answer.html", {**context, "form": form})
    return page if limited is None else limited.retry_after(page)


# The options an import is sent with, as the form names them.
_IMPORT_OPTIONS = ("source", "licence", "language", "state")
# How many imports the Import page lists.
_RECENT_IMPORTS = 20
# Chrome refuses URLs over 2 MiB, data: links included; a larger report is offered only as text.
_REPORT_LINK_MAX_CHARS = 2 * 1024 * 1024 - 1024


def _import_report_context(report: dict[str, Any]) -> dict[str, Any]:
    """The report as the page shows it: the lines not imported with each message by its
    field, the imported ones, those that added an answer, and the API's ``lines`` as JSONL (a
    data: link when it fits)."""
    problems = [
        {
            **line,
            "messages": [
                (field, message)
                for field, field_messages in line.get("errors", {}).items()
                for message in field_messages
            ],
        }
        for line in report["lines"]
        if line["status"] not in (importing.IMPORTED, importing.ANSWER_ADDED)
    ]
    imported = [line for line in report["lines"] if line["status"] == importing.IMPORTED]
    added = [line for line in report["lines"] if line["status"] == importing.ANSWER_ADDED]
    jsonl = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in report["lines"])
    link = "data:application/x-ndjson;base64," + base64.b64encode(jsonl.encode()).decode()
    return {
        **report,
        "problems": problems,
        "imported_lines": imported,
        "answer_added_lines": added,
        "jsonl": jsonl,
        "download_url": link if len(link) <= _REPORT_LINK_MAX_CHARS else "",
    }


def _maintainers_only(request: HttpRequest) -> None:
    if not roles.is_maintainer(request.user):
        raise PermissionDenied(_("Only maintainers may import data."))


def _go_to(request: HttpRequest, url: str) -> HttpResponse:
    """Where a sent import form leads: a redirect, or for the page's script, which sends the
    form itself to show the upload's progress, that URL as JSON (it goes there itself)."""
    if request.headers.get("X-Requested-With") == "XMLHttpRequest":
        return JsonResponse({"url": url})
    return redirect(url)


@login_required
def imports(request: HttpRequest) -> HttpResponse:
    """Maintainers send a Dolly JSONL file to import, as POST /api/v1/imports/ does, and see
    the recent imports. A sent file is imported by the exports worker; the page goes on to the
    import's own page, which follows it. The form's key makes a double submit or a reload go to
    the first import's page instead of sending the file again."""
    _maintainers_only(request)
    # "Import another file" on an import's page comes back with that import's options.
    form = forms.ImportForm(
        initial={name: request.GET[name] for name in _IMPORT_OPTIONS if name in request.GET}
    )
    if request.method == "POST":
        posted = forms.ImportForm(request.POST, request.FILES)
        if posted.is_valid():
            data = posted.cleaned_data

            def start_import() -> tuple[int, Any]:
                job = import_jobs.import_start(
                    author=request_user(request), upload=data["file"], options=data["options"]
                )
                return 202, {"import_id": job.pk}

            _status, sent, replayed = idempotency.form_once(
                request, data["idempotency_key"], start_import
            )
            # A form sent before imports ran on a worker kept its report, not an import.
            import_id = sent.get("import_id") if isinstance(sent, dict) else None
            if import_id is None:
                messages.info(request, _("This file was already imported from this form."))
                return _go_to(request, reverse("collection:imports"))
            if replayed:
                messages.info(
                    request,
                    _("This file was already sent from this form; here is that import."),
                )
            return _go_to(request, reverse("collection:import-detail", args=[import_id]))
        form = posted
    recent = Import.objects.select_related("created_by").defer("listed")[:_RECENT_IMPORTS]
    return render(
        request,
        "collection/imports.html",
        {
            "form": form,
            "recent": recent,
            "languages": common_languages(),
            "max_bytes": settings.HEARTH_IMPORT_MAX_BYTES,
        },
        # A refused upload answers 400, as the API and the other refused forms do.
        status=400 if form.is_bound and form.errors else 200,
    )


@login_required
def import_detail(request: HttpRequest, import_id: int) -> HttpResponse:
    """One import. While it is queued or running, htmx asks for it every second (HX-Request)
    and gets its status, and once it has ended its report too (out of band), with 286 so that
    it stops asking. A failed or stalled import can be resumed from here."""
    _maintainers_only(request)
    job = get_object_or_404(Import.objects.select_related("created_by"), pk=import_id)
    moving = job.status in (ImportStatus.QUEUED, ImportStatus.RUNNING)
    context = {
        "job": job,
        "stalled": import_jobs.is_stalled(job),
        "resumable": import_jobs.is_resumable(job),
        "kept_until": import_jobs.file_kept_until(job),
        "finished": job.status == ImportStatus.DONE,
        "percent": int(100 * job.fraction),
    }
    if not moving:
        context["report"] = _import_report_context(import_jobs.report_of(job).as_dict())
    context["again"] = urlencode(
        {name: job.options[name] for name in _IMPORT_OPTIONS if name in job.options}
    )
    if not request.headers.get("HX-Request"):
        return render(request, "collection/import_detail.html", context)
    return render(
        request,
        "collection/_import_poll.html",
        context,
        status=200 if moving else HTMX_STOP_POLLING,
    )


@login_required
@require_POST
def import_resume(request: HttpRequest, import_id: int) -> HttpResponse:
    _maintainers_only(request)
    job = get_object_or_404(Import, pk=import_id)
    try:
        _job, sent = import_jobs.import_resume(job)
    except ValidationError as exc:
        messages.info(request, " ".join(exc.messages))
    else:
        if sent:
            messages.success(request, _("The import is sent again; it goes on where it stopped."))
        else:
            messages.info(request, _("The import is still under way; nothing was sent again."))
    return redirect(reverse("collection:import-detail", args=[import_id]))


def _policy_form(*args: Any, **kwargs: Any) -> forms.PolicyForm:
    """The policy form, each number sent back with the value the page showed
    (``initial-<name>``), so that ``changed_data`` says what the maintainer changed."""
    form = forms.PolicyForm(*args, **kwargs)
    for field in form.fields.values():
        field.show_hidden_initial = True
    return form


@login_required
def policy(request: HttpRequest) -> HttpResponse:
    """The collection policy: everyone signed in may read it; maintainers change it here or
    with PATCH /api/v1/policy/."""
    can_edit = roles.is_maintainer(request.user)
    current = current_policy()
    form = _policy_form(instance=current)
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied(_("Only maintainers may change the collection policy."))
        # Read before the form is checked: a model form writes what was sent on its instance.
        now = {name: getattr(current, name) for name in form.fields}
        form = _policy_form(request.POST, instance=current)
        if form.is_valid():
            # Only what this maintainer changed on the page (against the numbers it showed,
            # sent back beside them) and that differs from the policy as it is now: a page
            # opened before another maintainer's change must not write it back.
            changes = {
                name: form.cleaned_data[name]
                for name in form.changed_data
                if form.cleaned_data[name] != now[name]
            }
            if changes:
                policy_update(changes=changes)
                messages.success(request, _("Policy saved."))
            else:  # e.g. the same form sent twice
                messages.info(request, _("Nothing changed."))
            return redirect("collection:policy")
    return render(
        request,
        "collection/policy.html",
        {"form": form, "can_edit": can_edit, "updated_at": current.updated_at},
        status=400 if form.is_bound and form.errors else 200,
    )


@login_required
@require_POST
def import_discard(request: HttpRequest, import_id: int) -> HttpResponse:
    _maintainers_only(request)
    job = get_object_or_404(Import, pk=import_id)
    try:
        import_jobs.import_discard(job)
    except ValidationError as exc:
        messages.info(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The import is discarded and its file removed."))
    return redirect(reverse("collection:import-detail", args=[import_id]))
