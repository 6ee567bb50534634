"""In Debian's Chromium, in French: SeqOIA receives a shipped dossier, sequences and analyses it; its biologist
writes and signs the report; the prescriber downloads it."""

import re

import pytest

from labs.models import Report
from prescriptions.models import Dossier
from tests.test_browser_journeys import log_in, log_out

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_seqoia_receives_sequences_signs_and_the_prescriber_downloads(browser_page, live_server):
    page = browser_page
    dossier = Dossier.objects.filter(status=Dossier.Status.SAMPLES_SHIPPED, laboratory__code="seqoia").first()
    log_in(page, live_server.url, "lab_seqoia")
    page.get_by_role("link", name="Laboratoire", exact=True).click()
    page.get_by_role("link", name=dossier.reference).click()
    page.get_by_role("link", name="Enregistrer la réception du dossier complet").click()
    page.get_by_role("heading", name=re.compile("Réception des prélèvements")).wait_for()
    for fieldset in page.locator("fieldset").all():
        fieldset.get_by_label("Conforme", exact=True).check()
    page.get_by_role("button", name="Enregistrer le contrôle").click()
    page.get_by_text("Dossier complet reçu").first.wait_for()

    page.get_by_role("link", name="Lancer le séquençage").click()
    page.get_by_label("Identifiant du run").fill("RUN-NAV-001")
    page.get_by_label("Profondeur moyenne (x)").fill("41.2")
    page.get_by_label(re.compile("Part du génome")).fill("97.5")
    page.get_by_role("button", name="Enregistrer le run et lancer le séquençage").click()
    page.get_by_text("Séquençage lancé").wait_for()
    page.get_by_role("link", name="Lancer l'analyse").click()
    page.get_by_label("Interprète").select_option(label="Louis Fontaine")
    page.get_by_role("button", name="Désigner l'interprète et lancer l'analyse").click()
    page.get_by_text("Analyse lancée").wait_for()
    log_out(page)

    log_in(page, live_server.url, "biologist_seqoia")
    page.goto(f"{live_server.url}/laboratoire/dossiers/{dossier.pk}/compte-rendu/")
    page.get_by_label(re.compile("^Négatif")).check()
    page.get_by_role("button", name="Rédiger le compte rendu").click()
    page.get_by_text("attend la signature").wait_for()
    # The login with password and code a moment ago is the fresh strong authentication that signing needs.
    page.get_by_role("button", name="Signer le compte rendu").click()
    page.get_by_text("Compte rendu signé.").wait_for()
    assert "Fichier conforme à l'empreinte" in page.content()
    log_out(page)

    log_in(page, live_server.url, "prescriber")
    page.goto(f"{live_server.url}/dossiers/{dossier.pk}/")
    page.get_by_role("link", name="Page du compte rendu").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger la version 1 (PDF)").click()
    assert download.value.suggested_filename == f"{dossier.reference}-compte-rendu-v1.pdf"
    dossier.refresh_from_db()
    assert dossier.status == Dossier.Status.REPORT_DELIVERED
    report = Report.objects.get(dossier=dossier)
    assert report.signed_by.username == "biologist_seqoia" and report.intact()
