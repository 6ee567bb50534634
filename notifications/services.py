"""Who is told of a dossier's transition, in the inbox and by e-mail (no patient identity in e-mails)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from people.models import RcpMembership, User
from pfmg import after_response
from prescriptions.models import Dossier, DossierEvent

from .models import Notification, OutboxEmail

logger = logging.getLogger(__name__)


def _prescribing_side(dossier: Dossier) -> list[User]:
    return [dossier.prescriber, dossier.entered_by]


def _rcp_deciders(dossier: Dossier) -> list[User]:
    functions = [RcpMembership.Function.COORDINATOR, RcpMembership.Function.DEPUTY]
    return list(
        User.objects.filter(rcp_memberships__rcp_id=dossier.rcp_id, rcp_memberships__function__in=functions)
    )


def _laboratory(dossier: Dossier) -> list[User]:
    if not dossier.laboratory_id:
        return []
    return list(User.objects.filter(laboratory_memberships__laboratory_id=dossier.laboratory_id))


# Everyone who must act, or who asked, for each transition.
RECIPIENTS = {
    "submit": _rcp_deciders,
    "validate": _prescribing_side,
    "reject": _prescribing_side,
    "request_more_info": _prescribing_side,
    "finalise": _laboratory,
    "reject_samples": _prescribing_side,
    "sign_report": lambda d: [d.prescriber],
    "withdraw": _laboratory,
}


def recipients_for(event: DossierEvent) -> list[User]:
    found = RECIPIENTS.get(event.transition, lambda d: [])(event.dossier)
    unique = {u.pk: u for u in found if u.is_active and u.pk != event.actor_id}
    return list(unique.values())


def _message(event: DossierEvent) -> str:
    return _("Dossier %(ref)s : %(status)s.") % {
        "ref": event.dossier.reference,
        "status": Dossier.Status(event.to_status).label,
    }


def notify(*, user: User, dossier: Dossier, describe, at, event: DossierEvent | None = None) -> Notification:
    """An inbox entry and, if the user has an address, an outbox e-mail sent once the transaction commits.

    ``describe()`` says what happened in the active language: French for the inbox and the subject, then
    French and English in the e-mail's body."""
    with translation.override(settings.LANGUAGE_CODE):
        message = describe()
    notification = Notification.objects.create(
        recipient=user, dossier=dossier, event=event, message=message, created_at=at
    )
    if user.email:
        link = settings.PORTAL_URL.rstrip("/") + reverse("dossier_detail", args=[dossier.pk])
        bodies = []
        for language in ("fr", "en"):
            with translation.override(language):
                context = {"message": describe(), "event": event, "link": link}
                bodies.append(render_to_string("notifications/email/transition.txt", context).strip())
        email = OutboxEmail.objects.create(
            notification=notification,
            to=user.email,
            subject=f"[PFMG] {message}",
            body="\n\n---\n\n".join(bodies),
        )
        transaction.on_commit(lambda pk=email.pk: queue_email(pk))
    return notification


def on_transition(sender, *, dossier: Dossier, event: DossierEvent, **kwargs) -> None:
    """Inside the transition's transaction: inbox entries and outbox e-mails, sent once it commits."""
    for user in recipients_for(event):
        notify(user=user, dossier=dossier, describe=lambda: _message(event), at=event.at, event=event)


def queue_email(outbox_id: int) -> None:
    """Hand the e-mail to the worker. A broker that is down only delays it: the periodic dispatch sends what is
    still pending once the broker is back."""
    from .tasks import send_email

    if send_email.app.conf.task_always_eager:
        # No broker: sent by this process, but after the response (pfmg.after_response), not inside it.
        after_response.defer(_send_now, outbox_id)
        return
    _send_now(outbox_id)


def _send_now(outbox_id: int) -> None:
    from .tasks import send_email

    try:
        send_email.apply_async(args=[outbox_id], retry=False)
    except Exception:  # noqa: BLE001 - any broker failure leaves the e-mail pending, by design
        logger.warning("Broker unavailable: e-mail %s stays in the outbox", outbox_id, exc_info=True)


def send_outbox_email(outbox_id: int) -> bool:
    """Send one pending e-mail, once: the row is locked while sending and marked sent in the same transaction.
    Returns False when there was nothing to send (already sent, given up, or gone)."""
    with transaction.atomic():
        email = OutboxEmail.objects.select_for_update().filter(pk=outbox_id).first()
        if email is None or email.state != OutboxEmail.State.PENDING:
            return False
        email.attempts += 1
        try:
            send_mail(email.subject, email.body, settings.DEFAULT_FROM_EMAIL, [email.to])
        except Exception as exc:
            email.last_error = f"{exc.__class__.__name__}: {exc}"[:2000]
            OutboxEmail.objects.filter(pk=email.pk).update(
                attempts=email.attempts, last_error=email.last_error
            )
            raise
        email.state = OutboxEmail.State.SENT
        email.sent_at = timezone.now()
        email.last_error = ""
        email.save(update_fields=["state", "sent_at", "attempts", "last_error"])
    return True


def give_up(outbox_id: int, error: str) -> None:
    """Recorded for an administrator (admin: e-mails sortants, état « abandonné »)."""
    OutboxEmail.objects.filter(pk=outbox_id, state=OutboxEmail.State.PENDING).update(
        state=OutboxEmail.State.FAILED, last_error=error[:2000]
    )


def pending_email_ids(older_than_seconds: int = 30) -> list[int]:
    cutoff = timezone.now() - timezone.timedelta(seconds=older_than_seconds)
    return list(
        OutboxEmail.objects.filter(state=OutboxEmail.State.PENDING, created_at__lte=cutoff).values_list(
            "pk", flat=True
        )
    )


@transaction.atomic
def mark_read(*, user: User, notification_ids: list[int] | None = None) -> int:
    scope = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if notification_ids is not None:
        scope = scope.filter(pk__in=notification_ids)
    return scope.update(read_at=timezone.now())


def _waiting(status: str, transition: str):
    """Dossiers in ``status`` with the time of the transition that put them there (the start of the wait)."""
    from django.db.models import OuterRef, Subquery

    last = (
        DossierEvent.objects.filter(dossier=OuterRef("pk"), transition=transition)
        .order_by("-at")
        .values("at")[:1]
    )
    return (
        Dossier.objects.filter(status=status)
        .annotate(since=Subquery(last))
        .select_related("rcp", "prescriber", "entered_by")
    )


def _remind(kind: str, dossier: Dossier, users: list[User], since, describe, now) -> int:
    from .models import Reminder

    sent = 0
    for user in {u.pk: u for u in users if u.is_active}.values():
        if Reminder.objects.filter(kind=kind, dossier=dossier, recipient=user, since=since).exists():
            continue
        notification = notify(user=user, dossier=dossier, describe=describe, at=now)
        Reminder.objects.create(
            kind=kind, dossier=dossier, recipient=user, since=since, notification=notification
        )
        sent += 1
    return sent


@transaction.atomic
def send_reminders(now=None) -> int:
    """Reminders for dossiers that wait too long (Celery beat, daily); one per waiting period and person."""
    from .models import Reminder

    now = now or timezone.now()
    sent = 0
    for dossier in _waiting(Dossier.Status.SUBMITTED, "submit"):
        days = (now - dossier.since).days if dossier.since else 0
        if dossier.rcp_id and days > dossier.rcp.wait_warning_days:
            sent += _remind(
                Reminder.Kind.RCP_WAITING,
                dossier,
                _rcp_deciders(dossier),
                dossier.since,
                lambda d=dossier, n=days: (
                    _("Dossier %(ref)s : en attente de décision de la RCP-FMG depuis %(days)d jours.")
                    % {"ref": d.reference, "days": n}
                ),
                now,
            )
    idle = timezone.timedelta(days=settings.REMINDER_DRAFT_IDLE_DAYS)
    for dossier in Dossier.objects.filter(
        status=Dossier.Status.DRAFT, updated_at__lt=now - idle
    ).select_related("entered_by"):
        days = (now - dossier.updated_at).days
        sent += _remind(
            Reminder.Kind.DRAFT_IDLE,
            dossier,
            [dossier.entered_by],
            dossier.updated_at,
            lambda d=dossier, n=days: (
                _("Dossier %(ref)s : brouillon sans activité depuis %(days)d jours.")
                % {"ref": d.reference, "days": n}
            ),
            now,
        )
    late = timezone.timedelta(days=settings.REMINDER_SAMPLES_NOT_RECEIVED_DAYS)
    for dossier in _waiting(Dossier.Status.SAMPLES_SHIPPED, "ship_samples"):
        if dossier.since and dossier.since < now - late:
            days = (now - dossier.since).days
            sent += _remind(
                Reminder.Kind.SAMPLES_NOT_RECEIVED,
                dossier,
                [*_laboratory(dossier), dossier.prescriber],
                dossier.since,
                lambda d=dossier, n=days: (
                    _("Dossier %(ref)s : prélèvements expédiés il y a %(days)d jours et toujours pas reçus.")
                    % {"ref": d.reference, "days": n}
                ),
                now,
            )
    # A signed report stays "signed" until the prescriber downloads it (their first download delivers it).
    unread = timezone.timedelta(days=settings.REMINDER_REPORT_NOT_DOWNLOADED_DAYS)
    for dossier in _waiting(Dossier.Status.REPORT_SIGNED, "sign_report"):
        if dossier.since and dossier.since < now - unread:
            days = (now - dossier.since).days
            sent += _remind(
                Reminder.Kind.REPORT_NOT_DOWNLOADED,
                dossier,
                [dossier.prescriber],
                dossier.since,
                lambda d=dossier, n=days: (
                    _("Dossier %(ref)s : compte rendu signé il y a %(days)d jours et pas encore téléchargé.")
                    % {"ref": d.reference, "days": n}
                ),
                now,
            )
    return sent
