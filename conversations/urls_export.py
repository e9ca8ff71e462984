"""``/export/...``: files to download (conversations.views_export)."""

from django.urls import re_path

from conversations.views_export import conversation_number_export

urlpatterns = [
    # /export/conversation/<number> (JSON), <number>.json, <number>.csv; ?channel=<id> keeps one channel.
    re_path(
        r"^conversation/(?P<number>[^/]+?)(?:\.(?P<file_format>csv|json))?$",
        conversation_number_export,
        name="export-conversation-number",
    ),
]
