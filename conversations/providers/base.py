"""The one interface every messaging provider implements, and the data that crosses it.

Providers never touch the database: they get a `ChannelConfig` (plain values,
decrypted) and exchange frozen dataclasses with the services. Parsing is pure
(payload in, events out); everything that talks HTTP goes through base URLs
from settings so tests point them at local fake servers.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from django.utils.translation import gettext


@dataclass(frozen=True)
class ChannelConfig:
    """What a provider needs to know about one channel (inbox)."""

    provider: str
    external_id: str  # Meta: phone_number_id
    access_token: str = ""
    app_secret: str = ""
    verify_token: str = ""
    base_url: str = ""  # API base URL (Graph / YCloud / Chatwoot server)
    api_version: str = ""
    account_id: str = ""
    display_phone_number: str = ""
    business_account_id: str = ""  # Meta: the WhatsApp Business Account (WABA) that owns the templates


class WebhookKey(NamedTuple):
    """What one channel authenticates its webhook deliveries with."""

    app_secret: str  # the signing secret (Meta: app secret; YCloud: whsec_…; Chatwoot: the webhook's secret)
    verify_token: str = ""  # Meta: the handshake token; Chatwoot: the token in the webhook URL


@dataclass(frozen=True)
class ChannelDefaults:
    """What the environment supplies for a channel's empty fields (the seed's single-number setup).

    `external_id` is the one number the environment configures ('' = any number).
    """

    external_id: str = ""
    access_token: str = ""
    app_secret: str = ""
    verify_token: str = ""
    base_url: str = ""
    api_version: str = ""
    account_id: str = ""  # Chatwoot: the account id


@dataclass(frozen=True)
class RateLimits:
    """How fast one business number may send, as the provider enforces it (0 = no limit).

    Sends are booked at `number_rate` per second (bursts of `number_burst`), and at most
    `number_limit` are counted per second until answered (the provider's hard cap); one customer
    gets a message every `pair_interval` seconds, bursts of `pair_burst`.
    """

    number_rate: float = 0.0
    number_burst: float = 1.0
    number_limit: int = 0
    pair_interval: float = 0.0
    pair_burst: float = 1.0


@dataclass(frozen=True)
class HandshakeAnswer:
    """The answer to a provider's GET on the webhook URL (its subscription check)."""

    status: int
    body: str
    content_type: str = "text/plain"


NO_HANDSHAKE = HandshakeAnswer(405, "This provider has no webhook handshake.")


@dataclass(frozen=True)
class MediaRef:
    """A provider's pointer to a media file, as it arrived in a webhook."""

    media_id: str = ""
    mime_type: str = ""
    sha256: str = ""
    filename: str = ""
    url: str = ""
    voice: bool = False
    animated: bool = False


@dataclass(frozen=True)
class InboundMessage:
    provider_message_id: str  # idempotency key, together with the provider name
    channel_external_id: str  # the business number (Meta phone_number_id) it was sent to
    contact_external_id: str  # wa_id; BSUID user id when the user hides the number
    contact_name: str
    kind: str  # a conversations.models.MessageKind value
    sent_at: datetime | None
    text: str = ""  # body text; for interactive/button replies the title the user tapped
    caption: str = ""
    media: MediaRef | None = None
    reply_to: str = ""  # provider id of the quoted message (context.id)
    interactive_id: str = ""  # button_reply/list_reply id or template button payload
    data: dict[str, Any] = field(default_factory=dict)  # location, contacts, reaction, ...
    referral: dict[str, Any] = field(default_factory=dict)  # click-to-WhatsApp ad
    errors: tuple[dict[str, Any], ...] = ()
    unknown: bool = False  # a type we do not understand: kept raw and marked
    # The provider's conversation replies must go to (Chatwoot: the conversation display id); '' = none.
    thread_id: str = ""
    # Where the customer writes from: whatsapp | instagram | facebook; '' = the provider's `platform`.
    platform: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


# OutboundEcho.origin values
ECHO_API = "api"  # posted through the provider's API: by us (or another integration on the same inbox)
ECHO_AGENT = "agent"  # typed by a person in the provider's own app (a Chatwoot agent)
ECHO_PLATFORM = "platform"  # typed in the platform's native app (Instagram / Messenger), imported by the provider
ECHO_NOTE = "note"  # a private note: never sent to the customer


@dataclass(frozen=True)
class OutboundEcho:
    """A message from the business side that came back in a webhook: never a customer message.

    Providers that relay every message of an inbox (Chatwoot) send our own replies back, along with
    what agents type in their app and private notes. The services recognise ours by
    `provider_message_id` (or `callback_data`) and never answer any of them.
    """

    provider_message_id: str
    channel_external_id: str
    contact_external_id: str
    origin: str  # an ECHO_* value
    sent_at: datetime | None = None
    text: str = ""
    sender_name: str = ""
    sender_type: str = ""  # the provider's word for who sent it (Chatwoot: agent_bot, user, ...)
    thread_id: str = ""
    callback_data: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


# ThreadStatus.status values
THREAD_OPEN = "open"  # someone (re)opened the conversation in the provider's app
THREAD_PENDING = "pending"
THREAD_RESOLVED = "resolved"  # closed by an agent in the provider's app
THREAD_SNOOZED = "snoozed"


@dataclass(frozen=True)
class ThreadStatus:
    """The provider's conversation changed state in its own app (Chatwoot: conversation_status_changed)."""

    channel_external_id: str
    contact_external_id: str
    thread_id: str
    status: str  # a THREAD_* value
    previous: str = ""
    timestamp: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusUpdate:
    provider_message_id: str
    channel_external_id: str
    status: str  # sent | delivered | read | failed | played
    timestamp: datetime | None
    recipient_id: str = ""
    error_code: str = ""
    error_title: str = ""
    error_detail: str = ""
    callback_data: str = ""  # what our send carried (Meta: biz_opaque_callback_data): our message id
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderNotice:
    """A system- or app-level error the provider reports outside any message."""

    channel_external_id: str
    code: str
    title: str
    detail: str = ""
    raw: dict[str, Any] = field(default_factory=dict)


InboundEvent = InboundMessage | StatusUpdate | ProviderNotice | OutboundEcho | ThreadStatus


@dataclass(frozen=True)
class ParseResult:
    events: list[InboundEvent]
    problems: list[str] = field(default_factory=list)  # malformed or unknown parts, in words


@dataclass(frozen=True)
class OutboundMessage:
    """What we want to send; `kind` picks the shape. Validated before any HTTP call."""

    kind: str  # text | buttons | list | image | audio | video | document | sticker | template
    to: str
    text: str = ""  # text body, or the body of buttons/list messages
    caption: str = ""
    header: str = ""
    footer: str = ""
    buttons: tuple[tuple[str, str], ...] = ()  # (id, title)
    list_button: str = ""  # the list's menu button label
    sections: tuple[tuple[str, tuple[tuple[str, str, str], ...]], ...] = ()  # (title, ((id, title, desc), ...))
    media_link: str = ""
    media_id: str = ""
    # A file under MEDIA_ROOT; the delivery step turns it into media_id (upload) or media_link
    # (OUTBOUND_MEDIA_MODE=link, public files only) before the provider sees the message.
    media_path: str = ""
    filename: str = ""
    voice: bool = False
    template_name: str = ""
    template_language: str = "es"
    template_components: tuple[dict[str, Any], ...] = ()
    reply_to: str = ""
    preview_url: bool = False
    callback_data: str = ""  # echoed by the provider's status webhooks (Meta: biz_opaque_callback_data)
    thread_id: str = ""  # the provider's conversation to post in (Chatwoot); filled from the conversation


@dataclass(frozen=True)
class TemplateInfo:
    """A message template as the provider lists it (Meta: GET /{waba_id}/message_templates)."""

    name: str
    language: str
    status: str  # APPROVED, PENDING, REJECTED, PAUSED, DISABLED, ...
    category: str = ""
    components: tuple[dict[str, Any], ...] = ()
    provider_template_id: str = ""


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MediaFile:
    content: bytes
    mime_type: str
    sha256: str = ""
    original_url: str = ""
    filename: str = ""
    checksum_error: str = ""  # the content differs from the provider's sha256 (kept: never drop customer media)

    @property
    def size(self) -> int:
        return len(self.content)


class OutboundValidationError(ValueError):
    """The message breaks a provider limit (3 buttons, 20-char titles, ...); nothing was sent."""


class ProviderError(Exception):
    """A provider call failed. `transient` says whether trying again later can help."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        transient: bool,
        http_status: int | None = None,
        retry_after: float | None = None,
        raw: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.transient = transient
        self.http_status = http_status
        self.retry_after = retry_after
        self.raw = dict(raw or {})

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}" if self.code else self.message


def missing_setting(what: str, variable: str = "") -> str:
    """The admin's words for a setting a channel lacks; `variable` names the environment variable that can supply it."""
    if variable:
        return gettext("Missing: %(what)s (set it here, or %(variable)s in the environment).") % {
            "what": what,
            "variable": variable,
        }
    return gettext("Missing: %(what)s.") % {"what": what}


class Provider(abc.ABC):
    """One channel's connection to a messaging provider.

    Besides the instance methods (one channel's calls), the class answers for what is the same
    for all its channels: the environment's defaults for a channel's credentials, the webhook
    handshake, the customer-service window and the rate limits. The defaults below are those
    of a provider that has none of them.
    """

    name: str
    # The ChannelConfig fields a channel needs before replies can go out (its own or the environment's).
    required_credentials: tuple[str, ...] = ("access_token",)
    # Where this provider's customers write from, unless an event says otherwise (InboundMessage.platform).
    platform: str = "whatsapp"
    # True: outbound files are not uploaded first; the delivery step leaves `media_path` as the absolute
    # path of a file under MEDIA_ROOT and `send` attaches the file itself (Chatwoot: multipart).
    sends_files_inline: bool = False
    # Seconds a signed delivery's timestamp may differ from our clock (providers that sign one).
    signature_tolerance: int = 300

    def __init__(self, config: ChannelConfig) -> None:
        self.config = config

    @classmethod
    def channel_defaults(cls) -> ChannelDefaults:
        """What the environment supplies for a channel's empty fields (read at call time: settings may change)."""
        return ChannelDefaults()

    # What each required ChannelConfig field is called for people, and the environment variable that can supply it.
    credential_labels: Mapping[str, tuple[str, str]] = {}

    @classmethod
    def webhook_path(cls) -> str:
        """Where this provider posts its webhooks; a provider that authenticates by a URL token says where it goes."""
        return f"/webhooks/{cls.name}/"

    @classmethod
    def external_id_problem(cls, external_id: str) -> str:
        """Why `external_id` cannot identify a channel of this provider, in words; '' when it can."""
        return "" if external_id.strip() else gettext("The external id is missing.")

    @classmethod
    def config_problems(cls, config: ChannelConfig) -> list[str]:
        """What keeps this channel (its own settings merged with the environment's) from working, in words.

        Shown in the admin, so a missing credential is a configuration error there, not a crash at send time.
        """
        problems = []
        if problem := cls.external_id_problem(config.external_id):
            problems.append(problem)
        for name in cls.required_credentials:
            if not getattr(config, name, ""):
                label, variable = cls.credential_labels.get(name, (name.replace("_", " "), ""))
                problems.append(missing_setting(str(label), variable))
        return problems

    @classmethod
    def webhook_handshake(cls, *, params: Mapping[str, str], verify_tokens: Sequence[str]) -> HandshakeAnswer:
        """Answer a GET on the webhook URL: the provider's subscription check, given the accepted tokens."""
        return NO_HANDSHAKE

    @classmethod
    def service_window(cls) -> timedelta | None:
        """How long after the customer's last message free-form messages may go out; None: any time."""
        return None

    @classmethod
    def window_refusal(
        cls, *, message: OutboundMessage, last_inbound_at: datetime | None, now: datetime
    ) -> ProviderError | None:
        """The permanent error for `message` when the service window forbids it now; None when it may go."""
        window = cls.service_window()
        if window is None or (last_inbound_at is not None and now - last_inbound_at < window):
            return None
        return ProviderError("Outside the customer-service window.", code="window_closed", transient=False)

    @classmethod
    def rate_limits(cls) -> RateLimits:
        """The pacing one business number needs (read at call time: settings may change)."""
        return RateLimits()

    @abc.abstractmethod
    def verify_signature(
        self,
        *,
        body: bytes,
        headers: Mapping[str, str],
        params: Mapping[str, str] | None = None,
        now: float | None = None,
    ) -> bool:
        """True when the delivery is authentic for this channel (headers are case-insensitive).

        `params` is the webhook URL's query string (a provider may authenticate by a token in it);
        `now` is the Unix time to judge a signed timestamp against (None: the clock), so tests
        inject a clock.
        """

    @staticmethod
    @abc.abstractmethod
    def parse(payload: Any) -> ParseResult:
        """Turn one decoded webhook body into normalized events. Pure; never raises on bad input."""

    @abc.abstractmethod
    def build_payload(self, message: OutboundMessage) -> dict[str, Any]:
        """The provider's JSON for `message`; raises OutboundValidationError on a broken limit."""

    @abc.abstractmethod
    def send(self, message: OutboundMessage) -> SendResult:
        """Send; raises ProviderError (transient or permanent) or OutboundValidationError."""

    @abc.abstractmethod
    def fetch_media(self, media: MediaRef, *, max_bytes: int) -> MediaFile:
        """Download an inbound media file; raises ProviderError."""

    @abc.abstractmethod
    def upload_media(self, *, content: bytes, mime_type: str, filename: str) -> str:
        """Upload a file for outbound messages; its provider media id. Raises ProviderError."""

    @abc.abstractmethod
    def mark_read(self, provider_message_id: str) -> None:
        """Tell the provider the customer's message was read (blue ticks)."""

    def list_templates(self) -> list[TemplateInfo]:
        """Every message template of the channel's account (all pages); a provider without templates has none.

        Raises ProviderError."""
        return []
