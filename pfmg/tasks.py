"""Project-wide periodic tasks."""

import datetime

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import renders


@shared_task
def sweep_missing_renders() -> int:
    """Periodic (beat): queue again the renders missed while the broker was down (``pfmg.renders``)."""
    since = timezone.now() - datetime.timedelta(hours=settings.RENDER_SWEEP_HOURS)
    return renders.sweep_missing_renders(since)
