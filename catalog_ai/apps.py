from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CatalogAiConfig(AppConfig):
    name = "catalog_ai"
    verbose_name = _("AI catalog")

    def ready(self) -> None:
        from catalog_ai.responder import ai_turn_run_now
        from conversations.services.processing import immediate_turn_register

        immediate_turn_register(name="ai", run=lambda conversation_id: ai_turn_run_now(conversation_id=conversation_id))
