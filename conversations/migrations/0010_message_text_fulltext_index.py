"""The console's search over message text: a FULLTEXT index on MySQL/MariaDB (conversations.selectors
.message_text_match uses MATCH ... AGAINST there). Other databases search by substring without it."""

from django.db import migrations

INDEX = "msg_text_fulltext"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "mysql":
        return
    table = schema_editor.quote_name(apps.get_model("conversations", "Message")._meta.db_table)
    schema_editor.execute(f"CREATE FULLTEXT INDEX {INDEX} ON {table} (text)")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "mysql":
        return
    table = schema_editor.quote_name(apps.get_model("conversations", "Message")._meta.db_table)
    schema_editor.execute(f"DROP INDEX {INDEX} ON {table}")


class Migration(migrations.Migration):
    atomic = False  # MySQL runs DDL outside transactions; Django refuses DDL inside one there
    dependencies = [("conversations", "0009_agents_group_takes_unrouted_chats")]

    operations = [migrations.RunPython(create, drop)]
