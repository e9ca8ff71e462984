"""The agent console and its REST API (issue 13)."""

from whatsapp_ia.env import env

# Opening a chat marks the customer's messages read at the provider (blue ticks).
CONSOLE_MARK_READ = env.bool("CONSOLE_MARK_READ", default=True)

# Longest a statement of a chat-list search may run, in seconds, before the search is refused with a
# request to narrow it (a word common in chats the agent may not see walks the whole list). 0: no limit.
CONSOLE_SEARCH_TIME_LIMIT = env.float("CONSOLE_SEARCH_TIME_LIMIT", default=2.0)

# Largest file an agent may send, in MB, per WhatsApp message kind (the Cloud API's own limits by default).
CONSOLE_UPLOAD_MAX_MB = {
    "image": env.float("CONSOLE_UPLOAD_MAX_MB_IMAGE", default=5),
    "audio": env.float("CONSOLE_UPLOAD_MAX_MB_AUDIO", default=16),
    "video": env.float("CONSOLE_UPLOAD_MAX_MB_VIDEO", default=16),
    "document": env.float("CONSOLE_UPLOAD_MAX_MB_DOCUMENT", default=100),
}

SPECTACULAR_SETTINGS = {
    "TITLE": "WhatsApp IA console API",
    "DESCRIPTION": "The agent console's REST API: chats, messages, agent actions, quick replies and templates.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs page is served offline: Swagger UI from drf-spectacular-sidecar, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "PREPROCESSING_HOOKS": ["conversations.api.schema.only_console_api"],
}
