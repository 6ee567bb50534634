"""Celery tasks of the consent app: thin interfaces to ``consent.pdf`` and ``consent.services``."""

import logging

from celery import shared_task

from pfmg import trail
from prescriptions.models import DossierPerson

from . import pdf, services

logger = logging.getLogger(__name__)


# Routed to the "pdfs" queue by CELERY_TASK_ROUTES ("*.tasks.render_*").
@shared_task(bind=True, acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def render_consent_form(self, person_id: int) -> str | None:
    """Render the pre-filled consent form of a person and store it (once per content); returns its path."""
    try:
        person = pdf.person_for_rendering(person_id)
    except DossierPerson.DoesNotExist:
        logger.warning("Consent form not rendered: dossier person %s does not exist", person_id)
        return None
    return pdf.store_consent_form(person)


@shared_task(acks_late=True)
def purge_withdrawn_data() -> int:
    """Daily (beat): delete the files of withdrawn dossiers whose retention period has passed."""
    done = services.purge_due()
    if done:
        trail.touched(
            source="task",
            action="delete",
            name="purge_withdrawn_data",
            dossier_ids=[d.dossier_id for d in done],
            detail={"files_deleted": sum(d.files_deleted for d in done)},
        )
    return len(done)
