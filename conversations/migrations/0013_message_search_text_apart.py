"""The console's message search moves to its own table (MessageSearchText): the FULLTEXT index on the
message table stalled the pipeline's commits on MySQL/MariaDB. The new table is filled behind the
pipeline (conversations.services.search_index); the existing messages are copied there by the same
sweep, in batches, after this migration (the search reads the messages not yet copied directly)."""

import django.db.models.deletion
from django.db import migrations, models


def _move_index(apps, schema_editor, *, to_search_table: bool) -> None:
    if schema_editor.connection.vendor != "mysql":
        return
    quote = schema_editor.quote_name
    message, search = (quote(apps.get_model("conversations", m)._meta.db_table) for m in ("Message", "MessageSearchText"))
    if to_search_table:
        schema_editor.execute(f"CREATE FULLTEXT INDEX msg_search_text_fulltext ON {search} (text)")
        schema_editor.execute(f"DROP INDEX msg_text_fulltext ON {message}")
    else:
        schema_editor.execute(f"CREATE FULLTEXT INDEX msg_text_fulltext ON {message} (text)")
        schema_editor.execute(f"DROP INDEX msg_search_text_fulltext ON {search}")


def forwards(apps, schema_editor):
    _move_index(apps, schema_editor, to_search_table=True)


def backwards(apps, schema_editor):
    _move_index(apps, schema_editor, to_search_table=False)


class Migration(migrations.Migration):
    atomic = False  # MySQL runs DDL outside transactions; Django refuses DDL inside one there

    dependencies = [
        ('conversations', '0012_message_pipeline_waiting_indexes'),
    ]

    operations = [
        migrations.CreateModel(
            name='MessageSearchText',
            fields=[
                ('message', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='+', serialize=False, to='conversations.message')),
                ('conversation_id', models.BigIntegerField()),
                ('text', models.TextField()),
            ],
            options={
                'verbose_name': 'message search text',
                'verbose_name_plural': 'message search texts',
                'default_permissions': (),
            },
        ),
        migrations.RunPython(forwards, backwards),
    ]
