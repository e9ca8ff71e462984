from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse

from whatsapp_ia.health import health_problems


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers and `bin/run`: the database answers and every registered check passes.

    503 with the reasons otherwise (e.g. a dead webhook writer thread), so an orchestrator
    can take the process out of rotation or restart it.
    """
    problems = health_problems()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        problems["database"] = f"{type(exc).__name__}: {exc}"
    if problems:
        return JsonResponse({"status": "unavailable", "problems": problems}, status=503)
    return JsonResponse({"status": "ok"})
