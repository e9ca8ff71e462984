"""The console's search: FULLTEXT indexes on MySQL/MariaDB over the message text and the contact's alias and
profile name (conversations.selectors uses MATCH ... AGAINST there). Other databases search by substring."""

from django.db import migrations

INDEXES = (("Message", "msg_text_fulltext", "text"), ("Contact", "contact_names_fulltext", "alias, profile_name"))


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "mysql":
        return
    for model, index, columns in INDEXES:
        table = schema_editor.quote_name(apps.get_model("conversations", model)._meta.db_table)
        schema_editor.execute(f"CREATE FULLTEXT INDEX {index} ON {table} ({columns})")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "mysql":
        return
    for model, index, _columns in INDEXES:
        table = schema_editor.quote_name(apps.get_model("conversations", model)._meta.db_table)
        schema_editor.execute(f"DROP INDEX {index} ON {table}")


class Migration(migrations.Migration):
    atomic = False  # MySQL runs DDL outside transactions; Django refuses DDL inside one there
    dependencies = [("conversations", "0009_agents_group_takes_unrouted_chats")]

    operations = [migrations.RunPython(create, drop)]
