from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group, Permission
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import ChatRole, Role, User

# Django stores its default permissions' names in English ("Can add rule"); these say them in the reader's language.
DEFAULT_PERMISSION_NAMES = {
    "add": _("Can add %(model)s"),
    "change": _("Can change %(model)s"),
    "delete": _("Can delete %(model)s"),
    "view": _("Can view %(model)s"),
}


def permission_label(permission: Permission) -> str:
    """ "Section | model | what it allows", translated (the permission widgets of users and groups)."""
    model = permission.content_type.model_class()
    if model is None:  # a model removed from the code: its stored name is all there is
        return str(permission)
    action = permission.codename.split("_", 1)[0]
    if permission.codename == f"{action}_{model._meta.model_name}" and action in DEFAULT_PERMISSION_NAMES:
        name = str(DEFAULT_PERMISSION_NAMES[action]) % {"model": model._meta.verbose_name}
    else:
        name = gettext(permission.name)  # custom permissions: their name is a msgid in our catalog
    return f"{capfirst(model._meta.app_config.verbose_name)} | {capfirst(model._meta.verbose_name)} | {name}"


class TranslatedPermissionsMixin:
    """Permission choices labelled by ``permission_label`` wherever the admin offers them."""

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        formfield = super().formfield_for_manytomany(db_field, request, **kwargs)
        if formfield is not None and db_field.related_model is Permission:
            formfield.label_from_instance = permission_label
        return formfield


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = ("name", "keyword", "user_count", "created_at")
    search_fields = ("name", "keyword", "description")
    prepopulated_fields = {"keyword": ("name",)}

    @admin.display(description=_("users"))
    def user_count(self, obj: Role) -> int:
        return obj.users.count()


@admin.register(User)
class UserAdmin(TranslatedPermissionsMixin, DjangoUserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "is_staff", "is_active", "role_list")
    list_filter = ("is_staff", "is_superuser", "is_active", "roles")
    filter_horizontal = ("roles", "groups", "user_permissions")
    fieldsets = (
        *DjangoUserAdmin.fieldsets,
        (_("Roles"), {"fields": ("roles",)}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("roles")

    @admin.display(description=_("roles"))
    def role_list(self, obj: User) -> str:
        return ", ".join(r.name for r in obj.roles.all())


@admin.register(ChatRole)
class ChatRoleAdmin(admin.ModelAdmin):
    list_display = ("conversation", "role", "assigned_by", "assigned_at")
    list_filter = ("role",)
    search_fields = ("conversation__contact__external_id", "conversation__contact__profile_name", "role__name")
    raw_id_fields = ("conversation",)
    list_select_related = ("conversation__contact", "conversation__channel", "role")


class AccessAttemptAdmin(AxesAccessAttemptAdmin):
    """django-axes' failed-login records; its clean-up action deletes rows, so it needs the delete permission."""

    @admin.action(description=_("Clean up expired attempts"), permissions=["delete"])
    def cleanup_expired_attempts(self, request, queryset):
        return super().cleanup_expired_attempts(request, queryset)


if admin.site.is_registered(AccessAttempt):  # axes registers its admin unless AXES_ENABLE_ADMIN is off
    admin.site.unregister(AccessAttempt)
    admin.site.register(AccessAttempt, AccessAttemptAdmin)


if admin.site.is_registered(Group):
    admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(TranslatedPermissionsMixin, DjangoGroupAdmin):
    pass
