from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CatalogAiConfig(AppConfig):
    name = "catalog_ai"
    verbose_name = _("AI catalog")
