"""The prescribing journey through the portal's pages: each step saved, bad input refused at its field with
nothing half-saved, the assistant preparing and the prescriber attesting, scoping by 404."""

import datetime as dt
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from people.models import Role
from prescriptions.models import Dossier, DossierDocument, DossierPerson, Patient, PreIndication
from tests import factories as f

pytestmark = pytest.mark.usefixtures("reference_data")

VALID_INS = "215037505608975"  # female, born March 2015, valid key


@pytest.fixture
def prescriber(db):
    user = f.prescriber()
    f.rcp_body()  # a multi-theme RCP-FMG validates any rare-disease pre-indication
    return user


def step_url(dossier, step):
    return reverse("prescribe_step", args=[dossier.pk, step])


def start(client, user, slug="deficience-intellectuelle", criteria="yes", for_prescriber=None):
    client.force_login(user)
    version = PreIndication.objects.get(slug=slug).current_version()
    data = {"version": version.pk, "prescriber": (for_prescriber or user).pk}
    for i, _ in enumerate(version.criteria):
        data[f"c-crit_{i}"] = criteria
    response = client.post(reverse("prescribe_start"), data)
    return response, version


def identity(**overrides):
    data = {
        "birth_name": "MARTIN",
        "first_names": "Léa",
        "date_of_birth": "2015-03-14",
        "sex": "F",
        "ins": VALID_INS,
        "affected": "affected",
    }
    data.update(overrides)
    return data


def empty_formset(prefix, total=0):
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def fill_all_steps(client, dossier):
    assert client.post(step_url(dossier, "patient"), identity()).status_code == 302
    assert (
        client.post(step_url(dossier, "famille"), {"structure": "solo", **empty_formset("rel")}).status_code
        == 302
    )
    clinical = {
        "clinical_summary": "Retard global du développement.",
        "age_at_onset": "infantile",
        **empty_formset("hpo", 2),
        "hpo-0-term": "HP:0001249 — Intellectual disability",
        "hpo-0-present": "1",
        "hpo-1-term": "HP:0001250",
        "hpo-1-present": "0",
        **empty_formset("test"),
    }
    assert client.post(step_url(dossier, "clinique"), clinical).status_code == 302
    assert client.post(step_url(dossier, "documents"), {"action": "continue"}).status_code == 302


def test_a_prescriber_goes_from_a_blank_form_to_a_submitted_dossier(client, prescriber):
    response, version = start(client, prescriber)
    dossier = Dossier.objects.get(prescriber=prescriber)
    assert response["Location"] == step_url(dossier, "patient")
    assert dossier.criteria_checklist[0]["met"] is True
    fill_all_steps(client, dossier)

    review = client.get(step_url(dossier, "validation")).content.decode()
    assert "Intellectual disability" in review and "MARTIN" in review
    refused = client.post(step_url(dossier, "validation"), {"rcp": dossier.rcp_id or "", "attestation": ""})
    assert "Cochez l&#x27;attestation" in refused.content.decode()

    rcp = f.rcp_body()
    response = client.post(step_url(dossier, "validation"), {"rcp": rcp.pk, "attestation": "on"})
    assert response.status_code == 302
    dossier.refresh_from_db()
    assert dossier.status == Dossier.Status.SUBMITTED and dossier.rcp == rcp and dossier.attested_at
    assert dossier.pre_indication_version == version
    phenotypes = {(p.term_id, p.present) for p in dossier.phenotypes.all()}
    assert phenotypes == {("HP:0001249", True), ("HP:0001250", False)}


def test_every_step_is_a_draft_the_prescriber_resumes(client, prescriber):
    start(client, prescriber)
    dossier = Dossier.objects.get(prescriber=prescriber)
    client.post(step_url(dossier, "patient"), identity())
    client.logout()
    client.force_login(prescriber)  # a new session, as after a closed tab or an expired one
    response = client.get(reverse("prescribe_resume", args=[dossier.pk]))
    assert response["Location"] == step_url(dossier, "famille")
    page = client.get(step_url(dossier, "patient")).content.decode()
    assert 'value="MARTIN"' in page


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("ins", "215037505608900", "n&#x27;est pas valide"),
        ("ins", "115037505608928", "premier chiffre"),
        ("date_of_birth", "2015-02-30", "Date impossible"),
        ("date_of_birth", "2099-01-01", "futur"),
        ("birth_name", "<script>alert(1)</script>", "HTML"),
        ("first_names", "Léa2", "Lettres"),
    ],
)
def test_bad_identities_are_refused_at_their_field_and_nothing_is_saved(
    client, prescriber, field, value, message
):
    start(client, prescriber)
    dossier = Dossier.objects.get(prescriber=prescriber)
    response = client.post(step_url(dossier, "patient"), identity(**{field: value}))
    assert response.status_code == 200
    page = response.content.decode()
    assert message in page
    assert 'aria-invalid="true"' in page
    assert not dossier.persons.exists() and not Patient.objects.filter(birth_name="MARTIN").exists()


def test_a_known_patient_is_offered_for_reuse_rather_than_duplicated(client, prescriber):
    start(client, prescriber)
    first = Dossier.objects.get(prescriber=prescriber)
    client.post(step_url(first, "patient"), identity())
    start(client, prescriber)
    second = Dossier.objects.filter(prescriber=prescriber).exclude(pk=first.pk).get()
    offer = client.post(step_url(second, "patient"), identity())
    assert offer.status_code == 200 and "déjà connu" in offer.content.decode()
    known = Patient.objects.get(ins=VALID_INS)
    client.post(step_url(second, "patient"), {**identity(), "reuse": known.pk})
    assert second.persons.get().patient == known
    assert Patient.objects.filter(ins=VALID_INS).count() == 1


def test_a_trio_mandatory_fiche_needs_an_allowed_exception_with_a_reason(client, prescriber):
    start(client, prescriber, slug="aplasies-hypoplasies-medullaires-constitutionnelles")
    dossier = Dossier.objects.get(prescriber=prescriber)
    client.post(step_url(dossier, "patient"), identity())
    solo = {"structure": "solo", **empty_formset("rel")}
    refused = client.post(step_url(dossier, "famille"), solo)
    assert "Le trio est obligatoire" in refused.content.decode()
    refused = client.post(step_url(dossier, "famille"), {**solo, "trio_exception": "single_parent"})
    assert "pas admise" in refused.content.decode()
    dossier.refresh_from_db()
    assert dossier.family_structure == ""
    accepted = client.post(
        step_url(dossier, "famille"),
        {**solo, "trio_exception": "adopted_child", "trio_exception_reason": "Enfant adopté à 2 ans"},
    )
    assert accepted.status_code == 302


def test_a_trio_is_entered_with_its_relatives(client, prescriber):
    start(client, prescriber)
    dossier = Dossier.objects.get(prescriber=prescriber)
    client.post(step_url(dossier, "patient"), identity())
    data = {"structure": "trio", **empty_formset("rel", 2)}
    for i, (rel, first, sex, born) in enumerate(
        [("mother", "Sarah", "F", "1984-05-02"), ("father", "Paul", "M", "1982-01-09")]
    ):
        data.update(
            {
                f"rel-{i}-relationship": rel,
                f"rel-{i}-birth_name": "MARTIN",
                f"rel-{i}-first_names": first,
                f"rel-{i}-sex": sex,
                f"rel-{i}-date_of_birth": born,
                f"rel-{i}-affected": "unaffected",
                f"rel-{i}-to_be_sequenced": "on",
            }
        )
    mismatch = client.post(step_url(dossier, "famille"), {**data, "structure": "duo"})
    assert "ne correspond pas" in mismatch.content.decode()
    assert client.post(step_url(dossier, "famille"), data).status_code == 302
    assert {p.relationship for p in dossier.persons.all()} == {"index", "mother", "father"}
    # As the page renders it now: the two saved relatives are the formset's initial forms.
    deceased = {**data, "rel-INITIAL_FORMS": "2", "rel-1-is_deceased": "on"}
    response = client.post(step_url(dossier, "famille"), deceased)
    assert response.status_code == 302, [
        (c["form"].errors, c["formset"].errors, c["formset"].non_form_errors()) for c in [response.context]
    ]
    assert dossier.persons.get(relationship="father").patient.is_deceased


def test_an_unknown_hpo_term_is_refused_at_its_field(client, prescriber):
    start(client, prescriber)
    dossier = Dossier.objects.get(prescriber=prescriber)
    data = {
        "clinical_summary": "Résumé",
        **empty_formset("hpo", 1),
        "hpo-0-term": "HP:9999999",
        "hpo-0-present": "1",
        **empty_formset("test"),
    }
    page = client.post(step_url(dossier, "clinique"), data).content.decode()
    assert "HP:9999999" in page and "n&#x27;existe pas" in page
    assert not dossier.phenotypes.exists()


def test_documents_are_checked_from_their_content_and_size(client, prescriber, settings):
    settings.DOCUMENT_MAX_BYTES = 1_000_000
    start(client, prescriber, slug="dystrophies-retiniennes-hereditaires")
    dossier = Dossier.objects.get(prescriber=prescriber)
    expected = dossier.pre_indication_version.documents.first()
    url = step_url(dossier, "documents")
    renamed_exe = SimpleUploadedFile("compte-rendu.pdf", b"MZ\x90\x00" + b"\x00" * 100, "application/pdf")
    page = client.post(
        url, {"action": "upload", "expected": expected.pk, "file": renamed_exe}
    ).content.decode()
    assert "ni un PDF" in page
    too_big = SimpleUploadedFile("oct.pdf", b"%PDF-1.7" + b"0" * 1_200_000, "application/pdf")
    page = client.post(url, {"action": "upload", "expected": expected.pk, "file": too_big}).content.decode()
    assert "la limite est de 1 Mo" in page
    assert not DossierDocument.objects.exists()

    missing = client.get(url).content.decode()
    assert expected.label in missing and "manquants" in missing
    good = SimpleUploadedFile("scan.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png")
    assert client.post(url, {"action": "upload", "expected": expected.pk, "file": good}).status_code == 302
    document = DossierDocument.objects.get()
    assert document.content_type == "image/png" and "scan" not in document.file.name
    download = client.get(reverse("document_download", args=[dossier.pk, document.pk]))
    assert download.status_code == 200 and download["Content-Type"] == "image/png"
    other = f.prescriber()
    client.force_login(other)
    assert client.get(reverse("document_download", args=[dossier.pk, document.pk])).status_code == 404


def test_required_documents_block_the_submission_and_are_named(client, prescriber):
    start(client, prescriber, slug="dystrophies-retiniennes-hereditaires")
    dossier = Dossier.objects.get(prescriber=prescriber)
    fill_all_steps(client, dossier)
    review = client.get(step_url(dossier, "validation")).content.decode()
    assert "Document obligatoire manquant" in review and "Attester et soumettre" not in review


def test_an_assistant_prepares_and_the_prescriber_attests(client, prescriber):
    assistant = f.assistant_for(prescriber)
    client.force_login(assistant)
    home = client.get("/").content.decode()
    assert str(prescriber) in home  # the prescribers of their perimeter
    start(client, assistant, for_prescriber=prescriber)
    dossier = Dossier.objects.get(prescriber=prescriber)
    assert dossier.entered_by == assistant
    fill_all_steps(client, dossier)
    review = client.get(step_url(dossier, "validation")).content.decode()
    assert "Transmettre au prescripteur" in review and "attestation" not in review
    forged = client.post(step_url(dossier, "validation"), {"rcp": f.rcp_body().pk, "attestation": "on"})
    assert forged.status_code == 200
    dossier.refresh_from_db()
    assert dossier.status == Dossier.Status.DRAFT and dossier.attested_at is None
    client.post(step_url(dossier, "validation"), {"action": "hand_over"})

    client.force_login(prescriber)
    to_validate = client.get("/?vue=a-valider").content.decode()
    assert dossier.reference in to_validate and "Vérifier, attester et soumettre" in to_validate
    client.post(step_url(dossier, "validation"), {"rcp": f.rcp_body().pk, "attestation": "on"})
    dossier.refresh_from_db()
    assert dossier.status == Dossier.Status.SUBMITTED
    assert dossier.events.get(transition="submit").actor == prescriber


def test_an_assistant_prescribes_only_for_the_prescribers_they_assist(client, prescriber):
    assistant = f.assistant_for(f.prescriber())
    client.force_login(assistant)
    version = PreIndication.objects.get(slug="deficience-intellectuelle").current_version()
    data = {
        "version": version.pk,
        "prescriber": prescriber.pk,
        **{f"c-crit_{i}": "yes" for i, _ in enumerate(version.criteria)},
    }
    response = client.post(reverse("prescribe_start"), data)
    assert response.status_code == 200 and not Dossier.objects.exists()


def test_people_who_do_not_prescribe_cannot_start_a_prescription(client, db):
    client.force_login(f.lab_member("seqoia"))
    assert client.get(reverse("prescribe_start")).status_code == 403


def test_another_prescriber_s_draft_answers_404(client, prescriber):
    start(client, prescriber)
    dossier = Dossier.objects.get(prescriber=prescriber)
    client.force_login(f.prescriber())
    for step in ("pre-indication", "patient", "famille", "clinique", "documents", "validation"):
        assert client.get(step_url(dossier, step)).status_code == 404
    assert client.post(step_url(dossier, "patient"), identity()).status_code == 404


def test_the_rcp_asks_for_more_and_the_prescriber_answers_and_resubmits(client, prescriber):
    start(client, prescriber)
    dossier = Dossier.objects.get(prescriber=prescriber)
    fill_all_steps(client, dossier)
    rcp = f.rcp_body()
    client.post(step_url(dossier, "validation"), {"rcp": rcp.pk, "attestation": "on"})
    coordinator = f.coordinator(rcp)
    from prescriptions.services import transition_dossier

    dossier.refresh_from_db()
    transition_dossier(
        dossier=dossier,
        name="request_more_info",
        actor=coordinator,
        reason="Merci de joindre le compte rendu de l'ACPA.",
    )
    client.force_login(prescriber)
    page = client.get(reverse("dossier_detail", args=[dossier.pk])).content.decode()
    assert "Merci de joindre le compte rendu" in page and "soumettre à nouveau" in page
    step = client.get(step_url(dossier, "clinique")).content.decode()
    assert "Questions de la RCP-FMG" in step
    client.post(step_url(dossier, "validation"), {"rcp": rcp.pk, "attestation": "on"})
    dossier.refresh_from_db()
    assert dossier.status == Dossier.Status.SUBMITTED
    assert [e.transition for e in dossier.events.filter(kind="transition")] == [
        "submit",
        "request_more_info",
        "submit",
    ]


def test_a_dossier_is_cancelled_with_a_reason_from_its_page(client, prescriber):
    start(client, prescriber)
    dossier = Dossier.objects.get(prescriber=prescriber)
    url = reverse("dossier_transition", args=[dossier.pk, "cancel"])
    client.post(url, {"reason": ""})
    dossier.refresh_from_db()
    assert dossier.status == Dossier.Status.DRAFT
    client.post(url, {"reason": "Prescription faite par erreur"})
    dossier.refresh_from_db()
    assert dossier.status == Dossier.Status.CANCELLED


def test_the_list_filters_and_searches_by_patient_name_and_ins(client, prescriber):
    start(client, prescriber)
    dossier = Dossier.objects.get(prescriber=prescriber)
    client.post(step_url(dossier, "patient"), identity())
    other, _v = start(client, prescriber, slug="leucodystrophies")
    for query in ("martin", VALID_INS, dossier.reference):
        page = client.post("/", {"q": query}, follow=True).content.decode()
        assert dossier.reference in page, query
    assert "1 dossier" in client.get("/", {"pre_indication": "leucodystrophies"}).content.decode()
    assert dossier.reference not in client.get("/", {"statut": "submitted"}).content.decode()
    assert "Compléter et soumettre" in client.get("/").content.decode()
    assert DossierPerson.objects.count() == 1
    assert dt.date.today()  # (keeps the import honest for the date checks above)
    assert Role.PRESCRIBER in prescriber.role_names


def test_only_someone_other_than_the_prescriber_hands_a_dossier_over(prescriber):
    from django.core.exceptions import PermissionDenied

    from prescriptions.drafting import hand_over

    dossier = f.dossier(prescriber_user=prescriber)
    with pytest.raises(PermissionDenied):
        hand_over(dossier=dossier, assistant=prescriber)
    dossier.refresh_from_db()
    assert dossier.handed_over_at is None


def test_a_search_by_identity_goes_by_post_and_no_url_carries_the_identity(client, prescriber):
    start(client, prescriber)
    dossier = Dossier.objects.get(prescriber=prescriber)
    client.post(step_url(dossier, "patient"), identity())
    for _ in range(26):  # two pages of results
        start(client, prescriber)
    for query in ("Martin", VALID_INS):
        response = client.post("/", {"q": query, "statut": "draft"})
        assert response.status_code == 302
        location = response["Location"]
        assert query.lower() not in location.lower() and "q=" not in location and "recherche=" in location
        page = client.get(location).content.decode()
        assert dossier.reference in page and "1 dossier" in page
    # The token alone finds nothing in another session; an identity typed in a URL is not searched.
    start_page = client.get("/", {"q": "Martin"}).content.decode()
    assert "27 dossiers" in start_page
    client.logout()
    client.force_login(prescriber)
    assert "27 dossiers" in client.get(location).content.decode()
    # Pagination keeps the search (by its token) and never the identity.
    response = client.post("/", {"q": "PFMG"})
    listing = client.get(response["Location"]).content.decode()
    next_link = re.search(r'href="\?([^"]*curseur=[^"]*)" rel="next"', listing).group(1)
    assert "27 dossiers" in listing and "recherche=" in next_link and "PFMG" not in next_link
