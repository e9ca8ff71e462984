"""The startup heap of a long-lived process, moved out of the garbage collector's reach.

A full (oldest-generation) collection walks every object the process has tracked: once
Django, the apps and their modules are loaded, about 160,000 of them. Walking them stops
every thread of the process for 80-100 ms on this project's 2-core host; in the web server
that stalls every connection, in the pipeline runner it holds up every reply of the moment
(one took 92 ms in the runner at 80 messages/s, where a reply's p50 is 9 ms). The objects built
at startup live as long as the process, so collecting them is wasted work: ``gc.freeze()``
moves them to the permanent generation, and full collections walk only what was made since.

Each long-lived process calls :func:`freeze_startup_heap` once it has loaded what it runs:
the web server (``whatsapp_ia/server.py``), Celery's worker processes (``whatsapp_ia/celery.py``)
and the pipeline runner (``manage.py pipeline``).
"""

from __future__ import annotations

import gc

__all__ = ["freeze_startup_heap"]


def freeze_startup_heap() -> int:
    """Collect what is garbage now, then freeze the rest; returns how many objects are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
