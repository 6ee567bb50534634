"""Bounds on what a client may send: formsets never build more forms than they allow, whatever TOTAL_FORMS
says, and answer fast with a message."""

import time

import pytest

from prescriptions.models import Dossier

from .test_prescribing import empty_formset, identity, start, step_url

pytestmark = pytest.mark.usefixtures("reference_data")


@pytest.fixture
def draft(client, db):
    from tests import factories as f

    prescriber = f.prescriber()
    f.rcp_body()
    start(client, prescriber)
    dossier = Dossier.objects.get(prescriber=prescriber)
    assert client.post(step_url(dossier, "patient"), identity()).status_code == 302
    return dossier


@pytest.mark.parametrize(
    ("step", "data", "message"),
    [
        ("famille", {"structure": "trio", **empty_formset("rel", 100_000)}, "au plus 8 apparentés"),
        (
            "clinique",
            {"clinical_summary": "Résumé.", **empty_formset("hpo", 100_000), **empty_formset("test")},
            "Au plus 60 termes HPO",
        ),
        (
            "clinique",
            {"clinical_summary": "Résumé.", **empty_formset("hpo"), **empty_formset("test", 100_000)},
            "Au plus 20 examens",
        ),
    ],
)
def test_a_huge_total_forms_is_refused_fast_with_a_message(client, draft, step, data, message):
    began = time.monotonic()
    response = client.post(step_url(draft, step), data)
    elapsed = time.monotonic() - began
    page = response.content.decode()
    assert response.status_code == 200 and message in page
    assert elapsed < 3, elapsed
    assert len(response.content) < 400_000, len(response.content)
    assert not draft.persons.exclude(relationship="index").exists() and not draft.phenotypes.exists()
