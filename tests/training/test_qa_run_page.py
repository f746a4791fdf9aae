"""QA of the training pages: the time left, the first step's phase, why a run has no curves,
and the schedule cards."""

from __future__ import annotations

import re
from typing import Any

import pytest

from apps.training import schedules, services
from apps.training.models import RunState
from tests.training.test_web import make_run, web
from worker.reports import Reporter, ReportRoute


def reporter_for(run: Any) -> Reporter:
    """The GPU worker's reporter, delivering each report to run_report as Celery would."""

    def send(task: str, *, args: tuple[Any, ...], queue: str) -> None:
        services.run_report(run_id=args[0], attempt=args[1], payload=args[2])

    return Reporter(ReportRoute(run.pk, 1, "training.report", "default", 0.0, 30.0), send)


def test_the_page_and_the_api_say_how_long_is_left_once_steps_are_reported(maintainer, release):
    run = make_run(release, state=RunState.QUEUED)
    reporter = reporter_for(run)
    reporter.progress({"phase": "train", "step": 0, "total": 100})
    run.refresh_from_db()
    assert (run.phase, run.step, run.total_steps, run.loss_history) == ("train", 0, 100, [])
    html = web(maintainer).get(f"/training/runs/{run.pk}/").content.decode()
    assert "Step 0 of 100" in html and "Preparing." not in html
    for step in (1, 2):
        event = {"phase": "train", "step": step, "total": 100, "loss": 2.0, "lr": 1e-3}
        reporter.progress({**event, "tokens_per_s": 50.0, "seconds": 30.0})
    reporter.flush()

    body = web(maintainer).get(f"/api/v1/training-runs/{run.pk}/").json()
    assert body["eta_seconds"] == 98 * 30.0
    html = web(maintainer).get(f"/training/runs/{run.pk}/").content.decode()
    assert "about 49\xa0minutes left" in html


def test_a_run_that_failed_before_its_first_step_says_so(maintainer, release):
    run = make_run(release, state=RunState.QUEUED)
    reporter = reporter_for(run)
    reporter.flush()
    reporter.finish("failed", error="out of memory")
    html = web(maintainer).get(f"/training/runs/{run.pk}/").content.decode()
    assert "No curves: the run failed before its first step." in html
    assert "without a report" not in html

    never = make_run(release, state=RunState.FAILED, error="no worker took it")
    html = web(maintainer).get(f"/training/runs/{never.pk}/").content.decode()
    assert "No curves: this run ended without a report from a worker." in html


def test_a_schedule_that_ran_does_not_say_it_has_not(maintainer, db):
    schedules.ensure_schedules()
    (cut,) = [s for s in schedules.schedule_list() if s.task == "training.auto_release"]
    html = web(maintainer).get("/training/").content.decode()
    assert "Has not run yet." in html and "Run this schedule" not in html
    assert "Schedule on" in html

    schedules.maybe_cut_release(min_new_items=3)  # run by hand: beat records no last_run_at
    html = web(maintainer).get("/training/").content.decode()
    card = html.split(f'id="schedule-{cut.id}"')[1].split("</section>")[0]
    assert "Has not run yet." not in card
    assert "Its latest run, just now:" in card


def test_one_new_item_is_counted_in_the_singular():
    singular, plural = schedules.CUT_NEXT
    one = schedules.Note(singular, {"version": "v3", "count": 1, "last": "v2"}, plural)
    two = schedules.Note(singular, {"version": "v3", "count": 2, "last": "v2"}, plural)
    assert one.translated() == str(one) == "Cut v3 (1 new item since v2)."
    assert two.translated() == str(two) == "Cut v3 (2 new items since v2)."


def test_the_time_left_counts_down_between_reports_down_to_the_steps_after_this_one(
    maintainer, release
):
    from datetime import timedelta

    from django.utils import timezone

    run = make_run(
        release,
        state=RunState.RUNNING,
        phase="train",
        step=10,
        total_steps=14,
        loss_history=[{"step": s, "loss": 2.0, "seconds": 120.0} for s in range(1, 11)],
        last_report_at=timezone.now(),
    )
    assert run.eta_seconds == 4 * 120.0
    run.last_report_at = timezone.now() - timedelta(seconds=90)
    run.save(update_fields=["last_report_at"])
    assert run.eta_seconds == pytest.approx(4 * 120.0 - 90, abs=1)
    html = web(maintainer).get(f"/training/runs/{run.pk}/").content.decode()
    assert "about 6\xa0minutes left" in html  # 390 s, not the 8 minutes of the last report
    # A step slower than the pace: the ETA waits at the steps after it, never below.
    run.last_report_at = timezone.now() - timedelta(seconds=600)
    run.save(update_fields=["last_report_at"])
    assert run.eta_seconds == 3 * 120.0


def test_the_results_table_lists_results_and_says_what_they_were_measured_on(maintainer, release):
    """ML QA: the counts eval_tokens and eval_prompts sat in the table of results, under a
    caption that called the last step's train loss a test-split result."""
    from tests.training.test_web import succeeded

    metrics = {
        "eval_pairwise_accuracy": 0.75,
        "eval_kendall_tau": 0.5,
        "eval_pairs": 12,
        "eval_prompts": 3,
        "train_loss_last_10_steps": 0.61,
    }
    run = succeeded(release, kind="reward", metrics=metrics)
    html = web(maintainer).get(f"/training/runs/{run.pk}/").content.decode()
    table = html[html.index('<table class="metrics"') : html.index("</table>")]
    rows = re.findall(r'<th scope="row"><code>(\w+)</code>', table)
    assert sorted(rows) == [
        "eval_kendall_tau",
        "eval_pairwise_accuracy",
        "train_loss_last_10_steps",
    ]
    note = re.search(r'data-testid="run-results-note">(.*?)</p>', html, re.S)
    assert note is not None
    assert "measured on the release's test split" in note[1]
    assert "Evaluated on 3 prompts, 12 ranked pairs." in note[1]
    assert "mean training loss of the last 10 steps" in note[1]

    older = succeeded(release)  # a run from before the rename: train_loss was the last step's
    html = web(maintainer).get(f"/training/runs/{older.pk}/").content.decode()
    assert "train_loss is the training loss of the last step." in html
    assert "Evaluated on" not in html


def test_a_count_sent_as_a_float_is_told_too(maintainer, release):
    """QA: workers summed eval_tokens as a float (509.0), which the page then left out."""
    from tests.training.test_web import succeeded

    run = succeeded(release, metrics={"eval_loss": 2.1, "eval_tokens": 509.0})
    html = web(maintainer).get(f"/training/runs/{run.pk}/").content.decode()
    assert "Evaluated on 509 response tokens." in html
    assert "of every step, in a run of fewer" not in html  # no train loss in these metrics


def test_the_learning_rate_chart_has_a_text_alternative_in_the_pages_language(maintainer, release):
    """Verification QA: no learning-rate chart, though every step reports its rate."""
    run = make_run(
        release,
        state=RunState.RUNNING,
        step=3,
        total_steps=10,
        loss_history=[{"step": s, "loss": 2.0, "lr": 2e-5 * s} for s in (1, 2, 3)],
    )
    client = web(maintainer)
    html = client.get(f"/training/runs/{run.pk}/").content.decode()
    assert 'data-chart="lr"' in html
    assert "Learning rate at step 3: 6.0e-5." in html
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "es"
    html = client.get(f"/training/runs/{run.pk}/").content.decode()
    assert "6,0e-5" in html
