"""Tests: same as base, with fast hashing and plain static storage."""

from whatsapp_ia.settings.base import *  # noqa: F403

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.MD5PasswordHasher",
    *[h for h in PASSWORD_HASHERS if "MD5" not in h],  # noqa: F405
]
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
CACHES["default"]["KEY_PREFIX"] = "wia-test"  # noqa: F405
MEDIA_ROOT = VAR_DIR / "test-media"  # noqa: F405
AXES_FAILURE_LIMIT = 3
LANGUAGE_CODE = "es"

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # noqa: F405
    # One test database file per test process, so parallel runs never share (and break) one file.
    import os

    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test_db_{os.getpid()}.sqlite3")}  # noqa: F405

if REDIS.socket_path:  # noqa: F405
    # No REDIS_URL: conftest starts a private Redis per test process (parallel runs never share one).
    import os

    from whatsapp_ia.settings.parsing import redis_from_env

    REDIS = redis_from_env({}, socket_path=VAR_DIR / f"test-redis-{os.getpid()}.sock")  # noqa: F405
    REDIS_URL = REDIS.client
    CACHES["default"]["LOCATION"] = REDIS.client  # noqa: F405
    CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [REDIS.client]  # noqa: F405
    CELERY_BROKER_URL = REDIS.celery

# The pipeline sends replies from the worker that stored the message: a test that stores one
# without a fake Graph server must not reach the internet. Nothing listens on port 9 (discard):
# the send fails at once as a network error and stays queued for a retry. Tests that check
# sending run a local fake Graph server and point META_GRAPH_URL at it.
META_GRAPH_URL = "http://127.0.0.1:9"
YCLOUD_API_URL = "http://127.0.0.1:9"
