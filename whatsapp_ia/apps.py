from django.apps import AppConfig


class WhatsappIaConfig(AppConfig):
    """The project package as an app: it hosts the run-everything management commands."""

    name = "whatsapp_ia"
    verbose_name = "WhatsApp IA"

    def ready(self) -> None:
        # The Celery app becomes the current one before any task is sent (whatsapp_ia/__init__ does not load it).
        from whatsapp_ia import celery  # noqa: F401
