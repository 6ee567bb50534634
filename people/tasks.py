from celery import shared_task

from .idempotency import purge_expired


@shared_task
def purge_idempotency_keys() -> int:
    """Forget the API answers kept for retries once their Idempotency-Key has expired."""
    return purge_expired()
