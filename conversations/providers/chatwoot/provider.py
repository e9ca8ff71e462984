"""`ChatwootProvider`: one Chatwoot inbox (Instagram or Facebook Page) and what Chatwoot answers for
every channel: the environment's credentials (CHATWOOT_*), Meta's 24-hour messaging window for
Instagram / Messenger and the pacing of posts to one inbox."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from contextlib import ExitStack
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

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
    missing_setting,
)
from conversations.providers.chatwoot.errors import error_from_response
from conversations.providers.chatwoot.parse import parse_webhook
from conversations.providers.chatwoot.payload import build_message_payload
from conversations.providers.chatwoot.signature import delivery_is_authentic
from conversations.providers.http import (
    HttpAnswer,
    environ_proxies,
    http_session,
    int_or_none,
    json_dict,
    json_request,
    read_limited,
    request_failure,
    too_large,
)
from conversations.providers.meta.values import text

__all__ = ["MAX_REDIRECTS", "SERVICE_WINDOW", "WINDOW_CLOSED", "WINDOW_CLOSED_REASON", "ChatwootProvider"]

SERVICE_WINDOW = timedelta(hours=24)
WINDOW_CLOSED = "window_closed"
WINDOW_CLOSED_REASON = (
    "Outside the 24-hour messaging window: Instagram and Messenger allow replies only within 24 hours "
    "of the customer's last message."
)
MAX_REDIRECTS = 5  # ActiveStorage answers one redirect to the storage service; a loop is a fault
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


def _form_value(value: Any) -> str:
    """A JSON field as a form field: booleans as Rails reads them ("true"/"false")."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return text(value)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


class ChatwootProvider(Provider):
    """A Chatwoot inbox: `config.external_id` = inbox id, `config.account_id`, `config.base_url`.

    Replies go to the conversation the customer wrote in (`OutboundMessage.thread_id`, the display
    id); files go inline as multipart (`sends_files_inline`).
    """

    name = "chatwoot"
    platform = "instagram"  # the default; each InboundMessage says instagram or facebook
    required_credentials = ("access_token", "base_url", "account_id")
    sends_files_inline = True
    credential_labels = {
        "access_token": (gettext_lazy("access token (an agent bot's or user's)"), "CHATWOOT_API_TOKEN"),
        "base_url": (gettext_lazy("Chatwoot's address (base URL)"), "CHATWOOT_URL"),
        "account_id": (gettext_lazy("account id"), "CHATWOOT_ACCOUNT_ID"),
    }

    @classmethod
    def webhook_path(cls) -> str:
        return f"/webhooks/{cls.name}/?token=<{gettext('your webhook token (verify token)')}>"

    @classmethod
    def external_id_problem(cls, external_id: str) -> str:
        """The external id is the inbox id: Chatwoot's numeric id of the Instagram or Facebook inbox."""
        value = external_id.strip()
        if not value:
            return gettext("The inbox id is missing (Chatwoot: Settings → Inboxes; the number in the inbox's address).")
        return "" if value.isdigit() else gettext("The inbox id is a number (the one in the inbox's Chatwoot address).")

    @classmethod
    def config_problems(cls, config: ChannelConfig) -> list[str]:
        """Besides the API credentials: without a webhook token or secret every delivery is refused."""
        problems = super().config_problems(config)
        if not (config.verify_token or config.app_secret):
            problems.append(
                missing_setting(gettext("webhook token (deliveries are refused without it)"), "CHATWOOT_WEBHOOK_SECRET")
            )
        return problems

    # -- what Chatwoot answers for every channel

    @classmethod
    def channel_defaults(cls) -> ChannelDefaults:
        """The single-inbox setup: CHATWOOT_URL, CHATWOOT_ACCOUNT_ID, CHATWOOT_INBOX_ID, CHATWOOT_API_TOKEN and
        CHATWOOT_WEBHOOK_SECRET (both the URL token and the signing secret)."""
        return ChannelDefaults(
            external_id=settings.CHATWOOT_INBOX_ID,
            access_token=settings.CHATWOOT_API_TOKEN,
            app_secret=settings.CHATWOOT_WEBHOOK_SECRET,
            verify_token=settings.CHATWOOT_WEBHOOK_SECRET,
            base_url=settings.CHATWOOT_URL,
            account_id=settings.CHATWOOT_ACCOUNT_ID,
        )

    @classmethod
    def service_window(cls) -> timedelta | None:
        """Meta's standard messaging window for Instagram and Messenger (automated replies: 24 h)."""
        return SERVICE_WINDOW

    @classmethod
    def window_refusal(
        cls, *, message: OutboundMessage, last_inbound_at: datetime | None, now: datetime
    ) -> ProviderError | None:
        """Nothing goes out later than 24 h after the customer's last message: there are no templates to fall
        back on, and Chatwoot would only mark the message failed after accepting it."""
        if last_inbound_at is not None and now - last_inbound_at < SERVICE_WINDOW:
            return None
        return ProviderError(WINDOW_CLOSED_REASON, code=WINDOW_CLOSED, transient=False)

    @classmethod
    def rate_limits(cls) -> RateLimits:
        """Posts per second to one inbox (CHATWOOT_RATE_PER_SECOND); Chatwoot paces Instagram / Messenger itself."""
        return RateLimits(number_rate=settings.CHATWOOT_RATE_PER_SECOND, number_burst=3.0)

    # -- webhook side

    def verify_signature(
        self,
        *,
        body: bytes,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        now: float | None = None,
    ) -> bool:
        """See `delivery_is_authentic`: the URL token and/or Chatwoot's signature."""
        return delivery_is_authentic(
            body=body,
            headers=headers,
            params=params,
            app_secret=self.config.app_secret,
            verify_token=self.config.verify_token,
            now=now,
            tolerance=self.signature_tolerance,
        )

    @staticmethod
    def parse(payload: Any) -> ParseResult:
        """See `parse_webhook`."""
        return parse_webhook(payload)

    # -- outbound side

    def build_payload(self, message: OutboundMessage) -> dict[str, Any]:
        """See `build_message_payload`."""
        return build_message_payload(message)

    def send(self, message: OutboundMessage) -> SendResult:
        """Post `message` in its Chatwoot conversation; the created message's id (what echoes and updates carry)."""
        payload = self.build_payload(message)
        if message.media_path and not os.path.isabs(message.media_path):
            raise OutboundValidationError(
                f"media_path {message.media_path!r} must be an absolute path (the delivery step resolves it)"
            )
        if not message.thread_id.strip():
            raise ProviderError(
                "This message has no Chatwoot conversation to post in: replies go to the conversation the "
                "customer wrote in, and none is known for it.",
                code="no_conversation",
                transient=False,
            )
        url = self._api_url("conversations", message.thread_id.strip(), "messages")
        attachments = payload.pop("attachments", None)
        response: HttpAnswer
        if attachments:
            response = self._post_files(url, payload, attachments)
        else:
            response = json_request(
                "POST", url, "send", headers=self._auth_headers(), timeout=self._timeout(), payload=payload
            )
        if not response.ok:
            raise error_from_response(response, "send")
        body = json_dict(response)
        message_id = body.get("id")
        if isinstance(message_id, bool) or not isinstance(message_id, int | str) or not str(message_id).strip():
            raise ProviderError(
                "malformed send response: no message id", code="malformed_response", transient=False, raw=body
            )
        return SendResult(provider_message_id=str(message_id).strip(), raw=body)

    def upload_media(self, *, content: bytes, mime_type: str, filename: str) -> str:
        """Chatwoot has no upload-then-send: files travel inline with the message (`sends_files_inline`)."""
        raise ProviderError(
            "Chatwoot takes files inline with the message; there is no separate upload",
            code="not_supported",
            transient=False,
        )

    def mark_read(self, provider_message_id: str) -> None:
        """Nothing to do: Chatwoot's read marks are per conversation (update_last_seen), not per message, and
        Chatwoot sends Instagram / Messenger read receipts itself when its agents open the conversation."""

    def fetch_media(self, media: MediaRef, *, max_bytes: int) -> MediaFile:
        """GET the attachment's data_url, following redirects by hand (ActiveStorage answers a redirect to
        its storage service): the api_access_token goes only to the configured Chatwoot host, never to a
        redirect target or a link elsewhere (Instagram's CDN serves incoming Instagram files directly)."""
        if not media.url:
            raise ProviderError("media reference has no url", code="no_media", transient=False)
        url = media.url
        if not urlsplit(url).scheme:  # some Chatwoot versions give a path only
            url = urljoin(self._base_url() + "/", url)
        for _hop in range(MAX_REDIRECTS + 1):
            with self._download(url) as response:
                if response.status_code in _REDIRECTS and response.headers.get("Location"):
                    url = urljoin(url, response.headers["Location"])
                    continue
                if not response.ok:
                    raise error_from_response(response, "media download")
                declared = int_or_none(response.headers.get("Content-Length"))
                if declared is not None and declared > max_bytes:
                    raise too_large(f"the download is {declared} bytes", max_bytes)
                content = read_limited(response, max_bytes)
                content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
                return MediaFile(
                    content=content,
                    mime_type=media.mime_type or content_type,
                    sha256=hashlib.sha256(content).hexdigest(),
                    original_url=media.url,
                    filename=media.filename,
                )
        raise ProviderError(
            f"media download: more than {MAX_REDIRECTS} redirects", code="redirect_loop", transient=False
        )

    # -- internals

    def _base_url(self) -> str:
        base = (self.config.base_url or settings.CHATWOOT_URL).strip().rstrip("/")
        if not base:
            raise ProviderError("channel has no Chatwoot URL (base_url / CHATWOOT_URL)", code="config", transient=False)
        return base

    def _api_url(self, *segments: str) -> str:
        account = self.config.account_id.strip()
        if not account:
            raise ProviderError("channel has no Chatwoot account id", code="config", transient=False)
        path = "/".join(quote(segment, safe="") for segment in ("api", "v1", "accounts", account, *segments))
        return f"{self._base_url()}/{path}"

    def _auth_headers(self) -> dict[str, str]:
        if not self.config.access_token:
            raise ProviderError(
                f"Chatwoot inbox {self.config.external_id or '?'} has no API access token",
                code="config",
                transient=False,
            )
        return {"api_access_token": self.config.access_token}

    def _timeout(self) -> float:
        return float(getattr(settings, "PROVIDER_HTTP_TIMEOUT", 15.0))

    def _request(self, method: str, url: str, what: str, **kwargs: Any) -> requests.Response:
        try:
            return http_session().request(
                method,
                url,
                headers=self._auth_headers(),
                timeout=self._timeout(),
                proxies=environ_proxies(url),
                **kwargs,
            )
        except requests.RequestException as exc:
            raise request_failure(exc, what) from exc

    def _post_files(self, url: str, fields: dict[str, Any], attachments: list[dict[str, str]]) -> requests.Response:
        """multipart/form-data: the text fields and one ``attachments[]`` part per file."""
        data: dict[str, str] = {}
        for key, value in fields.items():
            if isinstance(value, dict):  # content_attributes -> content_attributes[in_reply_to], as Rails reads it
                data.update({f"{key}[{sub}]": _form_value(item) for sub, item in value.items()})
            elif not (key == "content" and not value):
                data[key] = _form_value(value)
        with ExitStack() as stack:
            files = []
            for attachment in attachments:
                try:
                    handle = stack.enter_context(open(attachment["path"], "rb"))
                except OSError as exc:
                    raise ProviderError(
                        f"file to send is unreadable: {attachment['path']}: {exc.strerror or exc}",
                        code="no_media",
                        transient=False,
                    ) from exc
                files.append(("attachments[]", (attachment["filename"], handle, attachment["mime_type"])))
            return self._request("POST", url, "send", data=data, files=files)

    def _download(self, url: str) -> requests.Response:
        """One GET, no redirects followed; the token only when `url` is on the configured Chatwoot origin."""
        base = (self.config.base_url or settings.CHATWOOT_URL).strip()
        headers = self._auth_headers() if base and _origin(url) == _origin(base) else {}
        try:
            return http_session().get(
                url,
                headers=headers,
                timeout=self._timeout(),
                proxies=environ_proxies(url),
                stream=True,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise request_failure(exc, "media download") from exc
