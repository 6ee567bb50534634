"""Celery tasks of the rcp app: thin interfaces to ``rcp.pdf`` (routed to the "pdfs" queue by
CELERY_TASK_ROUTES, "*.tasks.render_*")."""

import logging

from celery import shared_task

from prescriptions.models import Dossier

from . import pdf, selectors
from .models import Meeting

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def render_meeting_minutes(self, meeting_id: int) -> str | None:
    """Render and store the meeting's minutes (once per content); returns the storage path. Idempotent."""
    try:
        meeting = selectors.meeting_for_minutes(meeting_id)
    except Meeting.DoesNotExist:
        logger.warning("Meeting minutes not rendered: meeting %s does not exist", meeting_id)
        return None
    return pdf.store_meeting_minutes(meeting)


@shared_task(bind=True, acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def render_dossier_minutes(self, dossier_id: int) -> str | None:
    """Render and store a dossier's RCP minutes (once per content); returns the storage path. Idempotent."""
    try:
        dossier = pdf.dossier_for_minutes(dossier_id)
    except Dossier.DoesNotExist:
        logger.warning("RCP minutes not rendered: dossier %s does not exist", dossier_id)
        return None
    return pdf.store_dossier_minutes(dossier)
