"""Provider webhooks: verify → store raw → 200 after commit → parse and process in a task.

Nothing but the signature check and one INSERT happens on this path, so a
delivery is durable before its 200 and the provider retries anything we did
not store (a database error gives a 5xx).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError
from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.providers import PROVIDERS
from conversations.providers.base import ChannelConfig
from conversations.services.channels import verify_tokens, webhook_secrets
from conversations.services.ingest import delivery_enqueue_on_commit, delivery_record

logger = logging.getLogger(__name__)


def signature_ok(*, provider_name: str, body: bytes, headers: object) -> bool:
    """True when any secret configured for the provider signed this body."""
    provider_cls = PROVIDERS[provider_name]
    return any(
        provider_cls(ChannelConfig(provider=provider_name, external_id="", app_secret=secret)).verify_signature(
            body=body, headers=headers
        )
        for secret in webhook_secrets(provider=provider_name)
    )


@dataclass(frozen=True)
class WebhookAnswer:
    status: int
    body: dict[str, str]


def webhook_receive(*, provider_name: str, body: bytes, headers: Mapping[str, str]) -> WebhookAnswer:
    """Check the signature, store the raw delivery and enqueue its parsing after commit.

    The one implementation of a webhook POST, used by the DRF view and by the lean
    ASGI route (conversations/asgi.py) that serves it under Daphne.
    """
    if provider_name not in PROVIDERS:
        return WebhookAnswer(404, {"detail": "Unknown provider."})
    if settings.WEBHOOK_VERIFY_SIGNATURES:
        ok: bool | None = signature_ok(provider_name=provider_name, body=body, headers=headers)
    else:
        ok = None  # not checked (development only; the admin warns)
    try:
        # One INSERT in autocommit: durable when it returns (an explicit transaction would add
        # three round trips on MySQL). The drain kick runs at once, or after an outer commit.
        delivery = delivery_record(provider=provider_name, body=body, headers=headers, signature_ok=ok)
        if ok is not False:
            delivery_enqueue_on_commit(delivery_id=delivery.pk)
    except DatabaseError:
        logger.exception("Could not store a %s delivery; answering 503 so the provider retries", provider_name)
        return WebhookAnswer(503, {"detail": "Temporarily unavailable."})
    if ok is False:
        return WebhookAnswer(403, {"detail": "Invalid signature."})
    return WebhookAnswer(200, {"status": "received"})


class ProviderWebhookApi(APIView):
    authentication_classes = ()
    permission_classes = ()
    throttle_classes = ()

    def get(self, request: Request, provider_name: str = "meta") -> HttpResponse:
        """Meta's subscription handshake: echo hub.challenge when hub.verify_token is ours."""
        if provider_name not in PROVIDERS:
            return HttpResponse(status=404)
        mode = request.query_params.get("hub.mode")
        token = request.query_params.get("hub.verify_token")
        challenge = request.query_params.get("hub.challenge")
        if not mode or token is None or challenge is None:
            return HttpResponse("Missing hub.mode, hub.verify_token or hub.challenge", status=400)
        known = verify_tokens(provider=provider_name)
        if mode == "subscribe" and any(hmac.compare_digest(token.encode(), t.encode()) for t in known):
            return HttpResponse(challenge, content_type="text/plain")
        logger.warning("Webhook verification refused for %s (mode=%s)", provider_name, mode)
        return HttpResponse("Verification token mismatch", status=403)

    def post(self, request: Request, provider_name: str = "meta") -> Response:
        answer = webhook_receive(provider_name=provider_name, body=request.body, headers=request.headers)
        return Response(answer.body, status=answer.status)
