"""Patients' identities never leave the portal through its logs or its e-mails: the demo's whole journey
(every status reached through the services, the e-mails of every transition, the renders) and every role's
pages and API calls, with every log record captured."""

import logging

import pytest
from django.core import mail
from django.urls import reverse

from people.models import User
from pfmg.demo import DEMO_PASSWORD, DEMO_TOTP_USERS, seed_demo
from pfmg.management.commands.seed_demo import ACCOUNTS
from prescriptions.models import Dossier, Patient
from prescriptions.selectors import dossiers_visible_to
from tests.test_browser_journeys import demo_code

pytestmark = pytest.mark.usefixtures("reference_data")


def identities() -> set[str]:
    """What would identify a demo patient if it were read in a log or an e-mail."""
    found: set[str] = set()
    for patient in Patient.objects.all():
        found |= {patient.birth_name, patient.used_name, patient.ins}
        found |= {name for name in patient.first_names.replace(",", " ").split() if len(name) > 2}
        if patient.date_of_birth:
            born = patient.date_of_birth
            found |= {born.isoformat(), born.strftime("%d/%m/%Y"), born.strftime("%d%m%Y")}
    return {value for value in found if value}


def test_no_patient_identity_appears_in_the_logs_or_the_emails(
    client, db, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    with django_capture_on_commit_callbacks(execute=True):
        seed_demo()
    for username, _ in ACCOUNTS:
        user = User.objects.get(username=username)
        assert client.login(username=username, password=DEMO_PASSWORD)
        client.get("/")
        for dossier in dossiers_visible_to(user).order_by("pk")[:6]:
            with django_capture_on_commit_callbacks(execute=True):
                client.get(reverse("dossier_detail", args=[dossier.pk]))
                client.get(reverse("prescription_summary_pdf", args=[dossier.pk]))
        client.get("/dossiers/999999/")  # a refusal is logged too
        token = client.post(
            "/api/v1/auth/token/",
            {
                "username": username,
                "password": DEMO_PASSWORD,
                "otp": demo_code(username) if username in DEMO_TOTP_USERS else "",
            },
            content_type="application/json",
        ).json()["token"]
        client.get("/api/v1/research-export/", HTTP_AUTHORIZATION=f"Token {token}")
        client.logout()

    # The journey did log and send mail, and the pages it read did show identities.
    assert len(mail.outbox) >= 10 and len(caplog.records) >= 10
    index = Dossier.objects.filter(prescriber__username="prescriber").exclude(status="draft").first()
    assert client.login(username="prescriber", password=DEMO_PASSWORD)
    page = client.get(reverse("dossier_detail", args=[index.pk])).content.decode()
    assert index.persons.get(relationship="index").patient.birth_name in page

    secrets = identities()
    assert len(secrets) > 20
    leaks = []
    for record in caplog.records:
        text = record.getMessage() + (caplog.text if record.exc_info else "")
        leaks += [f"log {record.name}: {value!r} in {text[:200]!r}" for value in secrets if value in text]
    for email in mail.outbox:
        text = "\n".join([email.subject, email.body, *email.to])
        leaks += [f"e-mail {email.subject!r}: {value!r}" for value in secrets if value in text]
    assert not leaks, "\n".join(sorted(set(leaks)))
