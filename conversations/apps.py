from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = _("Conversations")

    def ready(self) -> None:
        from conversations import signals  # noqa: F401
        from conversations.asgi import webhook_writers_problem
        from conversations.services.enrichment import enrichment_steps_register
        from whatsapp_ia.health import health_check_register

        health_check_register("webhook_writer", webhook_writers_problem)
        enrichment_steps_register()
