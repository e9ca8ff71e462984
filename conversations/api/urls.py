"""/api/: the console's REST API, its OpenAPI schema and docs page (drf-spectacular, served offline)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from conversations.api import views

urlpatterns = [
    path("conversations/", views.ConversationListApi.as_view(), name="api-conversations"),
    path("conversations/<int:conversation_id>/", views.ConversationDetailApi.as_view(), name="api-conversation"),
    path("conversations/<int:conversation_id>/messages/", views.MessageListApi.as_view(), name="api-messages"),
    path(
        "conversations/<int:conversation_id>/export/",
        views.ConversationExportApi.as_view(),
        name="api-conversation-export",
    ),
    *(
        path(
            f"conversations/<int:conversation_id>/{action}/",
            views.ConversationActionApi.as_view(action_name=action),
            name=f"api-conversation-{action}",
        )
        for action in views.ACTIONS
    ),
    path("quick-replies/", views.QuickReplyListApi.as_view(), name="api-quick-replies"),
    path("templates/", views.TemplateListApi.as_view(), name="api-templates"),
    path("templates/sync/", views.TemplateSyncApi.as_view(), name="api-templates-sync"),
    path("me/", views.MeApi.as_view(), name="api-me"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
