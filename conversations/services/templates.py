"""Message templates: synced from the channel's WhatsApp Business Account, listed with their variables,
and turned into an outbound template message with the variables an agent filled in.

A template's variables are its placeholders ({{1}} or {{name}}) in the header and body text,
a media link when its header is an image, video or document, and the suffix of URL buttons;
each has a ``key`` ("body.1", "header.1", "header.media", "button.0.1") that the API's
``variables`` object uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from conversations.models import Channel, Conversation, MessageTemplate, TemplateStatus
from conversations.providers.base import OutboundMessage, TemplateInfo
from conversations.services.channels import provider_for

__all__ = [
    "TemplateSyncResult",
    "TemplateVariablesError",
    "template_outbound",
    "template_variables",
    "templates_approved",
    "templates_sync",
]

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_MEDIA_FORMATS = {"IMAGE": "image", "VIDEO": "video", "DOCUMENT": "document"}
MAX_VARIABLE_LENGTH = 1024


class TemplateVariablesError(ValueError):
    def __init__(self, message: str, *, field: str = "variables") -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class TemplateSyncResult:
    created: int
    updated: int
    removed: int

    @property
    def total(self) -> int:
        return self.created + self.updated


def _placeholders(text: str) -> list[str]:
    return list(dict.fromkeys(_PLACEHOLDER.findall(text or "")))


def _examples(component: dict[str, Any], part: str) -> list[str]:
    example = component.get("example") or {}
    if not isinstance(example, dict):
        return []
    values = example.get(f"{part}_text") or []
    if values and isinstance(values[0], list):  # body_text is a list of lists
        values = values[0]
    named = example.get(f"{part}_text_named_params") or []
    if named:
        return [str(item.get("example", "")) for item in named if isinstance(item, dict)]
    return [str(v) for v in values]


def template_variables(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The variables an agent fills in, derived from the template's components (see the module doc)."""
    variables: list[dict[str, Any]] = []
    for component in components if isinstance(components, list) else []:
        if not isinstance(component, dict):
            continue
        kind = str(component.get("type", "")).upper()
        if kind == "HEADER":
            media = _MEDIA_FORMATS.get(str(component.get("format", "")).upper())
            if media:
                variables.append({"key": "header.media", "component": "header", "name": media, "type": media,
                                  "example": ""})  # fmt: skip
                continue
            examples = _examples(component, "header")
            for index, name in enumerate(_placeholders(component.get("text", ""))):
                example = examples[index] if index < len(examples) else ""
                variables.append({"key": f"header.{name}", "component": "header", "name": name, "type": "text",
                                  "example": example})  # fmt: skip
        elif kind == "BODY":
            examples = _examples(component, "body")
            for index, name in enumerate(_placeholders(component.get("text", ""))):
                example = examples[index] if index < len(examples) else ""
                variables.append({"key": f"body.{name}", "component": "body", "name": name, "type": "text",
                                  "example": example})  # fmt: skip
        elif kind == "BUTTONS":
            for index, button in enumerate(component.get("buttons") or []):
                if isinstance(button, dict) and str(button.get("type", "")).upper() == "URL":
                    for name in _placeholders(button.get("url", "")):
                        variables.append({"key": f"button.{index}.{name}", "component": "button", "name": name,
                                          "type": "text", "example": ""})  # fmt: skip
    return variables


def _status(value: str) -> str:
    value = (value or "").upper()
    return value if value in TemplateStatus.values else TemplateStatus.OTHER


@transaction.atomic
def templates_sync(*, channel: Channel) -> TemplateSyncResult:
    """Replace the channel's stored templates by the provider's list (every page). Raises ProviderError."""
    infos: list[TemplateInfo] = provider_for(channel).list_templates()
    now = timezone.now()
    created = updated = 0
    seen: set[tuple[str, str]] = set()
    for info in infos:
        key = (info.name, info.language)
        if key in seen:
            continue
        seen.add(key)
        _, was_created = MessageTemplate.objects.update_or_create(
            channel=channel,
            name=info.name,
            language=info.language,
            defaults={
                "category": info.category[:40],
                "status": _status(info.status),
                "provider_template_id": info.provider_template_id[:100],
                "components": list(info.components),
                "variables": template_variables(list(info.components)),
                "synced_at": now,
            },
        )
        created += was_created
        updated += not was_created
    stale = MessageTemplate.objects.filter(channel=channel).exclude(synced_at=now)
    removed, _ = stale.delete()
    return TemplateSyncResult(created=created, updated=updated, removed=removed)


def templates_approved(*, channel_id: int | None = None) -> Any:
    templates = MessageTemplate.objects.filter(status=TemplateStatus.APPROVED).select_related("channel")
    if channel_id is not None:
        templates = templates.filter(channel_id=channel_id)
    return templates.order_by("name", "language")


def _value(variables: dict[str, Any], key: str) -> str:
    value = variables.get(key)
    if value is None or not str(value).strip():
        raise TemplateVariablesError(_("Fill in the variable %(name)s.") % {"name": key})
    text = str(value).strip()
    if len(text) > MAX_VARIABLE_LENGTH:
        raise TemplateVariablesError(_("The variable %(name)s is too long.") % {"name": key})
    return text


def _text_parameter(name: str, value: str) -> dict[str, Any]:
    parameter: dict[str, Any] = {"type": "text", "text": value}
    if not name.isdigit():
        parameter["parameter_name"] = name
    return parameter


def _render(text: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text or "")


def template_outbound(*, conversation: Conversation, template_id: int, variables: dict[str, Any]) -> OutboundMessage:
    """The outbound template message for ``conversation``'s channel; raises TemplateVariablesError."""
    template = MessageTemplate.objects.filter(
        pk=template_id, channel_id=conversation.channel_id, status=TemplateStatus.APPROVED
    ).first()
    if template is None:
        raise TemplateVariablesError(_("This template is not approved for this chat's number."), field="template")
    if not isinstance(variables, dict):
        raise TemplateVariablesError(_("Variables must be an object."))
    components: list[dict[str, Any]] = []
    body_text = ""
    header: dict[str, str] = {}
    body: dict[str, str] = {}
    for component in template.components:
        kind = str(component.get("type", "")).upper() if isinstance(component, dict) else ""
        if kind == "HEADER":
            media = _MEDIA_FORMATS.get(str(component.get("format", "")).upper())
            if media:
                link = _value(variables, "header.media")
                if not link.startswith("https://"):
                    raise TemplateVariablesError(_("The header needs an https:// link to the file."))
                components.append({"type": "header", "parameters": [{"type": media, media: {"link": link}}]})
                continue
            names = _placeholders(component.get("text", ""))
            header = {name: _value(variables, f"header.{name}") for name in names}
            if names:
                parameters = [_text_parameter(name, header[name]) for name in names]
                components.append({"type": "header", "parameters": parameters})
        elif kind == "BODY":
            names = _placeholders(component.get("text", ""))
            body = {name: _value(variables, f"body.{name}") for name in names}
            for name, value in body.items():
                if "\n" in value or "\t" in value or "    " in value:
                    raise TemplateVariablesError(
                        _("The variable %(name)s cannot contain new lines, tabs or more than 3 spaces in a row.")
                        % {"name": f"body.{name}"}
                    )
            if names:
                components.append({"type": "body", "parameters": [_text_parameter(n, body[n]) for n in names]})
            body_text = _render(component.get("text", ""), body)
        elif kind == "BUTTONS":
            for index, button in enumerate(component.get("buttons") or []):
                if isinstance(button, dict) and str(button.get("type", "")).upper() == "URL":
                    names = _placeholders(button.get("url", ""))
                    if names:
                        values = [_value(variables, f"button.{index}.{name}") for name in names]
                        components.append({"type": "button", "sub_type": "url", "index": str(index),
                                           "parameters": [{"type": "text", "text": v} for v in values]})  # fmt: skip
    return OutboundMessage(
        kind="template",
        to="",
        text=body_text,
        template_name=template.name,
        template_language=template.language,
        template_components=tuple(components),
    )
