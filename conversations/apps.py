from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = _("Conversations")

    def ready(self) -> None:
        from conversations import signals  # noqa: F401
        from conversations.asgi import webhook_writers_problem
        from whatsapp_ia.health import health_check_register

        health_check_register("webhook_writer", webhook_writers_problem)
