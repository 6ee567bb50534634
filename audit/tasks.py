from celery import shared_task

from . import services


@shared_task(acks_late=True)
def purge_audit() -> int:
    """Daily (beat): the retention purge of the audit trail."""
    checkpoint = services.purge()
    return checkpoint.deleted if checkpoint else 0
