"""In Debian's Chromium, in French: logging in, and the prescriber's and the assistant's journeys from login
to a dossier submitted to the RCP-FMG."""

import os
import re
import time

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from pfmg.demo import DEMO_PASSWORD, DEMO_TOTP_KEY, DEMO_TOTP_USERS, demo_totp_code
from prescriptions.models import Dossier

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

INS = "215037505608975"


def demo_code(username):
    """The demo key's code for a time step the user's device has not used yet: a code is accepted once, and a
    test may log the same account in twice within thirty seconds (django-otp tolerates one step ahead)."""
    device = TOTPDevice.objects.get(user__username=username, key=DEMO_TOTP_KEY)
    step = max(int(time.time()) // 30, device.last_t + 1)
    return demo_totp_code(at=step * 30)


def give_second_factor(page, username):
    """The login's second step, for the demo accounts whose function requires it."""
    if username in DEMO_TOTP_USERS:
        page.get_by_role("heading", name="Code de vérification").wait_for()
        page.get_by_label("Code à usage unique").fill(demo_code(username))
        page.get_by_role("button", name="Valider").click()


def log_in(page, base, username):
    page.goto(base + "/accounts/login/")
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    give_second_factor(page, username)
    page.get_by_role("heading", name="Mes dossiers").wait_for()


def log_out(page):
    page.get_by_role("button", name="Se déconnecter").click()
    page.get_by_role("heading", name="Connexion").wait_for()


def fill_prescription(page, *, patient_name):
    """Steps 1 to 5, as typed by a person (the pre-indication chosen from the catalogue)."""
    page.get_by_role("link", name="Nouvelle prescription").click()
    page.get_by_label("Rechercher").fill("déficience")
    page.get_by_role("button", name="Rechercher").click()
    page.get_by_role("link", name="Déficience intellectuelle", exact=True).click()
    page.get_by_role("heading", name="Déficience intellectuelle", exact=True).wait_for()
    for group in page.locator("fieldset fieldset").all():
        group.get_by_label("Rempli", exact=True).check()
    page.get_by_role("button", name="Enregistrer et continuer").click()

    page.get_by_role("heading", name="Le patient (cas index)").wait_for()
    page.get_by_label("Nom de naissance").fill(patient_name)
    page.get_by_label("Prénom(s)").fill("Léa")
    page.get_by_label("Date de naissance").fill("2015-03-14")
    page.get_by_label("Sexe").select_option("F")
    page.get_by_label("INS / NIR").fill("215037505608900")  # a wrong key first
    page.get_by_role("button", name="Enregistrer et continuer").click()
    page.get_by_role("alert").wait_for()
    assert "n'est pas valide" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("Nom de naissance").input_value() == patient_name  # nothing typed is lost
    page.get_by_label("INS / NIR").fill(INS)
    page.get_by_role("button", name="Enregistrer et continuer").click()

    page.get_by_role("heading", name="La famille").wait_for()
    page.get_by_label("Structure familiale").select_option("solo")
    page.get_by_role("button", name="Enregistrer et continuer").click()

    page.get_by_role("heading", name="Le tableau clinique").wait_for()
    term = page.locator("#id_hpo-0-term")
    term.fill("intellectual disab")
    # A locator rather than wait_for_function, whose string predicate the CSP (no unsafe-eval) refuses.
    page.locator("#hpo-options option").first.wait_for(state="attached")
    assert "HP:0001249" in page.locator("#hpo-options").inner_html()
    term.fill("HP:0001249 — Intellectual disability")
    page.get_by_label("Résumé clinique").fill("Retard global du développement depuis la première année.")
    page.get_by_role("button", name="Enregistrer et continuer").click()

    page.get_by_role("heading", name="Les documents").wait_for()
    page.get_by_role("button", name="Continuer").click()
    page.get_by_role("heading", name="Vérifier et soumettre").wait_for()


def test_a_prescriber_prescribes_from_login_to_submission(browser_page, live_server):
    page = browser_page
    log_in(page, live_server.url, "prescriber")
    fill_prescription(page, patient_name="NAVIGATEUR")
    assert "Intellectual disability" in page.content()
    page.get_by_role("button", name="Attester et soumettre à la RCP-FMG").click()
    page.get_by_role("alert").wait_for()  # the attestation is required
    page.get_by_label(re.compile("J'atteste")).check()
    page.get_by_role("button", name="Attester et soumettre à la RCP-FMG").click()
    page.get_by_text("Soumis à la RCP").first.wait_for()
    dossier = Dossier.objects.get(persons__patient__birth_name="NAVIGATEUR")
    assert dossier.status == Dossier.Status.SUBMITTED
    assert page.locator("html").get_attribute("lang") == "fr"
    os.makedirs("test-artifacts", exist_ok=True)
    page.screenshot(path="test-artifacts/prescriber-submitted.png", full_page=True)


def test_an_assistant_prepares_and_the_prescriber_attests_and_submits(browser_page, live_server):
    page = browser_page
    log_in(page, live_server.url, "assistant")
    fill_prescription(page, patient_name="ASSISTEE")
    assert page.get_by_role("button", name=re.compile("Attester")).count() == 0  # never attests for them
    page.get_by_role("button", name="Transmettre au prescripteur pour validation").click()
    page.get_by_role("heading", name="Mes dossiers").wait_for()
    log_out(page)

    log_in(page, live_server.url, "prescriber")
    page.get_by_role("link", name=re.compile("À valider")).click()
    dossier = Dossier.objects.get(persons__patient__birth_name="ASSISTEE")
    page.get_by_role("link", name=dossier.reference).click()
    page.get_by_role("link", name="Reprendre la saisie").click()
    page.get_by_role("heading", name="Vérifier et soumettre").wait_for()
    page.get_by_label(re.compile("J'atteste")).check()
    page.get_by_role("button", name="Attester et soumettre à la RCP-FMG").click()
    page.get_by_text("Soumis à la RCP").first.wait_for()
    dossier.refresh_from_db()
    assert dossier.status == Dossier.Status.SUBMITTED
    assert dossier.entered_by.username == "assistant"
    assert dossier.events.get(transition="submit").actor.username == "prescriber"


def test_a_prescriber_logs_in_sees_their_dossiers_and_opens_one(browser_page, live_server):
    page = browser_page
    log_in(page, live_server.url, "prescriber")
    dossier = Dossier.objects.filter(
        prescriber__username="prescriber", status=Dossier.Status.SUBMITTED
    ).first()
    page.get_by_role("link", name=dossier.reference).click()
    page.get_by_role("heading", name=f"Dossier {dossier.reference}").wait_for()
    assert page.locator("html").get_attribute("lang") == "fr"
    assert "Chronologie" in page.content()
    os.makedirs("test-artifacts", exist_ok=True)
    page.screenshot(path="test-artifacts/prescriber-dossier.png", full_page=True)


def test_a_wrong_password_is_announced(browser_page, live_server):
    page = browser_page
    page.goto(live_server.url + "/")
    page.get_by_label("Identifiant").fill("prescriber")
    page.get_by_label("Mot de passe").fill("not-the-password")
    page.get_by_role("button", name="Se connecter").click()
    assert page.get_by_role("alert").is_visible()


def test_the_administrator_reaches_the_admin(browser_page, live_server):
    page = browser_page
    log_in(page, live_server.url, "admin")
    page.goto(live_server.url + "/admin/prescriptions/dossier/")
    assert page.get_by_role("link", name="PFMG-", exact=False).first.is_visible()


def test_an_expired_session_loses_nothing_typed(browser_page, live_server):
    page = browser_page
    log_in(page, live_server.url, "prescriber")
    dossier = Dossier.objects.filter(prescriber__username="prescriber", status=Dossier.Status.DRAFT).first()
    page.goto(f"{live_server.url}/prescriptions/{dossier.pk}/patient/")
    page.get_by_label("Nom de naissance").fill("EXPIRE")
    page.get_by_label("Prénom(s)").fill("Jeanne")
    page.context.clear_cookies(name="sessionid")  # the session ends while the prescriber is typing
    page.get_by_role("button", name="Enregistrer et continuer").click()
    page.get_by_role("heading", name="Connexion").wait_for()
    page.get_by_label("Identifiant").fill("prescriber")
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.get_by_role("heading", name="Le patient (cas index)").wait_for()
    assert page.get_by_label("Nom de naissance").input_value() == "EXPIRE"
    assert page.get_by_label("Prénom(s)").input_value() == "Jeanne"
    assert "a été restaurée" in page.get_by_role("status").first.inner_text()
    page.get_by_role("button", name="Enregistrer et continuer").click()
    page.get_by_role("heading", name="La famille").wait_for()
    assert dossier.persons.get(relationship="index").patient.birth_name == "EXPIRE"
