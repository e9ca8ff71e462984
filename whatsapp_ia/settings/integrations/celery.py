"""Celery: broker and results on the same Redis as everything else."""

from whatsapp_ia.env import env
from whatsapp_ia.settings.base import REDIS

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS.celery)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery 6 behaviour now: on a lost broker connection, late-ack tasks are redelivered, not left hanging.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Locks that keep one worker per conversation (and per delivery lane) live this long in Redis and
# are renewed while their holder works; a killed worker's lock frees itself after at most this.
CONVERSATION_LOCK_TTL = env.int("CONVERSATION_LOCK_TTL", default=300)
# Every task is stopped after these many seconds (soft: an exception the task can clean up after;
# hard: the worker process is replaced). Below the lock's TTL, so a task never outlives its lock
# even if renewing it failed. Long tasks (catalog ingestion) have their own, larger limits.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=240)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=270)
# Below the broker's visibility timeout (3600 s), or Redis would hand the task to a second worker.
LONG_TASK_SOFT_TIME_LIMIT = env.int("LONG_TASK_SOFT_TIME_LIMIT", default=3000)
LONG_TASK_TIME_LIMIT = env.int("LONG_TASK_TIME_LIMIT", default=3300)
# The Celery queues of voice-note transcription and image description: a worker of their own consumes them
# (`manage.py serve` starts one at idle CPU priority), so a long audio never delays text replies.
TRANSCRIPTION_QUEUE = env.str("TRANSCRIPTION_QUEUE", default="transcription")
VISION_QUEUE = env.str("VISION_QUEUE", default="vision")
# CPUs for `manage.py serve`'s media worker (a Linux CPU list: "1", "2-3", "0,2"; empty: any). Even at idle
# priority, recognition on the core that answers texts slows them (bench/voice_burst.sh); with 2 or more cores,
# give it one of its own.
MEDIA_WORKER_CPUS = env.str("MEDIA_WORKER_CPUS", default="")
# How often the scheduler sweeps for stuck work (seconds).
SWEEP_INTERVAL = env.int("SWEEP_INTERVAL", default=60)
# How often (seconds) the new messages are copied under the console's full-text index (MySQL/MariaDB;
# the search reads the ones not copied yet directly, so this only bounds that short read).
SEARCH_INDEX_INTERVAL = env.int("SEARCH_INDEX_INTERVAL", default=10)
# How often (seconds) new messages are counted into the dashboard's summary tables (analytics.services.rollup;
# the dashboard reads the messages not counted yet directly, so this only bounds that short read).
ANALYTICS_ROLLUP_INTERVAL = env.int("ANALYTICS_ROLLUP_INTERVAL", default=30)
# Seconds a worker keeps a database connection open between tasks (the web tier uses DB_CONN_MAX_AGE).
WORKER_DB_CONN_MAX_AGE = env.int("WORKER_DB_CONN_MAX_AGE", default=300)
# Celery's Django fixup closes every database connection before and after each task unless this is
# set; whatsapp_ia/celery.py governs reuse with WORKER_DB_CONN_MAX_AGE instead (see there).
CELERY_DB_REUSE_MAX = 1_000_000_000
