"""The FHIR R4 export of a dossier: every demo dossier's Bundle is valid R4B and self-contained, the mapping says
what the dossier says (trio, INS, HPO, ORPHA, consent and research objection, samples, RCP decision, signed report
and its signature), and the routes answer exactly as the API's scope says.

The demo is seeded once for the module (inside a transaction rolled back at the end), with two additions made
through the services: a draft whose index case has an INS and an ORPHA hypothesis, and a research objection."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle

from audit.models import AuditEntry, Source
from consent.models import ConsentRecord, Withdrawal
from consent.selectors import research_cohort
from consent.services import record_withdrawal
from interop.bundle import (
    FINESS,
    HPO,
    INS_NIR,
    ORPHA,
    RPPS,
    dossier_bundle,
    dossier_for_export,
    pre_indication_system,
)
from interop.views import RESOURCE_TYPES
from labs.models import Report
from ontology.models import OrphaDisease
from people.models import User
from people.services import issue_api_token
from prescriptions import drafting
from prescriptions.models import Dossier, DossierPerson, PreIndication
from prescriptions.services import create_dossier
from tests.access_matrix import seeded_demo

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_module_media")]

BASE = "http://testserver/fhir/r4"
INS = "215037511234567"


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    with seeded_demo(django_db_blocker, tmp_path_factory.mktemp("fhir-media")) as seeded:
        users = seeded.users
        seeded.extra["ins_dossier"] = _ins_dossier(users["prescriber"])
        seeded.extra["objector"] = _research_objection(users["prescriber"])
        yield seeded


@pytest.fixture
def _module_media(settings, request):
    # The files seeded with the demo (signed reports, scans) live where the module fixture put them.
    if "demo" in request.fixturenames:
        settings.MEDIA_ROOT = request.getfixturevalue("demo").extra["media"]


def _ins_dossier(prescriber: User) -> Dossier:
    """A trio draft whose index case has an INS, whose mother uses another name, with an ORPHA hypothesis."""
    version = PreIndication.objects.get(slug="deficience-intellectuelle").current_version()
    assert version is not None
    dossier = create_dossier(prescriber=prescriber, entered_by=prescriber, pre_indication_version=version)
    drafting.save_index_case(
        dossier=dossier,
        actor=prescriber,
        identity={
            "birth_name": "LAMBERT",
            "first_names": "Zoé Marie Anne",
            "date_of_birth": dt.date(2019, 4, 2),
            "sex": "F",
            "ins": INS,
        },
        affected=DossierPerson.Affected.AFFECTED,
    )
    drafting.save_family(
        dossier=dossier,
        actor=prescriber,
        structure="trio",
        relatives=[
            drafting.Relative(
                relationship=DossierPerson.Relationship.MOTHER,
                affected=DossierPerson.Affected.UNAFFECTED,
                identity={
                    "birth_name": "FAURE",
                    "used_name": "LAMBERT",
                    "first_names": "Inès",
                    "date_of_birth": dt.date(1988, 1, 1),
                    "sex": "F",
                },
            ),
            drafting.Relative(
                relationship=DossierPerson.Relationship.FATHER,
                affected=DossierPerson.Affected.UNAFFECTED,
                identity={
                    "birth_name": "LAMBERT",
                    "first_names": "Marc",
                    "date_of_birth": dt.date(1986, 6, 6),
                    "sex": "M",
                },
            ),
        ],
    )
    drafting.save_clinical_picture(
        dossier=dossier,
        actor=prescriber,
        phenotypes=[("HP:0001249", True), ("HP:0000252", False)],
        age_at_onset="infantile",
        summary="Retard global du développement.",
        prior_tests=[],
        suspected_diagnosis=OrphaDisease.objects.order_by("pk").first(),
    )
    dossier.refresh_from_db()
    return dossier


def _research_objection(prescriber: User) -> DossierPerson:
    """The mother of one of the prescriber's trio dossiers whose samples are shipped objects to research reuse (a
    withdrawal of that part, recorded through the consent service)."""
    consent = (
        ConsentRecord.objects.filter(
            person__dossier__prescriber=prescriber,
            person__dossier__status=Dossier.Status.SAMPLES_SHIPPED,
            person__relationship=DossierPerson.Relationship.MOTHER,
        )
        .select_related("person")
        .order_by("pk")
        .first()
    )
    assert consent is not None
    record_withdrawal(
        consent=consent,
        actor=prescriber,
        scope=Withdrawal.Scope.RESEARCH,
        withdrawn_on=timezone.localdate(),
        reason="Opposition écrite reçue en consultation.",
    )
    return consent.person


# --- helpers ---------------------------------------------------------------------------------------------------


def references_in(node) -> list[str]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                found.append(value)
            else:
                found += references_in(value)
    elif isinstance(node, list):
        for value in node:
            found += references_in(value)
    return found


def empty_values(node, path: str = "") -> list[str]:
    """Where ``node`` holds an empty string, list or object, which FHIR JSON forbids."""
    if node in ("", [], {}):
        return [path]
    if isinstance(node, dict):
        return [p for key, value in node.items() for p in empty_values(value, f"{path}.{key}")]
    if isinstance(node, list):
        return [p for i, value in enumerate(node) for p in empty_values(value, f"{path}[{i}]")]
    return []


def resources(bundle: dict, resource_type: str) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type]


def by_url(bundle: dict) -> dict[str, dict]:
    return {e["fullUrl"]: e["resource"] for e in bundle["entry"]}


def person_url(dossier: Dossier, person: DossierPerson, resource_type: str = "Patient") -> str:
    return f"{BASE}/{resource_type}/{dossier.reference}.person-{person.pk}"


def bundle_as(demo, username: str, dossier: Dossier) -> dict:
    return dossier_bundle(dossier, user=demo.users[username], base=BASE)


def token_client(user: User) -> Client:
    _token, clear = issue_api_token(user=user)
    return Client(HTTP_AUTHORIZATION=f"Token {clear}")


def dossier(demo, key: str) -> Dossier:
    return Dossier.objects.get(pk=demo.pks[key])


# --- the Bundle ------------------------------------------------------------------------------------------------


def check_bundle(bundle: dict, each: Dossier) -> None:
    """Valid for fhir.resources' R4B models, every reference resolved inside, no empty value, ids as said."""
    Bundle.model_validate(bundle)
    urls = {e["fullUrl"] for e in bundle["entry"]}
    assert len(urls) == len(bundle["entry"]), f"{each.reference}: two entries share a fullUrl"
    assert not empty_values(bundle), f"{each.reference}: empty values at {empty_values(bundle)}"
    dangling = [r for r in references_in(bundle) if r not in urls]
    assert not dangling, f"{each.reference}: references outside the Bundle: {dangling}"
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert entry["fullUrl"] == f"{BASE}/{resource['resourceType']}/{resource['id']}"
        assert len(resource["id"]) <= 64 and resource["id"].startswith(f"{each.reference}.")
    assert bundle["type"] == "collection" and bundle["identifier"]["value"] == each.reference
    # one ServiceRequest per sequenced person, all of one requisition: the dossier
    sequenced = each.persons.filter(to_be_sequenced=True).count()
    requests = resources(bundle, "ServiceRequest")
    assert len(requests) == sequenced
    assert {r["requisition"]["value"] for r in requests} <= {each.reference}


def test_every_demo_dossier_is_a_valid_self_contained_bundle(demo):
    dossiers = list(Dossier.objects.order_by("pk"))
    assert len(dossiers) >= 30
    for each in dossiers:
        check_bundle(bundle_as(demo, "admin", each), each)


@pytest.mark.parametrize("username", ["prescriber2", "lab_seqoia", "coordinator"])
def test_every_bundle_a_role_may_export_is_valid_without_what_it_may_not_see(demo, username):
    user = demo.users[username]
    exported = 0
    for each in Dossier.objects.order_by("pk"):
        try:
            visible = dossier_for_export(user, each.reference)
        except Dossier.DoesNotExist:
            continue
        bundle = dossier_bundle(visible, user=user, base=BASE)
        check_bundle(bundle, each)
        if username != "prescriber2":
            assert resources(bundle, "Consent") == []
        exported += 1
    assert exported >= 5


def test_a_bundle_costs_the_same_queries_whatever_the_family(demo):
    solo, trio = dossier(demo, "paris.report_delivered"), dossier(demo, "paris.closed")
    assert solo.persons.count() == 1 and trio.persons.count() == 3
    counts = []
    for each in (solo, trio):
        user = User.objects.get(username="prescriber")  # a fresh user: its memberships read in both counts
        with CaptureQueriesContext(connection) as queries:
            dossier_bundle(dossier_for_export(user, each.reference), user=user, base=BASE)
        counts.append(len(queries))
    for_solo, for_trio = counts
    assert for_solo == for_trio <= 12


def test_the_same_dossier_gives_the_same_ids(demo):
    each = dossier(demo, "paris.closed")
    first, second = bundle_as(demo, "prescriber", each), bundle_as(demo, "prescriber", each)
    assert [e["fullUrl"] for e in first["entry"]] == [e["fullUrl"] for e in second["entry"]]


def test_a_trio_has_three_requests_of_one_requisition_and_the_parents_as_related_persons(demo):
    trio = dossier(demo, "paris.samples_shipped")
    assert trio.family_structure == "trio"
    bundle = bundle_as(demo, "prescriber", trio)
    requests = resources(bundle, "ServiceRequest")
    assert len(requests) == 3
    assert {(r["requisition"]["system"], r["requisition"]["value"]) for r in requests} == {
        ("https://pfmg.example/fhir/dossier", trio.reference)
    }
    assert all(r["requisition"]["type"]["coding"][0]["code"] == "PGN" for r in requests)
    slug = trio.pre_indication_version.pre_indication.slug
    assert all(
        r["code"]["coding"][0] == {**r["code"]["coding"][0], "system": pre_indication_system(), "code": slug}
        for r in requests
    )
    assert {r["status"] for r in requests} == {"active"}
    laboratory = by_url(bundle)[requests[0]["performer"][0]["reference"]]
    assert laboratory["resourceType"] == "Organization" and laboratory["name"] == trio.laboratory.name
    persons = {p.relationship: p for p in trio.persons.all()}
    index = person_url(trio, persons["index"])
    related = resources(bundle, "RelatedPerson")
    codes = {r["relationship"][0]["coding"][0]["code"]: r for r in related}
    assert set(codes) == {"NMTH", "NFTH"}
    assert all(r["patient"]["reference"] == index for r in related)
    assert codes["NMTH"]["id"] == f"{trio.reference}.person-{persons['mother'].pk}"
    mother_request = next(
        r for r in requests if r["subject"]["reference"] == person_url(trio, persons["mother"])
    )
    assert mother_request["supportingInfo"] == [
        {"reference": person_url(trio, persons["mother"], "RelatedPerson")}
    ]
    # the prescriber: RPPS, working at an establishment known by its FINESS
    role = by_url(bundle)[requests[0]["requester"]["reference"]]
    practitioner = by_url(bundle)[role["practitioner"]["reference"]]
    organization = by_url(bundle)[role["organization"]["reference"]]
    assert practitioner["identifier"][0] == {
        **practitioner["identifier"][0],
        "system": RPPS,
        "value": "10000000001",
    }
    assert organization["identifier"][0]["system"] == FINESS
    assert organization["identifier"][0]["value"] == trio.establishment.finess
    # its samples: one Specimen per tube, barcode and tracking number
    specimens = resources(bundle, "Specimen")
    assert len(specimens) == 3
    assert specimens and all(
        {i.get("type", {}).get("coding", [{}])[0].get("code") for i in s["identifier"]} >= {"STN"}
        for s in specimens
    )


def test_a_patient_with_an_ins_follows_fr_core(demo):
    draft = demo.extra["ins_dossier"]
    bundle = bundle_as(demo, "prescriber", draft)
    persons = {p.relationship: p for p in draft.persons.all()}
    patient = by_url(bundle)[person_url(draft, persons["index"])]
    assert patient["meta"]["profile"] == [
        "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient-ins"
    ]
    (ins,) = patient["identifier"]
    assert ins["system"] == INS_NIR and ins["value"] == INS
    assert ins["type"]["coding"][0]["code"] == "INS-NIR"
    (official,) = patient["name"]
    assert official["use"] == "official" and official["family"] == "LAMBERT" and official["given"] == ["Zoé"]
    assert official["extension"][0]["valueString"] == "Zoé Marie Anne"
    assert patient["gender"] == "female" and patient["birthDate"] == "2019-04-02"
    mother = by_url(bundle)[person_url(draft, persons["mother"])]
    assert "identifier" not in mother
    assert mother["meta"]["profile"] == ["https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-patient"]
    assert [(n["use"], n["family"]) for n in mother["name"]] == [("official", "FAURE"), ("usual", "LAMBERT")]
    father = by_url(bundle)[person_url(draft, persons["father"])]
    assert [n["use"] for n in father["name"]] == ["official"]  # the used name, when the same, is not repeated
    # a draft: its requests are drafts; the ORPHA hypothesis is a provisional Condition
    assert {r["status"] for r in resources(bundle, "ServiceRequest")} == {"draft"}
    (condition,) = resources(bundle, "Condition")
    assert condition["verificationStatus"]["coding"][0]["code"] == "provisional"
    code = condition["code"]["coding"][0]
    assert code["system"] == ORPHA and code["code"] == draft.suspected_diagnosis_id.removeprefix("ORPHA:")
    assert code["code"].isdigit()
    index_request = next(
        r
        for r in resources(bundle, "ServiceRequest")
        if r["subject"]["reference"] == patient_url(draft, persons)
    )
    assert index_request["reasonReference"] == [{"reference": f"{BASE}/Condition/{condition['id']}"}]


def patient_url(draft, persons):
    return person_url(draft, persons["index"])


def test_phenotypes_are_hpo_observations_present_or_absent(demo):
    each = dossier(demo, "paris.submitted")
    bundle = bundle_as(demo, "prescriber", each)
    observations = resources(bundle, "Observation")
    values = {
        o["code"]["coding"][0]["code"]: o["valueCodeableConcept"]["coding"][0]["code"] for o in observations
    }
    assert values == {
        "HP:0001249": "LA9633-4",
        "HP:0001250": "LA9633-4",
        "HP:0001263": "LA9633-4",
        "HP:0000252": "LA9634-2",
    }
    for observation in observations:
        assert observation["code"]["coding"][0]["system"] == HPO
        assert observation["valueCodeableConcept"]["coding"][0]["system"] == "http://loinc.org"
        assert observation["category"][0]["coding"][0]["code"] == "exam"
        assert observation["status"] == "final"
    index = each.persons.get(relationship="index")
    index_request = next(
        r for r in resources(bundle, "ServiceRequest") if r["subject"]["reference"] == person_url(each, index)
    )
    assert {r["reference"] for r in index_request["supportingInfo"]} == {
        f"{BASE}/Observation/{o['id']}" for o in observations
    }


def test_the_rcp_decision_is_a_completed_approve_task(demo):
    each = dossier(demo, "paris.rcp_validated")
    (task,) = resources(bundle_as(demo, "prescriber", each), "Task")
    assert task["status"] == "completed"
    assert task["code"]["coding"][0] == {
        "system": "http://hl7.org/fhir/CodeSystem/task-code",
        "code": "approve",
        "display": "Activate/approve the focal resource",
    }
    assert task["businessStatus"]["coding"][0]["code"] == "validate"
    assert task["focus"]["reference"] == person_url(
        each, each.persons.get(relationship="index"), "ServiceRequest"
    )


def test_the_signed_report_carries_its_pdf_and_a_provenance_with_the_signature(demo):
    each = dossier(demo, "paris.report_delivered")
    report = Report.objects.get(dossier=each, signed_at__isnull=False)
    bundle = bundle_as(demo, "prescriber", each)
    (diagnostic,) = resources(bundle, "DiagnosticReport")
    assert diagnostic["status"] == "final"
    (form,) = diagnostic["presentedForm"]
    assert form["contentType"] == "application/pdf"
    with default_storage.open(report.document.name, "rb") as stored:
        signed = stored.read()
    assert report.signed_file and base64.b64decode(form["data"]) == signed
    assert signed.startswith(b"%PDF")
    # R4B models take the base64 string and give the same bytes back
    parsed = Bundle.model_validate(bundle)
    entry = next(e for e in parsed.entry if e.resource.get_resource_type() == "DiagnosticReport")
    assert entry.resource.presentedForm[0].data == signed
    assert {r["reference"] for r in diagnostic["basedOn"]} == {
        f"{BASE}/ServiceRequest/{r['id']}" for r in resources(bundle, "ServiceRequest")
    }
    (provenance,) = resources(bundle, "Provenance")
    assert provenance["target"] == [{"reference": f"{BASE}/DiagnosticReport/{diagnostic['id']}"}]
    (signature,) = provenance["signature"]
    assert dt.datetime.fromisoformat(signature["when"]) == report.signed_at
    biologist_role = by_url(bundle)[signature["who"]["reference"]]
    assert (
        by_url(bundle)[biologist_role["practitioner"]["reference"]]["name"][0]["family"]
        == report.signed_by.last_name
    )
    assert diagnostic["resultsInterpreter"] == [signature["who"]]
    assert provenance["agent"][0]["who"] == signature["who"]
    assert by_url(bundle)[biologist_role["organization"]["reference"]]["name"] == each.laboratory.name


def test_an_objection_to_research_is_never_a_research_permit(demo):
    objector = demo.extra["objector"]
    each = objector.dossier
    assert objector not in research_cohort()
    bundle = bundle_as(demo, "prescriber", each)
    consents = resources(bundle, "Consent")
    mine = [c for c in consents if c["patient"]["reference"] == person_url(each, objector)]
    scopes = {c["scope"]["coding"][0]["code"]: c for c in mine}
    assert set(scopes) == {"treatment", "research"}
    assert scopes["research"]["provision"]["type"] == "deny"
    assert scopes["treatment"]["provision"]["type"] == "permit"
    # the others of the family did not object: the research export takes them, and so does their Consent
    others = [c for c in consents if c not in mine and c["scope"]["coding"][0]["code"] == "research"]
    assert len(others) == 2 and {c["provision"]["type"] for c in others} == {"permit"}
    # a withdrawn dossier: no research permit for anyone
    withdrawn = bundle_as(demo, "prescriber", dossier(demo, "paris.withdrawn"))
    research = [c for c in resources(withdrawn, "Consent") if c["scope"]["coding"][0]["code"] == "research"]
    assert research and {c["provision"]["type"] for c in research} == {"deny"}
    assert {
        c["status"] for c in resources(withdrawn, "Consent") if c["scope"]["coding"][0]["code"] == "treatment"
    } == {"inactive"}


def test_consents_only_to_those_who_care_for_the_dossier(demo):
    each = dossier(demo, "paris.finalised")
    assert resources(bundle_as(demo, "prescriber", each), "Consent")
    assert resources(bundle_as(demo, "counsellor", each), "Consent")
    assert resources(bundle_as(demo, "lab_seqoia", each), "Consent") == []
    assert resources(bundle_as(demo, "coordinator", each), "Consent") == []


# --- the routes ------------------------------------------------------------------------------------------------


def test_the_bundle_route_answers_fhir_json_with_a_token_or_a_session(demo):
    each = dossier(demo, "paris.closed")
    url = f"/fhir/r4/Bundle/{each.reference}"
    response = token_client(demo.users["prescriber"]).get(url, HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/fhir+json"
    bundle = response.json()
    Bundle.model_validate(bundle)
    assert bundle["entry"][0]["fullUrl"].startswith("http://testserver/fhir/r4/")
    session = Client()
    session.force_login(demo.users["prescriber"])
    assert session.get(url).json()["id"] == each.reference
    # the same words whatever language the client asks for
    english = token_client(demo.users["prescriber"]).get(url, HTTP_ACCEPT_LANGUAGE="en").json()
    assert [e["resource"] for e in english["entry"]] == [e["resource"] for e in bundle["entry"]]
    assert {r["relationship"][0]["text"] for r in resources(english, "RelatedPerson")} == {"Mère", "Père"}
    entry = AuditEntry.objects.filter(url_name="fhir:bundle", actor_username="prescriber").latest("seq")
    assert entry.source == Source.API and entry.dossier_reference == each.reference


def refusal(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/fhir+json"
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["code"] == code


def test_the_routes_answer_as_the_api_scope_says(demo):
    mine = dossier(demo, "paris.finalised")
    url = f"/fhir/r4/Bundle/{mine.reference}"
    patient = f"/fhir/r4/Patient/{mine.reference}.person-{mine.persons.get(relationship='index').pk}"
    refusal(token_client(demo.users["prescriber2"]).get(url), 404, "not-found")
    refusal(token_client(demo.users["prescriber2"]).get(patient), 404, "not-found")
    refusal(token_client(demo.users["national"]).get(url), 404, "not-found")
    anonymous = Client().get(url)
    refusal(anonymous, 401, "login")
    assert anonymous["WWW-Authenticate"] == "Token"
    refusal(Client(HTTP_AUTHORIZATION="Token nope").get(patient), 401, "login")
    # the laboratory sees its dossier, but never the persons of one withdrawn
    lab = token_client(demo.users["lab_seqoia"])
    assert lab.get(url).status_code == 200
    withdrawn = dossier(demo, "paris.withdrawn")
    assert withdrawn.laboratory.code == "seqoia"
    refusal(lab.get(f"/fhir/r4/Bundle/{withdrawn.reference}"), 404, "not-found")
    index = withdrawn.persons.get(relationship="index")
    refusal(lab.get(f"/fhir/r4/Patient/{withdrawn.reference}.person-{index.pk}"), 404, "not-found")
    assert (
        token_client(demo.users["prescriber"]).get(f"/fhir/r4/Bundle/{withdrawn.reference}").status_code
        == 200
    )


@pytest.mark.parametrize(
    "path",
    [
        "Bundle/PFMG-0000-000000",
        "Bundle/nothing/at/all",
        "Unknown/PFMG-2026-000001.person-1",
        "Patient/no-dot",
        "Patient/PFMG-0000-000000.person-1",
        "Patient/..",
        "Bundle/%C3%A9",
    ],
)
def test_odd_addresses_are_a_not_found_outcome(demo, path):
    refusal(token_client(demo.users["admin"]).get(f"/fhir/r4/{path}"), 404, "not-found")


def test_every_resource_reads_alone_as_in_its_bundle(demo):
    client = token_client(demo.users["prescriber"])
    seen = set()
    for each in (dossier(demo, "paris.closed"), demo.extra["ins_dossier"]):
        bundle = client.get(f"/fhir/r4/Bundle/{each.reference}").json()
        for entry in bundle["entry"]:
            resource = entry["resource"]
            response = client.get(entry["fullUrl"].removeprefix("http://testserver"))
            assert response.status_code == 200, entry["fullUrl"]
            assert response["Content-Type"] == "application/fhir+json"
            assert response.json() == resource
            seen.add(resource["resourceType"])
    assert seen == set(RESOURCE_TYPES)


def test_a_resource_of_another_dossier_is_not_found_under_this_one(demo):
    mine, other = dossier(demo, "paris.finalised"), dossier(demo, "paris.closed")
    person = other.persons.get(relationship="index")
    response = token_client(demo.users["prescriber"]).get(
        f"/fhir/r4/Patient/{mine.reference}.person-{person.pk}"
    )
    refusal(response, 404, "not-found")


def test_a_resource_read_is_audited_with_its_person_only(demo):
    each = dossier(demo, "paris.samples_shipped")
    mother = each.persons.get(relationship="mother")
    response = token_client(demo.users["prescriber"]).get(
        f"/fhir/r4/Patient/{each.reference}.person-{mother.pk}"
    )
    assert response.status_code == 200
    entry = AuditEntry.objects.filter(url_name="fhir:resource").latest("seq")
    assert entry.dossier_reference == each.reference and entry.source == Source.API
    assert entry.patient_ids == f",{mother.patient_id},"
