from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

AI_RESPONDER_ORDER = 200  # after the rules (flows, 100): the AI answers the messages they handed to it


class CatalogAiConfig(AppConfig):
    name = "catalog_ai"
    verbose_name = _("AI catalog")

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from catalog_ai.models import AISettings
        from catalog_ai.responder import ai_handoff, ai_handoff_cache_clear, ai_respond, ai_turn_run_now
        from conversations.services.bots import AI_RESPONDER, responder_register

        for signal in (post_save, post_delete):
            signal.connect(ai_handoff_cache_clear, sender=AISettings, dispatch_uid=f"ai-handoff-{signal}")

        responder_register(
            AI_RESPONDER,
            ai_respond,
            AI_RESPONDER_ORDER,
            run_now=lambda conversation_id: ai_turn_run_now(conversation_id=conversation_id),
            handoff=ai_handoff,
        )
