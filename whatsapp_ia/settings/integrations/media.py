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
# Voice notes: which backend transcribes them (vosk: offline, the model at VOSK_MODEL_PATH; openai: the
# transcription endpoint at OPENAI_BASE_URL with OPENAI_TRANSCRIPTION_MODEL).
TRANSCRIPTION_BACKEND = env.str("TRANSCRIPTION_BACKEND", default="vosk")
OPENAI_TRANSCRIPTION_MODEL = env.str("OPENAI_TRANSCRIPTION_MODEL", default="whisper-1")
# The language spoken in voice notes (an ISO 639-1 hint for the OpenAI backend; Vosk's is the model's).
TRANSCRIPTION_LANGUAGE = env.str("TRANSCRIPTION_LANGUAGE", default="es")
# Opt-in download of the Vosk model on first use: a zip at VOSK_MODEL_URL, checked against VOSK_MODEL_SHA256,
# unpacked into VOSK_MODEL_PATH (`manage.py transcription_model --download` does the same ahead of time).
VOSK_MODEL_DOWNLOAD = env.bool("VOSK_MODEL_DOWNLOAD", default=False)
VOSK_MODEL_URL = env.str("VOSK_MODEL_URL", default="https://alphacephei.com/vosk/models/vosk-model-small-es-0.42.zip")
VOSK_MODEL_SHA256 = env.str("VOSK_MODEL_SHA256", default="")
# Optional: restrict Vosk to these words and phrases (comma-separated), e.g. the answers of a menu.
VOSK_GRAMMAR = env.list("VOSK_GRAMMAR", default=[])
# Wall-clock limit of one transcription or description (ffmpeg, the model, the provider), seconds.
TRANSCRIPTION_TIMEOUT_SEC = env.float("TRANSCRIPTION_TIMEOUT_SEC", default=300.0)
# While customers' messages flow, Vosk works this share of the time and rests the rest (between chunks of
# 0.25 s of audio), so voice notes do not slow text replies on a small host (bench/voice_burst.sh); at full
# speed when no message came in the last 2 s. 1 turns the pacing off.
RECOGNITION_DUTY_WHILE_TEXTS = env.float("RECOGNITION_DUTY_WHILE_TEXTS", default=0.15)
# Load shedding: the average of the transcriptions of the last this many seconds is compared with
# TRANSCRIPTION_MAX_AVG_TIME_SEC; older timings no longer count, so the service recovers by itself.
TRANSCRIPTION_LOAD_WINDOW_SEC = env.int("TRANSCRIPTION_LOAD_WINDOW_SEC", default=300)
# Transient failures of a transcription or description (provider 5xx, timeouts) are tried this many times.
ENRICHMENT_MAX_ATTEMPTS = env.int("ENRICHMENT_MAX_ATTEMPTS", default=4)
# Images larger than this many pixels are scaled down before OCR or the vision model.
IMAGE_DESCRIPTION_MAX_PIXELS = env.int("IMAGE_DESCRIPTION_MAX_PIXELS", default=4_000_000)
