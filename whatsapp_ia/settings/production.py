"""Production: everything from base, tightened. Secrets are mandatory here."""

from django.core.exceptions import ImproperlyConfigured

from whatsapp_ia.env import env
from whatsapp_ia.settings.base import *  # noqa: F403


def _mandatory(name: str) -> str:
    value = env.str(name, default="")
    if not value:
        raise ImproperlyConfigured(f"{name} must be set in production")
    return value


DEBUG = False
SECRET_KEY = _mandatory("SECRET_KEY")
FIELD_ENCRYPTION_KEY = _mandatory("FIELD_ENCRYPTION_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

# No SECURE_PROXY_SSL_HEADER: the scheme comes from X-Forwarded-Proto only when a TRUSTED_PROXIES
# address sent it (whatsapp_ia/proxy.py sets the ASGI scope's scheme, which Django reads).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# Meta and other providers must reach the webhook over plain HTTP health checks too.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
STORAGES["staticfiles"] = {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"}  # noqa: F405
WEBHOOK_VERIFY_SIGNATURES = True  # never off in production
SERVE_MEDIA = env.bool("SERVE_MEDIA", default=False)  # the proxy serves MEDIA_ROOT/public/ only
