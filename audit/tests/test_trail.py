"""What each role reads and downloads shows in the trail: who, from where, which dossier and patients."""

import pytest
from django.core.management import call_command
from django.urls import reverse

from audit.models import Action, AuditEntry, Source
from labs.models import Report
from prescriptions.models import Dossier
from tests import factories as f

S = Dossier.Status
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0 audit-test"


def _get(client, user, url, ip):
    client.force_login(user)
    response = client.get(url, REMOTE_ADDR=ip, HTTP_USER_AGENT=BROWSER)
    if hasattr(response, "streaming_content"):
        b"".join(response.streaming_content)
    return response


def test_each_role_s_reads_and_downloads_are_in_the_trail(client, cast, walked):
    dossier = walked(S.REPORT_SIGNED)
    report = Report.objects.get(dossier=dossier)
    index_patient = dossier.persons.get(relationship="index").patient_id
    visits = [
        (cast.prescriber, reverse("dossier_detail", args=[dossier.pk]), Action.READ),
        (cast.prescriber, reverse("prescription_summary_pdf", args=[dossier.pk]), Action.DOWNLOAD),
        (cast.prescriber, reverse("labs_report_download", args=[report.pk]), Action.DOWNLOAD),
        (cast.coordinator, reverse("rcp:dossier", args=[dossier.pk]), Action.READ),
        (cast.coordinator, reverse("rcp:dossier_minutes", args=[dossier.pk]), Action.DOWNLOAD),
        (cast.lab_staff, reverse("labs_report", args=[dossier.pk]), Action.READ),
        (cast.lab_staff, reverse("labs_report_download", args=[report.pk]), Action.DOWNLOAD),
        (cast.biologist, reverse("labs_report_download", args=[report.pk]), Action.DOWNLOAD),
        (cast.biologist, reverse("dossier_detail", args=[dossier.pk]), Action.READ),
    ]
    for number, (user, url, action) in enumerate(visits):
        ip = f"10.0.0.{number + 1}"
        response = _get(client, user, url, ip)
        assert response.status_code == 200, url
        entry = AuditEntry.objects.get(path=url, actor=user, ip=ip)
        assert (entry.action, entry.source, entry.status_code, entry.method) == (
            action,
            Source.WEB,
            200,
            "GET",
        )
        assert entry.dossier_reference == dossier.reference
        assert entry.actor_username == user.username
        assert entry.user_agent == BROWSER
        assert index_patient in entry.patient_id_list


def test_a_refused_access_is_recorded_with_its_status(client, cast, walked):
    dossier = walked(S.SUBMITTED)
    intruder = f.prescriber()
    url = reverse("dossier_detail", args=[dossier.pk])
    assert _get(client, intruder, url, "10.9.9.9").status_code == 404
    entry = AuditEntry.objects.get(actor=intruder)
    assert (entry.action, entry.status_code, entry.dossier_reference) == (
        Action.DENIED,
        404,
        dossier.reference,
    )


def test_the_trail_keeps_ids_never_identities_nor_the_query_string(client, cast, walked):
    dossier = walked(S.SUBMITTED)
    patient = dossier.persons.get(relationship="index").patient
    _get(client, cast.prescriber, reverse("dossier_detail", args=[dossier.pk]) + "?q=secret", "10.0.0.1")
    entry = AuditEntry.objects.get(actor=cast.prescriber)
    assert entry.path == reverse("dossier_detail", args=[dossier.pk])
    stored = " ".join(str(v) for v in AuditEntry.objects.filter(pk=entry.pk).values().get().values())
    assert patient.birth_name not in stored and patient.first_names not in stored and "secret" not in stored


def test_pages_without_patient_data_are_not_recorded(client, cast):
    client.force_login(cast.prescriber)
    assert client.get(reverse("notifications_inbox")).status_code == 200
    assert client.get("/healthz").status_code == 200
    assert not AuditEntry.objects.exists()


def test_a_recorded_page_costs_a_constant_number_of_queries(client, cast, walked):
    """Recording adds at most four queries (dossier and patients, chain head, insert, head), whatever the data."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    small, large = walked(S.SUBMITTED), walked(S.REPORT_SIGNED)
    client.force_login(cast.prescriber)
    counts = []
    for dossier in (small, large):
        with CaptureQueriesContext(connection) as ctx:
            client.get(reverse("dossier_detail", args=[dossier.pk]))
        audit = [q["sql"] for q in ctx.captured_queries if "audit_" in q["sql"]]
        counts.append(len(audit))
    assert counts == [3, 3]  # head (lock + previous link), insert, head; the dossier lookup is the fourth


def test_the_research_export_command_records_itself(db, cast, walked, tmp_path):
    call_command("export_research", output=str(tmp_path / "out.jsonl"), stderr=open("/dev/null", "w"))
    entry = AuditEntry.objects.get(source=Source.COMMAND)
    assert (entry.action, entry.url_name) == (Action.EXPORT, "export_research")
    assert entry.actor is None and "records" in entry.detail


def test_the_withdrawn_data_purge_command_records_itself(db):
    call_command("purge_withdrawn_data", stdout=open("/dev/null", "w"))
    entry = AuditEntry.objects.get(source=Source.COMMAND)
    assert (entry.url_name, entry.detail["purge"]) == ("purge_withdrawn_data", False)


@pytest.mark.parametrize("role", ["prescriber", "lab_staff"])
def test_an_api_export_is_recorded_or_refused(client, cast, role):
    user = getattr(cast, role)
    client.force_login(user)
    response = client.get("/api/v1/research-export/", REMOTE_ADDR="10.2.2.2")
    entry = AuditEntry.objects.get(actor=user)
    assert entry.source == Source.API and entry.status_code == response.status_code
    assert entry.action == (Action.DENIED if response.status_code == 403 else Action.EXPORT)


def test_a_new_prescription_is_recorded_with_the_dossier_it_created(client, cast):
    from prescriptions.models import PreIndication

    version = PreIndication.objects.get(slug="deficience-intellectuelle").current_version()
    data = {"version": version.pk, "prescriber": cast.prescriber.pk}
    data |= {f"c-crit_{i}": "yes" for i, _ in enumerate(version.criteria)}
    client.force_login(cast.prescriber)
    assert client.post(reverse("prescribe_start"), data).status_code == 302
    created = Dossier.objects.get(prescriber=cast.prescriber)
    entry = AuditEntry.objects.get(url_name="prescribe_start", method="POST")
    assert (entry.action, entry.dossier_reference) == (Action.WRITE, created.reference)


def test_the_auditor_finds_the_trail_in_the_header(client, db):
    from people.models import Role
    from people.services import grant_role

    auditor = f.UserFactory(username="dpo", is_staff=True)
    grant_role(user=auditor, role=Role.AUDITOR)
    client.force_login(auditor)
    assert reverse("admin:audit_auditentry_changelist") in client.get("/").content.decode()
    client.force_login(f.prescriber())
    assert reverse("admin:audit_auditentry_changelist") not in client.get("/").content.decode()


def test_a_document_downloaded_through_the_api_is_recorded_as_a_download(client, cast, walked):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from people.services import issue_api_token
    from prescriptions import drafting

    dossier = walked(S.DRAFT)
    document = drafting.add_document(
        dossier=dossier,
        actor=cast.prescriber,
        uploaded=SimpleUploadedFile("cr.pdf", b"%PDF-1.4\n%%EOF\n"),
        expected=None,
        label="Compte rendu",
    )
    _token, clear = issue_api_token(user=cast.prescriber)
    url = reverse("dossier-document-download", kwargs={"reference": dossier.reference, "pk": document.pk})
    response = client.get(url, HTTP_AUTHORIZATION=f"Token {clear}", REMOTE_ADDR="10.0.1.1")
    assert response.status_code == 200
    b"".join(response.streaming_content)
    entry = AuditEntry.objects.get(path=url, actor=cast.prescriber)
    assert (entry.action, entry.source, entry.dossier_reference) == (
        Action.DOWNLOAD,
        Source.API,
        dossier.reference,
    )
    index_patient = dossier.persons.get(relationship="index").patient_id
    assert index_patient in entry.patient_id_list
