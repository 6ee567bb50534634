from django.conf import settings
from django.db import connection
from django.http import JsonResponse


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure is reported, not raised
        return f"error: {exc.__class__.__name__}"
    return "ok"


def _broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "eager (no broker configured)"
    from pfmg.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # noqa: BLE001
        return f"error: {exc.__class__.__name__}"
    return "ok"


def _cache() -> str:
    # A shared cache holds the sessions' read copies: a replica that cannot reach it cannot serve a signed-in user.
    from django.core.cache import cache

    if not settings.CACHE_IS_SHARED:
        return "local (per process)"
    try:
        cache.set("healthz", "ok", timeout=10)
        if cache.get("healthz") != "ok":
            return "error: not kept"
    except Exception as exc:  # noqa: BLE001
        return f"error: {exc.__class__.__name__}"
    return "ok"


def healthz(request):
    """Liveness and readiness: the database, the broker and the shared cache answer."""
    checks = {"database": _database(), "broker": _broker(), "cache": _cache()}
    ok = all(v == "ok" or v.startswith(("eager", "local")) for v in checks.values())
    return JsonResponse({"status": "ok" if ok else "error", **checks}, status=200 if ok else 503)
