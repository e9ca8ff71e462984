"""ASGI entry point: HTTP through Django, websockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "whatsapp_ia.settings.base")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from conversations.asgi import WebhookRoute  # noqa: E402
from conversations.routing import websocket_application  # noqa: E402
from whatsapp_ia.proxy import TrustedProxyMiddleware  # noqa: E402

# The client's address and scheme come from X-Forwarded-* only behind TRUSTED_PROXIES (whatsapp_ia/proxy.py).
application = TrustedProxyMiddleware(
    ProtocolTypeRouter(
        {
            # Webhook POSTs take a lean route (see conversations/asgi.py); the rest is plain Django.
            "http": WebhookRoute(django_asgi_app),
            # The agent console: Origin checked (4403), then the session (4401): conversations/routing.py.
            "websocket": websocket_application,
        }
    )
)
