"""The run page as QA found it: a loss chart with one point drew empty axes, and the log opened
on its oldest lines."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from apps.training.models import TrainingRun
from tests.training.conftest import make_release

pytestmark = pytest.mark.browser

# How many pixels of a chart's canvas are in the colour the stylesheet gives ``variable``
# (opaque, give or take antialiasing): what the chart drew in that series' colour.
PIXELS_IN = """([figure, variable]) => {
  const canvas = figure.querySelector("canvas");
  if (!canvas) return 0;
  const hex = getComputedStyle(document.documentElement).getPropertyValue(variable).trim();
  const want = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  let found = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 200 && want.every((value, c) => Math.abs(data[i + c] - value) < 24)) found++;
  }
  return found;
}"""


def _run(**fields) -> TrainingRun:
    return TrainingRun.objects.create(
        release=make_release(),
        base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
        attempt=1,
        **fields,
    )


def test_a_loss_curve_of_one_point_draws_that_point(page: Page, login, shot, maintainer):
    """A reward run at step 1: the legend said "Train loss: 0.6978" over empty axes, as a line
    needs two points."""
    run = _run(
        kind="reward",
        state="running",
        step=1,
        total_steps=3,
        loss_history=[{"step": 1, "loss": 0.6978, "lr": 1e-4, "seconds": 0.5}],
    )
    login(page, maintainer)
    page.goto(f"/training/runs/{run.pk}/")
    loss = page.locator("figure[data-chart=loss]")
    expect(loss).to_have_attribute("data-points", "1")
    expect(loss.locator("canvas")).to_have_count(1)
    expect(loss.locator(".u-legend")).to_contain_text("0.6978")
    # uPlot draws on its next frame: wait for a marker in the train loss colour.
    page.wait_for_function(
        f"(args) => ({PIXELS_IN})(args) > 10", arg=[loss.element_handle(), "--chart-train"]
    )
    shot(page, "one-point")


def test_the_log_opens_on_its_newest_lines(page: Page, login, shot, maintainer):
    lines = "\n".join(f"step {n}/200 loss {3 - n / 100:.2f}" for n in range(1, 201))
    run = _run(kind="sft", state="running", step=200, total_steps=400, logs_tail=lines + "\n")
    login(page, maintainer)
    page.goto(f"/training/runs/{run.pk}/")
    logs = page.locator("#run-logs")
    expect(logs).to_contain_text("step 200/200")
    assert logs.evaluate("el => el.scrollHeight > el.clientHeight + 100")  # it does scroll
    page.wait_for_function(
        "el => el.scrollTop > 0 && el.scrollTop + el.clientHeight >= el.scrollHeight - 4",
        arg=logs.element_handle(),
    )
    shot(page, "log-at-bottom", full_page=False)
