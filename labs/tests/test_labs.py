"""The laboratory's half of the journey: routing, samples and shipments, reception, pipeline, signed reports."""

import datetime as dt
import hashlib

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone
from django_fsm import has_transition_perm

from labs import services
from labs.demo import minimal_pdf
from labs.models import Report, ReportDownload, Sample, Shipment
from notifications.models import Notification
from people.models import Department, Establishment, LaboratoryMembership
from pfmg.demo import PATHS, Cast, seed_demo, walk
from prescriptions.models import Dossier, DossierEvent
from prescriptions.services import TransitionRefused, transition_dossier
from tests import factories as f

pytestmark = pytest.mark.usefixtures("reference_data")
S = Dossier.Status


@pytest.fixture
def cast(db):
    rcp = f.rcp_body()
    return Cast(
        prescriber=f.prescriber(),  # Paris: SeqOIA's territory
        coordinator=f.coordinator(rcp),
        lab_staff=f.lab_member("seqoia"),
        biologist=f.lab_member("seqoia", LaboratoryMembership.Function.BIOLOGIST),
    )


def walked(cast, status, **kwargs):
    dossier = f.dossier(
        prescriber_user=cast.prescriber, rcp=cast.coordinator.rcp_memberships.get().rcp, **kwargs
    )
    walk(dossier, PATHS[status], cast, timezone.now() - dt.timedelta(days=30), dt.timedelta(hours=1))
    dossier.refresh_from_db()
    return dossier


def pdf_upload(text="Compte rendu"):
    return SimpleUploadedFile("cr.pdf", minimal_pdf(text), content_type="application/pdf")


# --- Routing -----------------------------------------------------------------------------------------


def test_demo_dossiers_of_both_territories_go_to_their_laboratory(db, reference_data):
    seed_demo()
    routed = Dossier.objects.exclude(laboratory=None).select_related("establishment", "laboratory")
    assert {(d.establishment.city, d.laboratory.code) for d in routed} == {
        ("Paris", "seqoia"),
        ("Lyon", "auragen"),
    }
    auragen_dossier = routed.filter(laboratory__code="auragen", status=S.SAMPLES_SHIPPED).first()
    from people.models import User

    lab_seqoia = User.objects.get(username="lab_seqoia")
    assert not has_transition_perm(auragen_dossier.receive, lab_seqoia)
    assert has_transition_perm(auragen_dossier.receive, User.objects.get(username="lab_auragen"))
    with pytest.raises(TransitionRefused, match="laboratoire du dossier"):
        transition_dossier(dossier=auragen_dossier, name="receive", actor=lab_seqoia)


def test_validation_routes_by_territory_and_the_coordination_may_override_with_a_reason(cast, client):
    dossier = walked(cast, S.RCP_VALIDATED)
    assert dossier.laboratory.code == "seqoia"
    routed = dossier.events.get(kind=DossierEvent.Kind.ROUTED)
    assert routed.actor is None and "SeqOIA" in routed.reason

    client.force_login(cast.prescriber)
    assert client.get(reverse("labs_routing", args=[dossier.pk])).status_code == 403
    client.force_login(cast.coordinator)
    url = reverse("labs_routing", args=[dossier.pk])
    from people.models import Laboratory

    auragen = Laboratory.objects.get(code="auragen")
    page = client.post(url, {"laboratory": auragen.pk, "reason": ""})
    assert "Ce champ est obligatoire" in page.content.decode()
    client.post(url, {"laboratory": auragen.pk, "reason": "Plateau saturé : accord des deux laboratoires."})
    dossier.refresh_from_db()
    assert dossier.laboratory == auragen
    assert dossier.events.filter(kind="routed", reason__startswith="Plateau saturé").exists()


def test_overseas_cancer_dossiers_may_send_ffpe(cast):
    dossier = f.dossier(prescriber_user=cast.prescriber)
    assert "ffpe" not in services.allowed_sample_types(dossier)
    reunion = Establishment.objects.create(
        finess="970000001",
        name="CHU de La Réunion",
        city="Saint-Denis",
        department=Department.objects.get(region__overseas=True, code="974"),
    )
    cancer = f.dossier(
        prescriber_user=f.prescriber(establishment=reunion), slug=_cancer_slug(), complete=False
    )
    assert "ffpe" in services.allowed_sample_types(cancer)
    metropolitan = f.dossier(prescriber_user=cast.prescriber, slug=_cancer_slug(), complete=False)
    assert "ffpe" not in services.allowed_sample_types(metropolitan)


def _cancer_slug():
    from prescriptions.models import PreIndication

    for pre_indication in PreIndication.objects.filter(category="cancer"):
        version = pre_indication.current_version()
        if version and version.is_prescribable and "ffpe" not in version.sample_types:
            return pre_indication.slug
    raise AssertionError("no cancer pre-indication without FFPE in the catalogue")


# --- Samples, shipment, reception --------------------------------------------------------------------


def record_all(dossier, actor, prefix="T"):
    for n, person in enumerate(dossier.persons.filter(to_be_sequenced=True)):
        services.record_sample(
            dossier=dossier,
            actor=actor,
            person=person,
            sample_type="blood_edta",
            barcode=f"{prefix}{dossier.pk}-{n}-{Sample.objects.count()}",
            collected_on=timezone.localdate(),
            collected_by="IDE Martin",
        )


def test_the_prescriber_records_samples_and_ships_with_a_manifest(cast, client):
    dossier = walked(cast, S.FINALISED)
    with pytest.raises(TransitionRefused, match="Prélèvement à enregistrer"):
        transition_dossier(dossier=dossier, name="ship_samples", actor=cast.prescriber)
    with pytest.raises(services.LabActionRefused, match="n'est pas admis"):
        services.record_sample(
            dossier=dossier,
            actor=cast.prescriber,
            person=dossier.persons.first(),
            sample_type="ffpe",
            barcode="X1",
            collected_on=timezone.localdate(),
            collected_by="IDE",
        )
    with pytest.raises(services.LabActionRefused, match="personnel du laboratoire|prescripteur"):
        services.record_sample(
            dossier=dossier,
            actor=cast.lab_staff,
            person=dossier.persons.first(),
            sample_type="blood_edta",
            barcode="X1",
            collected_on=timezone.localdate(),
            collected_by="IDE",
        )
    client.force_login(cast.prescriber)
    url = reverse("labs_samples", args=[dossier.pk])
    person = dossier.persons.get()
    client.post(
        url,
        {
            "action": "sample",
            "sample-person": person.pk,
            "sample-sample_type": "blood_edta",
            "sample-barcode": "EDTA-0001",
            "sample-collected_on": timezone.localdate().isoformat(),
            "sample-collected_by": "IDE Martin",
        },
    )
    page = client.post(
        url,
        {
            "action": "sample",
            "sample-person": person.pk,
            "sample-sample_type": "blood_edta",
            "sample-barcode": "EDTA-0001",
            "sample-collected_on": timezone.localdate().isoformat(),
            "sample-collected_by": "IDE Martin",
        },
        follow=True,
    )
    assert "déjà enregistré" in page.content.decode()
    client.post(
        url,
        {
            "action": "ship",
            "ship-carrier": "Transporteur santé",
            "ship-tracking_number": "TRK42",
            "ship-pickup_date": timezone.localdate().isoformat(),
        },
    )
    dossier.refresh_from_db()
    assert dossier.status == S.SAMPLES_SHIPPED
    shipment = Shipment.objects.get(dossier=dossier)
    assert shipment.declared_at is not None and list(shipment.samples.values_list("barcode", flat=True)) == [
        "EDTA-0001"
    ]
    manifest = client.get(reverse("labs_manifest_pdf", args=[shipment.pk]))
    assert manifest.status_code == 200 and b"".join(manifest.streaming_content).startswith(b"%PDF-")
    client.force_login(f.lab_member("auragen"))
    assert client.get(reverse("labs_manifest_pdf", args=[shipment.pk])).status_code == 404


def test_a_non_conform_sample_sends_the_dossier_back_with_the_reason_and_tells_the_prescriber(cast, client):
    dossier = walked(cast, S.SAMPLES_SHIPPED)
    sample = Sample.objects.get(dossier=dossier)
    other_lab = f.lab_member("auragen")
    client.force_login(other_lab)
    assert client.get(reverse("labs_reception", args=[dossier.pk])).status_code == 404
    with pytest.raises(services.LabActionRefused, match="laboratoire du dossier"):
        services.check_samples(dossier=dossier, actor=other_lab, results={sample.pk: (True, "")})

    client.force_login(cast.lab_staff)
    url = reverse("labs_reception", args=[dossier.pk])
    page = client.post(url, {f"check-{sample.pk}": "non_conform", f"reason-{sample.pk}": ""})
    assert "Indiquez le motif de non-conformité" in page.content.decode()
    client.post(url, {f"check-{sample.pk}": "non_conform", f"reason-{sample.pk}": "Tube hémolysé"})
    dossier.refresh_from_db()
    assert dossier.status == S.FINALISED
    event = dossier.events.get(transition="reject_samples")
    assert (
        "Tube hémolysé" in event.reason
        and sample.barcode in event.reason
        and "envoyer de nouveau" in event.reason
    )
    assert Notification.objects.filter(recipient=cast.prescriber, event=event).exists()
    client.force_login(cast.prescriber)
    assert "Tube hémolysé" in client.get(reverse("labs_samples", args=[dossier.pk])).content.decode()
    # A new tube in a new shipment, and this time all is conform.
    with pytest.raises(TransitionRefused, match="Prélèvement à enregistrer"):
        transition_dossier(dossier=dossier, name="ship_samples", actor=cast.prescriber)
    record_all(dossier, cast.prescriber, prefix="NEW")
    services.ship_samples(
        dossier=dossier,
        actor=cast.prescriber,
        carrier="T",
        tracking_number="2",
        pickup_date=timezone.localdate(),
    )
    new = Sample.objects.filter(dossier=dossier).latest("id")
    event = services.check_samples(dossier=dossier, actor=cast.lab_staff, results={new.pk: (True, "")})
    assert event.transition == "receive" and dossier.status == S.RECEIVED
    assert Sample.objects.get(pk=sample.pk).check_result == Sample.Check.NON_CONFORM  # kept, with its reason


def test_pipeline_steps_refuse_the_wrong_state_and_the_wrong_laboratory(cast):
    dossier = walked(cast, S.RECEIVED)
    with pytest.raises(services.LabActionRefused, match="statut « Dossier complet reçu »"):
        services.start_analysis(dossier=dossier, actor=cast.lab_staff, interpreter=cast.biologist)
    with pytest.raises(services.LabActionRefused, match="laboratoire du dossier"):
        services.start_sequencing(
            dossier=dossier, actor=f.lab_member("auragen"), run_identifier="R1", mean_coverage=40, pct_20x=95
        )
    with pytest.raises(services.LabActionRefused, match="entre 0 et 100"):
        services.start_sequencing(
            dossier=dossier, actor=cast.lab_staff, run_identifier="R1", mean_coverage=40, pct_20x=120
        )
    services.start_sequencing(
        dossier=dossier, actor=cast.lab_staff, run_identifier="R1", mean_coverage=40, pct_20x=95
    )
    assert dossier.status == S.SEQUENCING
    with pytest.raises(services.LabActionRefused, match="membre du laboratoire"):
        services.start_analysis(dossier=dossier, actor=cast.lab_staff, interpreter=f.lab_member("auragen"))
    services.start_analysis(dossier=dossier, actor=cast.lab_staff, interpreter=cast.biologist)
    assert dossier.status == S.ANALYSIS


# --- Reports and signature ---------------------------------------------------------------------------


def test_only_a_biologist_of_the_laboratory_signs_and_the_hash_matches_the_file(cast):
    dossier = walked(cast, S.ANALYSIS)
    with pytest.raises(services.LabActionRefused, match="n'est pas un PDF"):
        services.upload_report(
            dossier=dossier,
            actor=cast.lab_staff,
            uploaded=SimpleUploadedFile("cr.pdf", b"<html>not a pdf</html>"),
        )
    report = services.upload_report(dossier=dossier, actor=cast.lab_staff, uploaded=pdf_upload())
    for intruder in (
        cast.lab_staff,
        f.lab_member("auragen", LaboratoryMembership.Function.BIOLOGIST),
        cast.prescriber,
    ):
        with pytest.raises(services.LabActionRefused, match="biologiste habilité"):
            services.sign_report(report=report, actor=intruder, strong_auth_at=timezone.now())
    signed = services.sign_report(report=report, actor=cast.biologist, strong_auth_at=timezone.now())
    dossier.refresh_from_db()
    assert dossier.status == S.REPORT_SIGNED
    assert signed.signed_by == cast.biologist and signed.signed_at is not None
    with default_storage.open(signed.file.name, "rb") as stored:
        assert signed.sha256 == hashlib.sha256(stored.read()).hexdigest()
    with default_storage.open(signed.signed_file.name, "rb") as stored:
        assert signed.signed_sha256 == hashlib.sha256(stored.read()).hexdigest()
    assert signed.intact()
    with pytest.raises(ValueError, match="immutable"):
        signed.conclusion = "positive"
        signed.save()
    assert Notification.objects.filter(recipient=cast.prescriber, event__transition="sign_report").exists()


def test_a_composed_report_is_rendered_and_additional_findings_need_consent(cast):
    """The index case's consent (recorded before finalisation, as the demo does) says yes to additional
    findings: they may be reported; once that part is withdrawn, a report that lists them is refused."""
    from consent.models import Withdrawal
    from consent.services import record_withdrawal

    dossier = walked(cast, S.ANALYSIS)
    with pytest.raises(services.LabActionRefused, match="Listez le ou les variants"):
        services.compose_report(dossier=dossier, actor=cast.lab_staff, conclusion="positive")
    report = services.compose_report(
        dossier=dossier,
        actor=cast.lab_staff,
        conclusion="positive",
        variants="SCN1A c.1234C>T p.(Arg412*) hétérozygote, pathogène",
        additional_findings="BRCA2 pathogène",
    )
    signed = services.sign_report(  # laid out now if the task has not run
        report=report, actor=cast.biologist, strong_auth_at=timezone.now()
    )
    with default_storage.open(signed.signed_file.name, "rb") as stored:
        data = stored.read()
    assert data.startswith(b"%PDF-") and hashlib.sha256(data).hexdigest() == signed.signed_sha256

    index = dossier.persons.get(relationship="index")
    record_withdrawal(
        consent=index.consent,
        actor=cast.prescriber,
        scope=Withdrawal.Scope.ADDITIONAL_FINDINGS,
        withdrawn_on=timezone.localdate(),
        reason="La patiente ne souhaite plus connaître les données additionnelles.",
    )
    with pytest.raises(services.LabActionRefused, match="pas consenti"):
        services.compose_report(
            dossier=dossier,
            actor=cast.lab_staff,
            conclusion="negative",
            additional_findings="BRCA2 pathogène",
            amends=signed,
            reason="Rectification",
        )


def test_an_altered_file_is_flagged_and_an_amendment_keeps_the_original(cast, client):
    dossier = walked(cast, S.REPORT_SIGNED)
    original = Report.objects.get(dossier=dossier)
    client.force_login(cast.prescriber)
    url = reverse("labs_report", args=[dossier.pk])
    assert "Fichier conforme à l'empreinte" in client.get(url).content.decode()
    with default_storage.open(original.file.name, "wb") as stored:
        stored.write(minimal_pdf("Falsified"))
    assert not Report.objects.get(pk=original.pk).intact()
    assert "ne correspond plus à l'empreinte" in client.get(url).content.decode()

    with pytest.raises(services.LabActionRefused, match="motif de la rectification"):
        services.upload_report(
            dossier=dossier, actor=cast.lab_staff, uploaded=pdf_upload("v2"), amends=original
        )
    amended = services.upload_report(
        dossier=dossier,
        actor=cast.lab_staff,
        uploaded=pdf_upload("v2"),
        amends=original,
        reason="Erreur de nomenclature HGVS",
    )
    services.sign_report(report=amended, actor=cast.biologist, strong_auth_at=timezone.now())
    assert Report.objects.filter(dossier=dossier).count() == 2
    page = client.get(url).content.decode()
    assert (
        "Erreur de nomenclature HGVS" in page
        and "Télécharger la version 1" in page
        and "Télécharger la version 2" in page
    )
    assert (
        client.get(reverse("labs_report_download", args=[original.pk])).status_code == 200
    )  # still downloadable
    assert Notification.objects.filter(recipient=cast.prescriber, message__contains="rectifié").exists()


def test_the_prescribers_first_download_delivers_the_report_and_is_recorded(cast, client):
    dossier = walked(cast, S.REPORT_SIGNED)
    report = Report.objects.get(dossier=dossier)
    client.force_login(cast.lab_staff)
    client.get(reverse("labs_report_download", args=[report.pk]))
    dossier.refresh_from_db()
    assert dossier.status == S.REPORT_SIGNED  # the laboratory reading it delivers nothing
    client.force_login(cast.prescriber)
    response = client.get(reverse("labs_report_download", args=[report.pk]))
    assert response.status_code == 200 and b"".join(response.streaming_content).startswith(b"%PDF-")
    dossier.refresh_from_db()
    assert dossier.status == S.REPORT_DELIVERED
    assert dossier.events.get(transition="deliver_report").actor == cast.prescriber
    assert ReportDownload.objects.filter(report=report).count() == 2
    client.force_login(f.lab_member("auragen"))
    assert client.get(reverse("labs_report_download", args=[report.pk])).status_code == 404


# --- What laboratory staff see ------------------------------------------------------------------------


def test_the_queue_shows_only_the_laboratory_s_dossiers_with_their_waiting_time(
    cast, client, django_assert_max_num_queries
):
    shipped = walked(cast, S.SAMPLES_SHIPPED)
    lyon = Establishment.objects.create(
        finess="690000099", name="HCL", city="Lyon", department=Department.objects.get(code="69")
    )
    other = f.dossier(
        prescriber_user=f.prescriber(establishment=lyon), rcp=cast.coordinator.rcp_memberships.get().rcp
    )
    walk(
        other,
        PATHS[S.SAMPLES_SHIPPED],
        Cast(
            other.prescriber,
            cast.coordinator,
            f.lab_member("auragen"),
            f.lab_member("auragen", LaboratoryMembership.Function.BIOLOGIST),
        ),
        timezone.now(),
        dt.timedelta(hours=1),
    )
    client.force_login(cast.lab_staff)
    page = client.get(reverse("labs_queue")).content.decode()
    assert shipped.reference in page and other.reference not in page
    assert "jours" in page
    assert client.get(reverse("dossier_detail", args=[other.pk])).status_code == 404
    client.force_login(cast.prescriber)
    assert client.get(reverse("labs_queue")).status_code == 403


def test_no_identity_of_a_withdrawn_dossier_on_the_laboratory_side(cast, client):
    dossier = walked(cast, S.WITHDRAWN)
    name = dossier.persons.get().patient.birth_name
    client.force_login(cast.lab_staff)
    for url in (reverse("dossier_detail", args=[dossier.pk]), reverse("home"), reverse("labs_queue")):
        page = client.get(url)
        assert page.status_code == 200 and name not in page.content.decode(), url
    assert client.get(reverse("prescription_summary_pdf", args=[dossier.pk])).status_code == 404
    # Searching by the person's name must not reveal the dossier either; its reference still finds it.
    by_name = client.post(reverse("home"), {"q": name}, follow=True).content.decode()
    assert dossier.reference not in by_name
    assert (
        dossier.reference
        in client.post(reverse("home"), {"q": dossier.reference}, follow=True).content.decode()
    )
    client.force_login(cast.prescriber)
    assert name in client.get(reverse("dossier_detail", args=[dossier.pk])).content.decode()
    assert dossier.reference in client.post(reverse("home"), {"q": name}, follow=True).content.decode()


def test_the_dossier_page_shows_turnaround_from_the_timeline(cast, client):
    dossier = walked(cast, S.REPORT_DELIVERED)
    client.force_login(cast.prescriber)
    page = client.get(reverse("dossier_detail", args=[dossier.pk])).content.decode()
    assert "Délais" in page and "De bout en bout" in page and "De la réception à la signature" in page
    from labs.selectors import turnaround

    spans = turnaround(dossier)["spans"]
    assert spans["end_to_end"].duration == (
        dossier.events.get(transition="deliver_report").at - dossier.events.get(transition="finalise").at
    )


def test_the_render_sweep_lays_out_a_composed_report_whose_render_was_lost(cast):
    """The composing transaction never commits in this test, so its render was never queued: as if the broker
    had been down. Beat's sweep finds the report without its PDF and renders it (eagerly here)."""
    from pfmg.tasks import sweep_missing_renders

    dossier = walked(cast, S.ANALYSIS)
    report = services.compose_report(dossier=dossier, actor=cast.lab_staff, conclusion="negative")
    assert not report.file
    assert sweep_missing_renders.apply().get() >= 1
    report.refresh_from_db()
    with default_storage.open(report.file.name, "rb") as stored:
        assert hashlib.sha256(stored.read()).hexdigest() == report.sha256
    assert not Report.objects.filter(pk=report.pk, file="").exists()
