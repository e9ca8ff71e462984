"""WSGI entry point (management tools only; the product serves through ASGI)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "whatsapp_ia.settings.base")
application = get_wsgi_application()
