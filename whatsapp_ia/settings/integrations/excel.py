"""Excel import of flow rules (flows/excel.py): limits checked before a workbook is parsed, and when an
import runs in the background (a Celery task with progress) instead of inside the web request."""

from whatsapp_ia.env import env

RULES_IMPORT_MAX_FILE_BYTES = env.int("RULES_IMPORT_MAX_FILE_BYTES", default=10 * 1024 * 1024)
RULES_IMPORT_MAX_UNCOMPRESSED_BYTES = env.int("RULES_IMPORT_MAX_UNCOMPRESSED_BYTES", default=50 * 1024 * 1024)
RULES_IMPORT_MAX_COMPRESSION_RATIO = env.int("RULES_IMPORT_MAX_COMPRESSION_RATIO", default=100)
RULES_IMPORT_MAX_ROWS = env.int("RULES_IMPORT_MAX_ROWS", default=10_000)
RULES_IMPORT_MAX_COLUMNS = env.int("RULES_IMPORT_MAX_COLUMNS", default=100)
RULES_IMPORT_BACKGROUND_ROWS = env.int("RULES_IMPORT_BACKGROUND_ROWS", default=300)
