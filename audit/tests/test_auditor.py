"""The data protection officer: sees only the trail, answers "who accessed this patient's data" and "what did this
user access" for a period, and exports either as CSV."""

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from audit import services
from audit.models import Action, AuditEntry
from people.models import Role
from people.services import grant_role
from pfmg.demo import seed_people
from prescriptions.models import Dossier
from tests import factories as f

S = Dossier.Status
TODAY = timezone.localdate()
PERIOD = {"date_from": (TODAY - dt.timedelta(days=7)).isoformat(), "date_to": TODAY.isoformat()}


@pytest.fixture
def auditor(db):
    user = f.UserFactory(username="dpo", is_staff=True)
    grant_role(user=user, role=Role.AUDITOR)
    return user


@pytest.fixture
def accessed(client, cast, walked):
    """Two dossiers; the prescriber reads the first, the laboratory the second; one old read of the first."""
    first, second = walked(S.SUBMITTED), walked(S.SUBMITTED)
    patient = first.persons.get(relationship="index").patient
    patient.ins = "123456789012345"
    patient.save(update_fields=["ins"])
    client.force_login(cast.prescriber)
    client.get(reverse("dossier_detail", args=[first.pk]), REMOTE_ADDR="10.1.1.1")
    client.force_login(cast.coordinator)
    client.get(reverse("rcp:dossier", args=[second.pk]), REMOTE_ADDR="10.1.1.2")
    services.record(
        source="web",
        action="read",
        actor=cast.lab_staff,
        dossier_reference=first.reference,
        patient_ids=[patient.pk],
        at=timezone.now() - dt.timedelta(days=60),
    )
    client.logout()
    return first, second, patient


def _csv(response):
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_the_demo_auditor_holds_only_the_view_permission_on_the_trail(db, reference_data):
    auditor = seed_people()["auditor"]
    assert auditor.is_staff and not auditor.is_superuser
    assert auditor.get_all_permissions() == {"audit.view_auditentry"}


def test_the_auditor_sees_the_trail_and_nothing_else(client, auditor, accessed):
    client.force_login(auditor)
    index = client.get(reverse("admin:index"))
    assert index.status_code == 200
    assert [app["app_label"] for app in index.context["app_list"]] == ["audit"]
    for name in ("prescriptions_dossier", "prescriptions_patient", "consent_consentrecord", "people_user"):
        assert client.get(reverse(f"admin:{name}_changelist")).status_code == 403
    first = accessed[0]
    assert client.get(reverse("dossier_detail", args=[first.pk])).status_code == 404
    assert client.get(reverse("admin:audit_auditentry_changelist")).status_code == 200


def test_who_accessed_this_patient_by_ins_and_by_reference(client, auditor, accessed, cast):
    first, second, patient = accessed
    client.force_login(auditor)
    url = reverse("admin:audit_auditentry_by_patient")
    assert client.get(url).status_code == 200
    for query in ({"ins": patient.ins}, {"reference": first.reference}):
        response = client.post(url, {**query, **PERIOD})
        assert response.status_code == 200
        # The auditor's own earlier query is an access too; the old read is outside the period.
        rows = [e for e in response.context["results"] if e.actor_id != auditor.pk]
        assert {(e.actor_username, e.dossier_reference) for e in rows} == {
            (cast.prescriber.username, first.reference)
        }
        assert second.reference not in response.content.decode()
    wider = {**PERIOD, "date_from": (TODAY - dt.timedelta(days=90)).isoformat()}
    exported = _csv(client.post(url, {"ins": patient.ins, **wider, "csv": "1"}))
    assert {r["actor_username"] for r in exported} == {
        cast.prescriber.username,
        cast.lab_staff.username,
        auditor.username,
    }
    assert {r["ip"] for r in exported} >= {"10.1.1.1"}
    # The query itself is in the trail, with the patient it concerned, and the INS never went into a URL.
    query = AuditEntry.objects.filter(
        actor=auditor, url_name="admin:audit_auditentry_by_patient", method="POST"
    )
    assert query.exists() and all(patient.pk in e.patient_id_list for e in query)
    assert not AuditEntry.objects.filter(path__contains=patient.ins).exists()


def test_what_did_this_user_access(client, auditor, accessed, cast):
    first, second, _ = accessed
    client.force_login(auditor)
    url = reverse("admin:audit_auditentry_by_user")
    response = client.post(url, {"user": cast.coordinator.username, **PERIOD})
    assert response.status_code == 200
    assert [(e.dossier_reference, e.action) for e in response.context["results"]] == [
        (second.reference, Action.READ)
    ]
    exported = _csv(client.post(url, {"user": cast.coordinator.username, **PERIOD, "csv": "1"}))
    assert [(r["dossier_reference"], r["url_name"], r["ip"]) for r in exported] == [
        (second.reference, "rcp:dossier", "10.1.1.2")
    ]


def test_a_period_the_wrong_way_round_is_refused(client, auditor, accessed):
    client.force_login(auditor)
    response = client.post(
        reverse("admin:audit_auditentry_by_user"),
        {"user": auditor.username, "date_from": TODAY.isoformat(), "date_to": "2020-01-01"},
    )
    assert response.status_code == 200 and response.context["results"] is None
    assert "postérieure" in response.content.decode()


def test_nobody_adds_changes_or_deletes_an_audit_entry_in_the_admin(client, accessed):
    root = f.UserFactory(username="root", is_staff=True, is_superuser=True)
    entry = AuditEntry.objects.order_by("seq").first()
    client.force_login(root)
    assert client.get(reverse("admin:audit_auditentry_change", args=[entry.pk])).status_code == 200
    assert (
        client.post(
            reverse("admin:audit_auditentry_change", args=[entry.pk]), {"action": "write"}
        ).status_code
        == 403
    )
    assert (
        client.post(reverse("admin:audit_auditentry_delete", args=[entry.pk]), {"post": "yes"}).status_code
        == 403
    )
    assert client.get(reverse("admin:audit_auditentry_add")).status_code == 403
    entry.refresh_from_db()
    assert entry.action == Action.READ and services.verify().ok


def test_a_csv_cell_never_starts_a_formula(client, auditor, cast):
    services.record(source="web", action="read", actor=cast.prescriber, user_agent='=HYPERLINK("x")')
    client.force_login(auditor)
    exported = _csv(
        client.post(
            reverse("admin:audit_auditentry_by_user"),
            {"user": cast.prescriber.username, **PERIOD, "csv": "1"},
        )
    )
    assert exported[0]["user_agent"].startswith("'=")


def test_the_query_pages_open_on_the_last_thirty_days_in_dates_the_browser_shows(client, auditor, accessed):
    client.force_login(auditor)
    page = client.get(reverse("admin:audit_auditentry_by_patient")).content.decode()
    today = timezone.localdate()
    # A date input takes ISO dates: a French-formatted value would show as an empty field.
    assert f'value="{today.isoformat()}"' in page
    assert f'value="{(today - dt.timedelta(days=30)).isoformat()}"' in page
