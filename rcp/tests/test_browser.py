"""In Debian's Chromium, in French: the demo's coordinator runs an RCP d'amont from "Mes RCP" to the minutes."""

import re

import pytest
from django.utils import timezone

from pfmg.demo import DEMO_PASSWORD
from prescriptions.models import Dossier
from rcp.demo import LYON_RCP
from rcp.models import Decision, Meeting
from tests.test_browser_journeys import give_second_factor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_the_coordinator_runs_a_meeting_from_agenda_to_decisions_and_downloads_the_minutes(
    browser_page, live_server, tmp_path
):
    page = browser_page
    waiting = list(
        Dossier.objects.filter(rcp__name=LYON_RCP, status=Dossier.Status.SUBMITTED).order_by("created_at")
    )
    assert len(waiting) >= 2
    page.goto(live_server.url + "/accounts/login/")
    page.get_by_label("Identifiant").fill("coordinator")
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    give_second_factor(page, "coordinator")

    page.get_by_role("link", name="Mes RCP").click()
    page.get_by_role("heading", name="Mes RCP", exact=True).wait_for()
    assert waiting[0].reference in page.content()
    page.get_by_role("link", name="Nouvelle séance").click()
    page.get_by_label("RCP-FMG").select_option(label=LYON_RCP)
    page.get_by_label(re.compile(r"^Date")).fill(timezone.localdate().isoformat())
    page.get_by_label("Heure").fill("14:00")
    page.get_by_role("button", name="Créer la séance").click()
    page.get_by_role("alert").wait_for()  # neither place nor video link: said, nothing lost
    assert "Indiquez le lieu" in page.get_by_role("alert").inner_text()
    page.get_by_label("Lieu").fill("Salle de staff, HFME")
    page.get_by_role("button", name="Créer la séance").click()
    page.get_by_role("heading", name=re.compile("Séance du")).wait_for()

    page.get_by_role("button", name="Proposer l'ordre du jour").click()
    page.get_by_text(re.compile("Ordre du jour proposé")).wait_for()
    page.get_by_label("Paul Bernard").check()
    page.get_by_role("button", name="Enregistrer les présences").click()
    page.get_by_text("Présences enregistrées.").wait_for()

    first, second = waiting[0], waiting[1]
    item = page.locator(f"#item-{first.pk}")
    item.get_by_label("Avis favorable").check()
    item.get_by_role("button", name=re.compile("Enregistrer la décision")).click()
    page.get_by_text(re.compile(f"Décision enregistrée pour le dossier {first.reference}")).wait_for()

    item = page.locator(f"#item-{second.pk}")
    item.get_by_label("Avis défavorable").check()
    item.get_by_role("button", name=re.compile("Enregistrer la décision")).click()
    page.get_by_role("alert").wait_for()  # no reason: refused, with the reason why
    assert "doit être motivé" in page.get_by_role("alert").inner_text()
    page.get_by_label("Avis défavorable").check()
    page.get_by_label(re.compile("Motif ou questions")).fill("Critères de la fiche non remplis.")
    page.get_by_role("button", name="Enregistrer la décision").click()
    page.get_by_text(re.compile(f"Décision enregistrée pour le dossier {second.reference}")).wait_for()
    page.get_by_role("heading", name=re.compile("Séance du")).wait_for()  # back on the meeting

    meeting = Meeting.objects.get(place="Salle de staff, HFME")
    assert dict(Decision.objects.filter(meeting=meeting).values_list("dossier_id", "kind")) == {
        first.pk: "validate",
        second.pk: "reject",
    }
    with page.expect_download() as download:
        page.get_by_role("link", name="Compte rendu de la séance (PDF)").click()
    saved = tmp_path / "minutes.pdf"
    download.value.save_as(saved)
    assert saved.read_bytes().startswith(b"%PDF-")
