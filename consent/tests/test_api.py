"""Consents through the API: recorded for each person of a demo dossier (one objecting to research), who then
appears in no research export while the API shows the objection; withdrawals, partial and full; the pages'
refusals (a laboratory, an RCP member, another prescriber, an incomplete form), each changing nothing."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone

from consent import selectors
from consent.apis import export_rows, keyed_pseudonym
from consent.demo import DEMO_SCAN
from consent.models import ConsentRecord, DataDeletion, Withdrawal
from prescriptions.models import Dossier, DossierPerson
from tests import access_matrix as m

pytestmark = [pytest.mark.django_db]


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    with m.seeded_demo(django_db_blocker, tmp_path_factory.mktemp("consent-api-media")) as seeded:
        yield seeded


@pytest.fixture(autouse=True)
def _demo_media(_plain_http, settings, demo):
    settings.MEDIA_ROOT = demo.extra["media"]  # the demo's scans are stored there


def api(demo, role: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {demo.tokens[role]}")


def reference(demo, target: str) -> str:
    return demo.references[demo.pk(target)]


def persons(demo, target: str) -> dict[str, DossierPerson]:
    return {
        p.relationship: p
        for p in DossierPerson.objects.filter(
            dossier_id=demo.pk(target), to_be_sequenced=True
        ).select_related("patient")
    }


def consents_url(ref: str) -> str:
    return f"/api/v1/dossiers/{ref}/consents/"


def person_url(ref: str, person: DossierPerson, what: str) -> str:
    return f"/api/v1/dossiers/{ref}/persons/{person.pk}/{what}/"


def scan() -> SimpleUploadedFile:
    return SimpleUploadedFile("formulaire.pdf", DEMO_SCAN, content_type="application/pdf")


def form(entry: dict, collector: str, **overrides) -> dict:
    """The consents page's form as a client fills it, from what ``GET …/consents/`` says of the person."""
    minor = entry["audience"] == "minor"
    data = {
        "template_version": entry["suggested_template_version"],
        "person_status": "minor" if minor else "adult",
        "signed_by_person": "false" if minor else "true",
        "parent_signatory_1": "Sarah DURAND" if minor else "",
        "person_agreement": "given" if minor else "not_applicable",
        "analysis_accepted": "true",
        "additional_findings": "yes",
        "research_reuse": "accepts",
        "relatives_information": "doctor",
        "signed_on": timezone.localdate().isoformat(),
        "collected_by": collector,
        "scan": scan(),
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def research_families(demo) -> set[tuple[str, str]]:
    """(family pseudonym, relationship) of every record of the research export, as the data centre reads it."""
    response = api(demo, "admin").get("/api/v1/research-export/")
    assert response.status_code == 200, response.content
    assert response.json()["next"] is None  # the demo's cohort fits one page
    rows = response.json()["results"]
    assert {(r["family"], r["relationship"]) for r in export_rows()} == {
        (r["family"], r["relationship"]) for r in rows
    }
    return {(r["family"], r["relationship"]) for r in rows}


def by_relationship(body: dict) -> dict[str, dict]:
    return {p["relationship"]: p for p in body["persons"]}


def test_the_prescriber_records_each_persons_consent_and_an_objection_to_research_is_honoured(demo):
    target = "paris.rcp_validated"
    ref, dossier_pk = reference(demo, target), demo.pk(target)
    client = api(demo, "prescriber")
    page = client.get(consents_url(ref))
    assert page.status_code == 200, page.content
    body = page.json()
    assert body["status"] == "rcp_validated" and body["open"] is True
    assert "prescriber" in body["collectors"]
    entries = by_relationship(body)
    assert set(entries) == {"index", "mother", "father"}  # the demo's trio, none of them consented yet
    assert all(e["consent"] is None for e in entries.values()) and len(body["missing"]) == 3
    version_ids = {v["id"] for v in body["form_versions"]}
    assert all(e["suggested_template_version"] in version_ids for e in entries.values())

    family = persons(demo, target)
    for relationship, entry in entries.items():
        objection = "objects" if relationship == "mother" else "accepts"
        response = client.post(
            person_url(ref, family[relationship], "consents"),
            form(entry, "prescriber", research_reuse=objection),
        )
        assert response.status_code == 201, response.content
    body = response.json()
    assert body["missing"] == []
    entries = by_relationship(body)
    mother = entries["mother"]["consent"]
    assert mother["research_reuse"] == "objects" and mother["effective_research_reuse"] == "objects"
    assert mother["research_objection"] is True and mother["accepts_analysis"] is True
    assert mother["collected_by"] == "prescriber" and mother["has_scan"] is True
    assert [e["consent"]["research_objection"] for r, e in entries.items() if r != "mother"] == [False, False]
    stored = ConsentRecord.objects.get(person=family["mother"])
    assert stored.research_reuse == "objects" and stored.recorded_by.username == "prescriber"
    # The scan comes back as it was sent; the pre-filled form carries the dossier's reference.
    scan_response = client.get(person_url(ref, family["mother"], "signed-consent"))
    assert scan_response.status_code == 200 and scan_response["Content-Type"] == "application/pdf"
    assert b"".join(scan_response.streaming_content) == DEMO_SCAN
    assert scan_response["Cache-Control"] == "private, no-store"
    # Recorded in the trail as a download of that person's data, not of the whole family's (the model by its
    # label: the apps never import the audit app).
    trail = apps.get_model("audit.AuditEntry").objects.get(
        path=person_url(ref, family["mother"], "signed-consent")
    )
    assert (trail.action, trail.dossier_reference, trail.actor_username) == (
        "download",
        ref,
        "prescriber",
    )
    assert trail.patient_id_list == [family["mother"].patient_id]
    form_pdf = client.get(person_url(ref, family["index"], "consent-form"))
    assert form_pdf.status_code == 200 and form_pdf["Content-Type"] == "application/pdf"
    assert ref in form_pdf["Content-Disposition"]

    # Finalised through the API, the dossier's persons go to research: the mother never.
    finalised = client.post(
        f"/api/v1/dossiers/{ref}/transitions/finalise/", {}, content_type="application/json"
    )
    assert finalised.status_code == 200, finalised.content
    assert finalised.json()["status"] == "finalised"
    family_pseudonym = keyed_pseudonym("dossier", dossier_pk)
    exported = {r for f, r in research_families(demo) if f == family_pseudonym}
    assert exported == {"index", "father"}
    assert family["mother"].pk not in {p.pk for p in selectors.research_cohort()}
    # And the API still shows the objection, now and on the dossier's consents page.
    again = by_relationship(client.get(f"/api/v1/dossiers/{ref}/consents/").json())
    assert again["mother"]["consent"]["research_objection"] is True


def test_a_partial_then_a_full_withdrawal_through_the_api(demo):
    target = "paris.samples_shipped"  # a trio
    ref, dossier_pk = reference(demo, target), demo.pk(target)
    family, client = persons(demo, target), api(demo, "prescriber")
    family_pseudonym = keyed_pseudonym("dossier", dossier_pk)
    assert {r for f, r in research_families(demo) if f == family_pseudonym} == set(family)

    # The father objects to research after signing: out of the export, the dossier goes on.
    response = client.post(
        person_url(ref, family["father"], "withdrawal"),
        {"scope": "research", "withdrawn_on": timezone.localdate().isoformat(), "reason": "Courrier reçu."},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    father = by_relationship(response.json())["father"]["consent"]
    assert father["research_reuse"] == "accepts" and father["effective_research_reuse"] == "objects"
    assert father["research_objection"] is True and [w["scope"] for w in father["withdrawals"]] == [
        "research"
    ]
    assert response.json()["status"] == "samples_shipped"
    assert {r for f, r in research_families(demo) if f == family_pseudonym} == set(family) - {"father"}

    # The index case withdraws everything, through the transitions endpoint: what the withdrawal page does.
    withdrawn = client.post(
        f"/api/v1/dossiers/{ref}/transitions/withdraw/",
        {
            "person_id": family["index"].pk,
            "withdrawn_on": timezone.localdate().isoformat(),
            "reason": "Retrait exprimé en consultation.",
        },
        content_type="application/json",
    )
    assert withdrawn.status_code == 200, withdrawn.content
    assert withdrawn.json()["status"] == "withdrawn"
    assert Withdrawal.objects.filter(consent__person=family["index"], scope="all").exists()
    assert DataDeletion.objects.filter(dossier_id=dossier_pk).exists()
    assert not {r for f, r in research_families(demo) if f == family_pseudonym}
    shown = client.get(consents_url(ref)).json()
    assert shown["open"] is False
    index = by_relationship(shown)["index"]["consent"]
    assert index["fully_withdrawn"] is True and index["accepts_analysis"] is False
    assert index["research_objection"] is True


def test_a_full_withdrawal_from_the_persons_endpoint_withdraws_the_dossier(demo):
    target = "lyon.finalised"
    ref = reference(demo, target)
    index = persons(demo, target)["index"]
    response = api(demo, demo.facts[target].prescriber).post(
        person_url(ref, index, "withdrawal"),
        {"scope": "all", "withdrawn_on": timezone.localdate().isoformat(), "reason": "Demande écrite."},
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "withdrawn"
    assert Dossier.objects.get(pk=demo.pk(target)).status == "withdrawn"
    assert selectors.research_cohort().filter(dossier_id=demo.pk(target)).count() == 0


def refused(demo, role: str, method: str, url: str, status: int, data=None, **kwargs):
    """A request refused with ``status`` that changed nothing in the database."""
    before = m.fingerprint()
    client = api(demo, role)
    response = client.get(url) if method == "GET" else client.post(url, data or {}, **kwargs)
    assert response.status_code == status, (
        f"{role} {method} {url}: {response.status_code} {response.content!r}"
    )
    assert m.changed_tables(before, m.fingerprint()) == [], f"{role} {method} {url} changed the database"
    return response


def test_who_does_not_care_for_the_dossier_is_refused_and_nothing_changes(demo):
    ref = reference(demo, "paris.finalised")
    index = persons(demo, "paris.finalised")["index"]
    urls = {
        "GET": [
            consents_url(ref),
            person_url(ref, index, "consent-form"),
            person_url(ref, index, "signed-consent"),
        ],
        "POST": [person_url(ref, index, "consents"), person_url(ref, index, "withdrawal")],
    }
    withdrawal = {"scope": "all", "withdrawn_on": timezone.localdate().isoformat(), "reason": "Retrait."}
    # The laboratory and the RCP see the dossier, never its consents: 403, as on the pages.
    for role in ("lab_seqoia", "biologist_seqoia", "coordinator"):
        for method, found in urls.items():
            for url in found:
                response = refused(demo, role, method, url, 403, withdrawal)
                assert "équipe qui prend en charge" in response.json()["detail"]
        response = refused(
            demo,
            role,
            "POST",
            f"/api/v1/dossiers/{ref}/transitions/withdraw/",
            403,
            {**withdrawal, "person_id": index.pk},
            content_type="application/json",
        )
        assert "prennent en charge le dossier" in response.json()["detail"]
    # Another prescriber does not see the dossier at all; a laboratory does not see a draft.
    for method, found in urls.items():
        for url in found:
            refused(demo, "prescriber2", method, url, 404, withdrawal)
    draft = reference(demo, "paris.draft")
    refused(demo, "lab_seqoia", "GET", consents_url(draft), 404)
    # The assistant cares for the dossier but may not stop it.
    response = refused(
        demo,
        "assistant",
        "POST",
        f"/api/v1/dossiers/{ref}/transitions/withdraw/",
        403,
        {**withdrawal, "person_id": index.pk},
        content_type="application/json",
    )
    assert "Un retrait complet arrête le dossier" in response.json()["detail"]
    assert Dossier.objects.get(reference=ref).status == "finalised"


def test_an_incomplete_or_repeated_consent_is_refused_with_the_pages_message_and_nothing_changes(demo):
    target = "paris.rcp_validated"
    ref, family = reference(demo, target), persons(demo, target)
    client = api(demo, "prescriber")
    entry = by_relationship(client.get(consents_url(ref)).json())["index"]
    url = person_url(ref, family["index"], "consents")

    response = refused(demo, "prescriber", "POST", url, 400, form(entry, "prescriber", scan=None))
    assert "Joignez le formulaire signé numérisé" in response.json()["scan"][0]
    response = refused(
        demo,
        "prescriber",
        "POST",
        url,
        400,
        form(entry, "prescriber", signed_on=None, analysis_accepted=None),
    )
    assert response.json()["signed_on"] == ["Indiquez la date de signature."]
    assert "accepte l'analyse" in response.json()["analysis_accepted"][0]
    # A collector who could not have collected it, a version of another situation: refused before the service.
    response = refused(demo, "prescriber", "POST", url, 400, form(entry, "lab_seqoia"))
    assert "ne peut pas avoir recueilli ce consentement" in response.json()["collected_by"][0]
    # JSON without the scan: the same message as the page's.
    data = form(entry, "prescriber", scan=None)
    response = refused(demo, "prescriber", "POST", url, 400, data, content_type="application/json")
    assert "Joignez le formulaire signé numérisé" in response.json()["scan"][0]
    # A person of another dossier is unknown here.
    stranger = persons(demo, "paris.finalised")["index"]
    refused(demo, "prescriber", "POST", person_url(ref, stranger, "consents"), 404, form(entry, "prescriber"))
    # A consent already recorded is not recorded twice: a change is a withdrawal.
    finalised = persons(demo, "paris.finalised")["index"]
    response = refused(
        demo,
        "prescriber",
        "POST",
        person_url(reference(demo, "paris.finalised"), finalised, "consents"),
        400,
        form(entry, "prescriber"),
    )
    assert "déjà enregistré" in response.json()["detail"]
    # A withdrawal without its date and circumstances; a full one of a person without a consent.
    response = refused(
        demo,
        "prescriber",
        "POST",
        person_url(reference(demo, "paris.finalised"), finalised, "withdrawal"),
        400,
        {"scope": "all"},
    )
    assert response.json()["withdrawn_on"] == ["Indiquez la date du retrait."]
    assert "circonstances" in response.json()["reason"][0]
    refused(demo, "prescriber", "POST", person_url(ref, family["index"], "withdrawal"), 404, {"scope": "all"})
    response = refused(
        demo,
        "prescriber",
        "POST",
        f"/api/v1/dossiers/{ref}/transitions/withdraw/",
        400,
        {"person_id": family["index"].pk, "withdrawn_on": timezone.localdate().isoformat(), "reason": "x"},
        content_type="application/json",
    )
    assert "Aucun consentement" in response.json()["detail"]
    response = refused(
        demo,
        "prescriber",
        "POST",
        f"/api/v1/dossiers/{ref}/transitions/withdraw/",
        400,
        {"reason": "Motif."},
        content_type="application/json",
    )
    assert "Indiquez la personne" in response.json()["detail"]


def test_a_retried_consent_with_its_idempotency_key_is_recorded_once(demo):
    target = "paris.rcp_validated"
    ref, index = reference(demo, target), persons(demo, target)["index"]
    client = api(demo, "prescriber")
    entry = by_relationship(client.get(consents_url(ref)).json())["index"]
    url = person_url(ref, index, "consents")
    first = client.post(url, form(entry, "prescriber"), HTTP_IDEMPOTENCY_KEY="consent-index-1")
    assert first.status_code == 201, first.content
    retry = client.post(url, form(entry, "prescriber"), HTTP_IDEMPOTENCY_KEY="consent-index-1")
    assert retry.status_code == 201 and retry["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json()
    assert ConsentRecord.objects.filter(person=index).count() == 1
