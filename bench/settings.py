"""Production settings plus the benchmark's two baseline routes (bench/urls.py)."""

from whatsapp_ia.settings.production import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
