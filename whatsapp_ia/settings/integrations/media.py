"""Inbound media storage, transcription limits (seed names)."""

from whatsapp_ia.env import env

MEDIA_MAX_BYTES = env.int("MEDIA_MAX_BYTES", default=100 * 1024 * 1024)
MEDIA_ALLOWED_MIME_PREFIXES = env.list(
    "MEDIA_ALLOWED_MIME_PREFIXES",
    default=["image/", "audio/", "video/", "application/", "text/"],
)
MAX_TRANSCRIPTION_DURATION_MS = env.int("MAX_TRANSCRIPTION_DURATION_MS", default=120_000)
TRANSCRIPTION_MAX_AVG_TIME_SEC = env.float("TRANSCRIPTION_MAX_AVG_TIME_SEC", default=30.0)
VOSK_MODEL_PATH = env.str("VOSK_MODEL_PATH", default="")
