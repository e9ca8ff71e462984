"""AI mode: catalogs, OCR, page images, embeddings, generation (seed names)."""

from whatsapp_ia.env import VAR_DIR, env

OPENAI_API_KEY = env.str("OPENAI_API_KEY", default="")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="")
AI_MODE_ENABLED = env.bool("AI_MODE_ENABLED", default=False)
AI_HANDOFF_STEP = env.str("AI_HANDOFF_STEP", default="ia_chat")
AI_EMBED_MODEL = env.str("AI_EMBED_MODEL", default="text-embedding-3-small")
AI_GEN_MODEL = env.str("AI_GEN_MODEL", default="gpt-4o-mini")
# Customer images: the vision model that describes them when OPENAI_API_KEY is set (else Tesseract reads
# their text), its default instructions (the AI settings page may override them), and how many minutes of
# image descriptions the AI's answer takes as visual context.
AI_VISION_MODEL = env.str("AI_VISION_MODEL", default="gpt-4o-mini")
AI_VISION_PROMPT = env.str("AI_VISION_PROMPT", default="")
AI_VISION_CONTEXT_MINUTES = env.int("AI_VISION_CONTEXT_MINUTES", default=5)
AI_VECTOR_STORE_PATH = env.str("AI_VECTOR_STORE_PATH", default=str(VAR_DIR / "catalog_index"))
AI_CACHE_TTL = env.int("AI_CACHE_TTL", default=3600)
AI_MAX_OUTPUT_TOKENS = env.int("AI_MAX_OUTPUT_TOKENS", default=400)
AI_RESPONSE_MAX_SENTENCES = env.int("AI_RESPONSE_MAX_SENTENCES", default=4)
AI_RESPONSE_MAX_CHARS = env.int("AI_RESPONSE_MAX_CHARS", default=900)
AI_FALLBACK_MESSAGE = env.str(
    "AI_FALLBACK_MESSAGE",
    default="No encontré esa información en el catálogo. Un asesor te ayudará en breve.",
)
# The same for a question written in English (used unless the AI settings page sets its own fallback message).
AI_FALLBACK_MESSAGE_EN = env.str(
    "AI_FALLBACK_MESSAGE_EN",
    default="I could not find that in our catalog. An advisor will help you shortly.",
)
# Apertium's compiled dictionaries (Debian package apertium-eng-spa): an English question's words are also looked
# for as their Spanish translations in a Spanish catalog (and the reverse). Absent: questions are searched as written.
AI_TRANSLATION_DIR = env.str("AI_TRANSLATION_DIR", default="/usr/share/apertium")
AI_POLL_INTERVAL = env.float("AI_POLL_INTERVAL", default=2.0)
AI_BATCH_SIZE = env.int("AI_BATCH_SIZE", default=10)
CATALOG_UPLOAD_DIR = env.str("CATALOG_UPLOAD_DIR", default="catalogs")
AI_OCR_ENABLED = env.bool("AI_OCR_ENABLED", default=True)
AI_OCR_DPI = env.int("AI_OCR_DPI", default=220)
AI_OCR_LANG = env.str("AI_OCR_LANG", default="spa+eng")
AI_OCR_TESSERACT_CONFIG = env.str("AI_OCR_TESSERACT_CONFIG", default="")
AI_OCR_TESSERACT_ENABLED = env.bool("AI_OCR_TESSERACT_ENABLED", default=True)
AI_OCR_EASYOCR_ENABLED = env.bool("AI_OCR_EASYOCR_ENABLED", default=True)
AI_OCR_EASYOCR_LANGS = env.str("AI_OCR_EASYOCR_LANGS", default="")
AI_OCR_EASYOCR_DOWNLOAD_ENABLED = env.bool("AI_OCR_EASYOCR_DOWNLOAD_ENABLED", default=False)
AI_OCR_EASYOCR_VERBOSE = env.bool("AI_OCR_EASYOCR_VERBOSE", default=False)
AI_PAGE_IMAGE_DIR = env.str("AI_PAGE_IMAGE_DIR", default="public/catalogs/pages")
AI_PAGE_IMAGE_FORMAT = env.str("AI_PAGE_IMAGE_FORMAT", default="JPEG")
AI_PAGE_IMAGE_SCALE = env.float("AI_PAGE_IMAGE_SCALE", default=2.0)
AI_PAGE_IMAGE_QUALITY = env.int("AI_PAGE_IMAGE_QUALITY", default=85)
# Catalog ingestion: SKU pattern (empty = built-in: Ref/Referencia/SKU/Cód/Código codes), chunk sizes,
# when a page's text layer is good enough to skip OCR, upload limit, Tesseract limits.
AI_SKU_PATTERN = env.str("AI_SKU_PATTERN", default="")
AI_CHUNK_MAX_CHARS = env.int("AI_CHUNK_MAX_CHARS", default=900)
AI_CHUNK_OVERLAP = env.int("AI_CHUNK_OVERLAP", default=150)
AI_TEXT_MIN_CHARS = env.int("AI_TEXT_MIN_CHARS", default=20)
AI_CATALOG_MAX_BYTES = env.int("AI_CATALOG_MAX_BYTES", default=200 * 1024 * 1024)
AI_OCR_TIMEOUT = env.int("AI_OCR_TIMEOUT", default=120)
AI_OCR_THREADS = env.int("AI_OCR_THREADS", default=1)
# Catalog ingestion limits: pages per PDF, pixels of one rendered page (a larger page is rendered scaled down
# to this), seconds for the whole ingestion (checked between pages; 0 = no limit), and seconds without a sign
# of life after which a processing catalog counts as stalled (its worker died) and may be resumed or reset.
AI_CATALOG_MAX_PAGES = env.int("AI_CATALOG_MAX_PAGES", default=2000)
AI_CATALOG_MAX_PAGE_PIXELS = env.int("AI_CATALOG_MAX_PAGE_PIXELS", default=40_000_000)
# Under LONG_TASK_SOFT_TIME_LIMIT (3000 s), so the ingestion stops with its own clear reason (and can be resumed).
AI_CATALOG_MAX_SECONDS = env.int("AI_CATALOG_MAX_SECONDS", default=2700)
AI_CATALOG_STALL_SECONDS = env.int("AI_CATALOG_STALL_SECONDS", default=600)
# Where an ingestion keeps the pages it finished, so a resumed one does not redo them (private: not under MEDIA).
AI_CATALOG_CHECKPOINT_DIR = env.str("AI_CATALOG_CHECKPOINT_DIR", default=str(VAR_DIR / "catalog_checkpoints"))
# AI hand-off buffer: wait for silence before answering a burst (seconds after a text/audio; after an
# image, which a later text never shortens).
AI_BUFFER_TEXT_SECONDS = env.float("AI_BUFFER_TEXT_SECONDS", default=10.0)
AI_BUFFER_IMAGE_SECONDS = env.float("AI_BUFFER_IMAGE_SECONDS", default=20.0)
OPENAI_TIMEOUT = env.float("OPENAI_TIMEOUT", default=30.0)
OPENAI_MAX_RETRIES = env.int("OPENAI_MAX_RETRIES", default=2)
