from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.Model):
    """A team (sales, support, ...). Rules assign chats to roles by keyword; agents see their roles' chats."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    keyword = models.SlugField(
        _("keyword"), max_length=50, unique=True, help_text=_("Used by rules' role_keyword to assign a chat.")
    )
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("role")
        verbose_name_plural = _("roles")

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """An internal user (admin or agent); agents see the chats of their roles."""

    roles = models.ManyToManyField(Role, blank=True, related_name="users", verbose_name=_("roles"))

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"


class ChatRole(models.Model):
    """A chat (conversation) visible to a role: the seed's chat_roles."""

    conversation = models.ForeignKey(
        "conversations.Conversation",
        on_delete=models.CASCADE,
        related_name="chat_roles",
        verbose_name=_("conversation"),
    )
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="chat_roles", verbose_name=_("role"))
    assigned_at = models.DateTimeField(_("assigned at"), auto_now_add=True)
    assigned_by = models.CharField(_("assigned by"), max_length=100, blank=True, help_text=_("rule, agent or handler"))

    class Meta:
        constraints = [models.UniqueConstraint(fields=["conversation", "role"], name="uniq_chat_role")]
        verbose_name = _("chat role")
        verbose_name_plural = _("chat roles")

    def __str__(self) -> str:
        return f"{self.conversation_id} → {self.role}"
