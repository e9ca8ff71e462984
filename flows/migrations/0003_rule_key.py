"""Rule.key: a stable identifier for Excel round trips, backfilled from step + keywords."""

import unicodedata

from django.db import migrations, models


def _normalize(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c if c.isalnum() or c.isspace() or c == "*" else " " for c in text if not unicodedata.combining(c))
    return " ".join(text.split())


def backfill(apps, schema_editor):
    Rule = apps.get_model("flows", "Rule")
    seen: set[str] = set()
    for rule in Rule.objects.order_by("id"):
        keywords = ",".join(sorted(_normalize(k) or k.strip() for k in rule.input_text.split(",") if k.strip()))
        key = f"{rule.step.strip()}:{keywords}"[:180]
        candidate, n = key, 2
        while candidate in seen:
            candidate, n = f"{key}#{n}", n + 1
        seen.add(candidate)
        rule.key = candidate
        rule.save(update_fields=["key"])


class Migration(migrations.Migration):
    dependencies = [("flows", "0002_default_global_commands")]

    operations = [
        migrations.AddField(
            model_name="rule",
            name="key",
            field=models.CharField(blank=True, default="", max_length=191, verbose_name="key"),
            preserve_default=False,
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="rule",
            name="key",
            field=models.CharField(
                blank=True,
                help_text="Stable identifier used by Excel import/export; filled from step and keywords when empty.",
                max_length=191,
                unique=True,
                verbose_name="key",
            ),
        ),
    ]
