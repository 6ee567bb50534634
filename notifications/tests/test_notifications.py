"""Everyone who must act is told: an inbox entry and an e-mail (French and English, no patient identity),
written with the transition, sent once it commits, never lost when the broker is down."""

import datetime

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from notifications.models import Notification, OutboxEmail
from notifications.services import pending_email_ids, send_outbox_email
from notifications.tasks import dispatch_pending_emails
from people.models import LaboratoryMembership
from pfmg.demo import PATHS, Cast, walk
from prescriptions.drafting import attest_and_submit
from prescriptions.models import Dossier
from prescriptions.services import transition_dossier
from tests import factories as f

pytestmark = pytest.mark.usefixtures("reference_data")


@pytest.fixture
def cast(db):
    rcp = f.rcp_body()
    return Cast(
        prescriber=f.prescriber(email="prescripteur@chu.invalid"),
        coordinator=f.coordinator(rcp, user=f.UserFactory(email="coord@chu.invalid")),
        lab_staff=f.lab_member("seqoia"),
        biologist=f.lab_member("seqoia", LaboratoryMembership.Function.BIOLOGIST),
    )


def submitted(cast, **kwargs):
    dossier = f.dossier(
        prescriber_user=cast.prescriber, rcp=cast.coordinator.rcp_memberships.get().rcp, **kwargs
    )
    attest_and_submit(dossier=dossier, prescriber=cast.prescriber, rcp=dossier.rcp)
    return dossier


def test_a_submission_tells_the_rcp_coordinators_in_the_inbox_and_by_email(
    cast, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        dossier = submitted(cast)
    notification = Notification.objects.get(recipient=cast.coordinator)
    assert dossier.reference in notification.message and "Soumis à la RCP" in notification.message
    assert not Notification.objects.filter(recipient=cast.prescriber).exists()  # the actor is not told
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["coord@chu.invalid"] and dossier.reference in sent.subject
    assert "Consulter le dossier" in sent.body and "See the dossier" in sent.body
    assert reverse("dossier_detail", args=[dossier.pk]) in sent.body
    patient = dossier.persons.get(relationship="index").patient
    assert patient.birth_name not in sent.body and patient.first_names not in sent.body
    assert OutboxEmail.objects.get().state == OutboxEmail.State.SENT


def test_decisions_reach_the_prescriber_and_the_assistant_who_entered_it(
    cast, django_capture_on_commit_callbacks
):
    assistant = f.assistant_for(cast.prescriber)
    dossier = f.dossier(
        prescriber_user=cast.prescriber, entered_by=assistant, rcp=cast.coordinator.rcp_memberships.get().rcp
    )
    attest_and_submit(dossier=dossier, prescriber=cast.prescriber, rcp=dossier.rcp)
    with django_capture_on_commit_callbacks(execute=True):
        transition_dossier(
            dossier=dossier, name="request_more_info", actor=cast.coordinator, reason="Bilan ?"
        )
    told = set(
        Notification.objects.filter(event__transition="request_more_info").values_list("recipient", flat=True)
    )
    assert told == {cast.prescriber.pk, assistant.pk}


@pytest.mark.parametrize(
    ("status", "transition", "who"),
    [
        (Dossier.Status.RCP_VALIDATED, "finalise", "lab"),
        (Dossier.Status.FINALISED, "withdraw", "lab"),
        (Dossier.Status.SAMPLES_SHIPPED, "reject_samples", "prescriber"),
        (Dossier.Status.ANALYSIS, "sign_report", "prescriber"),
        (Dossier.Status.SUBMITTED, "reject", "prescriber"),
    ],
)
def test_each_transition_tells_who_must_act(cast, status, transition, who):
    dossier = f.dossier(prescriber_user=cast.prescriber, rcp=cast.coordinator.rcp_memberships.get().rcp)
    walk(dossier, [*PATHS[status], transition], cast, timezone.now(), datetime.timedelta(minutes=1))
    told = set(Notification.objects.filter(event__transition=transition).values_list("recipient", flat=True))
    expected = {"lab": {cast.lab_staff.pk, cast.biologist.pk}, "prescriber": {cast.prescriber.pk}}[who]
    actor = cast.actor_for(transition)
    assert told == expected - {actor.pk}


def test_the_inbox_counts_unread_marks_read_and_is_personal(client, cast, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        dossier = submitted(cast)
    client.force_login(cast.coordinator)
    home = client.get("/").content.decode()
    assert "Notifications" in home and 'class="badge">1' in home
    inbox = client.get(reverse("notifications_inbox")).content.decode()
    assert dossier.reference in inbox and reverse("dossier_detail", args=[dossier.pk]) in inbox
    client.post(reverse("notifications_mark_read"))
    assert not Notification.objects.filter(read_at__isnull=True).exists()
    client.force_login(cast.prescriber)
    assert dossier.reference not in client.get(reverse("notifications_inbox")).content.decode()


def test_a_rolled_back_transition_leaves_no_notification(cast):
    dossier = f.dossier(prescriber_user=cast.prescriber, rcp=False)
    with pytest.raises(Exception):  # noqa: B017 - refused: no RCP chosen
        transition_dossier(dossier=dossier, name="submit", actor=cast.prescriber)
    assert not Notification.objects.exists() and not OutboxEmail.objects.exists()


def test_a_broker_that_is_down_delays_the_email_and_the_dispatch_sends_it_later(
    cast, django_capture_on_commit_callbacks, monkeypatch
):
    from notifications import tasks

    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("redis is down")

    monkeypatch.setattr(tasks.send_email, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        dossier = submitted(cast)
    assert Dossier.objects.get(pk=dossier.pk).status == Dossier.Status.SUBMITTED  # the transition committed
    email = OutboxEmail.objects.get()
    assert email.state == OutboxEmail.State.PENDING and not mail.outbox
    monkeypatch.undo()
    OutboxEmail.objects.update(created_at=email.created_at - datetime.timedelta(minutes=5))
    assert pending_email_ids() == [email.pk]
    assert dispatch_pending_emails() == 1
    email.refresh_from_db()
    assert email.state == OutboxEmail.State.SENT and len(mail.outbox) == 1
    assert send_outbox_email(email.pk) is False  # sending again does nothing
    assert len(mail.outbox) == 1


def test_an_email_that_keeps_failing_is_given_up_and_kept_for_an_administrator(cast, monkeypatch):
    from notifications import services, tasks

    dossier = submitted(cast)
    email = OutboxEmail.objects.get(notification__dossier=dossier)

    def smtp_down(*args, **kwargs):
        raise OSError("SMTP unreachable")

    monkeypatch.setattr(services, "send_mail", smtp_down)
    result = tasks.send_email.apply(args=[email.pk], retries=tasks.MAX_RETRIES)
    assert result.result is False
    email.refresh_from_db()
    assert email.state == OutboxEmail.State.FAILED and "SMTP unreachable" in email.last_error


def test_healthz_reports_database_and_broker(client, db):
    body = client.get("/healthz").json()
    assert body["database"] == "ok" and "broker" in body


def test_notification_tasks_are_routed_to_their_own_queue():
    from pfmg.celery import app

    for name in ("notifications.tasks.send_email", "notifications.tasks.dispatch_pending_emails"):
        assert app.amqp.router.route({}, name)["queue"].name == "notifications"


def test_reminders_tell_who_is_waited_for_once_per_waiting_period(cast, settings):
    from notifications.models import Reminder
    from notifications.services import send_reminders

    settings.REMINDER_DRAFT_IDLE_DAYS = 14
    settings.REMINDER_SAMPLES_NOT_RECEIVED_DAYS = 7
    rcp = cast.coordinator.rcp_memberships.get().rcp
    rcp.wait_warning_days = 30
    rcp.save()
    long_ago = timezone.now() - datetime.timedelta(days=45)
    waiting = f.dossier(prescriber_user=cast.prescriber, rcp=rcp)
    walk(waiting, PATHS[Dossier.Status.SUBMITTED], cast, long_ago, datetime.timedelta(hours=1))
    recent = submitted(cast)
    idle = f.dossier(prescriber_user=cast.prescriber, rcp=rcp)
    Dossier.objects.filter(pk=idle.pk).update(updated_at=long_ago)
    shipped = f.dossier(prescriber_user=cast.prescriber, rcp=rcp)
    walk(shipped, PATHS[Dossier.Status.SAMPLES_SHIPPED], cast, long_ago, datetime.timedelta(hours=1))

    assert send_reminders() == 5
    by_kind = {(r.kind, r.dossier_id, r.recipient_id) for r in Reminder.objects.all()}
    assert by_kind == {
        ("rcp_waiting", waiting.pk, cast.coordinator.pk),
        ("draft_idle", idle.pk, cast.prescriber.pk),
        ("samples_not_received", shipped.pk, cast.prescriber.pk),
        ("samples_not_received", shipped.pk, cast.lab_staff.pk),
        ("samples_not_received", shipped.pk, cast.biologist.pk),
    }
    assert not Reminder.objects.filter(dossier=recent).exists()
    message = Notification.objects.get(reminder__kind="rcp_waiting").message
    assert waiting.reference in message and "44 jours" in message  # submitted an hour after the start
    assert send_reminders() == 0  # once per waiting period


def test_a_signed_report_not_downloaded_reminds_the_prescriber_until_they_download_it(cast, settings):
    from labs.models import Report
    from labs.services import record_download
    from notifications.models import Reminder
    from notifications.services import send_reminders

    settings.REMINDER_REPORT_NOT_DOWNLOADED_DAYS = 7
    long_ago = timezone.now() - datetime.timedelta(days=30)
    signed = f.dossier(prescriber_user=cast.prescriber, rcp=cast.coordinator.rcp_memberships.get().rcp)
    walk(signed, PATHS[Dossier.Status.REPORT_SIGNED], cast, long_ago, datetime.timedelta(hours=1))
    fresh = f.dossier(prescriber_user=cast.prescriber, rcp=cast.coordinator.rcp_memberships.get().rcp)
    walk(fresh, PATHS[Dossier.Status.REPORT_SIGNED], cast, timezone.now(), datetime.timedelta(seconds=1))

    assert send_reminders() == 1
    reminder = Reminder.objects.get(kind="report_not_downloaded")
    assert (reminder.dossier, reminder.recipient) == (signed, cast.prescriber)
    message = reminder.notification.message
    assert signed.reference in message and "pas encore téléchargé" in message
    assert send_reminders() == 0  # once per waiting period

    record_download(report=Report.objects.get(dossier=signed), user=cast.prescriber)
    signed.refresh_from_db()
    assert signed.status == Dossier.Status.REPORT_DELIVERED  # the first download delivered it
