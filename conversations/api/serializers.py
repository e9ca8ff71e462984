"""Input validation for the console API (the output shapes are conversations.services.serialize)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from conversations.selectors import STATUS_FILTERS

MAX_ID = 2**63 - 1  # the largest database id: bigger numbers are refused here, not by the database

SEND_KINDS = ("text", "attachment", "buttons", "list", "quick_reply", "template")


class ConversationFilterInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=STATUS_FILTERS, required=False, allow_blank=True)
    role = serializers.CharField(required=False, allow_blank=True, help_text=_("A role id, or 'none' for unrouted."))
    unread = serializers.BooleanField(required=False, default=False)
    attention = serializers.BooleanField(required=False, default=False)
    channel = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False, allow_null=True)
    q = serializers.CharField(required=False, allow_blank=True, max_length=100, trim_whitespace=True)

    def validate_role(self, value: str) -> str:
        if value and value != "none" and not (value.isdigit() and int(value) <= MAX_ID):
            raise serializers.ValidationError(_("A role id, or 'none' for chats without a role."))
        return value


class ConversationPatchInput(serializers.Serializer):
    alias = serializers.CharField(required=False, allow_blank=True, max_length=200)
    roles = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID), required=False, max_length=100
    )

    def validate_roles(self, value: list[int]) -> list[int]:
        from accounts.models import Role

        wanted = set(value)
        found = set(Role.objects.filter(pk__in=wanted).values_list("pk", flat=True))
        if missing := sorted(wanted - found):
            raise serializers.ValidationError(
                _("Unknown roles: %(ids)s.") % {"ids": ", ".join(str(i) for i in missing)}
            )
        return sorted(wanted)


class SendKindInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=SEND_KINDS)


class TextSendInput(serializers.Serializer):
    text = serializers.CharField(max_length=4096, trim_whitespace=False)

    def validate_text(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError(_("Write a message."))
        return value


class AttachmentSendInput(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=False)
    caption = serializers.CharField(required=False, allow_blank=True, max_length=1024, default="")


class ButtonInput(serializers.Serializer):
    id = serializers.CharField(max_length=256)
    title = serializers.CharField(max_length=20)


class ButtonsSendInput(serializers.Serializer):
    text = serializers.CharField(max_length=1024)
    buttons = serializers.ListField(child=ButtonInput(), min_length=1, max_length=3)


class RowInput(serializers.Serializer):
    id = serializers.CharField(max_length=200)
    title = serializers.CharField(max_length=24)
    description = serializers.CharField(max_length=72, required=False, allow_blank=True, default="")


class SectionInput(serializers.Serializer):
    title = serializers.CharField(max_length=24, required=False, allow_blank=True, default="")
    rows = serializers.ListField(child=RowInput(), min_length=1, max_length=10)


class ListSendInput(serializers.Serializer):
    text = serializers.CharField(max_length=4096)
    button = serializers.CharField(max_length=20)
    sections = serializers.ListField(child=SectionInput(), min_length=1, max_length=10)


class QuickReplySendInput(serializers.Serializer):
    quick_reply = serializers.IntegerField(min_value=1, max_value=MAX_ID)


class TemplateSendInput(serializers.Serializer):
    template = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    variables = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=1024), required=False, default=dict
    )


SEND_INPUTS: dict[str, type[serializers.Serializer]] = {
    "text": TextSendInput,
    "attachment": AttachmentSendInput,
    "buttons": ButtonsSendInput,
    "list": ListSendInput,
    "quick_reply": QuickReplySendInput,
    "template": TemplateSendInput,
}


class ChannelInput(serializers.Serializer):
    channel = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)


class ExportInput(serializers.Serializer):
    format = serializers.ChoiceField(choices=("json", "csv"), required=False, default="json")
