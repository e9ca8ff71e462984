"""`YCloudProvider`: one WhatsApp business number through YCloud (a Meta BSP), and what YCloud
answers for every channel: the environment's credentials (YCLOUD_*), no webhook handshake, Meta's
24-hour customer-service window and the pacing (YCLOUD_RATE_PER_SECOND, OUTBOUND_PAIR_*).

The channel's `external_id` is its business number in E.164 ('+573001112233'): YCloud names the
sender by number, and its webhooks name the channel the same way. Every call goes to
``{base_url}/whatsapp/...`` (base_url = the channel's, else YCLOUD_API_URL, which includes /v2)
with the API key in ``X-API-Key``; the key never goes to any other host.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from django.conf import settings
from django.utils.translation import gettext, gettext_lazy

from conversations.providers.base import (
    ChannelConfig,
    ChannelDefaults,
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
    HttpAnswer,
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
from conversations.providers.meta import MetaProvider
from conversations.providers.meta.values import as_dict as _as_dict
from conversations.providers.meta.values import as_list as _as_list
from conversations.providers.meta.values import text as _text
from conversations.providers.ycloud.errors import NO_SENDER_NUMBER_CODE, error_from_response
from conversations.providers.ycloud.errors import failure as _failure
from conversations.providers.ycloud.parse import e164, parse_event
from conversations.providers.ycloud.payload import build_send_payload, sender_number
from conversations.providers.ycloud.signature import SIGNATURE_HEADER, signature_is_valid

__all__ = ["API_KEY_HEADER", "SEND_PATH", "TEMPLATES_MAX_PAGES", "TEMPLATES_PAGE", "YCloudProvider", "same_origin"]

API_KEY_HEADER = "X-API-Key"
SEND_PATH = "whatsapp/messages/sendDirectly"  # synchronous: Meta's refusal comes back in the answer
TEMPLATES_PAGE = 100  # YCloud's largest page
TEMPLATES_MAX_PAGES = 100  # a guard against a paging loop


def same_origin(url: str, base_url: str) -> bool:
    """True when `url` has the scheme, host and port of `base_url` (where the API key may go)."""
    target, base = urlsplit(url), urlsplit(base_url)
    return bool(base.netloc) and (target.scheme.lower(), target.netloc.lower()) == (
        base.scheme.lower(),
        base.netloc.lower(),
    )


class YCloudProvider(Provider):
    """WhatsApp through YCloud for one business number (`config.external_id` = the number in E.164)."""

    name = "ycloud"
    platform = "whatsapp"
    required_credentials = ("access_token",)
    credential_labels = {"access_token": (gettext_lazy("API key"), "YCLOUD_API_KEY")}

    @classmethod
    def external_id_problem(cls, external_id: str) -> str:
        """The external id is the number YCloud sends from, in E.164 (+ and 8 to 15 digits)."""
        value = external_id.strip()
        if not value:
            return gettext("The sender number is missing (set it here, or YCLOUD_WHATSAPP_NUMBER in the environment).")
        digits = value.removeprefix("+")
        if not (digits.isdigit() and 8 <= len(digits) <= 15):
            return gettext("The sender number must be in E.164 form, e.g. +5491123456789.")
        return ""

    @classmethod
    def config_problems(cls, config: ChannelConfig) -> list[str]:
        """Besides the API key: without the webhook secret every YCloud delivery is refused."""
        problems = super().config_problems(config)
        if not config.app_secret:
            problems.append(
                missing_setting(gettext("webhook secret (deliveries are refused without it)"), "YCLOUD_WEBHOOK_SECRET")
            )
        return problems

    # -- what YCloud answers for every channel

    @classmethod
    def channel_defaults(cls) -> ChannelDefaults:
        """The single-number setup: YCLOUD_WHATSAPP_NUMBER, YCLOUD_API_KEY, YCLOUD_WEBHOOK_SECRET, YCLOUD_API_URL."""
        return ChannelDefaults(
            external_id=e164(settings.YCLOUD_WHATSAPP_NUMBER),  # as the webhooks name it, with '+'
            access_token=settings.YCLOUD_API_KEY,
            app_secret=settings.YCLOUD_WEBHOOK_SECRET,
            base_url=settings.YCLOUD_API_URL,
        )

    @classmethod
    def service_window(cls) -> timedelta | None:
        """Meta's 24 hours: YCloud passes messages on to the same WhatsApp Cloud API."""
        return MetaProvider.service_window()

    @classmethod
    def window_refusal(
        cls, *, message: OutboundMessage, last_inbound_at: datetime | None, now: datetime
    ) -> ProviderError | None:
        """Meta's rule and code (131047): outside 24 h of the customer's last message only templates."""
        return MetaProvider.window_refusal(message=message, last_inbound_at=last_inbound_at, now=now)

    @classmethod
    def rate_limits(cls) -> RateLimits:
        """YCloud's per-number throughput (YCLOUD_*) and Meta's per-customer pair limit (OUTBOUND_PAIR_*)."""
        return RateLimits(
            number_rate=settings.YCLOUD_RATE_PER_SECOND,
            number_burst=settings.OUTBOUND_RATE_BURST,
            number_limit=int(settings.YCLOUD_NUMBER_LIMIT_PER_SECOND),
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
        """True when YCloud-Signature is HMAC-SHA256(app_secret, f"{t}." + body) and t is within
        `signature_tolerance` seconds of `now` (the clock when None)."""
        header = find_header(headers, SIGNATURE_HEADER)
        moment = time.time() if now is None else now
        return signature_is_valid(
            secret=self.config.app_secret, body=body, header=header, now=moment, tolerance=self.signature_tolerance
        )

    @staticmethod
    def parse(payload: Any) -> ParseResult:
        """See `parse_event`."""
        return parse_event(payload)

    # -- outbound side

    def build_payload(self, message: OutboundMessage) -> dict[str, Any]:
        """See `build_send_payload`; the sender is the channel's number."""
        return build_send_payload(message, sender=self.config.external_id)

    def send(self, message: OutboundMessage) -> SendResult:
        """POST /whatsapp/messages/sendDirectly: the message's wamid (YCloud's own id when it has none yet), or
        ProviderError/OutboundValidationError.

        The wamid, like the inbound messages' ids: a customer quoting our reply names its wamid (context.id),
        and the status webhooks carry it too."""
        self._sender()
        if message.media_path:
            raise OutboundValidationError("media_path must be uploaded (media_id) or linked before sending")
        payload = self.build_payload(message)
        body = self._call_json("POST", self._url(*SEND_PATH.split("/")), "send", json=payload)
        message_id = _text(body.get("wamid")) or _text(body.get("id"))
        if not message_id:
            raise _failure("malformed send response: no id", "malformed_response", raw=body)
        return SendResult(provider_message_id=message_id, raw=body)

    def mark_read(self, provider_message_id: str) -> None:
        """Blue ticks (for this and every earlier message of the chat). YCloud takes its id or the wamid.

        Raises ProviderError on failure, as Meta's does (the caller logs it and carries on)."""
        if not provider_message_id.strip():
            raise OutboundValidationError("mark_read needs the provider message id")
        self._call("POST", self._url("whatsapp", "inboundMessages", provider_message_id, "markAsRead"), "mark read")

    def upload_media(self, *, content: bytes, mime_type: str, filename: str) -> str:
        """POST /whatsapp/media/{number}/upload (multipart ``file``); the media id (kept 30 days by Meta)."""
        sender = self._sender()
        body = self._call_json(
            "POST",
            self._url("whatsapp", "media", sender, "upload"),
            "media upload",
            files={"file": (filename or "file", content, mime_type)},
        )
        media_id = _text(body.get("id"))
        if not media_id:
            raise _failure("malformed media upload response: no id", "malformed_response", raw=body)
        return media_id

    def fetch_media(self, media: MediaRef, *, max_bytes: int) -> MediaFile:
        """Download inbound media from its link (else /whatsapp/media/download/{id}).

        The API key goes along only when the link is on the API's own origin. A file over
        `max_bytes` raises a permanent ProviderError; a sha256 mismatch does not raise: the file
        comes back with `checksum_error` set, so the caller can keep it either way.
        """
        if media.url:
            url = media.url
        elif media.media_id:
            url = self._url("whatsapp", "media", "download", media.media_id)
        else:
            raise _failure("media reference has neither media_id nor url", "no_media")
        with self._request(
            "GET", url, "media download", stream=True, authenticate=same_origin(url, self._base())
        ) as response:
            if not response.ok:
                raise error_from_response(response, "media download")
            declared = _int_or_none(response.headers.get("Content-Length"))
            if declared is not None and declared > max_bytes:
                raise too_large(f"the download is {declared} bytes", max_bytes)
            content = read_limited(response, max_bytes)
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        return MediaFile(
            content=content,
            mime_type=media.mime_type or content_type,
            sha256=hashlib.sha256(content).hexdigest(),
            original_url=url,
            filename=media.filename,
            checksum_error=checksum_error(content, [media.sha256]),
        )

    def list_templates(self) -> list[TemplateInfo]:
        """GET /whatsapp/templates page by page (1-based ``page``, ``limit``), of the channel's WABA when known.

        YCloud's API key belongs to one YCloud account, so without a WABA id every template of
        the account is listed."""
        params: dict[str, Any] = {"limit": TEMPLATES_PAGE}
        if self.config.business_account_id:
            params["filter.wabaId"] = self.config.business_account_id
        url = self._url("whatsapp", "templates")
        templates: list[TemplateInfo] = []
        for page in range(1, TEMPLATES_MAX_PAGES + 1):
            body = self._call_json("GET", url, "template list", params={**params, "page": page})
            items = _as_list(body.get("items"))
            templates.extend(filter(None, map(_template_info, items)))
            if len(items) < TEMPLATES_PAGE:
                break
        return templates

    # -- internals

    def _base(self) -> str:
        return (self.config.base_url or settings.YCLOUD_API_URL).rstrip("/")

    def _url(self, *segments: str) -> str:
        """{base}/a/b/c, each segment escaped ('+' kept: YCloud's paths take E.164 numbers as they are)."""
        return "/".join([self._base(), *(quote(segment, safe="+") for segment in segments)])

    def _sender(self) -> str:
        """The channel's number in E.164, or the permanent "no_sender_number" error saying what to set."""
        try:
            return sender_number(self.config.external_id)
        except OutboundValidationError as exc:
            raise ProviderError(str(exc), code=NO_SENDER_NUMBER_CODE, transient=False) from None

    def _headers(self) -> dict[str, str]:
        if not self.config.access_token:
            raise _failure(f"channel {self.config.external_id or '?'} has no YCloud API key (YCLOUD_API_KEY)", "config")
        return {API_KEY_HEADER: self.config.access_token}

    def _request(
        self, method: str, url: str, what: str, *, authenticate: bool = True, **kwargs: Any
    ) -> requests.Response:
        timeout = float(getattr(settings, "PROVIDER_HTTP_TIMEOUT", 15.0))
        headers = self._headers() if authenticate else {}
        try:
            return http_session().request(
                method, url, headers=headers, timeout=timeout, proxies=environ_proxies(url), **kwargs
            )
        except requests.RequestException as exc:
            raise request_failure(exc, what) from exc

    def _call(self, method: str, url: str, what: str, **kwargs: Any) -> HttpAnswer:
        timeout = float(getattr(settings, "PROVIDER_HTTP_TIMEOUT", 15.0))
        response = api_call(method, url, what, headers=self._headers, timeout=timeout, other=self._request, **kwargs)
        if not response.ok:
            raise error_from_response(response, what)
        return response

    def _call_json(self, method: str, url: str, what: str, **kwargs: Any) -> dict[str, Any]:
        return json_dict(self._call(method, url, what, **kwargs))


def _template_info(item: Any) -> TemplateInfo | None:
    """One item of YCloud's template list; None without a name or language."""
    item = _as_dict(item)
    name, language = _text(item.get("name")), _text(item.get("language"))
    if not name or not language:
        return None
    return TemplateInfo(
        name=name,
        language=language,
        status=_text(item.get("status")),
        category=_text(item.get("category")),
        components=tuple(c for c in _as_list(item.get("components")) if isinstance(c, dict)),
        provider_template_id=_text(item.get("officialTemplateId")),
    )
