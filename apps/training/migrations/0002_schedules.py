"""The two training schedules as django-celery-beat rows, off until a maintainer turns them on
(dashboard or admin)."""

import json

from django.db import migrations


def create(apps, schema_editor):  # type: ignore[no-untyped-def]
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    hourly, _ = IntervalSchedule.objects.get_or_create(every=60, period="minutes")
    PeriodicTask.objects.get_or_create(
        name="Cut a release when enough new data is in",
        defaults={
            "task": "training.auto_release",
            "interval": hourly,
            "kwargs": json.dumps({"min_new_items": 500}),
            "enabled": False,
            "description": "Cuts the next release when at least min_new_items new accepted "
            "answers and rankings exist since the last finished release.",
        },
    )
    PeriodicTask.objects.get_or_create(
        name="Train SFT and reward models on each new release",
        defaults={
            "task": "training.auto_train",
            "interval": hourly,
            "kwargs": json.dumps({"kinds": ["sft", "reward"], "method": "full"}),
            "enabled": False,
            "description": "Queues one run per kind on the newest finished release, once per "
            "release, never while a run of that kind is queued or running.",
        },
    )


def remove(apps, schema_editor):  # type: ignore[no-untyped-def]
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(task__in=["training.auto_release", "training.auto_train"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("training", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]
    operations = [migrations.RunPython(create, remove)]
