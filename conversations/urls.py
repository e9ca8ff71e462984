from django.urls import path

from conversations.views_media import message_media
from conversations.webhooks import ProviderWebhookApi

urlpatterns = [
    path("webhook", ProviderWebhookApi.as_view(), {"provider_name": "meta"}, name="webhook-meta-legacy"),
    path("webhooks/<str:provider_name>/", ProviderWebhookApi.as_view(), name="webhook"),
    path("messages/<int:message_id>/media", message_media, name="message-media"),
]
