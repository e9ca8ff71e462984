"""`MetaProvider`: one business number on the WhatsApp Cloud API (Graph), and what Meta answers for
every channel: the environment's credentials (META_TOKEN, PHONE_NUMBER_ID, ...), the hub.*
handshake, the 24-hour customer-service window and the pacing (OUTBOUND_* settings)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings
from django.utils.translation import gettext, gettext_lazy

from conversations.providers.base import (
    ChannelConfig,
    ChannelDefaults,
    HandshakeAnswer,
    MediaFile,
    MediaRef,
    OutboundMessage,
    OutboundValidationError,
    ParseResult,
    Provider,
    ProviderError,
    RateLimits,
    SendResult,
    TemplateInfo,
    missing_setting,
)
from conversations.providers.http import (
    api_call,
    checksum_error,
    environ_proxies,
    find_header,
    http_session,
    json_dict,
    read_limited,
    request_failure,
    too_large,
)
from conversations.providers.http import int_or_none as _int_or_none
from conversations.providers.meta.errors import WINDOW_CLOSED, error_from_response
from conversations.providers.meta.errors import failure as _failure
from conversations.providers.meta.parse import parse_webhook
from conversations.providers.meta.payload import build_message_payload, read_payload
from conversations.providers.meta.signature import SIGNATURE_HEADER, handshake_answer, signature_is_valid
from conversations.providers.meta.values import as_dict as _as_dict
from conversations.providers.meta.values import as_list as _as_list
from conversations.providers.meta.values import text as _text

__all__ = ["SERVICE_WINDOW", "WINDOW_CLOSED_REASON", "MetaProvider"]

SERVICE_WINDOW = timedelta(hours=24)
TEMPLATES_PAGE = 100  # templates per Graph page
TEMPLATES_MAX_PAGES = 100  # a guard against a paging loop
WINDOW_CLOSED_REASON = "Outside the 24-hour customer-service window: only templates."


class _UrlExpired(Exception):
    """The media download URL answered 404 (it lives 5 minutes); ask Graph for a new one."""


class MetaProvider(Provider):
    """WhatsApp Cloud API for one business number (`config.external_id` = phone_number_id)."""

    name = "meta"
    required_credentials = ("access_token",)
    credential_labels = {"access_token": (gettext_lazy("access token"), "META_TOKEN")}

    # -- what Meta answers for every channel

    @classmethod
    def channel_defaults(cls) -> ChannelDefaults:
        """The seed's single-number setup: META_TOKEN, PHONE_NUMBER_ID, META_APP_SECRET, VERIFY_TOKEN."""
        return ChannelDefaults(
            external_id=settings.PHONE_NUMBER_ID,
            access_token=settings.META_TOKEN,
            app_secret=settings.META_APP_SECRET,
            verify_token=settings.VERIFY_TOKEN,
            base_url=settings.META_GRAPH_URL,
            api_version=settings.META_API_VERSION,
        )

    @classmethod
    def config_problems(cls, config: ChannelConfig) -> list[str]:
        """Besides the token: without the app secret every webhook delivery is refused (unverifiable)."""
        problems = super().config_problems(config)
        if not config.app_secret:
            problems.append(
                missing_setting(gettext("app secret (webhook deliveries are refused without it)"), "META_APP_SECRET")
            )
        return problems

    @classmethod
    def webhook_handshake(cls, *, params: Mapping[str, str], verify_tokens: Sequence[str]) -> HandshakeAnswer:
        """See `handshake_answer` (hub.mode / hub.verify_token / hub.challenge)."""
        return handshake_answer(params=params, verify_tokens=verify_tokens)

    @classmethod
    def service_window(cls) -> timedelta | None:
        return SERVICE_WINDOW

    @classmethod
    def window_refusal(
        cls, *, message: OutboundMessage, last_inbound_at: datetime | None, now: datetime
    ) -> ProviderError | None:
        """Outside 24 h of the customer's last message only templates may go out (Meta's error 131047)."""
        if message.kind == "template" or (last_inbound_at is not None and now - last_inbound_at < SERVICE_WINDOW):
            return None
        return ProviderError(WINDOW_CLOSED_REASON, code=WINDOW_CLOSED, transient=False)

    @classmethod
    def rate_limits(cls) -> RateLimits:
        """Meta's per-number throughput and per-customer pair limit, as configured by the OUTBOUND_* settings."""
        return RateLimits(
            number_rate=settings.OUTBOUND_RATE_PER_SECOND,
            number_burst=settings.OUTBOUND_RATE_BURST,
            number_limit=int(settings.OUTBOUND_NUMBER_LIMIT_PER_SECOND),
            pair_interval=settings.OUTBOUND_PAIR_INTERVAL_SECONDS,
            pair_burst=settings.OUTBOUND_PAIR_BURST,
        )

    # -- webhook side

    def verify_signature(
        self,
        *,
        body: bytes,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        now: float | None = None,
    ) -> bool:
        """True when X-Hub-Signature-256 is HMAC-SHA256(app_secret, body); False on anything missing."""
        header = find_header(headers, SIGNATURE_HEADER)
        return signature_is_valid(secret=self.config.app_secret, body=body, header=header)

    @staticmethod
    def parse(payload: Any) -> ParseResult:
        """See `parse_webhook`."""
        return parse_webhook(payload)

    # -- outbound side

    def build_payload(self, message: OutboundMessage) -> dict[str, Any]:
        """See `build_message_payload`."""
        return build_message_payload(message)

    def send(self, message: OutboundMessage) -> SendResult:
        """POST /{phone_number_id}/messages; returns the wamid or raises ProviderError/OutboundValidationError."""
        if message.media_path:
            raise OutboundValidationError("media_path must be uploaded (media_id) or linked before sending")
        payload = self.build_payload(message)
        body = self._post_messages(payload, "send")
        first = _as_dict(next(iter(_as_list(body.get("messages"))), None))
        message_id = _text(first.get("id"))
        if not message_id:
            raise _failure("malformed send response: no messages[0].id", "malformed_response", raw=body)
        return SendResult(provider_message_id=message_id, raw=body)

    def mark_read(self, provider_message_id: str) -> None:
        """Blue ticks for an inbound message; raises ProviderError on failure."""
        self._post_messages(read_payload(provider_message_id), "mark read")

    def upload_media(self, *, content: bytes, mime_type: str, filename: str) -> str:
        """POST /{phone_number_id}/media (multipart: file, type, messaging_product); the media id.

        Meta keeps uploaded media 30 days; callers cache the id for less than that.
        """
        if not self.config.external_id:
            raise _failure("channel has no phone_number_id", "config")
        body = self._call_json(
            "POST",
            self._graph_url(self.config.external_id, "media"),
            "media upload",
            data={"messaging_product": "whatsapp", "type": mime_type},
            files={"file": (filename or "file", content, mime_type)},
        )
        media_id = _text(body.get("id"))
        if not media_id:
            raise _failure("malformed media upload response: no id", "malformed_response", raw=body)
        return media_id

    def fetch_media(self, media: MediaRef, *, max_bytes: int) -> MediaFile:
        """Download inbound media by id (Graph lookup, then the short-lived URL) or by its direct URL.

        Raises a permanent ProviderError when the file exceeds `max_bytes` and classified errors
        for everything Graph answers. A sha256 mismatch does not raise: the file comes back with
        `checksum_error` set, so the caller can download again and keep it either way.
        """
        if media.media_id:
            return self._fetch_by_id(media, max_bytes)
        if media.url:
            content, content_type = self._download(media.url, max_bytes, allow_expired=False)
            mismatch = checksum_error(content, [media.sha256])
            return self._media_file(content, media.mime_type or content_type, media.url, media, mismatch)
        raise _failure("media reference has neither media_id nor url", "no_media")

    def list_templates(self) -> list[TemplateInfo]:
        """GET /{waba_id}/message_templates, following the cursor pages (Graph's paging.cursors.after)."""
        if not self.config.business_account_id:
            raise _failure("channel has no WhatsApp Business Account id (WABA)", "config")
        url = self._graph_url(self.config.business_account_id, "message_templates")
        params: dict[str, Any] = {"limit": TEMPLATES_PAGE, "fields": "id,name,language,status,category,components"}
        templates: list[TemplateInfo] = []
        for _page in range(TEMPLATES_MAX_PAGES):
            body = self._call_json("GET", url, "template list", params=params)
            for item in _as_list(body.get("data")):
                item = _as_dict(item)
                name, language = _text(item.get("name")), _text(item.get("language"))
                if not name or not language:
                    continue
                components = tuple(c for c in _as_list(item.get("components")) if isinstance(c, dict))
                templates.append(
                    TemplateInfo(
                        name=name,
                        language=language,
                        status=_text(item.get("status")),
                        category=_text(item.get("category")),
                        components=components,
                        provider_template_id=_text(item.get("id")),
                    )
                )
            paging = _as_dict(body.get("paging"))
            after = _text(_as_dict(paging.get("cursors")).get("after"))
            if not paging.get("next") or not after:
                break
            params = {**params, "after": after}
        return templates

    # -- internals

    def _graph_url(self, *segments: str) -> str:
        base = (self.config.base_url or settings.META_GRAPH_URL).rstrip("/")
        version = (self.config.api_version or settings.META_API_VERSION).strip("/")
        return "/".join([base, version, *(quote(segment, safe="") for segment in segments)])

    def _headers(self) -> dict[str, str]:
        if not self.config.access_token:
            raise _failure(f"channel {self.config.external_id or '?'} has no access token", "config")
        return {"Authorization": f"Bearer {self.config.access_token}"}

    def _request(self, method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
        timeout = float(getattr(settings, "PROVIDER_HTTP_TIMEOUT", 15.0))
        try:
            return http_session().request(
                method, url, headers=self._headers(), timeout=timeout, proxies=environ_proxies(url), **kwargs
            )
        except requests.RequestException as exc:
            raise request_failure(exc, what) from exc

    def _call_json(self, method: str, url: str, what: str, **kwargs: Any) -> dict[str, Any]:
        timeout = float(getattr(settings, "PROVIDER_HTTP_TIMEOUT", 15.0))
        response = api_call(method, url, what, headers=self._headers, timeout=timeout, other=self._request, **kwargs)
        if not response.ok:
            raise error_from_response(response, what)
        return json_dict(response)

    def _post_messages(self, payload: dict[str, Any], what: str) -> dict[str, Any]:
        if not self.config.external_id:
            raise _failure("channel has no phone_number_id", "config")
        return self._call_json("POST", self._graph_url(self.config.external_id, "messages"), what, json=payload)

    def _media_info(self, media_id: str) -> dict[str, Any]:
        info = self._call_json("GET", self._graph_url(media_id), "media lookup")
        if not _text(info.get("url")):
            raise _failure(f"malformed media response for {media_id}: no url", "malformed_response", raw=info)
        return info

    def _fetch_by_id(self, media: MediaRef, max_bytes: int) -> MediaFile:
        try:
            return self._fetch_announced(media, self._media_info(media.media_id), max_bytes, allow_expired=True)
        except _UrlExpired:  # the URL lives 5 minutes: ask Graph for a fresh one, once
            return self._fetch_announced(media, self._media_info(media.media_id), max_bytes, allow_expired=False)

    def _fetch_announced(
        self, media: MediaRef, info: dict[str, Any], max_bytes: int, *, allow_expired: bool
    ) -> MediaFile:
        """Download what a media lookup (`info`: url, file_size, sha256, mime_type) announced."""
        declared = _int_or_none(info.get("file_size"))
        if declared is not None and declared > max_bytes:
            raise too_large(f"{media.media_id} is {declared} bytes", max_bytes)
        url = _text(info.get("url"))
        content, content_type = self._download(url, max_bytes, allow_expired=allow_expired)
        mismatch = checksum_error(content, [media.sha256, _text(info.get("sha256"))])
        mime_type = _text(info.get("mime_type")) or media.mime_type or content_type
        return self._media_file(content, mime_type, url, media, mismatch)

    def _download(self, url: str, max_bytes: int, *, allow_expired: bool) -> tuple[bytes, str]:
        """GET `url` with the bearer, streaming; stops as soon as more than `max_bytes` arrived."""
        with self._request("GET", url, "media download", stream=True) as response:
            if response.status_code == 404 and allow_expired:
                raise _UrlExpired(url)
            if not response.ok:
                raise error_from_response(response, "media download")
            declared = _int_or_none(response.headers.get("Content-Length"))
            if declared is not None and declared > max_bytes:
                raise too_large(f"the download is {declared} bytes", max_bytes)
            content = read_limited(response, max_bytes)
            return content, response.headers.get("Content-Type", "").split(";")[0].strip()

    @staticmethod
    def _media_file(content: bytes, mime_type: str, url: str, media: MediaRef, mismatch: str) -> MediaFile:
        return MediaFile(
            content=content,
            mime_type=mime_type,
            sha256=hashlib.sha256(content).hexdigest(),
            original_url=url,
            filename=media.filename,
            checksum_error=mismatch,
        )
