from axes.admin import AccessAttemptAdmin as AxesAccessAttemptAdmin
from axes.models import AccessAttempt
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.utils.translation import gettext_lazy as _

from accounts.models import ChatRole, Role, User


@admin.register(Role)
class RoleAdmin(admin.ModelAdmin):
    list_display = ("name", "keyword", "user_count", "created_at")
    search_fields = ("name", "keyword", "description")
    prepopulated_fields = {"keyword": ("name",)}

    @admin.display(description=_("users"))
    def user_count(self, obj: Role) -> int:
        return obj.users.count()


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
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
