"""The Celery app: `celery -A whatsapp_ia worker` / `celery -A whatsapp_ia beat`."""

import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_init, worker_process_init, worker_ready

from whatsapp_ia.heap import freeze_startup_heap

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "whatsapp_ia.settings.base")

app = Celery("whatsapp_ia")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _persistent_db_connections(**_: object) -> None:
    """Workers reuse their database connections between tasks (threads and processes are long-lived).

    Celery's own Django fixup would close them around every task, so each task paid a new
    connection (connect, login, session settings; seen in profiles of the outbound
    benchmark); CELERY_DB_REUSE_MAX turns that off and the task signals below apply
    Django's own rules instead.
    """
    from django.conf import settings
    from django.db import connections

    for alias in connections:
        connections.settings[alias]["CONN_MAX_AGE"] = settings.WORKER_DB_CONN_MAX_AGE


@worker_ready.connect
@worker_process_init.connect
def _freeze_startup_heap(**_: object) -> None:
    """Move what the worker built at startup (Django, Celery, the task modules) out of the collector's reach.

    Full collections then walk only what was made since. A full collection over all of
    Django stops every thread of the process for tens of milliseconds (80-100 ms measured
    in the web server, see whatsapp_ia/server.py), long enough to miss paced send slots.
    Runs in the worker once it is ready (threads pool) and in each forked pool process.
    """
    freeze_startup_heap()


@task_prerun.connect
@task_postrun.connect
def _close_old_db_connections(task: object = None, **_: object) -> None:
    """As Django does around a request: drop this thread's connections that are too old or broken.

    Not for a task run eagerly: it runs inside its caller's request or transaction.
    """
    from django.db import close_old_connections

    if getattr(getattr(task, "request", None), "is_eager", False):
        return
    close_old_connections()


@app.on_after_finalize.connect
def _schedule_periodic(sender: Celery, **_: object) -> None:
    from django.conf import settings

    sender.add_periodic_task(
        settings.SWEEP_INTERVAL, sender.signature("conversations.tasks.sweep_stuck_task"), name="sweep stuck work"
    )
    sender.add_periodic_task(
        settings.SWEEP_INTERVAL, sender.signature("catalog_ai.tasks.ai_turns_sweep_task"), name="sweep lost AI turns"
    )
    sender.add_periodic_task(
        settings.WEBHOOK_RETENTION_INTERVAL,
        sender.signature("conversations.tasks.deliveries_purge_task"),
        name="delete expired webhook deliveries",
    )
    sender.add_periodic_task(
        settings.SWEEP_INTERVAL,
        sender.signature("catalog_ai.tasks.catalog_stall_sweep_task"),
        name="mark stalled catalog ingestions",
    )
    sender.add_periodic_task(
        settings.SWEEP_INTERVAL,
        sender.signature("flows.tasks.rule_imports_sweep_task"),
        name="queue again lost rules imports",
    )
    sender.add_periodic_task(
        settings.ANALYTICS_ROLLUP_INTERVAL,
        sender.signature("analytics.tasks.dashboard_rollup_task"),
        name="count new messages into the dashboard's summaries",
    )
    if settings.DATABASES["default"]["ENGINE"].endswith("mysql"):  # the only ones with the full-text index
        sender.add_periodic_task(
            settings.SEARCH_INDEX_INTERVAL,
            sender.signature("conversations.tasks.search_index_task"),
            name="copy new messages under the console's full-text index",
        )
