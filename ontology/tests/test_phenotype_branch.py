"""Only phenotypes are phenotypes: HP:0000001 "All", the modes of inheritance and every term outside the
"Phenotypic abnormality" branch (HP:0000118) are refused and never offered by the search."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from ontology import selectors
from ontology.validators import validate_hpo_id

pytestmark = pytest.mark.usefixtures("reference_data")

NOT_PHENOTYPES = ["HP:0000001", "HP:0000005", "HP:0000006", "HP:0012823"]  # All, inheritance, AD, modifier


@pytest.mark.parametrize("term_id", NOT_PHENOTYPES)
def test_a_term_outside_the_phenotypic_abnormality_branch_is_refused(term_id):
    with pytest.raises(ValidationError) as refused:
        validate_hpo_id(term_id)
    assert refused.value.code == "hpo_not_phenotype"
    assert "n'est pas une anomalie phénotypique" in refused.value.messages[0]
    validate_hpo_id("HP:0001250")  # Seizure is


def test_the_search_offers_phenotypes_only(client, django_user_model):
    for term_id in NOT_PHENOTYPES:
        assert selectors.search_hpo(term_id) == []
    assert not [t for t in selectors.search_hpo("inheritance", limit=50) if not t.is_phenotypic_abnormality]
    assert "HP:0000006" not in [t.id for t in selectors.search_hpo("autosomal dominant", limit=50)]
    django_user_model.objects.create_user(username="camille", password="a-long-test-password")
    client.login(username="camille", password="a-long-test-password")
    assert client.get(reverse("hpo-term-list"), {"q": "HP:0000005"}).json() == []
    assert client.get(reverse("hpo-term-list"), {"q": "All"}).json() == [] or all(
        r["id"] != "HP:0000001" for r in client.get(reverse("hpo-term-list"), {"q": "All"}).json()
    )


def test_the_clinical_step_refuses_a_mode_of_inheritance(client, db):
    from prescriptions.models import Dossier
    from prescriptions.tests.test_prescribing import empty_formset, identity, start, step_url
    from tests import factories as f

    prescriber = f.prescriber()
    f.rcp_body()
    start(client, prescriber)
    dossier = Dossier.objects.get(prescriber=prescriber)
    client.post(step_url(dossier, "patient"), identity())
    data = {
        "clinical_summary": "Résumé.",
        **empty_formset("hpo", 1),
        "hpo-0-term": "HP:0000006 — Autosomal dominant inheritance",
        "hpo-0-present": "1",
        **empty_formset("test"),
    }
    page = client.post(step_url(dossier, "clinique"), data).content.decode()
    assert "n&#x27;est pas une anomalie phénotypique" in page and not dossier.phenotypes.exists()


def test_a_search_with_control_characters_answers_like_one_without(client, django_user_model):
    user = django_user_model.objects.create_user("searcher", password="x-long-enough-password")
    client.force_login(user)
    for url in ("/api/v1/hpo-terms/", "/api/v1/orpha-diseases/"):
        response = client.get(url, {"q": "epi\x00lepsy"})
        assert response.status_code == 200
