"""The console's REST API (thin: parse input, call one selector or service, shape output).

Every chat is reached through ``access_conversation_by_id``: out of role and missing answer the
same 404. Writes need CSRF with a session (DRF's SessionAuthentication) or a token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import Http404
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from conversations import views_export
from conversations.api import serializers as inputs
from conversations.api.pagination import conversations_page, messages_page
from conversations.models import Channel, Conversation, Message
from conversations.providers.base import OutboundMessage, ProviderError
from conversations.selectors import (
    CONTACT_WINDOW,
    access_conversation_by_id,
    conversation_ids_matching,
    conversation_list_filtered,
    conversations_by_ids,
)
from conversations.services import agent_send, export, state
from conversations.services.quick_replies import quick_replies_for_user
from conversations.services.serialize import conversation_data, message_data, messages_data
from conversations.services.templates import templates_approved, templates_sync
from conversations.visibility import PERM_TAKE_UNROUTED, PERM_VIEW_ALL, user_sees_all
from whatsapp_ia.query_limits import QueryTooSlow, query_time_limit

OBJECT = OpenApiTypes.OBJECT


class ConsoleApi(APIView):
    # Token first: an anonymous call is told how to authenticate (401 with WWW-Authenticate: Token).
    authentication_classes = (TokenAuthentication, SessionAuthentication)
    permission_classes = (IsAuthenticated,)

    def conversation(self, conversation_id: int, *, lock: bool = False) -> Conversation:
        """The chat if the user may see it; 404 alike for missing and out of role."""
        try:
            conversation = access_conversation_by_id(user=self.request.user, conversation_id=conversation_id)
        except Conversation.DoesNotExist:
            raise Http404 from None
        if lock:
            locked = Conversation.objects.select_for_update().select_related("contact", "channel", "assigned_to")
            conversation = locked.get(pk=conversation.pk)
        return conversation


def _full(conversation_id: int) -> dict[str, Any]:
    """The whole Conversation JSON, read fresh (after an action)."""
    conversation = (
        Conversation.objects.select_related("contact", "channel", "assigned_to")
        .prefetch_related("roles")
        .get(pk=conversation_id)
    )
    return conversation_data(conversation)


def _validated(serializer_class: type, data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class ConversationListApi(ConsoleApi):
    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=list(inputs.STATUS_FILTERS)),
            OpenApiParameter("role", str, description="A role id, or 'none' for chats without a role."),
            OpenApiParameter("unread", bool),
            OpenApiParameter("attention", bool),
            OpenApiParameter(
                "channel", int, description="A channel id: only its chats (WhatsApp number, Chatwoot inbox)."
            ),
            OpenApiParameter("q", str, description="Alias, profile name, number or message text."),
            OpenApiParameter("cursor", str),
        ],
        responses=OBJECT,
        operation_id="conversations_list",
    )
    def get(self, request: Request) -> Response:
        """The chats the user may see, newest activity first (50 a page)."""
        filters = _validated(inputs.ConversationFilterInput, request.query_params)
        role = filters.get("role") or ""
        conversations = conversation_list_filtered(
            user=request.user,
            status=filters.get("status") or "",
            role_id=int(role) if role.isdigit() else None,
            unrouted=role == "none",
            unread=filters["unread"],
            attention=filters["attention"],
            channel_id=filters.get("channel"),
        )
        query = filters.get("q") or ""
        contact_window = CONTACT_WINDOW if user_sees_all(request.user) else 0
        try:
            with query_time_limit(settings.CONSOLE_SEARCH_TIME_LIMIT if query else 0):
                page = conversations_page(
                    request,
                    conversations,
                    ids=lambda queryset, limit, after: conversation_ids_matching(
                        queryset, query=query, limit=limit, after=after, contact_window=contact_window
                    ),
                    load=conversations_by_ids,
                    serialize=lambda rows: [conversation_data(c) for c in rows],
                )
        except QueryTooSlow:
            detail = _("This search takes too long. Add a word, or a filter, to narrow it.")
            return Response({"detail": detail}, status=status.HTTP_400_BAD_REQUEST)
        return Response(page)


class ConversationDetailApi(ConsoleApi):
    @extend_schema(responses=OBJECT, operation_id="conversations_retrieve")
    def get(self, request: Request, conversation_id: int) -> Response:
        return Response(_full(self.conversation(conversation_id).pk))

    @extend_schema(request=inputs.ConversationPatchInput, responses=OBJECT)
    def patch(self, request: Request, conversation_id: int) -> Response:
        """Set the contact's alias and/or the chat's roles."""
        values = _validated(inputs.ConversationPatchInput, request.data)
        with transaction.atomic():
            conversation = self.conversation(conversation_id, lock=True)
            if "alias" in values:
                state.conversation_set_alias(conversation, alias=values["alias"])
            if "roles" in values:
                state.conversation_set_roles(conversation, role_ids=values["roles"], by=request.user.get_username())
        return Response(_full(conversation.pk))


# Agent actions: URL name -> the state transition (conversations.services.state owns them all).
ACTIONS: dict[str, Callable[[Conversation, Any], object]] = {
    "takeover": lambda c, user: state.conversation_take_over(c, user=user),
    "release": lambda c, user: state.conversation_release_to_bot(c),
    "close": lambda c, user: state.conversation_close(c),
    "reopen": lambda c, user: state.conversation_reopen(c),
    "read": lambda c, user: state.conversation_mark_read(c, at_provider=settings.CONSOLE_MARK_READ),
    "unread": lambda c, user: state.conversation_mark_unread(c),
    "restart": lambda c, user: state.conversation_restart(c),
}


class ConversationActionApi(ConsoleApi):
    action_name = ""

    @extend_schema(request=None, responses=OBJECT)
    def post(self, request: Request, conversation_id: int) -> Response:
        with transaction.atomic():
            conversation = self.conversation(conversation_id, lock=True)
            ACTIONS[self.action_name](conversation, request.user)
        return Response(_full(conversation.pk))


class MessageListApi(ConsoleApi):
    @extend_schema(parameters=[OpenApiParameter("cursor", str)], responses=OBJECT, operation_id="messages_list")
    def get(self, request: Request, conversation_id: int) -> Response:
        """The chat's messages, 50 a page, each page newest last; ``previous`` goes to older ones."""
        conversation = self.conversation(conversation_id)
        messages = Message.objects.filter(conversation=conversation).select_related("rule", "sent_by")
        return Response(messages_page(request, messages, messages_data))

    @extend_schema(
        request={"application/json": OBJECT, "multipart/form-data": inputs.AttachmentSendInput},
        responses={201: OBJECT, 400: OBJECT, 409: OBJECT},
    )
    def post(self, request: Request, conversation_id: int) -> Response:
        """Send text, an attachment, buttons, a list, a quick reply or a template (201: queued)."""
        conversation = self.conversation(conversation_id)
        kind = _validated(inputs.SendKindInput, request.data)["kind"]
        values = _validated(inputs.SEND_INPUTS[kind], request.data)
        try:
            sent = _send(conversation, request.user, kind, values)
        except agent_send.WindowClosed as exc:
            return Response({"detail": str(exc), "code": exc.code}, status=status.HTTP_409_CONFLICT)
        except agent_send.SendRefused as exc:
            return Response({exc.field: [str(exc)]}, status=status.HTTP_400_BAD_REQUEST)
        messages = Message.objects.filter(pk__in=[m.pk for m in sent]).select_related("rule", "sent_by")
        data = messages_data(messages.order_by("created_at", "id"))
        if kind == "quick_reply":  # one quick reply may be several messages (text, then each file)
            return Response({**data[0], "messages": data}, status=status.HTTP_201_CREATED)
        return Response(data[0], status=status.HTTP_201_CREATED)


def _send(conversation: Conversation, user: Any, kind: str, values: dict[str, Any]) -> list[Message]:
    if kind == "text":
        outbound = OutboundMessage(kind="text", to="", text=values["text"])
        return [agent_send.agent_send(conversation=conversation, user=user, outbound=outbound)]
    if kind == "buttons":
        buttons = tuple((b["id"], b["title"]) for b in values["buttons"])
        outbound = OutboundMessage(kind="buttons", to="", text=values["text"], buttons=buttons)
        return [agent_send.agent_send(conversation=conversation, user=user, outbound=outbound)]
    if kind == "list":
        sections = tuple(
            (s["title"], tuple((r["id"], r["title"], r["description"]) for r in s["rows"])) for s in values["sections"]
        )
        outbound = OutboundMessage(
            kind="list", to="", text=values["text"], list_button=values["button"], sections=sections
        )
        return [agent_send.agent_send(conversation=conversation, user=user, outbound=outbound)]
    if kind == "attachment":
        upload = values["file"]
        limit = max(settings.CONSOLE_UPLOAD_MAX_MB.values()) * 1024 * 1024
        if upload.size > limit:
            raise agent_send.SendRefused(_("The file is too large."), field="file")
        message = agent_send.agent_send_attachment(
            conversation=conversation,
            user=user,
            content=upload.read(),
            filename=upload.name or "",
            caption=values.get("caption", ""),
            claimed_mime=getattr(upload, "content_type", "") or "",
        )
        return [message]
    if kind == "quick_reply":
        return agent_send.agent_send_quick_reply(
            conversation=conversation, user=user, quick_reply_id=values["quick_reply"]
        )
    message = agent_send.agent_send_template(
        conversation=conversation, user=user, template_id=values["template"], variables=values["variables"]
    )
    return [message]


class ConversationExportApi(ConsoleApi):
    def perform_content_negotiation(self, request: Request, force: bool = False) -> tuple[Any, str]:
        # ?format= names the file's format here, not a DRF renderer.
        return JSONRenderer(), JSONRenderer.media_type

    @extend_schema(parameters=[OpenApiParameter("format", str, enum=["json", "csv"])], responses=OpenApiTypes.BINARY)
    def get(self, request: Request, conversation_id: int) -> HttpResponseBase:
        """The whole chat as a file, streamed: JSON or CSV for Excel (UTF-8 with BOM); the same rows as
        /export/conversation/<number> (conversations.services.export)."""
        conversation = self.conversation(conversation_id)
        file_format = _validated(inputs.ExportInput, request.query_params)["format"]
        if file_format == "csv":
            chunks = export.csv_chunks(export.conversations_message_batches([conversation.pk]))
            content_type = views_export.CSV_TYPE
        else:
            chunks, content_type = export.conversation_json_chunks(conversation), views_export.JSON_TYPE
        return views_export.streaming_export_response(
            request._request,  # the HttpRequest (WSGI or ASGI) that DRF wraps
            chunks,
            content_type=content_type,
            filename=export.export_filename(conversation, file_format),
        )


class QuickReplyListApi(ConsoleApi):
    @extend_schema(parameters=[OpenApiParameter("q", str)], responses=OBJECT)
    def get(self, request: Request) -> Response:
        """The quick replies the user may send ("/" in the composer searches them)."""
        query = request.query_params.get("q", "")[:100]
        items = quick_replies_for_user(user=request.user, query=query)
        return Response(
            {
                "results": [
                    {
                        "id": item.id,
                        "title": item.title,
                        "text": item.text,
                        "media": [{"kind": m.kind, "caption": m.caption} for m in item.media],
                    }
                    for item in items
                ]
            }
        )


def _template_data(template: Any) -> dict[str, Any]:
    return {
        "id": template.pk,
        "channel_id": template.channel_id,
        "name": template.name,
        "language": template.language,
        "category": template.category,
        "status": template.status,
        "components": template.components,
        "variables": template.variables,
    }


class TemplateListApi(ConsoleApi):
    @extend_schema(parameters=[OpenApiParameter("channel", int)], responses=OBJECT)
    def get(self, request: Request) -> Response:
        """Approved templates (of one channel with ?channel=) with their variables."""
        channel_id = _validated(inputs.ChannelInput, request.query_params).get("channel")
        if channel_id is not None:
            get_object_or_404(Channel, pk=channel_id)
        return Response({"results": [_template_data(t) for t in templates_approved(channel_id=channel_id)]})


class TemplateSyncApi(ConsoleApi):
    @extend_schema(parameters=[OpenApiParameter("channel", int, required=True)], request=None, responses=OBJECT)
    def post(self, request: Request) -> Response:
        """Fetch the channel's templates from its WhatsApp Business Account (staff only)."""
        if not (request.user.is_staff or request.user.is_superuser):
            raise PermissionDenied(_("Only staff may sync templates."))
        channel_id = _validated(inputs.ChannelInput, request.query_params).get("channel")
        if channel_id is None:
            return Response({"channel": [_("This field is required.")]}, status=status.HTTP_400_BAD_REQUEST)
        channel = get_object_or_404(Channel, pk=channel_id)
        try:
            result = templates_sync(channel=channel)
        except ProviderError as exc:
            detail = _("The provider refused the template list: %(reason)s") % {"reason": exc}
            return Response(
                {"detail": detail, "code": exc.code or "provider_error"}, status=status.HTTP_502_BAD_GATEWAY
            )
        return Response(
            {
                "created": result.created,
                "updated": result.updated,
                "removed": result.removed,
                "results": [_template_data(t) for t in templates_approved(channel_id=channel.pk)],
            }
        )


class MeApi(ConsoleApi):
    @extend_schema(responses=OBJECT)
    def get(self, request: Request) -> Response:
        user = request.user
        console_perms = [p for p in (PERM_VIEW_ALL, PERM_TAKE_UNROUTED) if user.has_perm(p)]
        return Response(
            {
                "id": user.pk,
                "name": user.get_full_name() or user.get_username(),
                "username": user.get_username(),
                "is_superuser": user.is_superuser,
                "is_staff": user.is_staff,
                "permissions": console_perms,
                "roles": [{"id": r.pk, "name": r.name} for r in user.roles.order_by("name")],
                "language": get_language(),
            }
        )


__all__ = [
    "ACTIONS",
    "ConversationActionApi",
    "ConversationDetailApi",
    "ConversationExportApi",
    "ConversationListApi",
    "MeApi",
    "MessageListApi",
    "QuickReplyListApi",
    "TemplateListApi",
    "TemplateSyncApi",
    "message_data",
]
