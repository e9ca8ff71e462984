from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.static import serve

from accounts.views import HomeView
from whatsapp_ia.views import healthz

admin.site.site_header = "WhatsApp IA"
admin.site.site_title = "WhatsApp IA"
admin.site.index_title = "Administración"

urlpatterns = [
    path("", HomeView.as_view(), name="home"),
    path("healthz", healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
    path("", include("conversations.urls")),
]

if settings.SERVE_MEDIA:
    # Uploaded and downloaded media (file names are random UUIDs). Production puts a proxy in front.
    urlpatterns += [path("media/<path:path>", serve, {"document_root": settings.MEDIA_ROOT})]
