"""Provider webhooks: verify → store raw → 200 once stored → parse and process in a task.

Nothing but the size and signature checks and one INSERT happens on this path, so a
delivery is durable before its 200 and the provider retries anything we did not
store (a database error gives a 5xx). A refused POST (bad signature, too large) is
kept small, outside the accepted deliveries' batches, and rate limited per client
address (conversations/services/webhook_guard.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from django.http import HttpResponse
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations.providers import PROVIDERS
from conversations.providers.base import ChannelConfig, WebhookKey
from conversations.services.channels import verify_tokens, webhook_secrets
from conversations.services.ingest import RawDelivery, deliveries_record, delivery_record_rejected
from conversations.services.webhook_guard import rejected_post_admit

logger = logging.getLogger(__name__)


def signature_verdict(
    *,
    provider_name: str,
    body: bytes,
    headers: Any,
    secrets: Sequence[WebhookKey],
    params: Mapping[str, str] | None = None,
    now: float | None = None,
) -> bool:
    """True when the delivery is authentic for any of the keys (pure: no database, safe on the event loop)."""
    provider_cls = PROVIDERS[provider_name]
    return any(
        provider_cls(
            ChannelConfig(
                provider=provider_name, external_id="", app_secret=key.app_secret, verify_token=key.verify_token
            )
        ).verify_signature(body=body, headers=headers, params=params or {}, now=now)
        for key in secrets
    )


def signature_ok(*, provider_name: str, body: bytes, headers: Any, params: Mapping[str, str] | None = None) -> bool:
    """True when any key configured for the provider authenticates this delivery."""
    secrets = webhook_secrets(provider=provider_name)
    return signature_verdict(provider_name=provider_name, body=body, headers=headers, secrets=secrets, params=params)


@dataclass(frozen=True)
class WebhookAnswer:
    status: int
    body: dict[str, str]


@dataclass(frozen=True)
class WebhookPost:
    """A POST whose signature was checked (before it is queued for storing)."""

    provider_name: str
    body: bytes
    headers: Mapping[str, str]
    signature_ok: bool | None = None  # None: not checked (WEBHOOK_VERIFY_SIGNATURES off)
    client: str = ""


UNKNOWN_PROVIDER = WebhookAnswer(404, {"detail": "Unknown provider."})
RECEIVED = WebhookAnswer(200, {"status": "received"})
INVALID_SIGNATURE = WebhookAnswer(403, {"detail": "Invalid signature."})
TOO_MANY_REJECTED = WebhookAnswer(429, {"detail": "Too many rejected requests from this address; try again later."})
READ_TIMEOUT = WebhookAnswer(408, {"detail": "Request body not received in time."})
UNAVAILABLE = WebhookAnswer(503, {"detail": "Temporarily unavailable."})


def webhook_reject(
    *,
    provider_name: str,
    head: bytes,
    size: int,
    headers: Mapping[str, str],
    client: str,
    error: str,
    answer: WebhookAnswer,
    signature_ok: bool | None = None,
) -> WebhookAnswer:
    """A refused POST: kept small (metadata + first bytes), or, past the per-address limit, 429 and only counted."""
    if not rejected_post_admit(client=client):
        return TOO_MANY_REJECTED
    try:
        delivery_record_rejected(
            provider=provider_name,
            head=head,
            size=size,
            headers=headers,
            client=client,
            error=error,
            signature_ok=signature_ok,
        )
    except DatabaseError:
        logger.exception("Could not keep a refused %s webhook POST (%d bytes) from %s", provider_name, size, client)
    else:
        logger.warning("Webhook POST from %s refused (%d): %s", client, answer.status, error)
    return answer


def webhook_too_large(
    *, provider_name: str, head: bytes, size: int, headers: Mapping[str, str], client: str = ""
) -> WebhookAnswer:
    """A POST over WEBHOOK_MAX_BODY_BYTES: 413, kept as a rejected delivery with its first bytes only.

    No provider sends bodies that large; keeping the head (not all of it) shows what came without
    letting anyone fill the database.
    """
    if provider_name not in PROVIDERS:
        return UNKNOWN_PROVIDER
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    return webhook_reject(
        provider_name=provider_name,
        head=head,
        size=size,
        headers=headers,
        client=client,
        error=f"Body too large: {size} bytes, the limit is {limit} (WEBHOOK_MAX_BODY_BYTES)",
        answer=WebhookAnswer(413, {"detail": f"Request body too large: {size} bytes; the limit is {limit}."}),
    )


def webhook_bad_signature(
    *, provider_name: str, body: bytes, headers: Mapping[str, str], client: str = ""
) -> WebhookAnswer:
    """A POST whose signature does not match: 403, kept as a rejected delivery with its first bytes only."""
    return webhook_reject(
        provider_name=provider_name,
        head=body,
        size=len(body),
        headers=headers,
        client=client,
        error="Missing or invalid signature",
        answer=INVALID_SIGNATURE,
        signature_ok=False,
    )


def webhook_receive(
    *,
    provider_name: str,
    body: bytes,
    headers: Mapping[str, str],
    client: str = "",
    params: Mapping[str, str] | None = None,
) -> WebhookAnswer:
    """One webhook POST: check its size and signature, store the raw delivery, kick its parsing after commit."""
    if provider_name not in PROVIDERS:
        return UNKNOWN_PROVIDER
    if len(body) > settings.WEBHOOK_MAX_BODY_BYTES:
        return webhook_too_large(provider_name=provider_name, head=body, size=len(body), headers=headers, client=client)
    verdict = (
        signature_ok(provider_name=provider_name, body=body, headers=headers, params=params) if checks_on() else None
    )
    if verdict is False:
        return webhook_bad_signature(provider_name=provider_name, body=body, headers=headers, client=client)
    return webhook_receive_many([WebhookPost(provider_name, body, headers, verdict, client)])[0]


def checks_on() -> bool:
    return bool(settings.WEBHOOK_VERIFY_SIGNATURES)


def webhook_receive_many(posts: Sequence[WebhookPost]) -> list[WebhookAnswer]:
    """Store a batch of checked POSTs in one INSERT (the answers in the same order).

    Used by `webhook_receive` (a batch of one) and by the lean ASGI route's writer thread
    (conversations/asgi.py), which stores the POSTs that arrive together. Their signatures
    were checked before they were queued: a rejected POST never gets here. Every delivery
    is durable when this returns: a 200 is never given for a row that is not stored, and a
    database error gives a 503 so the provider retries.
    """
    answers: list[WebhookAnswer] = []
    raws: list[RawDelivery] = []
    for post in posts:
        raws.append(RawDelivery(post.provider_name, post.body, post.headers, post.signature_ok, post.client))
        answers.append(INVALID_SIGNATURE if post.signature_ok is False else RECEIVED)
    if raws:
        try:
            # One INSERT for all of them: durable when it returns, or nothing was stored.
            deliveries_record(raws)
        except DatabaseError:
            logger.exception("Could not store %d webhook deliveries; answering 503 so they are retried", len(raws))
            return [UNAVAILABLE] * len(answers)
    return answers


class ProviderWebhookApi(APIView):
    authentication_classes = ()
    permission_classes = ()
    throttle_classes = ()

    def get(self, request: Request, provider_name: str = "meta") -> HttpResponse:
        """The provider's subscription handshake (Meta: echo hub.challenge when hub.verify_token is ours)."""
        provider_cls = PROVIDERS.get(provider_name)
        if provider_cls is None:
            return HttpResponse(status=404)
        tokens = verify_tokens(provider=provider_name)
        answer = provider_cls.webhook_handshake(params=request.query_params, verify_tokens=tokens)
        if answer.status == 403:
            logger.warning("Webhook verification refused for %s: %s", provider_name, answer.body)
        return HttpResponse(answer.body, status=answer.status, content_type=answer.content_type)

    def post(self, request: Request, provider_name: str = "meta") -> Response:
        client = request.META.get("REMOTE_ADDR") or ""
        limit = settings.WEBHOOK_MAX_BODY_BYTES
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        body: bytes | None = None
        if declared <= limit:
            try:
                body = request.body
            except RequestDataTooBig:  # DATA_UPLOAD_MAX_MEMORY_SIZE is below WEBHOOK_MAX_BODY_BYTES
                body = None
        if body is None:  # read only the head of an oversized body
            head = request.stream.read(settings.WEBHOOK_REJECTED_KEEP_BYTES) if request.stream else b""
            answer = webhook_too_large(
                provider_name=provider_name, head=head, size=declared, headers=request.headers, client=client
            )
        else:
            answer = webhook_receive(
                provider_name=provider_name,
                body=body,
                headers=request.headers,
                client=client,
                params=request.query_params,
            )
        return Response(answer.body, status=answer.status)
