"""Ship the default global commands as editable rows (restart, help, talk to a human, menu)."""

from django.db import migrations

DEFAULTS = [
    ("reiniciar, reset, empezar de nuevo", "restart", "Empezar la conversación de nuevo", "", 10),
    ("ayuda, help", "help", "Ver estos comandos", "", 20),
    ("asesor, humano, agente", "human", "Hablar con un asesor", "Un asesor te atenderá en breve.", 30),
    ("menu, menú", "menu", "Volver al menú principal", "", 40),
]


def create_defaults(apps, schema_editor):
    GlobalCommand = apps.get_model("flows", "GlobalCommand")
    if GlobalCommand.objects.exists():
        return
    for keywords, handler, description, response_text, priority in DEFAULTS:
        GlobalCommand.objects.create(
            keywords=keywords,
            handler=handler,
            description=description,
            response_text=response_text,
            priority=priority,
            active=True,
        )


class Migration(migrations.Migration):
    dependencies = [("flows", "0001_initial")]

    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
