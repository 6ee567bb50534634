"""The whole journey through the API alone (issue #15): one new dossier, from nothing to a delivered report,
driven by the demo users with the tokens they obtain from ``POST /api/v1/auth/token/`` and by its laboratory's
machine account; at each stage, the refusals each role must get, with their message, changing nothing. The test
writes nothing itself: it reads the database only to check what the API did."""

from __future__ import annotations

import io
import re
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle

from consent.demo import DEMO_SCAN
from consent.models import ConsentRecord
from labs.demo import minimal_pdf
from labs.models import Report, Sample
from people.models import Laboratory, RcpBody
from people.services import issue_machine_token
from pfmg.demo import DEMO_PASSWORD, demo_totp_code
from prescriptions.models import Dossier, DossierEvent
from prescriptions.rules import REFUSAL_MESSAGES
from rcp.models import Decision, Meeting
from tests import access_matrix as m

pytestmark = [pytest.mark.django_db]

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
TOTP_STEP = 30  # seconds: django-otp's default TOTP step, the demo devices'


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    with m.seeded_demo(django_db_blocker, tmp_path_factory.mktemp("api-journey-media")) as seeded:
        yield seeded


@pytest.fixture(autouse=True)
def _demo_media(demo, settings):
    settings.MEDIA_ROOT = demo.extra["media"]


def obtain_token(username: str, *, at: float | None = None) -> Client:
    """A client holding the token ``username`` obtains from the endpoint, with the demo's second factor (ignored
    for the accounts that need none). ``at``: the moment whose TOTP code is sent (a code is accepted once per
    device: a user who must give one again later sends this one from the previous step)."""
    response = Client().post(
        "/api/v1/auth/token/",
        {"username": username, "password": DEMO_PASSWORD, "otp": demo_totp_code(at)},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    return Client(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")


def machine(code: str) -> Client:
    # A machine account has no password: its token is issued by the laboratory's administrators (the command,
    # the admin), never by the endpoint.
    _token, clear = issue_machine_token(laboratory=Laboratory.objects.get(code=code))
    return Client(HTTP_AUTHORIZATION=f"Token {clear}")


def send(client: Client, method: str, path: str, data=None, **extra):
    return getattr(client, method)(path, data or {}, content_type="application/json", **extra)


def url(ref: str, tail: str = "") -> str:
    return f"/api/v1/dossiers/{ref}/{tail}"


def transition(ref: str, name: str) -> str:
    return url(ref, f"transitions/{name}/")


# The published schema's operations, each path template as a pattern of the paths it names (read_schema).
DOCUMENTED: list[tuple[re.Pattern, dict]] = []


def read_schema(client: Client) -> None:
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    DOCUMENTED[:] = [
        (re.compile("^" + re.sub(r"\{[^}/]+\}", "[^/]+", template) + "$"), operations)
        for template, operations in schema.json()["paths"].items()
    ]


def documented_statuses(method: str, path: str) -> set[str]:
    assert DOCUMENTED, "read_schema first"
    for pattern, operations in DOCUMENTED:
        if pattern.match(path) and method in operations:
            return set(operations[method]["responses"])
    raise AssertionError(f"{method.upper()} {path} is not in the published schema")


def refused(client: Client, method: str, path: str, status: int, data=None, message: str = "", **extra):
    """``client``'s request answers ``status``, a status its operation documents, with a message (``message``
    in it when given) and changes nothing in the project's tables."""
    assert str(status) in documented_statuses(method, path), f"{status} undocumented for {method} {path}"
    # A token's use is stamped at most once a minute (people.services.record_api_token_use): a read first, so
    # that the stamp is not what the fingerprint sees.
    client.get("/api/v1/rcp-bodies/")  # answered or refused, the token is authenticated (and stamped)
    before = m.fingerprint()
    if method in ("get", "delete"):
        response = getattr(client, method)(path)
    elif "content_type" in extra:
        response = getattr(client, method)(path, data or {}, **extra)
    else:
        response = send(client, method, path, data, **extra)
    assert response.status_code == status, f"{method} {path}: {response.status_code} {response.content!r}"
    body = response.json()
    # The API's refusals say {"detail": …}; the FHIR export's, an OperationOutcome's diagnostics.
    detail = body["issue"][0]["diagnostics"] if path.startswith("/fhir/") else body.get("detail")
    assert detail, body
    assert message in detail, body
    assert m.changed_tables(before, m.fingerprint()) == [], f"{method} {path} changed the database"
    return response


def nir(sex: str, born: str) -> str:
    """A valid INS (NIR) for a sex ("1" male, "2" female) and a birth date (YYYY-MM-DD)."""
    base = f"{sex}{born[2:4]}{born[5:7]}75056456"
    return f"{base}{97 - int(base) % 97:02d}"


PERSONS = {
    "index": {
        "relationship": "index",
        "affected": "affected",
        "birth_name": "PARCOURSAPI",
        "first_names": "Lou",
        "date_of_birth": "2017-02-11",
        "sex": "F",
        "ins": nir("2", "2017-02-11"),
    },
    "mother": {
        "relationship": "mother",
        "affected": "unaffected",
        "birth_name": "MEREAPI",
        "used_name": "PARCOURSAPI",
        "first_names": "Nadia",
        "date_of_birth": "1986-03-20",
        "sex": "F",
    },
    "father": {
        "relationship": "father",
        "affected": "unaffected",
        "birth_name": "PARCOURSAPI",
        "first_names": "Yann",
        "date_of_birth": "1984-10-02",
        "sex": "M",
    },
}


def consent_form(entry: dict, *, objects: bool) -> dict:
    """The consent form as the prescriber fills it for a person, from what ``GET …/consents/`` says of them;
    ``objects``: the person objects to research reuse."""
    minor = entry["audience"] == "minor"
    data = {
        "template_version": entry["suggested_template_version"],
        "person_status": "minor" if minor else "adult",
        "signed_by_person": "false" if minor else "true",
        "person_agreement": "given" if minor else "not_applicable",
        "analysis_accepted": "true",
        "additional_findings": "yes",
        "research_reuse": "objects" if objects else "accepts",
        "relatives_information": "doctor",
        "signed_on": timezone.localdate().isoformat(),
        "collected_by": "prescriber",
        "scan": SimpleUploadedFile("formulaire.pdf", DEMO_SCAN, content_type="application/pdf"),
    }
    if minor:
        data["parent_signatory_1"] = "Nadia PARCOURSAPI"
    return data


def test_a_dossier_goes_from_a_draft_to_a_delivered_report_through_the_api_alone(demo):
    # The biologist gives a code twice (for the token, then to sign): the first from the previous step.
    assistant = obtain_token("assistant")
    prescriber = obtain_token("prescriber")
    prescriber2 = obtain_token("prescriber2")
    coordinator = obtain_token("coordinator")
    national = obtain_token("national")
    admin = obtain_token("admin")
    lab_seqoia = obtain_token("lab_seqoia")
    biologist = obtain_token("biologist_seqoia", at=time.time() - TOTP_STEP)
    read_schema(prescriber)

    # --- The draft: the assistant prepares it for the prescriber ---------------------------------------------
    slug = Dossier.objects.get(pk=demo.pk("paris.draft")).pre_indication_version.pre_indication.slug
    catalogue = assistant.get(f"/api/v1/pre-indications/{slug}/").json()
    version = catalogue["versions"][-1]
    created = send(
        assistant, "post", "/api/v1/dossiers/", {"pre_indication": slug, "prescriber": "prescriber"}
    )
    assert created.status_code == 201, created.content
    ref = created.json()["reference"]
    assert (created.json()["status"], created.json()["prescriber"], created.json()["entered_by"]) == (
        "draft",
        "prescriber",
        "assistant",
    )

    checklist = [{"criterion": c, "met": True, "justification": ""} for c in version["criteria"]]
    patched = send(assistant, "patch", url(ref), {"criteria_checklist": checklist})
    assert patched.status_code == 200, patched.content
    structure = (
        "trio" if not version["family_structures"] or "trio" in version["family_structures"] else "solo"
    )
    wanted = ("index", "mother", "father") if structure == "trio" else ("index",)
    for relationship in wanted:
        added = send(assistant, "post", url(ref, "persons/"), PERSONS[relationship])
        assert added.status_code == 201, added.content
    family = send(assistant, "patch", url(ref), {"family_structure": structure})
    assert family.status_code == 200, family.content
    picture = send(
        assistant,
        "put",
        url(ref, "phenotypes/"),
        {
            "phenotypes": [{"hpo": "HP:0001249", "present": True}, {"hpo": "HP:0001250", "present": True}],
            "prior_tests": [{"kind": "array_cgh", "performed_on": "2023-05-04", "result": "negative"}],
        },
    )
    assert picture.status_code == 200, picture.content
    clinical = send(
        assistant,
        "patch",
        url(ref),
        {
            "age_at_onset": "infantile",
            "clinical_summary": "Déficience intellectuelle et crises depuis la petite enfance.",
            "suspected_diagnosis": "ORPHA:558",
        },
    )
    assert clinical.status_code == 200, clinical.content
    # Each document the fiche requires, named by its id in the catalogue.
    required = [d for d in version["documents"] if d["required"]]
    for document in required:
        uploaded = assistant.post(
            url(ref, "documents/"),
            {"file": SimpleUploadedFile("compte-rendu.pdf", PDF), "expected": document["id"]},
        )
        assert uploaded.status_code == 201, uploaded.content
        assert uploaded.json()["label"] == document["label"]
    assert Dossier.objects.get(reference=ref).documents.count() == len(required)

    # Refusals on the draft: another prescriber and a laboratory do not know it, the national account sees
    # no dossier at all, the assistant may not submit.
    # The RCP-FMG the dossier may be submitted to, as the dossier's detail lists them while it is editable.
    rcp = RcpBody.objects.get(pk=prescriber.get(url(ref)).json()["allowed_rcps"][0]["id"])
    refused(prescriber2, "get", url(ref), 404)
    refused(prescriber2, "patch", url(ref), 404, {"clinical_summary": "Intrus."})
    refused(lab_seqoia, "get", url(ref), 404)
    assert national.get("/api/v1/dossiers/").json()["results"] == []
    refused(national, "get", url(ref), 404)
    refused(
        assistant,
        "post",
        transition(ref, "submit"),
        403,
        {"rcp": rcp.pk, "attest": True},
        message=str(REFUSAL_MESSAGES["submit"]),
    )
    handed = send(assistant, "post", url(ref, "hand-over/"))
    assert handed.status_code == 200, handed.content

    # --- The prescriber attests and submits -------------------------------------------------------------------
    submitted = send(prescriber, "post", transition(ref, "submit"), {"rcp": rcp.pk, "attest": True})
    assert submitted.status_code == 200, submitted.content
    assert (submitted.json()["status"], submitted.json()["rcp"]) == ("submitted", rcp.pk)

    # --- The RCP: a meeting (created once though the request is retried), its agenda, attendance, validation --
    meetings_before = Meeting.objects.filter(rcp=rcp).count()
    body = {
        "rcp": rcp.pk,
        "kind": "upstream",
        "date": timezone.localdate().isoformat(),
        "start_time": "15:00",
        "place": "Salle de staff",
    }
    meeting = send(coordinator, "post", "/api/v1/meetings/", body, HTTP_IDEMPOTENCY_KEY=f"journey-{ref}")
    assert meeting.status_code == 201, meeting.content
    retried = send(coordinator, "post", "/api/v1/meetings/", body, HTTP_IDEMPOTENCY_KEY=f"journey-{ref}")
    assert retried.status_code == 201 and retried["Idempotent-Replayed"] == "true"
    assert retried.json() == meeting.json()
    assert Meeting.objects.filter(rcp=rcp).count() == meetings_before + 1
    meeting_url = f"/api/v1/meetings/{meeting.json()['id']}/"
    agenda = send(coordinator, "post", f"{meeting_url}agenda/", {"dossiers": [ref]})
    assert agenda.status_code == 200, agenda.content
    assert [(i["reference"], i["open"]) for i in agenda.json()["agenda"]] == [(ref, True)]
    present = send(coordinator, "put", f"{meeting_url}attendance/", {"present": ["coordinator"]})
    assert present.status_code == 200, present.content

    # The prescriber may not validate their own dossier; another prescriber does not know it.
    refused(
        prescriber,
        "post",
        transition(ref, "validate"),
        403,
        {"reason": "Mon dossier."},
        message=str(REFUSAL_MESSAGES["validate"]),
    )
    refused(prescriber2, "post", transition(ref, "validate"), 404, {"reason": "Non."})
    validated = send(coordinator, "post", transition(ref, "validate"), {"reason": "Indication retenue."})
    assert validated.status_code == 200, validated.content
    assert validated.json()["status"] == "rcp_validated"
    decision = Decision.objects.get(dossier__reference=ref)
    assert (decision.kind, decision.meeting_id, decision.recorded_by.username) == (
        "validate",
        meeting.json()["id"],
        "coordinator",
    )
    lab_code = send(prescriber, "get", url(ref)).json()["laboratory"]
    assert lab_code, "the validated dossier is routed to a laboratory"
    lims = machine(lab_code)
    other_code = "auragen" if lab_code == "seqoia" else "seqoia"
    other_lims = machine(other_code)
    lab_staff = lab_seqoia if lab_code == "seqoia" else obtain_token(f"lab_{lab_code}")

    # Not finalised yet: the laboratory does not know the dossier.
    refused(lims, "get", url(ref), 404)
    refused(lab_staff, "get", url(ref), 404)

    # --- Consents: one per person to be sequenced, the mother objecting to research ----------------------------
    consents = prescriber.get(url(ref, "consents/"))
    assert consents.status_code == 200, consents.content
    entries = consents.json()["persons"]
    assert sorted(e["relationship"] for e in entries) == sorted(wanted)
    refused(coordinator, "get", url(ref, "consents/"), 403)
    objector = next(e for e in entries if e["relationship"] == ("mother" if structure == "trio" else "index"))
    for entry in entries:
        recorded = prescriber.post(
            url(ref, f"persons/{entry['id']}/consents/"), consent_form(entry, objects=entry is objector)
        )
        assert recorded.status_code == 201, recorded.content
    assert recorded.json()["missing"] == []
    assert ConsentRecord.objects.get(person_id=objector["id"]).research_reuse == "objects"

    # --- The prescriber finalises: the laboratory now sees it --------------------------------------------------
    refused(assistant, "post", transition(ref, "finalise"), 403)
    finalised = send(prescriber, "post", transition(ref, "finalise"))
    assert finalised.status_code == 200, finalised.content
    assert finalised.json()["status"] == "finalised"
    assert lims.get(url(ref)).status_code == 200
    refused(other_lims, "get", url(ref), 404)
    # Nor does a laboratory's machine account reach another laboratory's finalised dossier.
    elsewhere = next(
        key
        for key, fact in demo.facts.items()
        if fact.status == "finalised" and fact.lab not in ("", lab_code)
    )
    refused(lims, "get", url(demo.references[demo.pk(elsewhere)]), 404)

    # --- Samples and shipment (the prescribing side's: the laboratory's system is refused) ----------------------
    dossier = Dossier.objects.get(reference=ref)
    sample_type = version["sample_types"][0]  # a tube type the pre-indication admits (the catalogue's)
    barcodes = []
    for n, entry in enumerate(entries, start=1):
        tube = {
            "person": entry["id"],
            "sample_type": sample_type,
            "barcode": f"{ref}-T{n}",
            "collected_on": timezone.localdate().isoformat(),
            "collected_by": "IDE du service",
        }
        if n == 1:
            refused(lims, "post", url(ref, "samples/"), 403, tube, message="prescripteur")
        created_tube = send(prescriber, "post", url(ref, "samples/"), tube)
        assert created_tube.status_code == 201, created_tube.content
        barcodes.append(tube["barcode"])
    shipped = send(
        prescriber,
        "post",
        transition(ref, "ship_samples"),
        {
            "carrier": "Transporteur santé",
            "tracking_number": f"TRK-{ref}",
            "pickup_date": str(timezone.localdate()),
        },
    )
    assert shipped.status_code == 200, shipped.content
    assert shipped.json()["status"] == "samples_shipped"

    # --- The laboratory's machine account: reception, sequencing, analysis, the report ---------------------------
    checks = [{"barcode": code, "conform": True} for code in barcodes]
    refused(other_lims, "post", transition(ref, "receive"), 404, {"samples": checks})
    received = send(lims, "post", transition(ref, "receive"), {"samples": checks})
    assert received.status_code == 200, received.content
    assert received.json()["status"] == "received"
    assert set(Sample.objects.filter(dossier=dossier).values_list("check_result", flat=True)) == {"conform"}
    sequencing = send(
        lims,
        "post",
        transition(ref, "start_sequencing"),
        {"run_identifier": f"RUN-{ref}", "mean_coverage": "41.0", "pct_20x": "97.10"},
    )
    assert sequencing.status_code == 200, sequencing.content
    analysis = send(lims, "post", transition(ref, "start_analysis"), {"interpreter": f"biologist_{lab_code}"})
    assert analysis.status_code == 200, analysis.content
    assert analysis.json()["status"] == "analysis"
    upload = lims.post(url(ref, "reports/"), {"file": io.BytesIO(minimal_pdf(f"Compte rendu {ref}"))})
    assert upload.status_code == 201, upload.content
    assert prescriber.get(url(ref, "reports/")).json() == []  # a draft report is the laboratory's

    # --- The signature: the biologist's, with password and TOTP; never the machine's ----------------------------
    refused(
        lims,
        "post",
        transition(ref, "sign_report"),
        403,
        {"password": "x", "otp": "123456"},
        message="biologiste",
    )
    refused(prescriber, "post", transition(ref, "sign_report"), 403, {"password": DEMO_PASSWORD, "otp": "1"})
    signed = send(
        biologist,
        "post",
        transition(ref, "sign_report"),
        {"password": DEMO_PASSWORD, "otp": demo_totp_code()},
    )
    assert signed.status_code == 200, signed.content
    assert signed.json()["status"] == "report_signed"
    refused(lims, "post", transition(ref, "deliver_report"), 403, {"reason": "Par courrier."})

    # --- The prescriber downloads the signed report: delivered --------------------------------------------------
    (listed,) = prescriber.get(url(ref, "reports/")).json()
    assert listed["signed"] and listed["signed_by"] == f"biologist_{lab_code}"
    refused(prescriber2, "get", url(ref, f"reports/{listed['id']}/download/"), 404)
    download = prescriber.get(url(ref, f"reports/{listed['id']}/download/"))
    assert download.status_code == 200 and download["Content-Type"] == "application/pdf"
    assert b"".join(download.streaming_content).startswith(b"%PDF")
    assert send(prescriber, "get", url(ref)).json()["status"] == "report_delivered"
    assert Report.objects.get(dossier=dossier).intact()

    # --- The timeline: every transition, in order, by whom the API says acted -----------------------------------
    events = list(
        DossierEvent.objects.filter(dossier=dossier)
        .exclude(kind=DossierEvent.Kind.NOTE)
        .order_by("at", "pk")
        .values_list("kind", "transition", "actor__username", "from_status", "to_status")
    )
    machine_name, biologist_name = f"machine_{lab_code}", f"biologist_{lab_code}"
    steps = [
        ("submit", "prescriber"),
        ("validate", "coordinator"),
        ("routed", None),  # the routing to the laboratory, by the portal itself
        ("finalise", "prescriber"),
        ("ship_samples", "prescriber"),
        ("receive", machine_name),
        ("start_sequencing", machine_name),
        ("start_analysis", machine_name),
        ("sign_report", biologist_name),
        ("deliver_report", "prescriber"),
    ]
    assert events[0][:3] == ("created", "", "assistant")
    assert [(t or k, actor) for k, t, actor, _from, _to in events[1:]] == steps
    chain = [(f, t) for k, _n, _a, f, t in events if k == DossierEvent.Kind.TRANSITION]
    assert [f for f, _t in chain] == ["draft", *[t for _f, t in chain[:-1]]]
    assert chain[-1][1] == "report_delivered"

    # --- The FHIR Bundle of the finished dossier, and the research objection honoured -----------------------------
    fhir = prescriber.get(f"/fhir/r4/Bundle/{ref}")
    assert fhir.status_code == 200, fhir.content
    assert fhir["Content-Type"].startswith("application/fhir+json")
    bundle = fhir.json()
    Bundle.model_validate(bundle)
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert kinds.count("ServiceRequest") == len(entries) and "Provenance" in kinds
    (report,) = (
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "DiagnosticReport"
    )
    assert report["status"] == "final" and report["presentedForm"][0]["contentType"] == "application/pdf"
    refused(prescriber2, "get", f"/fhir/r4/Bundle/{ref}", 404)
    refused(national, "get", f"/fhir/r4/Bundle/{ref}", 404)
    assert national.get("/api/v1/dossiers/").json()["results"] == []
    research = {
        c["patient"]["reference"].rsplit("person-", 1)[1]: c["provision"]["type"]
        for c in (e["resource"] for e in bundle["entry"])
        if c["resourceType"] == "Consent" and c["scope"]["coding"][0]["code"] == "research"
    }
    assert research.get(str(objector["id"])) != "permit"
    assert {pk for pk, kind in research.items() if kind == "permit"} == {
        str(e["id"]) for e in entries if e["id"] != objector["id"]
    }
    # The export is the data collector's and the administrators' (consent.rules.export_research), not the
    # national coordination's.
    refused(national, "get", "/api/v1/research-export/", 403, message="export_research")
    rows, page = [], "/api/v1/research-export/"
    while page:
        answer = admin.get(page)
        assert answer.status_code == 200, answer.content
        rows += answer.json()["results"]
        page = answer.json()["next"]
    from consent.apis import keyed_pseudonym  # the data centre's pseudonyms, to find this family's rows

    family_rows = {r["relationship"] for r in rows if r["family"] == keyed_pseudonym("dossier", dossier.pk)}
    assert family_rows == {e["relationship"] for e in entries if e["id"] != objector["id"]}
    assert objector["relationship"] not in family_rows
