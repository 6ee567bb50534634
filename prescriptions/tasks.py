"""Celery tasks of the prescriptions app: thin interfaces to ``prescriptions.pdf``."""

import logging

from celery import shared_task

from . import pdf
from .models import Dossier

logger = logging.getLogger(__name__)


# Routed to the "pdfs" queue by CELERY_TASK_ROUTES ("*.tasks.render_*"): Celery 5 deprecates the task's own
# `queue` attribute, and a route keeps every rendering task of every app on the same queue.
@shared_task(bind=True, acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def render_prescription_summary(self, dossier_id: int) -> str | None:
    """Render the dossier's summary PDF and store it (once per content); returns its storage path.

    Idempotent: a worker killed midway and the task run again stores the same bytes at the same path."""
    try:
        dossier = pdf.dossier_for_rendering(dossier_id)
    except Dossier.DoesNotExist:
        # Deleted since the task was queued: nothing to render, and retrying would not change that.
        logger.warning("Prescription summary not rendered: dossier %s does not exist", dossier_id)
        return None
    return pdf.store_prescription_summary(dossier)


@shared_task(acks_late=True)
def refresh_national_counts() -> int:
    """The national aggregates counted afresh into the shared cache (prescriptions.selectors)."""
    from .selectors import national_status_counts

    counts, _ = national_status_counts(refresh=True)
    return sum(counts.values())
