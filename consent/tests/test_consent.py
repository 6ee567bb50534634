"""Consent: the finalise gate, the refusals, withdrawal that stops processing, choices enforced in every onward
export, who sees consent data, the notices page and the pre-filled forms."""

import datetime as dt
import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_fsm import can_proceed

from consent import selectors, services
from consent.apis import keyed_pseudonym
from consent.demo import DEMO_SCAN
from consent.models import (
    Agreement,
    Choice3,
    ConsentRecord,
    ConsentTemplateVersion,
    DataDeletion,
    PersonStatus,
    ReadingLevel,
    RelativesChoice,
    ResearchChoice,
    Withdrawal,
)
from consent.selectors import may_report_additional_findings
from labs.services import route_dossier
from notifications.models import Notification
from people.models import CounsellorSupervision, LaboratoryMembership, Role
from pfmg.demo import PATHS, Cast, complete_draft, walk
from prescriptions.models import Dossier, DossierPerson, Patient
from prescriptions.services import TransitionRefused, transition_dossier
from prescriptions.tests.test_pdf import pdf_text
from tests import factories as f

pytestmark = pytest.mark.usefixtures("reference_data")
S = Dossier.Status
LAB_TRANSITIONS = [
    "receive",
    "reject_samples",
    "start_sequencing",
    "start_analysis",
    "sign_report",
    "deliver_report",
]


@pytest.fixture
def cast(db):
    rcp = f.rcp_body()
    return Cast(
        prescriber=f.prescriber(),  # Paris: SeqOIA's territory
        coordinator=f.coordinator(rcp),
        lab_staff=f.lab_member("seqoia"),
        biologist=f.lab_member("seqoia", LaboratoryMembership.Function.BIOLOGIST),
    )


def trio(cast, status=S.RCP_VALIDATED) -> Dossier:
    dossier = f.dossier(prescriber_user=cast.prescriber, rcp=cast.coordinator.rcp_memberships.get().rcp)
    complete_draft(dossier, cast.prescriber, dossier.pk, trio=True)
    walk(dossier, PATHS[status], cast, timezone.now() - dt.timedelta(days=3), dt.timedelta(minutes=1))
    if not dossier.laboratory_id:
        route_dossier(dossier=dossier, actor=cast.prescriber)
    dossier.refresh_from_db()
    return dossier


def person(dossier, relationship) -> DossierPerson:
    return dossier.persons.select_related("patient", "dossier").get(relationship=relationship)


def scan(data=DEMO_SCAN, name="consentement.pdf"):
    return SimpleUploadedFile(name, data, content_type="application/pdf")


def consent(p: DossierPerson, actor=None, **overrides) -> ConsentRecord:
    dossier = p.dossier
    audience = selectors.audience_for_form(p)
    minor = audience == "minor"
    arguments = {
        "person": p,
        "actor": actor or dossier.prescriber,
        "template_version": selectors.current_form_version(dossier, audience),
        "person_status": PersonStatus.MINOR if minor else PersonStatus.ADULT,
        "signed_by_person": not minor,
        "parent_signatory_1": "Sarah DURAND" if minor else "",
        "person_agreement": Agreement.GIVEN if minor else Agreement.NOT_APPLICABLE,
        "analysis_accepted": True,
        "additional_findings": Choice3.YES,
        "research_reuse": ResearchChoice.ACCEPTS,
        "relatives_information": RelativesChoice.SELF,
        "signed_on": timezone.localdate(),
        "collected_by": dossier.prescriber,
        "scan": scan(),
    }
    arguments.update(overrides)
    return services.record_consent(**arguments)


def refusal(**overrides) -> dict:
    with pytest.raises(ValidationError) as caught:
        consent(**overrides)
    return caught.value.message_dict


# --- What the laboratories ask -----------------------------------------------------------------------------


def test_additional_findings_are_reported_only_on_a_yes_that_was_not_withdrawn(cast):
    dossier = trio(cast)
    index, mother, father = (person(dossier, r) for r in ("index", "mother", "father"))
    assert not may_report_additional_findings(index)  # no consent yet
    record = consent(index)
    consent(mother, additional_findings=Choice3.NOT_ASKED)
    consent(father, additional_findings=Choice3.NO)
    assert may_report_additional_findings(index)
    assert not may_report_additional_findings(mother)  # never asked is not a yes
    assert not may_report_additional_findings(father)
    services.record_withdrawal(
        consent=record,
        actor=cast.prescriber,
        scope=Withdrawal.Scope.ADDITIONAL_FINDINGS,
        withdrawn_on=timezone.localdate(),
        reason="Courrier de la famille.",
    )
    assert not may_report_additional_findings(index)
    dossier.refresh_from_db()
    assert dossier.status == S.RCP_VALIDATED  # a partial withdrawal does not stop the dossier


# --- The finalise gate ----------------------------------------------------------------------------------------


def test_a_trio_lacking_one_parents_consent_cannot_be_finalised_until_it_is_recorded(cast):
    dossier = trio(cast)
    consent(person(dossier, "index"))
    consent(person(dossier, "mother"))
    father = person(dossier, "father")
    assert not can_proceed(dossier.finalise)
    with pytest.raises(TransitionRefused) as refused:
        transition_dossier(dossier=dossier, name="finalise", actor=cast.prescriber)
    assert f"{father.patient} (Père)" in str(refused.value)
    assert "Mère" not in str(refused.value)

    consent(father)
    assert can_proceed(dossier.finalise)
    transition_dossier(dossier=dossier, name="finalise", actor=cast.prescriber)
    assert dossier.status == S.FINALISED


def test_a_refused_analysis_or_a_withdrawn_consent_does_not_lift_the_gate(cast):
    dossier = trio(cast)
    consent(person(dossier, "index"))
    consent(person(dossier, "mother"), analysis_accepted=False)
    consent(person(dossier, "father"))
    assert not can_proceed(dossier.finalise)
    assert any("Mère" in reason for reason in selectors.finalise_requirement(dossier))


def test_the_consents_page_says_who_is_missing(client, cast):
    dossier = trio(cast)
    consent(person(dossier, "index"))
    client.force_login(cast.prescriber)
    page = client.get(reverse("consent:dossier", args=[dossier.pk])).content.decode()
    assert "ne peut pas être finalisée" in page
    assert str(person(dossier, "father").patient) in page


# --- Refusals -------------------------------------------------------------------------------------------------


def test_a_consent_without_its_signed_form_is_refused(cast):
    index = person(trio(cast), "index")
    assert "obligatoire" in refusal(p=index, scan=None)["scan"][0]
    assert "ni un PDF" in refusal(p=index, scan=scan(b"GIF89a not a form", "scan.gif"))["scan"][0]
    assert not ConsentRecord.objects.exists()


def test_a_signature_in_the_future_or_before_the_form_existed_is_refused(cast):
    index = person(trio(cast), "index")
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    assert "futur" in refusal(p=index, signed_on=tomorrow)["signed_on"][0]
    version = selectors.current_form_version(index.dossier, "minor")
    too_early = version.effective_from - dt.timedelta(days=1)
    assert "précède l'entrée en vigueur" in refusal(p=index, signed_on=too_early)["signed_on"][0]


def test_a_minor_needs_a_parental_signatory_and_a_protected_adult_a_legal_representative(cast):
    dossier = trio(cast)
    index, mother = person(dossier, "index"), person(dossier, "mother")
    errors = refusal(p=index, parent_signatory_1="")
    assert "autorité parentale" in errors["parent_signatory_1"][0]
    errors = refusal(
        p=mother, person_status=PersonStatus.PROTECTED_ADULT, signed_by_person=False, legal_representative=""
    )
    assert "représentant légal" in errors["legal_representative"][0]
    assert "accord" in errors["person_agreement"][0]
    errors = refusal(p=index, person_agreement=Agreement.REFUSED)
    assert "refus est respecté" in errors["analysis_accepted"][0]


def test_a_consent_is_collected_by_those_who_care_for_the_patient(cast):
    dossier = trio(cast)
    index = person(dossier, "index")
    errors = refusal(p=index, collected_by=cast.lab_staff)
    assert "ne peut pas avoir recueilli" in errors["collected_by"][0]
    counsellor = f.UserFactory(roles=[Role.GENETIC_COUNSELLOR], establishment=dossier.establishment)
    errors = refusal(p=index, collected_by=counsellor)
    assert "généticien·ne responsable" in errors["collected_by"][0]
    CounsellorSupervision.objects.create(counsellor=counsellor, geneticist=cast.prescriber)
    record = consent(index, actor=counsellor, collected_by=counsellor)
    assert record.collector_kind == "genetic_counsellor" and record.supervising_geneticist == cast.prescriber


def test_a_template_version_in_force_cannot_be_changed():
    version = ConsentTemplateVersion.objects.filter(effective_from__lte=timezone.localdate()).first()
    version.body = "Autre texte"
    with pytest.raises(ValidationError, match="ne peut plus être modifiée"):
        version.save()


# --- Withdrawal -----------------------------------------------------------------------------------------------


def finalised_with_consents(cast) -> Dossier:
    dossier = trio(cast, S.FINALISED)  # walk records the consents before finalising (consent.demo.prepare)
    assert ConsentRecord.objects.filter(person__dossier=dossier).count() == 3
    return dossier


def test_a_full_withdrawal_stops_the_dossier_tells_the_laboratory_and_refuses_every_laboratory_action(
    cast, settings
):
    settings.CONSENT_WITHDRAWAL_RETENTION_DAYS = 45
    dossier = trio(cast, S.SAMPLES_SHIPPED)
    record = ConsentRecord.objects.get(person__dossier=dossier, person__relationship="mother")
    services.record_withdrawal(
        consent=record,
        actor=cast.prescriber,
        scope=Withdrawal.Scope.ALL,
        withdrawn_on=timezone.localdate(),
        reason="La mère retire son consentement par écrit.",
    )
    dossier.refresh_from_db()
    assert dossier.status == S.WITHDRAWN
    event = dossier.events.get(transition="withdraw")
    assert "retire son consentement" in event.reason
    told = set(Notification.objects.filter(event=event).values_list("recipient", flat=True))
    assert told == {cast.lab_staff.pk, cast.biologist.pk}
    for name in LAB_TRANSITIONS:
        actor = cast.biologist if name == "sign_report" else cast.lab_staff
        with pytest.raises(TransitionRefused, match="Consentement retiré"):
            transition_dossier(dossier=dossier, name=name, actor=actor)
    deletion = DataDeletion.objects.get(dossier=dossier)
    assert deletion.due_on == timezone.localdate() + dt.timedelta(days=45)
    assert not may_report_additional_findings(record.person)


def test_a_full_withdrawal_is_recorded_by_the_prescriber_or_the_counsellor_not_the_assistant(cast):
    dossier = finalised_with_consents(cast)
    record = ConsentRecord.objects.get(person__dossier=dossier, person__relationship="index")
    assistant = f.assistant_for(cast.prescriber)
    with pytest.raises(ValidationError) as refused:
        services.record_withdrawal(
            consent=record,
            actor=assistant,
            scope="all",
            withdrawn_on=timezone.localdate(),
            reason="Courrier.",
        )
    assert "seuls le prescripteur" in refused.value.message_dict["scope"][0]
    # The assistant may record a partial withdrawal.
    services.record_withdrawal(
        consent=record,
        actor=assistant,
        scope="research",
        withdrawn_on=timezone.localdate(),
        reason="Courrier.",
    )
    counsellor = f.UserFactory(roles=[Role.GENETIC_COUNSELLOR], establishment=dossier.establishment)
    services.record_withdrawal(
        consent=record,
        actor=counsellor,
        scope="all",
        withdrawn_on=timezone.localdate(),
        reason="Consultation.",
    )
    dossier.refresh_from_db()
    assert dossier.status == S.WITHDRAWN
    assert dossier.events.get(transition="withdraw").actor == counsellor


def test_a_withdrawal_dated_in_the_future_or_before_the_signature_is_refused(cast):
    dossier = finalised_with_consents(cast)
    record = ConsentRecord.objects.get(person__dossier=dossier, person__relationship="index")
    for day, message in (
        (timezone.localdate() + dt.timedelta(days=2), "futur"),
        (record.signed_on - dt.timedelta(days=1), "précède la signature"),
    ):
        with pytest.raises(ValidationError) as refused:
            services.record_withdrawal(
                consent=record, actor=cast.prescriber, scope="all", withdrawn_on=day, reason="x"
            )
        assert message in refused.value.message_dict["withdrawn_on"][0]
    dossier.refresh_from_db()
    assert dossier.status == S.FINALISED


def test_withdrawn_data_are_purged_once_due(cast, settings):
    settings.CONSENT_WITHDRAWAL_RETENTION_DAYS = 0
    dossier = finalised_with_consents(cast)
    record = ConsentRecord.objects.get(person__dossier=dossier, person__relationship="index")
    scan_name = record.scan.name
    assert default_storage.exists(scan_name)
    services.record_withdrawal(
        consent=record,
        actor=cast.prescriber,
        scope="all",
        withdrawn_on=timezone.localdate(),
        reason="Courrier.",
    )
    call_command("purge_withdrawn_data")  # lists only
    assert default_storage.exists(scan_name)
    call_command("purge_withdrawn_data", "--purge")
    assert not default_storage.exists(scan_name)
    deletion = DataDeletion.objects.get(dossier=dossier)
    assert deletion.purged_at is not None and deletion.files_deleted >= 3
    assert not ConsentRecord.objects.filter(person__dossier=dossier).exclude(scan="").exists()


# --- Research objection, enforced in every onward export ------------------------------------------------------


def test_a_research_objection_removes_the_person_from_every_onward_export(client, cast, tmp_path):
    dossier = trio(cast)
    index, mother, father = (person(dossier, r) for r in ("index", "mother", "father"))
    consent(index)
    consent(mother, research_reuse=ResearchChoice.OBJECTS)
    father_consent = consent(father)
    transition_dossier(dossier=dossier, name="finalise", actor=cast.prescriber)
    other = trio(cast, S.FINALISED)  # consents accepting research: the whole trio is exported
    services.record_withdrawal(
        consent=father_consent,
        actor=cast.prescriber,
        scope=Withdrawal.Scope.RESEARCH,
        withdrawn_on=timezone.localdate(),
        reason="Opposition exprimée en consultation.",
    )
    family = {d.pk: keyed_pseudonym("dossier", d.pk) for d in (dossier, other)}
    expected = {(family[dossier.pk], "index")} | {
        (family[other.pk], r) for r in ("index", "mother", "father")
    }

    admin = f.UserFactory(roles=[Role.ADMINISTRATOR])
    client.force_login(admin)
    response = client.get("/api/v1/research-export/")
    assert response.status_code == 200
    rows = response.json()["results"]
    assert {(r["family"], r["relationship"]) for r in rows} == expected

    output = tmp_path / "cad.jsonl"
    call_command("export_research", output=str(output))
    exported = [json.loads(line) for line in output.read_text().splitlines()]
    assert {(r["family"], r["relationship"]) for r in exported} == expected
    assert sorted(exported, key=lambda r: r["pseudonym"]) == sorted(rows, key=lambda r: r["pseudonym"])

    # A full withdrawal takes the whole dossier out.
    services.record_withdrawal(
        consent=ConsentRecord.objects.get(person__dossier=other, person__relationship="mother"),
        actor=cast.prescriber,
        scope="all",
        withdrawn_on=timezone.localdate(),
        reason="Courrier.",
    )
    assert {p.dossier.reference for p in selectors.research_cohort()} == {dossier.reference}


def test_the_research_export_carries_no_direct_identifier_and_a_stable_keyed_pseudonym(
    client, cast, settings
):
    """Nothing in a record links it back to the portal without the key: no name, INS, birth date, dossier
    reference nor database id; the pseudonyms are the same on every export and change with the key."""
    d = trio(cast, S.FINALISED)
    persons = list(d.persons.select_related("patient"))
    Patient.objects.filter(pk=persons[0].patient_id).update(ins="215037505608975")
    client.force_login(f.UserFactory(roles=[Role.ADMINISTRATOR]))
    first = client.get("/api/v1/research-export/").json()["results"]
    text = json.dumps(first)
    assert len(first) == 3
    forbidden = [d.reference, "215037505608975"]
    for p in persons:
        forbidden += [p.patient.birth_name, p.patient.first_names, p.patient.date_of_birth.isoformat()]
    assert [word for word in forbidden if word in text] == []
    fields = {"pseudonym", "family", "pre_indication", "pre_indication_version", "relationship", "affected"}
    assert all(set(r) == fields | {"sex", "year_of_birth", "hpo_present"} for r in first)
    assert client.get("/api/v1/research-export/").json()["results"] == first  # stable
    assert client.get(f"/api/v1/research-export/{persons[0].pk}/").status_code == 404  # no detail by id
    settings.RESEARCH_PSEUDONYM_KEY = "another-key"
    again = client.get("/api/v1/research-export/").json()["results"]
    assert {r["pseudonym"] for r in again}.isdisjoint({r["pseudonym"] for r in first})


def test_only_the_national_data_centre_and_administrators_read_the_research_export(client, cast):
    for user in (cast.prescriber, cast.lab_staff, f.UserFactory(roles=[Role.NATIONAL_COORDINATION])):
        client.force_login(user)
        assert client.get("/api/v1/research-export/").status_code == 403
    assert client.logout() is None and client.get("/api/v1/research-export/").status_code in (401, 403)


# --- Who sees consent data ------------------------------------------------------------------------------------


def test_consent_data_are_seen_only_by_those_who_care_for_the_dossier(client, cast):
    dossier = finalised_with_consents(cast)
    index = person(dossier, "index")
    urls = [
        reverse("consent:dossier", args=[dossier.pk]),
        reverse("consent:record", args=[dossier.pk, index.pk]),
        reverse("consent:withdraw", args=[dossier.pk, index.pk]),
        reverse("consent:scan", args=[dossier.pk, index.pk]),
    ]
    carers = [
        cast.prescriber,
        f.assistant_for(cast.prescriber),
        f.UserFactory(roles=[Role.GENETIC_COUNSELLOR], establishment=dossier.establishment),
        f.UserFactory(roles=[Role.ADMINISTRATOR]),
    ]
    for user in carers:
        client.force_login(user)
        assert client.get(urls[0]).status_code == 200
        assert client.get(urls[3]).status_code == 200
        assert (
            "Gérer les consentements"
            in client.get(reverse("dossier_detail", args=[dossier.pk])).content.decode()
        )
    # The laboratory and the RCP see the dossier, never its consents.
    for user in (cast.lab_staff, cast.coordinator):
        client.force_login(user)
        page = client.get(reverse("dossier_detail", args=[dossier.pk])).content.decode()
        assert "Gérer les consentements" not in page
        assert all(client.get(url).status_code == 403 for url in urls)
    # Someone who may not even see the dossier gets a 404.
    client.force_login(f.prescriber())
    assert all(client.get(url).status_code == 404 for url in urls)
    with pytest.raises(PermissionDenied):
        consent(person(trio(cast), "index"), actor=cast.lab_staff)


def test_a_prescriber_records_a_consent_from_the_form_and_a_missing_scan_is_said(client, cast):
    dossier = trio(cast)
    index = person(dossier, "index")
    client.force_login(cast.prescriber)
    url = reverse("consent:record", args=[dossier.pk, index.pk])
    page = client.get(url)
    assert page.status_code == 200
    version = selectors.current_form_version(dossier, "minor")
    data = {
        "template_version": version.pk,
        "person_status": "minor",
        "parent_signatory_1": "Sarah DURAND",
        "person_agreement": "given",
        "analysis_accepted": "yes",
        "additional_findings": "not_asked",
        "research_reuse": "objects",
        "relatives_information": "doctor",
        "signed_on": timezone.localdate().isoformat(),
        "collected_by": cast.prescriber.pk,
    }
    response = client.post(url, data)
    assert response.status_code == 200
    assert "Joignez le formulaire signé numérisé" in response.content.decode()
    assert not ConsentRecord.objects.exists()
    response = client.post(url, {**data, "scan": scan()})
    assert response.status_code == 302
    record = ConsentRecord.objects.get(person=index)
    assert record.research_reuse == "objects" and record.recorded_by == cast.prescriber
    assert dossier.events.filter(reason__contains="Consentement enregistré").exists()


# --- Notices and pre-filled forms -----------------------------------------------------------------------------


def test_the_public_notices_page_lists_every_reading_level_and_each_notice_downloads(client, tmp_path):
    page = client.get("/patients-et-familles/")
    assert page.status_code == 200
    html = page.content.decode()
    for _value, label in ReadingLevel.choices:
        assert str(label).replace("'", "&#x27;") in html
    versions = selectors.notices_in_force()
    notices = [v for v in versions if v.template.kind == "notice"]
    assert {v.template.reading_level for v in notices} == set(ReadingLevel.values)
    assert len(notices) == 2 * 5 * 3  # situation x person x reading level
    easy = next(v for v in notices if v.template.reading_level == "easy_to_read")
    assert reverse("consent:notice_pdf", args=[easy.pk]) in html
    response = client.get(reverse("consent:notice_pdf", args=[easy.pk]))
    assert response.status_code == 200
    text = pdf_text(b"".join(response.streaming_content), tmp_path)
    assert "FALC" in text and "démonstration" in text


def test_the_pre_filled_consent_form_carries_the_persons_name_and_the_dossier_reference(
    client, cast, tmp_path
):
    from consent.tasks import render_consent_form

    dossier = trio(cast)
    father = person(dossier, "father")
    path = render_consent_form.delay(father.pk).get()
    text = pdf_text(default_storage.open(path).read(), tmp_path)
    assert father.patient.birth_name.upper() in text and father.patient.first_names in text
    assert dossier.reference in text
    assert "Formulaire de consentement" in text

    client.force_login(cast.prescriber)
    response = client.get(reverse("consent:form_pdf", args=[dossier.pk, father.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content) == default_storage.open(path).read()
    client.force_login(cast.coordinator)  # sees the dossier, not its consents
    assert client.get(reverse("consent:form_pdf", args=[dossier.pk, father.pk])).status_code == 403
