"""In Debian's Chromium, driven by Playwright: the demo users log in and reach their pages, in French."""

import os

import pytest

from pfmg.demo import DEMO_PASSWORD, seed_demo
from prescriptions.models import Dossier

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def page(live_server, settings, reference_data, monkeypatch):
    # Playwright's sync API runs an event loop in this thread; the ORM calls below are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False  # the live server speaks plain HTTP
    seed_demo()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"), args=CHROMIUM_ARGS
        )
        context = browser.new_context(locale="fr-FR")
        page = context.new_page()
        page.set_default_timeout(15000)
        yield page
        context.close()
        browser.close()


def log_in(page, base_url, username):
    page.goto(base_url + "/")
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()


def test_a_prescriber_logs_in_sees_their_dossiers_and_opens_one(page, live_server):
    log_in(page, live_server.url, "prescriber")
    page.get_by_role("heading", name="Mes dossiers").wait_for()
    dossier = Dossier.objects.filter(
        prescriber__username="prescriber", status=Dossier.Status.SUBMITTED
    ).first()
    page.get_by_role("link", name=dossier.reference).click()
    page.get_by_role("heading", name=f"Dossier {dossier.reference}").wait_for()
    assert page.locator("html").get_attribute("lang") == "fr"
    assert "Chronologie" in page.content()
    os.makedirs("test-artifacts", exist_ok=True)
    page.screenshot(path="test-artifacts/prescriber-dossier.png", full_page=True)


def test_a_wrong_password_is_announced(page, live_server):
    page.goto(live_server.url + "/")
    page.get_by_label("Identifiant").fill("prescriber")
    page.get_by_label("Mot de passe").fill("not-the-password")
    page.get_by_role("button", name="Se connecter").click()
    assert page.get_by_role("alert").is_visible()


def test_the_administrator_reaches_the_admin(page, live_server):
    log_in(page, live_server.url, "admin")
    page.get_by_role("heading", name="Mes dossiers").wait_for()
    page.goto(live_server.url + "/admin/prescriptions/dossier/")
    assert page.get_by_role("link", name="PFMG-", exact=False).first.is_visible()
