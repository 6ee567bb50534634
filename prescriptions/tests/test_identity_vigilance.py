"""Identity vigilance on the patient and family steps: a patient is shared only when the INS and the strict
traits agree, nothing about a patient outside the user's scope is shown or confirmed, and a correction of a
shared identity is refused with its reason rather than silently dropped."""

import pytest

from prescriptions.drafting import INS_REFUSED, SHARED_IDENTITY
from prescriptions.models import Dossier, DossierPerson, Patient
from tests import factories as f

from .test_prescribing import VALID_INS, empty_formset, identity, start, step_url

pytestmark = pytest.mark.usefixtures("reference_data")

NEUTRAL = str(INS_REFUSED).replace("'", "&#x27;")[:40]
SHARED = str(SHARED_IDENTITY).replace("'", "&#x27;")[:40]


@pytest.fixture
def paris(db):
    """A Paris prescriber whose dossier's index case is MARTIN Léa, with her INS."""
    prescriber = f.prescriber()
    f.rcp_body()
    return prescriber


@pytest.fixture
def known(client, paris):
    start(client, paris)
    dossier = Dossier.objects.get(prescriber=paris)
    assert client.post(step_url(dossier, "patient"), identity()).status_code == 302
    client.logout()
    return Patient.objects.get(ins=VALID_INS)


@pytest.fixture
def lyon_draft(client, known):
    lyon = f.prescriber()
    start(client, lyon)
    return Dossier.objects.get(prescriber=lyon)


def relative(**overrides):
    data = {
        "structure": "duo",
        **empty_formset("rel", 1),
        "rel-0-relationship": "mother",
        "rel-0-birth_name": "BERNARD",
        "rel-0-first_names": "Sophie",
        "rel-0-date_of_birth": "2015-03-14",
        "rel-0-sex": "F",
        "rel-0-ins": VALID_INS,
        "rel-0-affected": "unaffected",
        "rel-0-to_be_sequenced": "on",
    }
    data.update(overrides)
    return data


def test_an_ins_outside_the_scope_with_other_traits_is_neither_linked_nor_revealed(client, known, lyon_draft):
    response = client.post(step_url(lyon_draft, "patient"), identity(birth_name="DURAND", first_names="Zoé"))
    page = response.content.decode()
    assert response.status_code == 200
    assert NEUTRAL in page and 'aria-invalid="true"' in page
    assert "MARTIN" not in page and "Léa" not in page and "Réutiliser" not in page
    assert not lyon_draft.persons.exists()
    # Saying "another person" or naming the known record's id changes nothing.
    for choice in ("new", str(known.pk)):
        page = client.post(
            step_url(lyon_draft, "patient"), {**identity(birth_name="DURAND"), "reuse": choice}
        ).content.decode()
        assert NEUTRAL in page and "MARTIN" not in page and "déjà celui d" not in page
    assert not lyon_draft.persons.exists()
    assert Patient.objects.filter(ins=VALID_INS).count() == 1


def test_the_same_ins_with_the_same_traits_outside_the_scope_is_linked_without_showing_anything(
    client, known, lyon_draft
):
    # Case, accents and separators aside, the traits agree: the national identifier names the same person.
    response = client.post(step_url(lyon_draft, "patient"), identity(birth_name="martin", first_names="LEA"))
    assert response.status_code == 302
    assert lyon_draft.persons.get().patient == known
    known.refresh_from_db()
    assert (known.birth_name, known.first_names) == ("MARTIN", "Léa")  # the stored spelling is kept


def test_an_ins_outside_the_scope_with_another_sex_or_birth_date_is_refused(client, known, lyon_draft):
    for overrides in ({"date_of_birth": "2015-03-15"}, {"used_name": "PETIT"}):
        page = client.post(step_url(lyon_draft, "patient"), identity(**overrides)).content.decode()
        assert NEUTRAL in page and "MARTIN" in page  # only what the user typed comes back
    assert not lyon_draft.persons.exists()


def test_a_relative_typed_with_a_known_ins_and_another_name_is_not_replaced_by_the_patient(
    client, known, lyon_draft
):
    client.post(step_url(lyon_draft, "patient"), identity(ins="", birth_name="PETIT", first_names="Jules"))
    response = client.post(step_url(lyon_draft, "famille"), relative())
    page = response.content.decode()
    assert response.status_code == 200 and NEUTRAL in page
    assert "MARTIN" not in page and "Léa" not in page
    assert set(lyon_draft.persons.values_list("relationship", flat=True)) == {"index"}
    assert not known.dossier_roles.filter(dossier=lyon_draft).exists()


def test_only_patients_in_scope_are_offered_for_reuse(client, known, paris, lyon_draft):
    # Same names, birth date and sex, no INS: the Paris patient is not offered to Lyon...
    lyon_page = client.post(step_url(lyon_draft, "patient"), identity(ins=""))
    assert lyon_page.status_code == 302
    assert lyon_draft.persons.get().patient != known
    # ...but is to Paris, on a second dossier.
    client.force_login(paris)
    start(client, paris)
    second = Dossier.objects.filter(prescriber=paris).exclude(persons__patient=known).get()
    offer = client.post(step_url(second, "patient"), identity(ins="")).content.decode()
    assert "Réutiliser" in offer and f'value="{known.pk}"' in offer


def test_a_correction_of_a_shared_identity_is_refused_with_its_reason(client, known, paris, lyon_draft):
    assert client.post(step_url(lyon_draft, "patient"), identity()).status_code == 302
    response = client.post(step_url(lyon_draft, "patient"), identity(first_names="Léa Marie"))
    page = response.content.decode()
    assert response.status_code == 200 and SHARED in page
    known.refresh_from_db()
    assert known.first_names == "Léa"
    # A patient only this dossier knows is corrected in place.
    client.force_login(paris)
    start(client, paris)
    alone = Dossier.objects.filter(prescriber=paris).exclude(persons__patient=known).get()
    client.post(
        step_url(alone, "patient"), identity(ins="", birth_name="PETIT", first_names="Jules", sex="M")
    )
    assert (
        client.post(
            step_url(alone, "patient"),
            identity(ins="", birth_name="PETIT", first_names="Jules Paul", sex="M"),
        ).status_code
        == 302
    )
    assert alone.persons.get().patient.first_names == "Jules Paul"


def test_a_correction_of_a_shared_relative_is_refused_at_its_field(client, known, lyon_draft):
    client.post(step_url(lyon_draft, "patient"), identity(ins="", birth_name="PETIT", first_names="Jules"))
    same = relative(**{"rel-0-birth_name": "MARTIN", "rel-0-first_names": "Léa"})
    assert client.post(step_url(lyon_draft, "famille"), same).status_code == 302
    mother = lyon_draft.persons.get(relationship=DossierPerson.Relationship.MOTHER)
    assert mother.patient == known
    corrected = {**same, "rel-INITIAL_FORMS": "1", "rel-0-is_deceased": "on"}
    page = client.post(step_url(lyon_draft, "famille"), corrected).content.decode()
    assert SHARED in page
    known.refresh_from_db()
    assert not known.is_deceased
