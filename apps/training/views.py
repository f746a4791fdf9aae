"""Pages for maintainers: training runs (list, start, watch one live, its files) and the two
schedules. The run page polls its live part with htmx while the run is queued or running, and
static/js/training.js redraws the charts from data.json when a new report has come in."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.humanize.templatetags.humanize import intcomma
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import get_format
from django.utils.timesince import timesince, timeuntil
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from apps.accounts.authentication import accepts_api_tokens
from apps.accounts.permissions import maintainer_required
from apps.accounts.selectors import request_user
from apps.collection.selectors import prompts_answered_by_model
from apps.core import idempotency, workers
from apps.core.downloads import download, saved_name
from apps.core.forms import add_validation_errors
from apps.core.text import ago
from apps.releases.models import FINISHED_STATES, Release
from apps.training import schedules, selectors, services
from apps.training.forms import RunCreateForm, ScheduleForm, error_summary
from apps.training.models import RunKind, RunState, TrainingRun

RUNS_PER_PAGE = 25
# The prompts a run answered that its page links to; the rest are counted.
ANSWERED_SHOWN = 50


def _finished_releases() -> list[Release]:
    return list(Release.objects.filter(state__in=FINISHED_STATES).order_by("-number")[:50])


def _get_run(run_id: int) -> TrainingRun:
    try:
        return selectors.run_get(run_id=run_id)
    except TrainingRun.DoesNotExist:
        raise Http404 from None


def _list_page(
    request: HttpRequest,
    *,
    create_form: RunCreateForm | None = None,
    schedule_form: ScheduleForm | None = None,
    status: int = 200,
) -> HttpResponse:
    kind = request.GET.get("kind", "")
    state = request.GET.get("state", "")
    kind = kind if kind in RunKind.values else ""
    state = state if state in RunState.values else ""
    page = Paginator(selectors.run_list(kind=kind or None, state=state or None), RUNS_PER_PAGE)
    releases = _finished_releases()
    # ?release=v2#new-run (the release page's link) picks that release in the form.
    wanted = request.GET.get("release", "")
    initial = {"release": wanted} if wanted in {r.version for r in releases} else {}
    schedule_forms = [
        schedule_form
        if schedule_form is not None and schedule_form.schedule.id == schedule.id
        else ScheduleForm(schedule=schedule)
        for schedule in schedules.schedule_list()
    ]
    return render(
        request,
        "training/list.html",
        {
            "page": page.get_page(request.GET.get("page")),
            "filters": {"kind": kind, "state": state},
            "kinds": RunKind.choices,
            "states": RunState.choices,
            "form": create_form or RunCreateForm(releases=releases, initial=initial),
            "releases": releases,
            "schedule_forms": schedule_forms,
        },
        status=status,
    )


@maintainer_required
def run_list(request: HttpRequest) -> HttpResponse:
    return _list_page(request)


@maintainer_required
def run_create(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return redirect(reverse("training:list") + "#new-run")
    form = RunCreateForm(request.POST, releases=_finished_releases())
    if form.is_valid():
        data = form.cleaned_data

        def create() -> tuple[int, Any]:
            run = services.run_create(
                user=request_user(request),
                release=data["release"],
                kind=data["kind"],
                base_model=data["base_model"] or None,
                method=data["method"],
                hyperparameters=data["hyperparameters"],
                answer_prompts=data["answer_prompts"] or 0,
            )
            return 201, {"id": run.pk}

        try:
            _status, created, _replayed = idempotency.form_once(
                request, data["idempotency_key"], create
            )
        except ValidationError as exc:
            add_validation_errors(form, exc)
        else:
            run_id = created["id"]
            # As it is once committed: a run the broker refused is failed, not queued (QA: the
            # page said "queued" above a Failed badge while Redis was down).
            if TrainingRun.objects.filter(pk=run_id, state=RunState.QUEUED).exists():
                messages.success(
                    request, _("Run %(id)s is queued for a GPU worker.") % {"id": run_id}
                )
            return redirect("training:detail", run_id=run_id)
    messages.error(request, _("The run was not started: %(why)s") % {"why": error_summary(form)})
    # Refused: the page again with the form as typed, as a refused release form comes back.
    return _list_page(request, create_form=form, status=400)


def _eta_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return _("less than a minute left")
    now = timezone.now()
    return _("about %(time)s left") % {"time": timeuntil(now + timedelta(seconds=seconds), now)}


def _took_text(run: TrainingRun) -> str:
    if run.started_at is None or run.finished_at is None:
        return ""
    if (run.finished_at - run.started_at).total_seconds() < 60:
        return _("under a minute")
    return timesince(run.started_at, run.finished_at)


# Counts of what a run's test-split metrics were computed on (worker/cards.py COUNT_KEYS): told
# in a sentence, not listed as results (ML QA: "eval_tokens 4,210" read as a result).
METRIC_COUNTS = ("eval_prompts", "eval_pairs", "eval_tokens")


def _results(run: TrainingRun) -> tuple[list[tuple[str, Any]], str]:
    """The run's final metrics without the counts, and the counts in words."""
    metrics = run.metrics if isinstance(run.metrics, dict) else {}
    results = [(name, value) for name, value in metrics.items() if name not in METRIC_COUNTS]
    words = {
        "eval_prompts": lambda n: ngettext("%(n)s prompt", "%(n)s prompts", n),
        "eval_pairs": lambda n: ngettext("%(n)s ranked pair", "%(n)s ranked pairs", n),
        "eval_tokens": lambda n: ngettext("%(n)s response token", "%(n)s response tokens", n),
    }
    # Counts come as integers, or as floats from workers before they sent integers.
    parts = [
        words[name](round(value)) % {"n": intcomma(round(value))}
        for name in METRIC_COUNTS
        if isinstance(value := metrics.get(name), int | float) and not isinstance(value, bool)
    ]
    if not parts:
        return results, ""
    return results, _("Evaluated on %(counts)s.") % {"counts": ", ".join(parts)}


def _live_context(run: TrainingRun) -> dict[str, Any]:
    downloads = []
    if run.state == RunState.SUCCEEDED:
        downloads = [
            entry
            for entry in run.artefact_files
            if isinstance(entry, dict) and isinstance(entry.get("path"), str)
        ]
    answered: list[Any] = []
    answered_count = 0
    if run.state == RunState.SUCCEEDED and run.answers_added:
        answered, answered_count = prompts_answered_by_model(
            origin=run.output_name, limit=ANSWERED_SHOWN
        )
    results, evaluated_on = _results(run)
    return {
        "run": run,
        "results": results,
        "evaluated_on": evaluated_on,
        "answered": answered,
        "answered_more": max(0, answered_count - len(answered)),
        "stalled": services.is_stalled(run),
        "eta": _eta_text(run.eta_seconds),
        "took": _took_text(run),
        "cancelled_when": ago(run.cancel_requested_at),
        "finished_when": ago(run.finished_at),
        "downloads": downloads,
        "can_retry": services.is_retryable(run),
        "gpu_workers": _gpu_workers(run),
    }


def _gpu_workers(run: TrainingRun) -> dict[str, int] | None:
    """For a queued run: how many GPU workers are online and how many of them are busy, from
    their heartbeats (apps.core.workers), so its page can say whether one will take it."""
    if run.state != RunState.QUEUED:
        return None
    online = [w for w in workers.workers("gpu") if w.online]
    return {"online": len(online), "busy": sum(1 for w in online if w.status == "busy")}


@never_cache
@maintainer_required
def run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    run = _get_run(run_id)
    if request.headers.get("HX-Request"):
        return render(request, "training/_live.html", _live_context(run))
    return render(
        request,
        "training/detail.html",
        {
            **_live_context(run),
            "requested_when": ago(run.created_at),
            "reported": bool(run.loss_history or run.eval_history),
            "chart_text": _chart_text(run),
            "latest": _latest_points(run),
        },
    )


def _no_curves_text(run: TrainingRun) -> str:
    """Why a run that ended drew no curve: no report came in, or reports did but it ended
    before its first step."""
    if run.last_report_at is None:
        return _("No curves: this run ended without a report from a worker.")
    if run.state == RunState.FAILED:
        return _("No curves: the run failed before its first step.")
    return _("No curves: the run ended before its first step.")


def _chart_text(run: TrainingRun) -> dict[str, str]:
    """What static/js/training.js writes on the charts, in the page's language."""
    return {
        "step": _("Step"),
        "loss": _("Loss"),
        "train_loss": _("Train loss"),
        "eval_loss": _("Eval loss"),
        "accuracy": _("Pairwise accuracy"),
        "table_caption": _("The latest points"),
        "latest_train": _("Latest train loss: %(value)s at step %(step)s."),
        "latest_eval": _("Latest eval loss: %(value)s at step %(step)s."),
        "latest_accuracy": _("Latest pairwise accuracy: %(value)s at step %(step)s."),
        "lr": _("Learning rate"),
        "latest_lr": _("Learning rate at step %(step)s: %(value)s."),
        "no_points": _("No points yet."),
        "no_reports": _no_curves_text(run),
        # Numbers as the page's language writes them (Django's formats, which the results
        # table uses too: the browser's own locale data groups Spanish thousands otherwise).
        "decimal_separator": str(get_format("DECIMAL_SEPARATOR")),
        "thousand_separator": str(get_format("THOUSAND_SEPARATOR")),
    }


def _latest_points(run: TrainingRun) -> dict[str, dict[str, Any]]:
    """The last train loss and evaluation, for the charts' text alternative."""
    train = [e for e in run.loss_history if isinstance(e.get("loss"), int | float)]
    evals = run.eval_history
    return {
        "train": train[-1] if train else {},
        "eval": next((e for e in reversed(evals) if "eval_loss" in e), {}),
        "accuracy": next((e for e in reversed(evals) if "eval_pairwise_accuracy" in e), {}),
        "lr": next((e for e in reversed(train) if isinstance(e.get("lr"), int | float)), {}),
    }


@never_cache
@maintainer_required
def run_data(request: HttpRequest, run_id: int) -> JsonResponse:
    run = _get_run(run_id)
    return JsonResponse(
        {
            "id": run.pk,
            "kind": run.kind,
            "state": run.state,
            "active": run.is_active,
            "step": run.step,
            "total_steps": run.total_steps,
            "logs_tail": run.logs_tail,
            **selectors.chart_data(run),
        }
    )


@maintainer_required
@require_POST
def run_cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    try:
        services.run_cancel(user=request_user(request), run=_get_run(run_id))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Run %(id)s is cancelled.") % {"id": run_id})
    return redirect("training:detail", run_id=run_id)


@maintainer_required
@require_POST
def run_retry(request: HttpRequest, run_id: int) -> HttpResponse:
    """Send a run again. The form names the attempt the page showed: a second click, or a
    page another maintainer retried from meanwhile, sends nothing and says so."""
    user, run = request_user(request), _get_run(run_id)
    seen = request.POST.get("attempt", "")
    try:
        if seen.isdigit():
            run, sent = services.run_retry_seen(user=user, run=run, seen_attempt=int(seen))
        else:
            run, sent = services.run_retry(user=user, run=run), True
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        values = {"id": run.pk, "n": run.attempt}
        if sent:
            messages.success(request, _("Run %(id)s is sent again (attempt %(n)s).") % values)
        else:
            messages.info(
                request,
                _("Run %(id)s was sent again already (attempt %(n)s); nothing was sent again.")
                % values,
            )
    return redirect("training:detail", run_id=run_id)


@accepts_api_tokens  # the API hands these out as full URLs in a run's downloads
@maintainer_required
def run_file(request: HttpRequest, run_id: int, path: str) -> HttpResponseBase:
    run = _get_run(run_id)
    try:
        full = selectors.artefact_path(run=run, path=path)
    except FileNotFoundError:
        raise Http404 from None
    return download(request, full, saved_name(f"hearth-{run.output_name}", path))


@maintainer_required
@require_POST
def schedule_update(request: HttpRequest, schedule_id: int) -> HttpResponse:
    found = [s for s in schedules.schedule_list() if s.id == schedule_id]
    if not found:
        raise Http404
    form = ScheduleForm(request.POST, schedule=found[0])
    if form.is_valid():
        try:
            schedules.schedule_update(
                user=request_user(request),
                schedule_id=schedule_id,
                enabled=form.enabled_now(),
                every_minutes=form.every_minutes_now(),
                options=form.options(),
            )
        except ValidationError as exc:
            form.add_schedule_errors(exc)
        else:
            messages.success(request, _("Saved “%(name)s”.") % {"name": found[0].title})
            return redirect(reverse("training:list") + f"#schedule-{schedule_id}")
    messages.error(request, _("Not saved: %(why)s") % {"why": error_summary(form)})
    return _list_page(request, schedule_form=form, status=400)
