"""The schedules' decisions (cut a release? queue which runs?) and their editing. The full
loop through real Celery workers is in test_e2e.py."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone, translation
from django_celery_beat.models import PeriodicTask, PeriodicTasks

from apps.releases.models import PublishState, Release, ReleaseState
from apps.training import schedules, services
from apps.training.models import RunOrigin, RunState, TrainingRun
from tests.factories import UserFactory
from tests.locks import (
    InThread,
    pause_before,
    require_row_locks,
    wait_until_someone_waits_on_a_lock,
)
from tests.releases.helpers import World, ranked_prompt
from tests.training.conftest import counts, make_release


def corpus(prompts: int, world: World | None = None) -> World:
    """``prompts`` complete prompts, three answers and three rankings each."""
    world = world or World()
    users = [UserFactory() for _ in range(6)]
    start = len(world.prompts)
    for i in range(start, start + prompts):
        ranked_prompt(
            world,
            f"p{i}",
            author=users[0],
            answerers=users[1:4],
            rankers=[users[4], users[5], users[0]],
        )
    return world


def test_new_items_count_answers_and_rankings_since_the_last_release(db):
    corpus(2)  # 2 × (3 answers + 3 rankings)
    assert schedules.new_items() == (12, None)
    last = make_release(
        counts={"rows": {"sft": {"train": 5, "test": 1}, "rankings": {"train": 4, "test": 0}}}
    )
    assert schedules.new_items() == (2, last)
    # Filters count only what such a release would hold.
    assert schedules.new_items(filters={"languages": ["de"]})[0] == 0


def test_new_items_are_those_not_in_the_last_release_not_the_growth_since(transactional_db):
    """Counted against the last release's files: an answer withdrawn since does not cancel
    a new one out, and what a narrower hand-cut release left out is new to this filter."""
    from apps.collection.models import Response
    from apps.feedback.models import Ranking
    from tests.releases.helpers import build

    world = corpus(2)  # 6 answers, 6 rankings, in English
    last = build()
    assert last.state == ReleaseState.READY
    assert schedules.new_items() == (0, last)

    Response.objects.filter(pk=world.responses["p0.0"].pk).update(withdrawn_at=timezone.now())
    ranked_prompt(world, "p9", author=UserFactory(), answerers=[UserFactory()], rankers=[])
    # Growth since the release is nil (one answer out, one in); one answer is new.
    assert schedules.new_items() == (1, last)
    p1 = world.prompts["p1"]
    Ranking.objects.create(
        ranker=UserFactory(), prompt=p1, order=[world.responses[f"p1.{i}"].pk for i in (2, 1, 0)]
    )
    assert schedules.new_items() == (2, last)

    # A release cut by hand for German holds only the one German prompt's answer: to a
    # schedule without a filter the rest is new, to a German one nothing is.
    ranked_prompt(
        world, "de", author=UserFactory(), answerers=[UserFactory()], rankers=[], language="de"
    )
    german = build(languages=["de"])
    assert german.state == ReleaseState.READY
    assert schedules.new_items() == (5 + 7 + 1, german)  # answers (5 live + p9), rankings
    assert schedules.new_items(filters={"languages": ["de"]}) == (0, german)


def test_new_rankings_of_answers_the_filter_leaves_out_cut_nothing(db):
    """Rankings count as new items, but a release needs an answer its filter keeps: with only
    model-written answers left out, the schedule waits instead of failing its tick."""
    from apps.collection.models import Response, Source

    corpus(1)
    Response.objects.update(source=Source.MODEL)
    outcome = schedules.maybe_cut_release(min_new_items=1)
    assert outcome.startswith("Waiting: No accepted answer matches this filter")
    assert not Release.objects.exists()


def test_a_release_is_cut_only_with_enough_new_items_and_never_while_one_builds(db):
    corpus(2)
    assert schedules.maybe_cut_release(min_new_items=13) == (
        "Waiting: 12 new items of the 13 needed."
    )
    assert not Release.objects.exists()
    outcome = schedules.maybe_cut_release(min_new_items=12)
    assert outcome == "Cut v1, the first release (12 new items)."
    (release,) = Release.objects.all()
    assert release.state == ReleaseState.BUILDING and release.created_by is None
    # The share the Releases form would suggest: a small collection gets a test split.
    assert release.filter["test_share"] == pytest.approx(0.5)
    assert schedules.maybe_cut_release(min_new_items=1) == "Waiting: v1 is still building."
    # A build silent for BUILD_STALE (its worker died) would be waited for for ever: the
    # schedule says so and where to rebuild it.
    long_ago = timezone.now() - timedelta(minutes=31)
    Release.objects.filter(pk=release.pk).update(started_at=long_ago, progress_at=long_ago)
    assert schedules.maybe_cut_release(min_new_items=1) == (
        "Waiting: v1's build has made no progress for 5 minutes (its worker may have died). "
        "Rebuild it from its page, and the schedule goes on."
    )
    with translation.override("es"):
        (cut,) = [s for s in schedules.schedule_list() if s.task == "training.auto_release"]
    assert cut.outcome[0].startswith("En espera: la generación de v1 no avanza desde hace 5 ")
    assert Release.objects.count() == 1


def test_training_queues_exactly_one_run_per_kind_per_release(db):
    assert schedules.maybe_train() == "Waiting: no release is finished yet."
    make_release()
    newest = make_release()
    outcome = schedules.maybe_train(base_models={"sft": "org/lm", "reward": "org/rm"})
    runs = TrainingRun.objects.order_by("kind")
    assert [(r.kind, r.release, r.origin, r.base_model) for r in runs] == [
        ("reward", newest, RunOrigin.SCHEDULE, "org/rm"),
        ("sft", newest, RunOrigin.SCHEDULE, "org/lm"),
    ]
    assert "Supervised fine-tune: queued run" in outcome
    assert "Reward model: queued run" in outcome
    assert outcome.endswith(f"on {newest.version}.")
    # The next tick: those runs are active, and this release has its runs anyway.
    again = schedules.maybe_train()
    assert TrainingRun.objects.count() == 2
    assert again == (
        "Supervised fine-tune: v2 has its run already. Reward model: v2 has its run already."
    )
    # Shown to a Spanish reader, the kind is named in Spanish too (it read "sft: v2 ya...").
    with translation.override("es"):
        (train,) = [s for s in schedules.schedule_list() if s.task == "training.auto_train"]
    assert train.outcome == [
        "Ajuste fino supervisado: v2 ya tiene su ejecución.",
        "Modelo de recompensa: v2 ya tiene su ejecución.",
    ]
    # Even once they finished, the same release is not trained again by the schedule.
    TrainingRun.objects.update(state=RunState.SUCCEEDED)
    schedules.maybe_train()
    assert TrainingRun.objects.count() == 2


def test_a_running_run_of_a_kind_holds_the_schedule_back_for_that_kind(db):
    old = make_release()
    manual = services.run_create(user=None, release=old, kind="sft", dispatch=False)
    services.run_report(run_id=manual.pk, attempt=0, payload={"state": "running"})
    make_release()
    outcome = schedules.maybe_train()
    assert f"Supervised fine-tune: waiting for run {manual.pk} to finish." in outcome
    assert list(
        TrainingRun.objects.filter(origin=RunOrigin.SCHEDULE).values_list("kind", flat=True)
    ) == ["reward"]


def test_a_release_without_preferences_gets_an_sft_run_only(db):
    make_release(counts=counts(preferences=(0, 0)))
    outcome = schedules.maybe_train()
    assert "Reward model: skipped" in outcome and "no preferences rows" in outcome
    assert list(TrainingRun.objects.values_list("kind", flat=True)) == ["sft"]


def test_with_the_hub_on_an_unpublished_release_is_published_before_training(db, settings):
    settings.HUB_NAMESPACE = "hearth"
    make_release()
    assert schedules.maybe_train().startswith("Sending v1 to the Hub first")
    assert not TrainingRun.objects.exists()


def test_a_release_being_published_is_not_sent_again_each_tick(
    db, settings, django_capture_on_commit_callbacks
):
    settings.HUB_NAMESPACE = "hearth"
    make_release()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert schedules.maybe_train().startswith("Sending v1 to the Hub first")
        assert schedules.maybe_train() == "Waiting: v1 is being published to the Hub."
    assert len(callbacks) == 1  # one publish queued


def test_a_release_whose_publishing_failed_is_not_waited_on_for_ever(
    db, settings, django_capture_on_commit_callbacks
):
    """It said "publishing v1 first" at every tick, for ever, sending it again each time."""
    settings.HUB_NAMESPACE = "hearth"
    make_release(publish_state=PublishState.FAILED, publish_error="HF_TOKEN is not set.")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        outcome = schedules.maybe_train()
    assert outcome == (
        "Not training on v1: publishing it to the Hub failed (HF_TOKEN is not set.). Publish "
        "it again from its page; training starts at a later run of this schedule."
    )
    assert callbacks == []  # not sent again by itself
    assert not TrainingRun.objects.exists()
    assert Release.objects.get().publish_state == PublishState.FAILED


# --- the rows and their editing ---------------------------------------------------------------


def test_both_schedules_exist_switched_off(db):
    listed = {s.task: s for s in schedules.schedule_list()}
    assert set(listed) == {"training.auto_release", "training.auto_train"}
    assert not any(s.enabled for s in listed.values())
    assert listed["training.auto_release"].options == {"min_new_items": 500}
    assert listed["training.auto_release"].every_minutes == 60


def test_a_maintainer_edits_a_schedule(db, maintainer, volunteer):
    schedule = next(s for s in schedules.schedule_list() if s.task == "training.auto_train")
    options = {
        "kinds": ["sft"],
        "base_models": {"sft": "org/lm"},
        "hyperparameters": {"sft": {"max_steps": 50}},
    }
    with pytest.raises(PermissionDenied):
        schedules.schedule_update(
            user=volunteer, schedule_id=schedule.id, enabled=True, every_minutes=30, options=options
        )
    schedules.schedule_update(
        user=maintainer, schedule_id=schedule.id, enabled=True, every_minutes=30, options=options
    )
    row = PeriodicTask.objects.get(pk=schedule.id)
    assert row.enabled and row.interval.every == 30 and row.interval.period == "minutes"
    assert json.loads(row.kwargs) == {**options, "method": "full"}


def test_an_edit_keeps_what_beat_recorded_meanwhile_and_beat_sees_the_edit(
    db, maintainer, monkeypatch
):
    """Beat records each run on the row (``last_run_at``, ``total_run_count``) while a
    maintainer edits it: the edit writes only the fields it changes, so the run that beat
    recorded after the edit read the row is kept. Beat still notices the edit (its change
    marker moves), and reloads the schedule."""
    schedule = next(s for s in schedules.schedule_list() if s.task == "training.auto_release")
    marker = PeriodicTasks.last_change()
    ran_at = timezone.now().replace(microsecond=0) - timedelta(minutes=5)
    real_check = schedules.check_options

    def beat_records_a_run(task: str, options: object) -> dict[str, object]:
        # As beat's sync does (ModelEntry.save), after the edit read the row.
        PeriodicTask.objects.filter(pk=schedule.id).update(last_run_at=ran_at, total_run_count=7)
        return real_check(task, options)

    monkeypatch.setattr(schedules, "check_options", beat_records_a_run)
    schedules.schedule_update(
        user=maintainer,
        schedule_id=schedule.id,
        enabled=True,
        every_minutes=15,
        options={"min_new_items": 40},
    )

    row = PeriodicTask.objects.get(pk=schedule.id)
    assert (row.last_run_at, row.total_run_count) == (ran_at, 7)
    assert row.enabled and row.interval.every == 15
    assert json.loads(row.kwargs) == {"min_new_items": 40}
    assert marker is not None and PeriodicTasks.last_change() > marker
    assert row.date_changed > marker


@pytest.mark.django_db(transaction=True)
def test_beat_recording_a_run_waits_for_an_edit_in_progress(maintainer, monkeypatch):
    """On PostgreSQL the edit holds the row's lock from its read to its write: beat's record of
    a run waits for it, then lands on the edited row, and neither undoes the other."""
    require_row_locks()
    schedules.ensure_schedules()
    schedule = next(s for s in schedules.schedule_list() if s.task == "training.auto_release")
    ran_at = timezone.now().replace(microsecond=0)
    editing = pause_before(schedules, "check_options", monkeypatch)
    edit = InThread(
        lambda: schedules.schedule_update(
            user=maintainer,
            schedule_id=schedule.id,
            enabled=True,
            every_minutes=15,
            options={"min_new_items": 40},
        )
    ).start()
    editing.wait()  # the edit has read the row
    beat = InThread(
        lambda: PeriodicTask.objects.filter(pk=schedule.id).update(
            last_run_at=ran_at, total_run_count=7
        )
    ).start()
    wait_until_someone_waits_on_a_lock()  # beat waits for the edit
    editing.go.set()
    edit.join()
    assert beat.join() == 1

    row = PeriodicTask.objects.get(pk=schedule.id)
    assert (row.last_run_at, row.total_run_count) == (ran_at, 7)
    assert row.enabled and row.interval.every == 15
    assert json.loads(row.kwargs) == {"min_new_items": 40}


def test_beat_records_a_run_without_undoing_an_edit_made_after_it_loaded_the_schedule(
    db, maintainer, monkeypatch
):
    """Beat holds each schedule in memory; django-celery-beat recorded a run by reading the
    row again and saving every column, so an edit committed between that read and that write
    was undone. Hearth's scheduler writes the run's two columns only (apps/core/beat.py)."""
    from apps.celery import app
    from apps.core.beat import Scheduler

    schedule = next(s for s in schedules.schedule_list() if s.task == "training.auto_release")
    entry = Scheduler.Entry(PeriodicTask.objects.get(pk=schedule.id), app=app)
    ran = next(entry)  # what beat does when it sends the task: the run, in memory

    def edit(every: int) -> None:
        schedules.schedule_update(
            user=maintainer,
            schedule_id=schedule.id,
            enabled=True,
            every_minutes=every,
            options={"min_new_items": every},
        )

    edit(15)  # after beat loaded the schedule
    manager = PeriodicTask._default_manager
    real_get = manager.get
    edits = [15]

    def read_then_edit(*args: object, **kwargs: object) -> PeriodicTask:
        row = real_get(*args, **kwargs)
        edit(20)  # should the scheduler read the row again, another edit right after
        edits.append(20)
        return row

    monkeypatch.setattr(manager, "get", read_then_edit)
    ran.save()
    monkeypatch.undo()

    row = PeriodicTask.objects.get(pk=schedule.id)
    assert (row.last_run_at, row.total_run_count) == (ran.model.last_run_at, 1)
    assert row.enabled and row.interval.every == edits[-1]
    assert json.loads(row.kwargs) == {"min_new_items": edits[-1]}


def test_switching_a_schedule_off_forgets_its_last_run_as_beat_does(db, maintainer):
    """django-celery-beat clears ``last_run_at`` of a task switched off, so that once switched
    on again it counts a whole interval from then, instead of running at once to catch up."""
    schedule = next(s for s in schedules.schedule_list() if s.task == "training.auto_train")
    PeriodicTask.objects.filter(pk=schedule.id).update(
        enabled=True, last_run_at=timezone.now(), total_run_count=3
    )
    schedules.schedule_update(
        user=maintainer, schedule_id=schedule.id, enabled=False, every_minutes=60, options={}
    )
    row = PeriodicTask.objects.get(pk=schedule.id)
    assert (row.enabled, row.last_run_at, row.total_run_count) == (False, None, 3)


@pytest.mark.parametrize(
    ("task", "every", "options", "field"),
    [
        ("training.auto_release", 0, {}, "every_minutes"),
        ("training.auto_release", "soon", {}, "every_minutes"),
        ("training.auto_release", 60, {"min_new_items": 0}, "min_new_items"),
        ("training.auto_release", 60, {"min_new_items": "10"}, "min_new_items"),
        ("training.auto_release", 60, {"languages": ["xx-notalang-zz"]}, "languages"),
        ("training.auto_release", 60, {"whatever": 1}, "options"),
        ("training.auto_train", 60, {"kinds": ["dpo"]}, "kinds"),
        ("training.auto_train", 60, {"kinds": []}, "kinds"),
        ("training.auto_train", 60, {"base_models": {"sft": ""}}, "base_models.sft"),
        (
            "training.auto_train",
            60,
            {"base_models": {"reward": "org/\ud800"}},
            "base_models.reward",
        ),
        (
            "training.auto_train",
            60,
            {"hyperparameters": {"sft": {"base_model_gguf_file": "\ud800.gguf"}}},
            "hyperparameters",
        ),
        ("training.auto_train", 60, {"hyperparameters": {"sft": {"lr": 1}}}, "hyperparameters"),
        ("training.auto_train", 60, {"method": "bogus"}, "method"),
        ("training.auto_train", 60, {"kinds": [["sft"]]}, "kinds"),
        (
            "training.auto_train",
            60,
            {"hyperparameters": {"reward": {"max_prompt_len": 10**9}}},
            "hyperparameters",
        ),
        ("training.auto_train", 60, [], "options"),
    ],
)
def test_bad_schedule_settings_are_refused_and_nothing_changes(db, task, every, options, field):
    schedule = next(s for s in schedules.schedule_list() if s.task == task)
    before = PeriodicTask.objects.get(pk=schedule.id)
    with pytest.raises(ValidationError) as caught:
        schedules.schedule_update(
            user=None, schedule_id=schedule.id, enabled=True, every_minutes=every, options=options
        )
    assert field in caught.value.message_dict
    after = PeriodicTask.objects.get(pk=schedule.id)
    assert (after.enabled, after.kwargs, after.interval_id) == (
        before.enabled,
        before.kwargs,
        before.interval_id,
    )
