from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

FLOWS_RESPONDER_ORDER = 100  # the rules answer first; the AI (catalog_ai) answers what they hand to it


class FlowsConfig(AppConfig):
    name = "flows"
    verbose_name = _("Bot flows")

    def ready(self) -> None:
        from conversations.services.bots import responder_register
        from flows.services import flow_turn, rule_steps

        responder_register("flows", flow_turn, FLOWS_RESPONDER_ORDER, steps=rule_steps)

        from conversations.services.quick_replies import quick_reply_source_register
        from flows.quick_replies import SOURCE

        quick_reply_source_register(SOURCE)  # the console's quick replies come from our QuickReply model

        from django.db.models.signals import post_delete, post_save

        from flows.models import GlobalCommand, Rule, RuleMedia
        from flows.rules_cache import rules_changed

        # Each process keeps the active rules and commands (flows/rules_cache.py): any change reloads them.
        for model in (Rule, RuleMedia, GlobalCommand):
            post_save.connect(rules_changed, sender=model, dispatch_uid=f"flows-rules-changed-save-{model.__name__}")
            post_delete.connect(rules_changed, sender=model, dispatch_uid=f"flows-rules-changed-del-{model.__name__}")
