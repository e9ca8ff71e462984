from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from conversations.views import HomeView
from conversations.views_media import public_media
from whatsapp_ia.views import healthz

# The admin's titles and its sections are set in whatsapp_ia/admin_site.py (translated).
urlpatterns = [
    path("", HomeView.as_view(), name="home"),
    path("healthz", healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("conversations.api.urls")),
    path("", include("analytics.urls")),  # /tablero/ and /api/metrics/
    path("export/", include("conversations.urls_export")),
    path("", include("conversations.urls")),
]

if settings.SERVE_MEDIA:
    # Only the files the business publishes (MEDIA_ROOT/public/: rule media, catalog page images).
    # Customer media is never public: conversations.views_media.message_media serves it after login.
    # In production the proxy may serve MEDIA_ROOT/public/ at the same URL instead (SERVE_MEDIA=false).
    urlpatterns += [path(f"media/{settings.MEDIA_PUBLIC_DIR}/<path:path>", public_media, name="public-media")]
