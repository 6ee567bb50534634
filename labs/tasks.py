"""Celery tasks of the labs app: thin interfaces to ``labs.pdf`` (routed to the "pdfs" queue)."""

import logging

from celery import shared_task

from . import pdf
from .models import Report, Shipment

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def render_shipping_manifest(self, shipment_id: int) -> str | None:
    """Render and store a shipment's manifest (idempotent: same bytes, same path)."""
    try:
        shipment = pdf.shipment_for_rendering(shipment_id)
    except Shipment.DoesNotExist:
        logger.warning("Shipping manifest not rendered: shipment %s does not exist", shipment_id)
        return None
    return pdf.store_shipping_manifest(shipment)


@shared_task(bind=True, acks_late=True, autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def render_report(self, report_id: int) -> str | None:
    """Lay out a composed report and attach its PDF (idempotent: a report that has its file is left alone)."""
    try:
        report = pdf.report_for_rendering(report_id)
    except Report.DoesNotExist:
        logger.warning("Report not rendered: report %s does not exist", report_id)
        return None
    return pdf.store_report_file(report).file.name
