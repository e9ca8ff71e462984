"""The project package: settings, entry points, and infrastructure every app may use.

Its Celery app is not loaded on import, so pure code (the rule engine, through
``whatsapp_ia.text``) imports infrastructure from here without Django. Django loads the
app in ``WhatsappIaConfig.ready()`` (so tasks are sent through it), and
``celery -A whatsapp_ia`` finds it in ``whatsapp_ia.celery``.
"""

from typing import Any

__all__ = ("celery_app",)


def __getattr__(name: str) -> Any:
    if name == "celery_app":
        from whatsapp_ia.celery import app

        return app
    raise AttributeError(f"module 'whatsapp_ia' has no attribute {name!r}")
