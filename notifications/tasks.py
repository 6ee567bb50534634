"""Celery tasks: thin, idempotent, acknowledged late (a worker killed mid-task leaves the task to another).
They go to the `notifications` queue through CELERY_TASK_ROUTES."""

from celery import shared_task

from . import services

MAX_RETRIES = 6


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def send_email(self, outbox_id: int) -> bool:
    try:
        return services.send_outbox_email(outbox_id)
    except Exception as exc:
        if self.request.retries >= self.max_retries:
            services.give_up(outbox_id, f"{exc.__class__.__name__}: {exc}")
            return False
        # Exponential backoff: 10 s, 20 s, 40 s… then given up and shown to administrators.
        raise self.retry(exc=exc, countdown=10 * 2**self.request.retries) from exc


@shared_task
def dispatch_pending_emails() -> int:
    """Periodic (beat): what could not be queued while the broker was down goes out now."""
    ids = services.pending_email_ids()
    for outbox_id in ids:
        send_email.apply_async(args=[outbox_id])
    return len(ids)


@shared_task
def send_reminders() -> int:
    """Periodic (beat, daily): dossiers waiting past their thresholds."""
    return services.send_reminders()
