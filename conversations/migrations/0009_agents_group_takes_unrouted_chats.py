"""Keep what agents saw before the two console permissions existed: every agent saw the chats
without a role. An "Agents" group gets "Take chats without a role" and every existing active
user who is not a superuser joins it; admins remove users from it to narrow what they see."""

from django.db import migrations

GROUP_NAME = "Agents"


def forwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    User = apps.get_model("accounts", "User")
    # Permissions are normally created after migrate (post_migrate): create the one we need now.
    content_type, _ = ContentType.objects.get_or_create(app_label="conversations", model="conversation")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type,
        codename="take_unrouted_conversations",
        defaults={"name": "Take chats without a role"},
    )
    group, _ = Group.objects.get_or_create(name=GROUP_NAME)
    group.permissions.add(permission)
    for user in User.objects.filter(is_active=True, is_superuser=False):
        user.groups.add(group)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("accounts", "0002_initial"),
        ("conversations", "0008_console_permissions_and_message_templates"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
