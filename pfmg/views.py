from django.db import connection
from django.http import JsonResponse


def healthz(request):
    """Liveness and readiness: the database answers."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure is reported, not raised
        database = f"error: {exc.__class__.__name__}"
    ok = database == "ok"
    return JsonResponse({"status": "ok" if ok else "error", "database": database}, status=200 if ok else 503)
