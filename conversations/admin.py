from __future__ import annotations

import contextlib
import contextvars
import json
import re

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from conversations.models import Channel, Contact, Conversation, Message, WebhookDelivery
from conversations.selectors import conversation_test_q
from conversations.services.attention import attention_reason_text, message_failure_text
from conversations.services.channels import (
    channel_is_configured,
    channel_problems,
    channel_webhook_path,
    external_id_problem,
)
from conversations.services.enrichment_types import REASONS as ENRICHMENT_REASONS
from conversations.services.serialize import message_media_url
from conversations.services.webhook_guard import rejected_posts_dropped
from whatsapp_ia.admin_secrets import WriteOnlySecretsAdmin


def _failure_html(obj: Message) -> str:
    """A failed message: why, in the reader's language, with the provider's raw error as detail below."""
    sentence = message_failure_text(obj)
    if not sentence:
        return ""
    detail = " ".join(part for part in (f"[{obj.error_code}]" if obj.error_code else "", obj.error_message) if part)
    return format_html(
        '<strong class="failure">{}</strong>{}',
        sentence,
        format_html('<br><small class="failure-detail">{}: {}</small>', _("Provider detail"), detail) if detail else "",
    )


# The webhook's fixed rejection reasons are stored in English (a log's language); shown in the reader's.
DELIVERY_ERRORS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"Missing or invalid signature"), _("Missing or invalid signature")),
    (
        re.compile(r"Body too large: (?P<size>\d+) bytes, the limit is (?P<limit>\d+) \(WEBHOOK_MAX_BODY_BYTES\)"),
        _("Body too large: %(size)s bytes, the limit is %(limit)s (WEBHOOK_MAX_BODY_BYTES)"),
    ),
    (re.compile(r"Body is not valid JSON: (?P<detail>.*)", re.DOTALL), _("Body is not valid JSON: %(detail)s")),
)


# A refused POST's reason ends with what was kept of it: "(N bytes from ADDRESS[, the first K kept])".
_REFUSED_NOTE = re.compile(
    r"(?P<reason>.*) \((?P<size>\d+) bytes from (?P<client>.*?)(?:, the first (?P<kept>\d+) kept)?\)"
)


def delivery_error_text(error: str) -> str:
    """A delivery's error in the reader's language when it is one of the fixed reasons, else as stored."""
    note = ""
    refused = _REFUSED_NOTE.fullmatch(error)
    if refused:
        error = refused["reason"]
        client = refused["client"]
        values = {
            "size": refused["size"],
            "client": _("an unknown address") if client == "an unknown address" else client,
        }
        note = _("%(size)s bytes from %(client)s") % values
        if refused["kept"]:
            note += _(", the first %(kept)s kept") % {"kept": refused["kept"]}
    for pattern, sentence in DELIVERY_ERRORS:
        match = pattern.fullmatch(error)
        if match:
            error = str(sentence) % match.groupdict() if match.groupdict() else str(sentence)
            break
    return f"{error} ({note})" if note else error


# The request being answered (a ModelAdmin is shared by every request: no attribute on it).
_admin_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar("admin_request", default=None)


class TestChatFilter(admin.SimpleListFilter):
    """Customers' chats by default; the bot simulator's test chats on request."""

    title = _("test chats")
    parameter_name = "test_chats"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("only", _("Only test chats")), ("include", _("Customers and test chats"))]

    def choices(self, changelist):  # "All" would read as "everything"; here the default hides test chats
        for choice in super().choices(changelist):
            if choice["query_string"] == changelist.get_query_string(remove=[self.parameter_name]):
                choice["display"] = _("Customers only")
            yield choice

    def queryset(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> QuerySet[Conversation]:
        if self.value() == "only":
            return queryset.filter(conversation_test_q())
        if self.value() == "include":
            return queryset
        return queryset.exclude(conversation_test_q())


@admin.register(Channel)
class ChannelAdmin(WriteOnlySecretsAdmin, admin.ModelAdmin):
    list_display = (
        "name",
        "provider",
        "external_id",
        "display_phone_number",
        "is_active",
        "ready",
        "needs_setup",
    )
    list_filter = ("provider", "is_active", "needs_setup")
    search_fields = ("name", "external_id", "display_phone_number")
    readonly_fields = ("configuration", "webhook_url")
    fieldsets = (
        (None, {"fields": ("name", "provider", "external_id", "display_phone_number", "is_active", "needs_setup")}),
        (_("Connection"), {"fields": ("configuration", "webhook_url")}),
        (_("Provider details"), {"fields": ("business_account_id", "base_url", "account_id")}),
        (
            _("Credentials (encrypted at rest; empty = use the environment)"),
            {"fields": ("access_token", "app_secret", "verify_token")},
        ),
    )
    # Write-only: the page says whether each is set and offers to replace or clear it, never shows it.
    secret_fields = ("access_token", "app_secret", "verify_token")

    def get_fieldsets(self, request: HttpRequest, obj: Channel | None = None) -> list:
        fieldsets = [(name, dict(options)) for name, options in super().get_fieldsets(request, obj)]
        if obj is not None and obj.needs_setup:
            fieldsets[0][1]["description"] = _(
                "This channel was created automatically when messages arrived for a number nobody configured."
                " Its messages are stored, but replies fail: add its access token (and app secret) below and save."
            )
        return fieldsets

    def save_model(self, request: HttpRequest, obj: Channel, form: object, change: bool) -> None:
        if obj.needs_setup and channel_is_configured(obj):
            obj.needs_setup = False  # an admin gave it credentials: the warning goes away
        super().save_model(request, obj, form, change)

    def get_form(self, request: HttpRequest, obj: Channel | None = None, change: bool = False, **kwargs: object):
        form = super().get_form(request, obj, change, **kwargs)

        class ChannelForm(form):  # type: ignore[misc, valid-type]
            def clean(self) -> dict:
                data = super().clean()
                provider, external_id = data.get("provider"), data.get("external_id")
                if (
                    provider
                    and external_id
                    and (problem := external_id_problem(provider=provider, external_id=external_id))
                ):
                    self.add_error("external_id", problem)
                return data

        return ChannelForm

    @admin.display(boolean=True, description=_("ready"))
    def ready(self, obj: Channel) -> bool:
        return not channel_problems(obj)

    @admin.display(description=_("configuration"))
    def configuration(self, obj: Channel | None) -> str:
        if obj is None or obj.pk is None:
            return _("Save the channel to check its configuration.")
        problems = channel_problems(obj)
        if not problems:
            return format_html('<span class="channel-ready">✔ {}</span>', _("Ready: replies can go out."))
        return format_html(
            '<ul class="channel-problems errorlist">{}</ul>',
            format_html_join("", "<li>{}</li>", ((p,) for p in problems)),
        )

    @admin.display(description=_("webhook URL"))
    def webhook_url(self, obj: Channel | None) -> str:
        if obj is None or obj.pk is None:
            return "—"
        path = channel_webhook_path(obj)
        if not path:
            return _("This provider receives no webhooks.")
        request = _admin_request.get()
        where, _sep, query = path.partition("?")  # the query is shown as typed, not percent-encoded
        url = (request.build_absolute_uri(where) if request is not None else where) + (f"?{query}" if query else "")
        return format_html(
            '<code>{}</code><div class="help">{}</div>',
            url,
            _("Give this address to the provider as the webhook (callback) URL."),
        )

    def change_view(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        token = _admin_request.set(request)  # the webhook URL is shown with this site's own address
        try:
            response = super().change_view(request, *args, **kwargs)
            if hasattr(response, "render"):
                response.render()  # the read-only fields are drawn now, while the request is known
            return response
        finally:
            _admin_request.reset(token)


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("__str__", "external_id", "provider", "profile_name", "alias", "has_referral", "updated_at")
    list_filter = ("provider",)
    search_fields = ("external_id", "profile_name", "alias", "phone")
    readonly_fields = ("created_at", "updated_at")

    @admin.display(boolean=True, description=_("from an ad"))
    def has_referral(self, obj: Contact) -> bool:
        return bool(obj.referral)


class MessageInline(admin.TabularInline):
    model = Message
    fields = ("created_at", "direction", "kind", "short_text", "status", "failure", "processing_state")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("-created_at",)
    max_num = 0

    @admin.display(description=_("text"))
    def short_text(self, obj: Message) -> str:
        return (obj.text or obj.caption or obj.transcription)[:120]

    @admin.display(description=_("why it failed"))
    def failure(self, obj: Message) -> str:
        return _failure_html(obj)


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = (
        "contact",
        "channel",
        "status",
        "step",
        "bot_paused",
        "unread_count",
        "needs_attention",
        "attention",
        "last_activity_at",
    )
    list_filter = (TestChatFilter, "status", "bot_paused", "needs_attention", "channel", "platform", "roles")
    search_fields = ("contact__external_id", "contact__profile_name", "contact__alias", "step")
    list_select_related = ("contact", "channel")
    raw_id_fields = ("contact",)
    readonly_fields = ("attention", "created_at", "updated_at", "last_inbound_at", "last_message_preview")
    exclude = ("attention_reason",)
    inlines = [MessageInline]
    date_hierarchy = "last_activity_at"

    def get_fields(self, request: HttpRequest, obj: Conversation | None = None) -> list[str]:
        fields = [f for f in super().get_fields(request, obj) if f != "attention"]
        index = fields.index("needs_attention") + 1 if "needs_attention" in fields else 0
        return [*fields[:index], "attention", *fields[index:]]

    @admin.display(description=_("why it needs attention"))
    def attention(self, obj: Conversation) -> str:
        if not obj.needs_attention:
            return ""
        reason = attention_reason_text(obj.attention_reason) or _("An agent should look at this chat.")
        return format_html('<strong class="attention-reason">{}</strong>', reason)

    def save_model(self, request: HttpRequest, obj: Conversation, form, change: bool) -> None:
        if not obj.needs_attention:
            obj.attention_reason = ""  # dealt with: the reason goes with the flag
        super().save_model(request, obj, form, change)


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("created_at", "direction", "kind", "short_text", "conversation", "status", "processing_state")
    list_filter = (
        "direction",
        "kind",
        "status",
        "processing_state",
        "provider",
        "media_state",
        "media_checksum_mismatch",
        "enrichment_state",
    )
    search_fields = (
        "text",
        "caption",
        "transcription",
        "image_description",
        "provider_message_id",
        "conversation__contact__external_id",
    )
    list_select_related = ("conversation__contact", "conversation__channel")
    raw_id_fields = ("conversation", "rule", "sent_by")
    # What the pipeline found in a voice note or an image: machine-made, shown as it is stored.
    ENRICHMENT_FIELDS = (
        "transcription",
        "image_description",
        "enrichment_state",
        "enrichment_note",
        "enrichment_details",
    )
    readonly_fields = ("failure", "media_link", "created_at", "updated_at", "pretty_raw", *ENRICHMENT_FIELDS)
    date_hierarchy = "created_at"
    # The file is reached through the access-checked media view only; the enrichment reason is shown
    # translated by enrichment_note.
    exclude = ("raw", "media_file", "enrichment_reason")

    @admin.display(description=_("media file"))
    def media_link(self, obj: Message) -> str:
        if not obj.media_file:
            return "-"
        label = _("Open the file") if not obj.media_checksum_mismatch else _("Open the file (checksum mismatch)")
        return format_html('<a href="{}" rel="noopener noreferrer">{}</a>', message_media_url(obj), label)

    def get_fields(self, request: HttpRequest, obj: Message | None = None) -> list[str]:
        # Why it failed right under its status, where "Failed" is read.
        # The transcription and description go in their own fieldset (get_fieldsets).
        fields = [f for f in super().get_fields(request, obj) if f != "failure" and f not in self.ENRICHMENT_FIELDS]
        index = fields.index("status") + 1 if "status" in fields else 0
        return [*fields[:index], "failure", *fields[index:]]

    def get_fieldsets(self, request: HttpRequest, obj: Message | None = None) -> list[tuple[str | None, dict]]:
        fieldsets: list[tuple[str | None, dict]] = [(None, {"fields": self.get_fields(request, obj)})]
        if obj is not None:  # the pipeline fills these in; an added message has none
            fieldsets.append((_("Transcription / description"), {"fields": self.ENRICHMENT_FIELDS}))
        return fieldsets

    @admin.display(description=_("why it failed"))
    def failure(self, obj: Message) -> str:
        return _failure_html(obj)

    @admin.display(description=_("transcription / description note"))
    def enrichment_note(self, obj: Message) -> str:
        """Why there is no text (the reason in the reader's language, its code after it)."""
        reason = obj.enrichment_reason
        if not reason:
            return "-"
        label = ENRICHMENT_REASONS.get(reason)
        return format_html("{} <code>{}</code>", label, reason) if label else reason

    @admin.display(description=_("transcription / description details"))
    def enrichment_details(self, obj: Message) -> str:
        """What data["enrichment"] says: which backend, what it did, how long it took."""
        details = (obj.data or {}).get("enrichment") if isinstance(obj.data, dict) else None
        if not isinstance(details, dict) or not details:
            return "-"
        labels = (
            ("source", _("source")),
            ("backend", _("backend")),
            ("elapsed_ms", _("time taken (ms)")),
            ("duration_ms", _("audio length (ms)")),
            ("detail", _("detail")),
        )
        rows = [(label, details[key]) for key, label in labels if details.get(key) not in (None, "")]
        if not rows:
            return "-"
        items = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows)
        return format_html('<table class="enrichment-details">{}</table>', items)

    @admin.display(description=_("text"))
    def short_text(self, obj: Message) -> str:
        return (obj.text or obj.caption or obj.transcription or obj.image_description)[:80]

    @admin.display(description=_("raw payload"))
    def pretty_raw(self, obj: Message) -> str:
        return format_html(
            "<pre style='white-space:pre-wrap'>{}</pre>", json.dumps(obj.raw, indent=2, ensure_ascii=False)
        )


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "provider",
        "received_at",
        "state",
        "signature_ok",
        "events_count",
        "attempts",
        "body_size",
        "client_address",
        "short_error",
    )
    list_filter = ("provider", "state", "signature_ok")
    search_fields = ("error", "client_address")
    date_hierarchy = "received_at"
    readonly_fields = (
        "provider",
        "received_at",
        "state",
        "signature_ok",
        "events_count",
        "processed_at",
        "body_size",
        "client_address",
        "error_text",
        "pretty_headers",
        "pretty_body",
    )
    exclude = ("body", "headers", "error")  # shown translated by error_text

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: WebhookDelivery | None = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[WebhookDelivery]:
        return super().get_queryset(request).defer("body")

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        dropped = rejected_posts_dropped(days=7)
        if dropped:
            total = sum(dropped.values())
            top = ", ".join(f"{address} ({count})" for address, count in list(dropped.items())[:5])
            messages.warning(
                request,
                ngettext(
                    "%(count)d rejected webhook POST was refused by the rate limit in the last 7 days and not"
                    " stored (by client address: %(top)s).",
                    "%(count)d rejected webhook POSTs were refused by the rate limit in the last 7 days and not"
                    " stored (by client address: %(top)s).",
                    total,
                )
                % {"count": total, "top": top},
            )
        return super().changelist_view(request, extra_context)

    @admin.display(description=_("error"))
    def short_error(self, obj: WebhookDelivery) -> str:
        return delivery_error_text(obj.error)[:80]

    @admin.display(description=_("error"))
    def error_text(self, obj: WebhookDelivery) -> str:
        return delivery_error_text(obj.error)

    @admin.display(description=_("headers"))
    def pretty_headers(self, obj: WebhookDelivery) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.headers, indent=2))

    @admin.display(description=_("raw body"))
    def pretty_body(self, obj: WebhookDelivery) -> str:
        text = obj.body_text
        # Shown as received when it is not JSON, or nested too deeply to decode (RecursionError).
        with contextlib.suppress(ValueError, RecursionError):
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        return format_html("<pre style='white-space:pre-wrap'>{}</pre>", text)


# Message templates (issue 13): their admin, and the sync action on channels.
from conversations.admin_templates import channels_sync_templates  # noqa: E402

ChannelAdmin.actions = [*(ChannelAdmin.actions or []), channels_sync_templates]

# Exports of the selection (issue 17): CSV streamed, Excel through a temporary file.
from conversations.admin_export import CONVERSATION_EXPORT_ACTIONS, MESSAGE_EXPORT_ACTIONS  # noqa: E402

ConversationAdmin.actions = [*(ConversationAdmin.actions or []), *CONVERSATION_EXPORT_ACTIONS]
MessageAdmin.actions = [*(MessageAdmin.actions or []), *MESSAGE_EXPORT_ACTIONS]
