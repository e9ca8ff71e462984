from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    name = "analytics"
    verbose_name = _("Analytics")

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from analytics.services.resolutions import on_conversation_saved
        from conversations.models import Conversation

        # Conversations keep no history of their closings: the resolution time is recorded here.
        post_save.connect(on_conversation_saved, sender=Conversation, dispatch_uid="analytics_closing")
