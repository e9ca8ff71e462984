"""The Celery app: `celery -A whatsapp_ia worker` / `celery -A whatsapp_ia beat`."""

import os

from celery import Celery
from celery.signals import worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "whatsapp_ia.settings.base")

app = Celery("whatsapp_ia")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _persistent_db_connections(**_: object) -> None:
    """Workers reuse their database connections between tasks (threads and processes are long-lived)."""
    from django.conf import settings
    from django.db import connections

    for alias in connections:
        connections.settings[alias]["CONN_MAX_AGE"] = settings.WORKER_DB_CONN_MAX_AGE


@app.on_after_finalize.connect
def _schedule_periodic(sender: Celery, **_: object) -> None:
    from django.conf import settings

    sender.add_periodic_task(
        settings.SWEEP_INTERVAL, sender.signature("conversations.tasks.sweep_stuck_task"), name="sweep stuck work"
    )
    sender.add_periodic_task(
        settings.SWEEP_INTERVAL, sender.signature("catalog_ai.tasks.ai_turns_sweep_task"), name="sweep lost AI turns"
    )
