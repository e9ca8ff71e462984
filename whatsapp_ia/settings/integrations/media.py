"""Inbound media storage, outbound media sending, transcription limits (seed names)."""

from enum import Enum

from whatsapp_ia.env import env, env_to_enum


class OutboundMediaMode(Enum):
    UPLOAD = "upload"  # upload the file to the provider (Graph /media) and send its id: nothing public
    LINK = "link"  # send a link under MEDIA_PUBLIC_BASE_URL (only files under MEDIA_ROOT/public/)


MEDIA_MAX_BYTES = env.int("MEDIA_MAX_BYTES", default=100 * 1024 * 1024)
MEDIA_ALLOWED_MIME_PREFIXES = env.list(
    "MEDIA_ALLOWED_MIME_PREFIXES",
    default=["image/", "audio/", "video/", "application/", "text/"],
)
# The folder under MEDIA_ROOT for files the business publishes (rule media, catalog page images);
# the only one served without logging in. Customer media is never stored there.
MEDIA_PUBLIC_DIR = "public"
# How outbound files go to WhatsApp: by upload (default) or by public link (needs MEDIA_PUBLIC_BASE_URL).
OUTBOUND_MEDIA_MODE = env_to_enum(OutboundMediaMode, env.str("OUTBOUND_MEDIA_MODE", default="upload")).value
# An uploaded media id is reused for the same file this long (Meta keeps uploads 30 days).
MEDIA_UPLOAD_REUSE_DAYS = env.int("MEDIA_UPLOAD_REUSE_DAYS", default=25)
# A download that failed for a transient reason is tried again by the sweeper after this many
# seconds, until the message is this many hours old (Meta keeps inbound media 7 days).
MEDIA_REFETCH_AFTER_SECONDS = env.int("MEDIA_REFETCH_AFTER_SECONDS", default=600)
MEDIA_REFETCH_MAX_AGE_HOURS = env.int("MEDIA_REFETCH_MAX_AGE_HOURS", default=144)
MAX_TRANSCRIPTION_DURATION_MS = env.int("MAX_TRANSCRIPTION_DURATION_MS", default=120_000)
TRANSCRIPTION_MAX_AVG_TIME_SEC = env.float("TRANSCRIPTION_MAX_AVG_TIME_SEC", default=30.0)
VOSK_MODEL_PATH = env.str("VOSK_MODEL_PATH", default="")
