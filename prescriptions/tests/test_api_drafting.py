"""The prescribing journey through the API alone: the demo assistant prepares a draft (content, persons,
phenotypes, documents) and hands it over, the demo prescriber attests and submits it; and the refusals each role
gets, with their messages, leaving the dossier as it was."""

from __future__ import annotations

import pytest
from django.test import Client

from people.models import RcpBody
from prescriptions import drafting, selectors
from prescriptions.models import Dossier, Patient
from prescriptions.rules import REFUSAL_MESSAGES
from tests import access_matrix as m

pytestmark = [pytest.mark.django_db]

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    with m.seeded_demo(django_db_blocker, tmp_path_factory.mktemp("api-drafting-media")) as seeded:
        yield seeded


def api(demo, role: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {demo.tokens[role]}")


def reference(demo, target: str) -> str:
    return demo.references[demo.pk(target)]


def url(ref: str, tail: str = "") -> str:
    return f"/api/v1/dossiers/{ref}/{tail}"


def send(client: Client, method: str, path: str, data=None):
    return getattr(client, method)(path, data or {}, content_type="application/json")


def nir(sex: str, born: str) -> str:
    """A valid INS (NIR) for a sex ("1" male, "2" female) and a birth date (YYYY-MM-DD)."""
    base = f"{sex}{born[2:4]}{born[5:7]}75056123"
    return f"{base}{97 - int(base) % 97:02d}"


def snapshot(ref: str) -> tuple:
    """Everything a refused request must leave as it was."""
    d = Dossier.objects.get(reference=ref)
    return (
        d.status,
        d.updated_at,
        d.attested_at,
        d.rcp_id,
        d.handed_over_at,
        d.pre_indication_version_id,
        d.criteria_checklist,
        d.family_structure,
        d.age_at_onset,
        d.clinical_summary,
        d.suspected_diagnosis_id,
        list(d.persons.order_by("id").values_list("id", "patient_id", "relationship", "affected")),
        list(d.phenotypes.values_list("term_id", "present")),
        list(d.prior_tests.values_list("kind", "result")),
        list(d.documents.values_list("id", "sha256")),
        d.events.count(),
        list(
            Patient.objects.order_by("pk").values_list("pk", "birth_name", "used_name", "first_names", "ins")
        ),
    )


def new_draft(demo, role: str = "assistant") -> tuple[str, object]:
    version = Dossier.objects.get(pk=demo.pk("paris.draft")).pre_indication_version
    created = send(
        api(demo, role),
        "post",
        "/api/v1/dossiers/",
        {"pre_indication": version.pre_indication.slug, "prescriber": "prescriber"},
    )
    assert created.status_code == 201, created.content
    return created.json()["reference"], Dossier.objects.get(reference=created.json()["reference"])


INDEX = {
    "relationship": "index",
    "affected": "affected",
    "birth_name": "APIDOSSIER",
    "first_names": "Camille",
    "date_of_birth": "2016-04-02",
    "sex": "F",
    "ins": nir("2", "2016-04-02"),
}
MOTHER = {
    "relationship": "mother",
    "affected": "unaffected",
    "birth_name": "APIMERE",
    "used_name": "APIDOSSIER",
    "first_names": "Julie",
    "date_of_birth": "1985-06-01",
    "sex": "F",
}
FATHER = {
    "relationship": "father",
    "affected": "unaffected",
    "birth_name": "APIDOSSIER",
    "first_names": "Marc",
    "date_of_birth": "1983-09-12",
    "sex": "M",
}


def test_a_draft_prepared_by_the_assistant_and_submitted_by_the_prescriber_through_the_api(demo):
    assistant, prescriber = api(demo, "assistant"), api(demo, "prescriber")
    ref, dossier = new_draft(demo)
    version = dossier.pre_indication_version

    # Pre-indication: every criterion of the fiche answered.
    checklist = [{"criterion": c, "met": True, "justification": ""} for c in version.criteria]
    patched = send(assistant, "patch", url(ref), {"criteria_checklist": checklist})
    assert patched.status_code == 200, patched.content
    assert [a["met"] for a in patched.json()["criteria_checklist"]] == [True] * len(version.criteria)

    # The index case, then the parents (a sibling added by mistake, then removed; the mother corrected).
    index = send(assistant, "post", url(ref, "persons/"), INDEX)
    assert index.status_code == 201, index.content
    assert (index.json()["birth_name"], index.json()["ins"]) == ("APIDOSSIER", INDEX["ins"])
    mother = send(assistant, "post", url(ref, "persons/"), MOTHER)
    assert mother.status_code == 201, mother.content
    sibling = send(
        assistant,
        "post",
        url(ref, "persons/"),
        {**FATHER, "relationship": "sibling", "first_names": "Léo", "date_of_birth": "2019-01-05"},
    )
    assert sibling.status_code == 201, sibling.content
    father = send(assistant, "post", url(ref, "persons/"), FATHER)
    assert father.status_code == 201, father.content
    assert send(assistant, "delete", url(ref, f"persons/{sibling.json()['id']}/")).status_code == 204
    corrected = send(
        assistant, "patch", url(ref, f"persons/{mother.json()['id']}/"), {"first_names": "Julie Anne"}
    )
    assert corrected.status_code == 200, corrected.content
    assert corrected.json()["first_names"] == "Julie Anne"
    persons = assistant.get(url(ref, "persons/")).json()
    assert [(p["relationship"], p["first_names"]) for p in persons] == [
        ("index", "Camille"),
        ("mother", "Julie Anne"),
        ("father", "Marc"),
    ]
    # The removed sibling's record went with them; the father kept his own (not the sibling's).
    assert not Patient.objects.filter(first_names="Léo", birth_name="APIDOSSIER").exists()

    structure = "trio" if not version.family_structures or "trio" in version.family_structures else None
    assert structure, "the demo pre-indication admits trios"
    family = send(assistant, "patch", url(ref), {"family_structure": structure})
    assert family.status_code == 200, family.content

    # The clinical picture: terms, prior tests, then the step's text.
    phenotypes = send(
        assistant,
        "put",
        url(ref, "phenotypes/"),
        {
            "phenotypes": [{"hpo": "HP:0001249", "present": True}, {"hpo": "HP:0000252", "present": False}],
            "prior_tests": [{"kind": "array_cgh", "performed_on": "2024-03-01", "result": "negative"}],
        },
    )
    assert phenotypes.status_code == 200, phenotypes.content
    clinical = send(
        assistant,
        "patch",
        url(ref),
        {
            "age_at_onset": "infantile",
            "clinical_summary": "Retard global du développement depuis la première année.",
            "suspected_diagnosis": "ORPHA:558",
        },
    )
    assert clinical.status_code == 200, clinical.content
    assert clinical.json()["suspected_diagnosis"] == "ORPHA:558"
    picture = assistant.get(url(ref, "phenotypes/")).json()
    assert [(p["hpo"], p["present"]) for p in picture["phenotypes"]] == [
        ("HP:0001249", True),
        ("HP:0000252", False),
    ]
    assert picture["prior_tests"][0]["kind"] == "array_cgh"

    # Documents: each one the fiche requires, and one more.
    for expected in version.documents.filter(required=True):
        uploaded = assistant.post(
            url(ref, "documents/"),
            {"file": _file("compte-rendu.pdf", PDF), "expected": expected.pk},
        )
        assert uploaded.status_code == 201, uploaded.content
        assert uploaded.json()["label"] == expected.label
    photo = assistant.post(url(ref, "documents/"), {"file": _file("photo.png", PNG), "label": "Photographie"})
    assert photo.status_code == 201, photo.content
    assert photo.json()["content_type"] == "image/png"
    listed = assistant.get(url(ref, "documents/")).json()
    assert photo.json()["id"] in [d["id"] for d in listed]
    metadata = assistant.get(url(ref, f"documents/{photo.json()['id']}/"))
    assert metadata.json()["label"] == "Photographie"
    download_url = metadata.json()["download"]
    download = assistant.get(download_url)
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == PNG
    assert download["Content-Type"] == "image/png"  # recorded as a download: audit/tests/test_trail.py

    # The assistant may not submit; they hand the draft over.
    rcp = selectors.allowed_rcps(version).first()
    refused = send(assistant, "post", url(ref, "transitions/submit/"), {"rcp": rcp.pk, "attest": True})
    assert refused.status_code == 403
    assert refused.json()["detail"] == str(REFUSAL_MESSAGES["submit"])
    handed = send(assistant, "post", url(ref, "hand-over/"))
    assert handed.status_code == 200, handed.content
    assert handed.json()["handed_over_at"]

    # The prescriber attests and submits to an RCP-FMG of the pre-indication.
    submitted = send(prescriber, "post", url(ref, "transitions/submit/"), {"rcp": rcp.pk, "attest": True})
    assert submitted.status_code == 200, submitted.content
    assert (submitted.json()["status"], submitted.json()["rcp"]) == ("submitted", rcp.pk)
    dossier.refresh_from_db()
    assert dossier.status == Dossier.Status.SUBMITTED
    assert dossier.attested_at is not None
    assert dossier.entered_by.username == "assistant"
    assert dossier.persons.count() == 3
    assert dossier.phenotypes.count() == 2
    assert dossier.documents.count() == version.documents.filter(required=True).count() + 1


def _file(name: str, content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content)


def test_another_prescriber_reaches_nothing_of_a_draft(demo):
    ref = reference(demo, "paris.draft")
    document = Dossier.objects.get(reference=ref).documents.first()
    other = api(demo, "prescriber2")
    before = snapshot(ref)
    for path in ("persons/", "phenotypes/", "documents/", f"documents/{document.pk}/download/"):
        assert other.get(url(ref, path)).status_code == 404, path
    assert send(other, "patch", url(ref), {"clinical_summary": "Intrus."}).status_code == 404
    assert send(other, "post", url(ref, "persons/"), MOTHER).status_code == 404
    assert send(other, "put", url(ref, "phenotypes/"), {"phenotypes": []}).status_code == 404
    assert other.post(url(ref, "documents/"), {"file": _file("a.pdf", PDF)}).status_code == 404
    assert send(other, "delete", url(ref, f"documents/{document.pk}/")).status_code == 404
    assert send(other, "post", url(ref, "hand-over/")).status_code == 404
    assert snapshot(ref) == before


def test_a_laboratory_never_identifies_a_withdrawn_dossier_and_never_edits(demo):
    withdrawn = reference(demo, "paris.withdrawn")
    lab = next(r for r, code in m.LAB_MEMBER.items() if code == demo.facts["paris.withdrawn"].lab)
    client = api(demo, lab)
    dossier = Dossier.objects.get(reference=withdrawn)
    person = dossier.persons.first()
    document = dossier.documents.first()
    assert client.get(url(withdrawn)).status_code == 200  # the dossier itself, without its persons
    paths = ["persons/", f"persons/{person.pk}/", "documents/"]
    if document:
        paths += [f"documents/{document.pk}/", f"documents/{document.pk}/download/"]
    for path in paths:
        assert client.get(url(withdrawn, path)).status_code == 404, path
    finalised = reference(demo, "lyon.finalised")
    lyon_lab = next(r for r, code in m.LAB_MEMBER.items() if code == demo.facts["lyon.finalised"].lab)
    before = snapshot(finalised)
    assert api(demo, lyon_lab).get(url(finalised, "persons/")).status_code == 200
    patched = send(api(demo, lyon_lab), "patch", url(finalised), {"clinical_summary": "Modifié."})
    assert patched.status_code == 404
    assert send(api(demo, lyon_lab), "post", url(finalised, "persons/"), MOTHER).status_code == 404
    assert snapshot(finalised) == before


def test_a_submitted_dossier_is_no_longer_editable_and_says_so(demo):
    ref = reference(demo, "paris.submitted")
    client = api(demo, "prescriber")
    document = Dossier.objects.get(reference=ref).documents.first()
    before = snapshot(ref)
    attempts = [
        send(client, "patch", url(ref), {"clinical_summary": "Modifié après soumission."}),
        send(client, "post", url(ref, "persons/"), MOTHER),
        send(
            client, "put", url(ref, "phenotypes/"), {"phenotypes": [{"hpo": "HP:0001250", "present": True}]}
        ),
        client.post(url(ref, "documents/"), {"file": _file("a.pdf", PDF)}),
    ]
    if document:
        attempts.append(send(client, "delete", url(ref, f"documents/{document.pk}/")))
    for response in attempts:
        assert response.status_code == 403, response.content
        assert "n'est plus modifiable" in response.json()["detail"]
    assert snapshot(ref) == before


def test_identity_vigilance_refusals_are_400s_naming_the_field(demo):
    client = api(demo, "prescriber")
    ref, _dossier = new_draft(demo, "prescriber")
    bad = send(client, "post", url(ref, "persons/"), {**INDEX, "ins": "123456789012345"})
    assert bad.status_code == 400
    assert "INS/NIR n'est pas valide" in bad.json()["ins"][0]
    assert send(client, "post", url(ref, "persons/"), INDEX).status_code == 201

    # The index case's INS typed for someone else: one neutral refusal, nothing linked, nothing revealed.
    before = snapshot(ref)
    same_ins = send(
        client,
        "post",
        url(ref, "persons/"),
        {**MOTHER, "relationship": "sibling", "date_of_birth": "2016-04-02", "ins": INDEX["ins"]},
    )
    assert same_ins.status_code == 400, same_ins.content
    assert same_ins.json()["ins"] == [str(drafting.INS_REFUSED)]
    assert snapshot(ref) == before

    # A known patient is offered rather than duplicated; chosen, their shared identity is not corrected here.
    other_ref, _other = new_draft(demo, "prescriber")
    known = Dossier.objects.get(pk=demo.pk("paris.draft")).persons.get(relationship="index").patient
    typed = {
        "relationship": "index",
        "affected": "affected",
        "birth_name": known.birth_name,
        "first_names": known.first_names,
        "date_of_birth": known.date_of_birth.isoformat(),
        "sex": known.sex,
    }
    before = snapshot(other_ref)
    offered = send(client, "post", url(other_ref, "persons/"), typed)
    assert offered.status_code == 400
    assert known.pk in [c["id"] for c in offered.json()["candidates"]]
    corrected = send(
        client,
        "post",
        url(other_ref, "persons/"),
        {**typed, "reuse_patient": known.pk, "used_name": "AUTRENOM"},
    )
    assert corrected.status_code == 400, corrected.content
    assert corrected.json()["used_name"] == [str(drafting.SHARED_IDENTITY)]
    assert snapshot(other_ref) == before
    reused = send(client, "post", url(other_ref, "persons/"), {**typed, "reuse_patient": known.pk})
    assert reused.status_code == 201, reused.content
    assert Dossier.objects.get(reference=other_ref).persons.get().patient_id == known.pk


def test_a_bad_upload_is_refused_with_what_is_wrong(demo):
    client = api(demo, "prescriber")
    ref = reference(demo, "paris.draft")
    before = snapshot(ref)
    text = client.post(url(ref, "documents/"), {"file": _file("notes.txt", b"just some text")})
    assert text.status_code == 400
    assert "« notes.txt » n'est ni un PDF" in text.json()["file"][0]
    renamed = client.post(url(ref, "documents/"), {"file": _file("scan.pdf", b"MZ\x90\x00 not a pdf")})
    assert renamed.status_code == 400
    assert "type lu dans le contenu" in renamed.json()["file"][0]
    missing = client.post(url(ref, "documents/"), {"label": "Sans fichier"})
    assert missing.status_code == 400 and missing.json()["file"]
    assert snapshot(ref) == before


def test_unknown_hpo_terms_are_named_and_nothing_is_saved(demo):
    client = api(demo, "prescriber")
    ref = reference(demo, "paris.draft")
    before = snapshot(ref)
    unknown = send(
        client,
        "put",
        url(ref, "phenotypes/"),
        {"phenotypes": [{"hpo": "HP:0001250", "present": True}, {"hpo": "HP:9999999", "present": True}]},
    )
    assert unknown.status_code == 400
    assert any("HP:9999999" in message for message in unknown.json()["phenotypes"])
    only_absent = send(
        client, "put", url(ref, "phenotypes/"), {"phenotypes": [{"hpo": "HP:0001250", "present": False}]}
    )
    assert only_absent.status_code == 400
    assert "au moins un terme HPO présent" in only_absent.json()["phenotypes"][0]
    assert snapshot(ref) == before


def test_each_step_is_validated_as_its_page_validates_it(demo):
    client = api(demo, "prescriber")
    ref = reference(demo, "paris.draft")
    dossier = Dossier.objects.get(reference=ref)
    criteria = dossier.pre_indication_version.criteria
    before = snapshot(ref)
    unjustified = send(
        client,
        "patch",
        url(ref),
        {"criteria_checklist": [{"criterion": c, "met": False, "justification": ""} for c in criteria]},
    )
    assert unjustified.status_code == 400
    assert "Un critère non rempli doit être justifié." in unjustified.json()["criteria_checklist"][0]
    # The family structure is checked against the relatives entered (the page's check, family_problems).
    relatives = dossier.persons.exclude(relationship="index").count()
    wrong = "solo" if relatives else "trio"
    mismatch = send(client, "patch", url(ref), {"family_structure": wrong})
    assert mismatch.status_code == 400
    assert "ne correspond pas au nombre" in mismatch.json()["detail"]
    blank = send(client, "patch", url(ref), {"clinical_summary": ""})
    assert blank.status_code == 400 and blank.json()["clinical_summary"]
    markup = send(client, "patch", url(ref), {"clinical_summary": "<script>x</script>"})
    assert markup.status_code == 400 and "balises HTML" in markup.json()["clinical_summary"][0]
    assert snapshot(ref) == before


def test_submission_needs_the_attestation_and_an_rcp_of_the_pre_indication(demo):
    client = api(demo, "prescriber")
    ref = reference(demo, "paris.draft")
    version = Dossier.objects.get(reference=ref).pre_indication_version
    allowed = selectors.allowed_rcps(version)
    foreign = RcpBody.objects.exclude(pk__in=allowed.values("pk")).first()
    before = snapshot(ref)
    unattested = send(client, "post", url(ref, "transitions/submit/"), {"rcp": allowed.first().pk})
    assert unattested.status_code == 400
    assert "Cochez l'attestation" in unattested.json()["detail"]
    if foreign is not None:
        elsewhere = send(client, "post", url(ref, "transitions/submit/"), {"rcp": foreign.pk, "attest": True})
        assert elsewhere.status_code == 400
        assert "RCP-FMG" in elsewhere.json()["detail"]
    assert snapshot(ref) == before
