"""A maintainer starts a training run in the browser and watches it live: the worker's reports
are applied from the test through services.run_report (the path the GPU worker's reports take),
and the run page follows them without a reload until the run succeeds."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, ViewportSize, expect

from apps.training import services
from apps.training.models import TrainingRun
from tests.browser.conftest import PHONE, horizontal_overflow, open_menu
from tests.browser.csp import csp_violations
from tests.browser.test_pages import UNLABELLED_CONTROLS
from tests.celery_workers import queued, workers_on
from tests.missing import missing
from tests.training.conftest import make_release

pytestmark = pytest.mark.browser

TOTAL = 30


@pytest.fixture
def sent(settings) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """What the site sent to the real broker's gpu queue (no GPU worker listens here)."""
    if not settings.REDIS_URL:
        missing("needs Redis (REDIS_URL)")
    with workers_on("gpu"):
        yield lambda: queued("gpu")


def train_log(first: int, last: int) -> list[dict[str, Any]]:
    return [
        {
            "step": s,
            "loss": round(3.0 - s * 0.05, 4),
            "lr": 1e-4,
            "tokens_per_s": 1500.0,
            "seconds": 0.5,
        }
        for s in range(first, last + 1)
    ]


def report(run: TrainingRun, seq: int, **payload: Any) -> None:
    services.run_report(
        run_id=run.pk,
        attempt=run.attempt,
        payload={"seq": seq, "host": "gpu-node-1", **payload},
    )


def check_page(tab: Page, name: str) -> list[str]:
    problems = []
    if overflow := horizontal_overflow(tab):
        problems.append(f"{name}: {overflow}px wider than the screen")
    if unlabelled := tab.evaluate(UNLABELLED_CONTROLS):
        problems.append(f"{name}: controls without a label: {unlabelled}")
    if (headings := tab.locator("h1").count()) != 1:
        problems.append(f"{name}: {headings} <h1> elements")
    return problems


def test_a_maintainer_starts_a_run_and_watches_it_to_the_end(
    page: Page, csp_report: list[str], browser, live_server, login, shot, maintainer, sent
):
    make_release()
    violations = csp_report  # every violation on `page` (tests/browser/conftest.py)
    login(page, maintainer)
    page.goto("/")
    open_menu(page, "Manage")
    page.get_by_role("link", name="Training").click()
    expect(page.get_by_role("heading", name="Training", level=1)).to_be_visible()
    expect(page.get_by_text("No training runs yet.")).to_be_visible()

    # The form: LoRA fields appear only for LoRA, reward-only fields never for SFT.
    form = page.locator("form[data-run-form]")
    form.get_by_label("Release").select_option("v1")
    form.get_by_label("Kind").select_option("reward")
    expect(form.get_by_label("Then answer prompts")).to_be_hidden()  # SFT only
    form.get_by_label("Kind").select_option("sft")
    expect(form.get_by_label("Then answer prompts")).to_be_visible()
    expect(form.get_by_label("LoRA rank (r)")).to_be_hidden()
    expect(form.get_by_label("Longest prompt (tokens)")).to_be_hidden()
    form.get_by_label("LoRA", exact=True).check()
    expect(form.get_by_label("LoRA rank (r)")).to_be_visible()
    form.get_by_label("LoRA rank (r)").fill("8")
    form.get_by_label("Most steps").fill(str(TOTAL))
    expect(form.get_by_label("Learning rate")).to_have_attribute("placeholder", "2e-05")
    shot(page, "form")
    page.get_by_role("button", name="Start training").focus()
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"/training/runs/\d+/$"))
    run = TrainingRun.objects.get()
    assert page.url == f"{live_server.url}/training/runs/{run.pk}/"
    expect(page.get_by_test_id("run-state")).to_have_text("Queued")
    assert run.hyperparameters == {"lora_r": 8, "max_steps": TOTAL}
    messages = sent()
    assert [(m["name"], m["task_id"]) for m in messages] == [("worker.train_run", run.task_id)]
    assert messages[0]["args"] == [run.spec] and run.spec["train"]["method"] == "lora"
    # A marker that a reload would wipe out.
    page.evaluate("window.stillTheSamePage = true")

    report(
        run,
        1,
        state="running",
        phase="train",
        step=5,
        total=TOTAL,
        tokens_per_s=1500.0,
        train_log=train_log(1, 5),
        eval_log=[],
        logs_tail="step 5/30 loss 2.75\n",
    )
    progress = page.locator("#run-progress")
    expect(page.get_by_test_id("run-state")).to_have_text("Running")
    expect(progress).to_have_attribute("value", "5")
    expect(page.get_by_test_id("run-step")).to_have_text(f"Step 5 of {TOTAL}")
    loss_chart = page.locator("figure[data-chart=loss]")
    expect(loss_chart).to_have_attribute("data-points", "5")
    expect(loss_chart.locator("canvas")).to_have_count(1)
    expect(page.locator("#run-logs")).to_have_text("step 5/30 loss 2.75\n")
    shot(page, "running")

    report(
        run,
        2,
        state="running",
        phase="train",
        step=12,
        total=TOTAL,
        tokens_per_s=1600.0,
        train_log=train_log(6, 12),
        eval_log=[{"step": 10, "eval_loss": 2.6, "eval_perplexity": 13.46}],
        logs_tail="step 12/30 loss 2.4\n",
    )
    expect(progress).to_have_attribute("value", "12")
    expect(page.get_by_test_id("run-step")).to_have_text(f"Step 12 of {TOTAL}")
    expect(loss_chart).to_have_attribute("data-points", "12")
    # The text alternative follows the chart.
    expect(page.locator("#chart-loss-summary")).to_contain_text("Latest eval loss: 2.6 at step 10")
    expect(loss_chart.locator("table caption")).to_have_count(1)
    # The learning rate each step used, written so that a small one does not read 0.0000.
    lr_chart = page.locator("figure[data-chart=lr]")
    expect(lr_chart).to_have_attribute("data-points", "12")
    expect(lr_chart.locator("canvas")).to_have_count(1)
    expect(page.locator("#chart-lr-summary")).to_have_text("Learning rate at step 12: 1.0e-4.")
    assert page.evaluate("window.stillTheSamePage") is True

    report(
        run,
        3,
        state="succeeded",
        step=TOTAL,
        total=TOTAL,
        train_log=train_log(13, TOTAL),
        eval_log=[{"step": TOTAL, "eval_loss": 2.1, "eval_perplexity": 8.17}],
        logs_tail="done\n",
        result={
            "metrics": {"eval_loss": 2.1, "eval_perplexity": 8.17, "train_loss": 1.5},
            "files": [{"path": "model.safetensors", "bytes": 1024}],
            "steps": TOTAL,
            "output_dir": f"/models/run-{run.pk}",
            "hub_repo": "hearth/hearth-sft",
            "hub_revision": "0123456789abcdef0123456789abcdef01234567",
        },
    )
    expect(page.get_by_test_id("run-state")).to_have_text("Succeeded")
    expect(page.get_by_role("link", name="model.safetensors")).to_be_visible()
    expect(page.get_by_role("link", name=f"hearth/hearth-sft @ run-{run.pk}")).to_be_visible()
    expect(loss_chart).to_have_attribute("data-points", str(TOTAL))
    expect(page.locator("#run-live")).not_to_have_attribute("hx-trigger", "every 2s")
    expect(page.locator("#run-announce")).to_have_text("Succeeded")
    assert page.evaluate("window.stillTheSamePage") is True
    # Polling has stopped: nothing more is asked of the server.
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.wait_for_timeout(2500)
    assert asked == []
    expect(page.locator("#run-cancel")).to_have_count(0)
    shot(page, "succeeded")
    assert check_page(page, "run") == []

    # The model now shows on the home page and on its release's page.
    page.goto("/")
    expect(page.get_by_role("heading", name="Latest models")).to_be_visible()
    expect(page.get_by_text("Eval loss: 2.1")).to_be_visible()
    page.get_by_role("link", name="release v1").click()
    expect(page.get_by_role("heading", name="Models trained on this release")).to_be_visible()
    # The live page (htmx polling, uPlot drawing and redrawing) within the site's policy.
    assert violations == []


def test_the_training_pages_fit_a_phone(browser, live_server, login, shot, maintainer):
    release = make_release()
    run = TrainingRun.objects.create(
        kind="reward",
        release=release,
        base_model="HuggingFaceTB/SmolLM2-135M-Instruct-with-a-rather-long-name",
        state="running",
        attempt=1,
        step=6,
        total_steps=20,
        loss_history=train_log(1, 6),
        eval_history=[{"step": 3, "eval_loss": 0.69, "eval_pairwise_accuracy": 0.55}],
        logs_tail="x" * 400 + "\n" + "step 6 loss 2.7\n",
    )
    context = browser.new_context(
        base_url=live_server.url, viewport=PHONE, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(10_000)
    violations = csp_violations(context)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    login(tab, maintainer)
    problems: list[str] = []
    tab.goto("/training/")
    shot(tab, "list-360")
    problems += check_page(tab, "list")
    tab.goto(f"/training/runs/{run.pk}/")
    expect(tab.locator("figure[data-chart=accuracy]")).to_have_attribute("data-points", "1")
    expect(tab.locator("figure[data-chart=loss] canvas")).to_have_count(1)
    shot(tab, "run-360")
    problems += check_page(tab, "run")
    box = tab.locator("figure[data-chart=loss] canvas").bounding_box()
    assert box is not None and box["x"] + box["width"] <= PHONE["width"]
    context.close()
    assert problems == [] and errors == [] and violations == []


def test_a_reward_runs_charts_span_the_same_steps(browser, live_server, login, maintainer):
    """A lone accuracy point at the last step: uPlot padded its axis to twice the steps,
    beside the loss chart's."""
    run = TrainingRun.objects.create(
        kind="reward",
        release=make_release(),
        base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
        state="succeeded",
        attempt=1,
        step=2,
        total_steps=2,
        loss_history=train_log(1, 2),
        eval_history=[{"step": 2, "eval_loss": 0.69, "eval_pairwise_accuracy": 0.55}],
    )
    tab = browser.new_page(base_url=live_server.url)
    login(tab, maintainer)
    tab.goto(f"/training/runs/{run.pk}/")
    for chart in ("loss", "lr", "accuracy"):
        expect(tab.locator(f"figure[data-chart={chart}]")).to_have_attribute("data-x-max", "2")
    tab.close()


# The elements of a list that reach past the screen's left or right edge, as laid out now
# (a stacked table's header is clipped to nothing, and not counted).
OUTSIDE_THE_SCREEN = """(selector) => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const root of document.querySelectorAll(selector)) {
    for (const el of [root, ...root.querySelectorAll("*")]) {
      if (el.closest("thead, .visually-hidden")) continue;
      const box = el.getBoundingClientRect();
      if (box.width === 0 && box.height === 0) continue;
      if (box.left < -0.5 || box.right > width + 0.5) {
        const text = el.textContent.trim().replace(/\\s+/g, " ").slice(0, 40);
        out.push(`<${el.tagName.toLowerCase()}> ${text}: ${Math.round(box.left)}..${Math.round(box.right)}`);
      }
    }
  }
  return out;
}"""
PHONE_390: ViewportSize = {"width": 390, "height": 844}


def test_the_run_and_release_lists_fit_a_390_px_phone(
    browser, live_server, login, shot, maintainer
):
    # Long values everywhere: a Hub repository, big step counts, two metrics, an old date.
    releases = [
        make_release(
            hub_repo="hearth-community/hearth-conversations-dataset",
            hub_revision="c0ffee" * 6 + "abcd",
            changes={"sft": {"added": 12_345, "removed": 678}},
        )
        for _ in range(2)
    ]
    metrics = {"eval_loss": 2.603376, "eval_perplexity": 13.5102, "eval_pairwise_accuracy": 0.71}
    for kind, state, step in (
        ("sft", "running", 1_234),
        ("sft", "succeeded", 12_000),
        ("reward", "succeeded", 12_000),
        ("reward", "failed", 3),
    ):
        run = TrainingRun.objects.create(
            kind=kind,
            release=releases[-1],
            base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
            state=state,
            attempt=1,
            step=step,
            total_steps=12_000,
            metrics=metrics if state == "succeeded" else {},
        )
        TrainingRun.objects.filter(pk=run.pk).update(
            created_at=timezone.now() - timedelta(days=40, hours=5)
        )
    context = browser.new_context(
        base_url=live_server.url, viewport=PHONE_390, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(10_000)
    tab = context.new_page()
    login(tab, maintainer)

    # The runs stack as cards, each as wide as the screen at most, every value on it.
    tab.goto("/training/")
    shot(tab, "runs-390")
    assert tab.evaluate(OUTSIDE_THE_SCREEN, "table.runs") == []
    first = tab.locator("table.runs tbody tr").first
    expect(first.get_by_role("link", name="v2")).to_be_in_viewport()
    expect(first.locator(".badge")).to_be_in_viewport()

    # The releases table scrolls inside its wrapper, which fits the screen, shows an edge
    # shadow, and brings the last column (Hub) on screen when scrolled to its end.
    tab.goto("/releases/")
    shot(tab, "releases-390")
    wrap = tab.locator(".table-wrap").first
    box = wrap.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE_390["width"]
    widest_cell = tab.evaluate(
        "Math.max(...[...document.querySelectorAll('.table-wrap td, .table-wrap th')]"
        ".map(c => c.getBoundingClientRect().width))"
    )
    assert widest_cell <= PHONE_390["width"]
    assert wrap.evaluate("w => getComputedStyle(w).overflowX") == "auto"
    assert "radial-gradient" in wrap.evaluate("w => getComputedStyle(w).backgroundImage")
    hub = tab.locator(".table-wrap tbody tr").first.locator("td").last
    expect(hub).not_to_be_in_viewport(ratio=0.99)
    wrap.evaluate("w => { w.scrollLeft = w.scrollWidth; }")
    expect(hub).to_be_in_viewport(ratio=0.99)  # sub-pixel widths
    shot(tab, "releases-390-scrolled", full_page=False)
    context.close()
