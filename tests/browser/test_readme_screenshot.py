"""The README's pictures (the Write page, a training run), taken from the real pages.

Every run saves them in test-artifacts/; with HEARTH_UPDATE_SCREENSHOTS=1 it also replaces
those in static/docs/ (then commit them):

    HEARTH_UPDATE_SCREENSHOTS=1 pytest tests/browser/test_readme_screenshot.py
"""

from __future__ import annotations

import math
import os
import random
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, ViewportSize, expect

from apps.training.models import TrainingRun
from tests.browser.conftest import ARTIFACTS
from tests.training.conftest import make_release

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "static" / "docs"
SIZE: ViewportSize = {"width": 1280, "height": 1000}
MAX_BYTES = 300 * 1024


def save_for_readme(page: Page, name: str) -> Path:
    """Screenshot ``page`` (from its top, no focus ring or caret) as test-artifacts/<name>;
    with HEARTH_UPDATE_SCREENSHOTS=1 also as static/docs/<name>."""
    page.evaluate("document.activeElement && document.activeElement.blur()")
    page.evaluate("window.scrollTo(0, 0)")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / name
    page.screenshot(path=shot, animations="disabled", caret="hide")
    assert shot.stat().st_size < MAX_BYTES
    if os.environ.get("HEARTH_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS / name)
    return shot


def test_the_write_page_screenshot_for_the_readme(browser, live_server, login, volunteer):
    context = browser.new_context(base_url=live_server.url, viewport=SIZE)
    page = context.new_page()
    login(page, volunteer)
    page.goto("/write/")
    page.get_by_role("radio", name="Closed Q&A").check()
    page.get_by_label("Instruction").fill(
        "According to the text, when did the Øresund Bridge open to traffic?"
    )
    page.get_by_label("Context").fill(
        "The Øresund Bridge links Copenhagen and Malmö. Construction finished in August 1999, "
        "and the bridge opened to road and rail traffic on 1 July 2000."
    )
    page.get_by_label("Your answer").fill("It opened to traffic on **1 July 2000**.")
    expect(page.get_by_text("This category needs a context.")).to_be_visible()
    save_for_readme(page, "write-page.png")
    context.close()


def test_the_training_run_screenshot_for_the_readme(browser, live_server, login, maintainer):
    # A plausible SFT run two thirds through: a noisy falling loss, three evaluations.
    noise = random.Random(0)
    losses = [
        {
            "step": s,
            "loss": round(1.05 + 1.6 * math.exp(-s / 25) + noise.uniform(-0.06, 0.06), 4),
            "lr": 2e-5,
            "tokens_per_s": round(95_000 + noise.uniform(-2_000, 2_000)),
            "seconds": 0.086,
        }
        for s in range(1, 141)
    ]
    evals = [
        {"step": s, "eval_loss": v, "eval_perplexity": round(math.exp(v), 2)}
        for s, v in ((50, 1.41), (100, 1.29))
    ]
    run = TrainingRun.objects.create(
        kind="sft",
        release=make_release(),
        base_model="HuggingFaceTB/SmolLM2-135M-Instruct",
        method="lora",
        hyperparameters={"learning_rate": 2e-5, "max_steps": 200, "lora_r": 16},
        state="running",
        phase="train",
        attempt=1,
        started_at=timezone.now() - timedelta(minutes=12),
        last_report_at=timezone.now(),
        worker_host="gpu-node-1",
        step=140,
        total_steps=200,
        tokens_per_s=95_300,
        loss_history=losses,
        eval_history=evals,
        logs_tail="step 139 loss 1.09 95,102 tok/s\nstep 140 loss 1.08 95,311 tok/s\n",
    )
    context = browser.new_context(base_url=live_server.url, viewport=SIZE)
    page = context.new_page()
    login(page, maintainer)
    page.goto(f"/training/runs/{run.pk}/")
    expect(page.locator("figure[data-chart=loss] canvas")).to_have_count(1)
    # Away from the cursor the legend reads the latest step, not dashes; no eval there.
    legend = page.locator("figure[data-chart=loss] .u-legend")
    expect(legend).to_contain_text("140")
    expect(legend).to_contain_text(str(float(f"{losses[-1]['loss']:.4f}")))
    expect(legend).to_contain_text("—")
    save_for_readme(page, "training-run.png")
    context.close()
