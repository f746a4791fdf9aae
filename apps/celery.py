"""The Django-side Celery app: default and exports queues. Broker from REDIS_URL, else the
embedded filesystem broker (see settings)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.settings")

app = Celery("hearth")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="hearth.ping")
def ping() -> str:
    return "pong"
