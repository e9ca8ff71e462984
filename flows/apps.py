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
