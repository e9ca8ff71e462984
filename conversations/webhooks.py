"""Provider webhooks: verify → store raw → 200 once stored → parse and process in a task.

Nothing but the signature check and one INSERT happens on this path, so a
delivery is durable before its 200 and the provider retries anything we did
not store (a database error gives a 5xx).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.providers import PROVIDERS
from conversations.providers.base import ChannelConfig
from conversations.services.channels import verify_tokens, webhook_secrets
from conversations.services.ingest import RawDelivery, deliveries_record, delivery_record_rejected

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


@dataclass(frozen=True)
class WebhookPost:
    provider_name: str
    body: bytes
    headers: Mapping[str, str]


UNKNOWN_PROVIDER = WebhookAnswer(404, {"detail": "Unknown provider."})
RECEIVED = WebhookAnswer(200, {"status": "received"})
INVALID_SIGNATURE = WebhookAnswer(403, {"detail": "Invalid signature."})
UNAVAILABLE = WebhookAnswer(503, {"detail": "Temporarily unavailable."})
TOO_LARGE_KEPT = 64 * 1024  # bytes of an oversized body kept with its rejected delivery


def webhook_too_large(*, provider_name: str, head: bytes, size: int, headers: Mapping[str, str]) -> WebhookAnswer:
    """A POST over DATA_UPLOAD_MAX_MEMORY_SIZE: 413, and kept as a rejected delivery with its first bytes.

    No provider sends bodies that large; keeping the head (not all of it) shows what came without
    letting anyone fill the database.
    """
    if provider_name not in PROVIDERS:
        return UNKNOWN_PROVIDER
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    head = head[:TOO_LARGE_KEPT]
    error = (
        f"Body too large: {size} bytes, the limit is {limit} (DATA_UPLOAD_MAX_MEMORY_SIZE);"
        f" the first {len(head)} are kept"
    )
    try:
        delivery_record_rejected(provider=provider_name, body=head, headers=headers, error=error)
    except DatabaseError:
        logger.exception("Could not keep an oversized %s webhook POST (%d bytes)", provider_name, size)
    else:
        logger.warning("Webhook POST refused: %s", error)
    return WebhookAnswer(413, {"detail": f"Request body too large: {size} bytes; the limit is {limit}."})


def webhook_receive(*, provider_name: str, body: bytes, headers: Mapping[str, str]) -> WebhookAnswer:
    """One webhook POST: check the signature, store the raw delivery, kick its parsing after commit."""
    return webhook_receive_many([WebhookPost(provider_name, body, headers)])[0]


def webhook_receive_many(posts: Sequence[WebhookPost]) -> list[WebhookAnswer]:
    """The one implementation of webhook POSTs, for a batch of them (the answers in the same order).

    Used by the DRF view (a batch of one) and by the lean ASGI route (conversations/asgi.py),
    which stores the POSTs that arrive together in one INSERT. Every delivery is durable
    when this returns: a 200 is never given for a row that is not stored, and a database
    error gives a 503 so the provider retries.
    """
    answers: list[WebhookAnswer] = []
    raws: list[RawDelivery] = []
    for post in posts:
        if post.provider_name not in PROVIDERS:
            answers.append(UNKNOWN_PROVIDER)
            continue
        if settings.WEBHOOK_VERIFY_SIGNATURES:
            ok: bool | None = signature_ok(provider_name=post.provider_name, body=post.body, headers=post.headers)
        else:
            ok = None  # not checked (development only; the admin warns)
        raws.append(RawDelivery(post.provider_name, post.body, post.headers, ok))
        answers.append(INVALID_SIGNATURE if ok is False else RECEIVED)
    if raws:
        try:
            # One INSERT for all of them: durable when it returns, or nothing was stored.
            deliveries_record(raws)
        except DatabaseError:
            logger.exception("Could not store %d webhook deliveries; answering 503 so they are retried", len(raws))
            return [UNAVAILABLE if answer is not UNKNOWN_PROVIDER else answer for answer in answers]
    return answers


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
        try:
            body = request.body
        except RequestDataTooBig:
            size = int(request.META.get("CONTENT_LENGTH") or 0)
            head = request.stream.read(TOO_LARGE_KEPT) if request.stream else b""
            answer = webhook_too_large(provider_name=provider_name, head=head, size=size, headers=request.headers)
            return Response(answer.body, status=answer.status)
        answer = webhook_receive(provider_name=provider_name, body=body, headers=request.headers)
        return Response(answer.body, status=answer.status)
