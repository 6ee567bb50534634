"""In Debian's Chromium, in French: the demo prescriber records the consent of each person of a validated trio,
with the signed form uploaded, sees the finalise gate lift, and finalises."""

import re

import pytest

from consent.demo import DEMO_SCAN
from labs.services import route_dossier
from prescriptions.models import Dossier
from tests.test_browser_journeys import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_a_prescriber_records_each_consent_and_finalises(browser_page, live_server):
    dossier = (
        Dossier.objects.filter(prescriber__username="prescriber", status=Dossier.Status.RCP_VALIDATED)
        .order_by("pk")
        .first()
    )
    assert dossier.persons.filter(to_be_sequenced=True).count() == 3  # the demo's validated dossier is a trio
    if not dossier.laboratory_id:
        route_dossier(dossier=dossier, actor=dossier.prescriber)
    page = browser_page
    log_in(page, live_server.url, "prescriber")
    page.goto(f"{live_server.url}/dossiers/{dossier.pk}/")
    finalise = page.get_by_text("Finaliser la prescription")
    assert "Consentement signé acceptant l'analyse manquant" in page.content()
    assert finalise.count() == 1 and page.get_by_role("button", name="Finaliser la prescription").count() == 0

    page.get_by_role("link", name=re.compile("Gérer les consentements")).click()
    page.get_by_role("heading", name=re.compile("Consentements du dossier")).wait_for()
    first = True
    while page.get_by_role("link", name=re.compile("^Enregistrer le consentement")).count():
        page.get_by_role("link", name=re.compile("^Enregistrer le consentement")).first.click()
        page.get_by_role("heading", name="Enregistrer le consentement").wait_for()
        if page.get_by_label("Situation de la personne").input_value() == "minor":
            page.fill("#id_parent_signatory_1", "Sarah DURAND")
            page.get_by_label("Accord de la personne mineure ou protégée elle-même").select_option("given")
        page.check("#id_analysis_accepted_0")
        page.check("#id_additional_findings_0")
        page.check("#id_research_reuse_0")
        page.check("#id_relatives_information_1")
        if first:  # the signed form is required: said, and nothing typed is lost
            page.get_by_role("button", name="Enregistrer le consentement").click()
            page.get_by_role("alert").wait_for()
            assert "Joignez le formulaire signé numérisé" in page.get_by_role("alert").inner_text()
            assert page.is_checked("#id_research_reuse_0")
            first = False
        page.set_input_files(
            "#id_scan",
            files=[{"name": "consentement.pdf", "mimeType": "application/pdf", "buffer": DEMO_SCAN}],
        )
        page.get_by_role("button", name="Enregistrer le consentement").click()
        page.get_by_role("heading", name=re.compile("Consentements du dossier")).wait_for()
        assert "Consentement enregistré" in page.get_by_role("status").first.inner_text()

    assert "la prescription peut être finalisée" in page.content()
    page.get_by_role("link", name=re.compile("Retour au dossier")).click()
    page.get_by_role("button", name="Finaliser la prescription").click()
    page.get_by_text("Prescription finalisée").first.wait_for()
    dossier.refresh_from_db()
    assert dossier.status == Dossier.Status.FINALISED
