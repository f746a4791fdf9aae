"""The run page's charts as the script draws them: numbers in the page's language, and no
empty frames for a run that ended without a report."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from apps.training.models import RunState, TrainingRun
from tests.training.conftest import make_release

pytestmark = pytest.mark.browser


def test_a_spanish_run_page_writes_every_number_as_its_results_table_does(
    browser, live_server, login, shot, maintainer
):
    """In Spanish the results table said 2,5687, while the chart's legend, its summary and
    its table of the latest points said 3.0971 and 2.5687."""
    run = TrainingRun.objects.create(
        kind="sft",
        release=make_release(),
        base_model="org/base",
        state=RunState.SUCCEEDED,
        attempt=1,
        step=1234,
        total_steps=1234,
        finished_at=timezone.now(),
        loss_history=[{"step": 1000, "loss": 3.25}, {"step": 1234, "loss": 3.097123}],
        eval_history=[{"step": 1234, "eval_loss": 2.568749}],
        metrics={"eval_loss": 2.568749},
    )
    context = browser.new_context(base_url=live_server.url, locale="es-ES")
    context.set_default_timeout(10_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    login(tab, maintainer)
    tab.goto(f"/training/runs/{run.pk}/")
    expect(tab.locator("html")).to_have_attribute("lang", "es")
    expect(tab.locator("table.metrics td")).to_have_text("2,5687")  # the server's own
    chart = tab.locator("figure[data-chart=loss]")
    expect(chart.locator("canvas")).to_have_count(1)
    shot(tab, "run-es")

    # The legend shows the latest point: its step, the train loss and the eval loss.
    legend = chart.locator(".u-legend .u-value")
    expect(legend).to_have_text(["1\xa0234", "3,0971", "2,5687"])
    # The text alternative that the script writes, and its table of the latest points.
    expect(tab.locator("#chart-loss-summary")).to_have_text(
        "Última pérdida de entrenamiento: 3,0971 en el paso 1\xa0234. "
        "Última pérdida de evaluación: 2,5687 en el paso 1\xa0234."
    )
    latest = chart.locator(".chart-table tbody tr").last
    expect(latest.locator("th")).to_have_text("1\xa0234")
    expect(latest.locator("td")).to_have_text(["3,0971", "2,5687"])
    page_text = tab.locator("main").inner_text() + chart.locator(".chart-table").text_content()
    assert "3.0971" not in page_text and "2.5687" not in page_text
    context.close()
    assert errors == []


def test_a_run_cancelled_before_it_started_stops_promising_curves(page: Page, login, maintainer):
    """Open while queued, the page went on saying "The curves appear with the worker's first
    reports." under empty chart frames once the run was cancelled."""
    run = TrainingRun.objects.create(
        kind="reward", release=make_release(), base_model="org/base", attempt=1
    )
    login(page, maintainer)
    page.goto(f"/training/runs/{run.pk}/")
    expect(page.get_by_test_id("run-state")).to_have_text("Queued")
    expect(page.locator("figure[data-chart]")).to_have_count(3)  # loss, learning rate, accuracy
    expect(page.locator(".chart-empty")).to_have_text(
        "The curves appear with the worker's first reports."
    )
    # Cancelled elsewhere (another maintainer): the live part, polled, brings the news.
    TrainingRun.objects.filter(pk=run.pk).update(
        state=RunState.CANCELLED, cancel_requested_at=timezone.now()
    )
    expect(page.get_by_test_id("run-state")).to_have_text("Cancelled")
    expect(page.locator("figure[data-chart]")).to_have_count(0)
    expect(page.locator(".chart-empty")).to_have_text(
        "No curves: this run ended without a report from a worker."
    )
    # As the page says it when opened afresh.
    page.reload()
    expect(page.locator("figure[data-chart]")).to_have_count(0)
    expect(page.locator(".chart-empty")).to_have_text(
        "No curves: this run ended without a report from a worker."
    )
