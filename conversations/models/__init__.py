from conversations.models.channels import Channel, Provider
from conversations.models.contacts import Contact
from conversations.models.conversations import Conversation, ConversationStatus, Platform
from conversations.models.deliveries import DeliveryState, WebhookDelivery
from conversations.models.enrichment import EnrichmentSettings
from conversations.models.media import MediaUpload
from conversations.models.messages import (
    Direction,
    EnrichmentState,
    MediaState,
    Message,
    MessageKind,
    MessageSearchText,
    MessageStatus,
    ProcessingState,
)
from conversations.models.templates import MessageTemplate, TemplateStatus

__all__ = [
    "Channel",
    "Contact",
    "Conversation",
    "ConversationStatus",
    "DeliveryState",
    "Direction",
    "EnrichmentSettings",
    "EnrichmentState",
    "MediaState",
    "MediaUpload",
    "Message",
    "MessageKind",
    "MessageSearchText",
    "MessageStatus",
    "MessageTemplate",
    "Platform",
    "ProcessingState",
    "Provider",
    "TemplateStatus",
    "WebhookDelivery",
]
