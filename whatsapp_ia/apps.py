from django.apps import AppConfig


class WhatsappIaConfig(AppConfig):
    """The project package as an app: it hosts the run-everything management commands."""

    name = "whatsapp_ia"
    verbose_name = "WhatsApp IA"
