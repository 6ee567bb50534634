"""Who is told what: the in-app inbox and the outbox of e-mails still to send.

Both are written in the transaction of the event they report, so a transition never commits without its
notifications, and a broker that is down delays the e-mails instead of losing them."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Notification(models.Model):
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    dossier = models.ForeignKey(
        "prescriptions.Dossier", on_delete=models.CASCADE, related_name="notifications"
    )
    event = models.ForeignKey(
        "prescriptions.DossierEvent",
        on_delete=models.CASCADE,
        related_name="notifications",
        null=True,
        blank=True,
    )
    message = models.CharField(_("message"), max_length=300)
    created_at = models.DateTimeField(_("créée le"), default=timezone.now)  # the time of the event it reports
    read_at = models.DateTimeField(_("lue le"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [
            models.Index(fields=["recipient", "read_at"]),
            # The inbox, newest first by keyset (notifications.views.inbox).
            models.Index(fields=["recipient", "created_at", "id"], name="notification_inbox_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "event"], name="one_notification_per_event_and_recipient"
            )
        ]

    def __str__(self) -> str:
        return self.message


class OutboxEmail(models.Model):
    """An e-mail to send. Sent by a Celery task once committed; retried until sent or given up."""

    class State(models.TextChoices):
        PENDING = "pending", _("À envoyer")
        SENT = "sent", _("Envoyé")
        FAILED = "failed", _("Abandonné après plusieurs essais")

    notification = models.OneToOneField(Notification, on_delete=models.CASCADE, related_name="email")
    to = models.EmailField(_("destinataire"))
    subject = models.CharField(_("objet"), max_length=200)
    body = models.TextField(_("texte"))
    state = models.CharField(_("état"), max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(_("essais"), default=0)
    last_error = models.TextField(_("dernière erreur"), blank=True)
    created_at = models.DateTimeField(_("créé le"), auto_now_add=True)
    sent_at = models.DateTimeField(_("envoyé le"), null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("e-mail sortant")
        verbose_name_plural = _("e-mails sortants")
        indexes = [
            models.Index(fields=["state", "created_at"]),
            # The admin's search by recipient address (exact), among every e-mail ever sent.
            models.Index(fields=["to"], name="outbox_email_to_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state="sent") | Q(sent_at__isnull=False), name="sent_email_has_a_date"
            )
        ]

    def __str__(self) -> str:
        return f"{self.to}: {self.subject}"


class Reminder(models.Model):
    """A reminder sent for one waiting period: at most one per kind, dossier, recipient and start of the wait."""

    class Kind(models.TextChoices):
        RCP_WAITING = "rcp_waiting", _("Dossier en attente de la RCP-FMG")
        DRAFT_IDLE = "draft_idle", _("Brouillon inactif")
        SAMPLES_NOT_RECEIVED = "samples_not_received", _("Prélèvements non reçus")
        REPORT_NOT_DOWNLOADED = "report_not_downloaded", _("Compte rendu signé non téléchargé")

    kind = models.CharField(_("type"), max_length=30, choices=Kind.choices)
    dossier = models.ForeignKey("prescriptions.Dossier", on_delete=models.CASCADE, related_name="reminders")
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reminders"
    )
    since = models.DateTimeField(_("en attente depuis"))
    notification = models.OneToOneField(Notification, on_delete=models.CASCADE, related_name="reminder")

    class Meta:
        verbose_name = _("relance")
        verbose_name_plural = _("relances")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "dossier", "recipient", "since"], name="one_reminder_per_wait"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} — {self.dossier_id}"
