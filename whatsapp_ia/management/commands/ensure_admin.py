"""Create the first administrator if there is none (never the seed's admin/admin123)."""

from __future__ import annotations

import os
import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create a superuser when none exists; the password comes from DJANGO_SUPERUSER_PASSWORD or is printed once."

    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        if user_model.objects.filter(is_superuser=True).exists():
            return
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "admin")
        email = os.environ.get("DJANGO_SUPERUSER_EMAIL", "")
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        generated = not password
        if generated:
            password = secrets.token_urlsafe(12)
        user_model.objects.create_superuser(username=username, email=email, password=password)
        self.stdout.write(self.style.SUCCESS(f"Created administrator '{username}'."))
        if generated:
            self.stdout.write(
                self.style.WARNING(
                    f"  Password: {password}\n"
                    "  (shown only this once; change it in the admin, or set DJANGO_SUPERUSER_PASSWORD before the "
                    "first run)"
                )
            )
