"""In Chromium, the pages of each role load and work under the Content-Security-Policy with no violation:
no inline script or style anywhere, the HPO autocomplete, the admin and the Swagger UI included."""

import pytest

from pfmg.demo import DEMO_PASSWORD
from prescriptions.models import Dossier
from tests.test_browser_journeys import give_second_factor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

# Reports every violation in the console, whatever the browser's own wording; injected by the browser
# driver, so it is not itself subject to the policy.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + e.blockedURI + " at " + e.sourceFile
    + ":" + e.lineNumber);
});
"""


class Violations:
    def __init__(self, context):
        self.seen: list[str] = []
        context.add_init_script(REPORT_VIOLATIONS)
        context.on("console", self._console)
        self.where = ""

    def _console(self, message):
        text = message.text
        if "CSP violation" in text or "Content Security Policy" in text:
            self.seen.append(f"{self.where}: {text}")


def visit(page, violations, base, path, *, ready=None):
    violations.where = path
    response = page.goto(base + path)
    assert response is not None and response.status == 200, f"{path} answered {response and response.status}"
    if ready:
        page.locator(ready).first.wait_for()
    page.wait_for_load_state("networkidle")


def log_in(page, violations, base, username):
    visit(page, violations, base, "/accounts/login/")
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    give_second_factor(page, username)
    page.wait_for_url(lambda url: "/accounts/login/" not in url and "/accounts/verification/" not in url)


def test_no_page_of_any_role_violates_the_content_security_policy(browser_page, live_server):
    base = live_server.url
    browser = browser_page.context.browser
    found: list[str] = []

    # The detector itself: an inline script added to the login page is refused and reported.
    context = browser.new_context(locale="fr-FR")
    violations = Violations(context)
    page = context.new_page()
    visit(page, violations, base, "/accounts/login/")
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.ran = 1';"
        " document.head.appendChild(s); }"
    )
    page.wait_for_timeout(200)
    assert page.evaluate("() => window.ran") is None
    assert any("script-src" in v for v in violations.seen), violations.seen
    context.close()

    submitted = Dossier.objects.filter(
        prescriber__username="prescriber", status=Dossier.Status.SUBMITTED
    ).first()
    draft = Dossier.objects.filter(prescriber__username="prescriber", status=Dossier.Status.DRAFT).first()
    journeys = {
        "prescriber": [
            ("/", None),
            (f"/dossiers/{submitted.pk}/", "h1"),
            (f"/prescriptions/{draft.pk}/clinique/", "[data-hpo-search]"),
            ("/api/docs/", ".swagger-ui .info"),
        ],
        "coordinator": [("/rcp/", "h1")],
        "lab_seqoia": [("/laboratoire/", "h1")],
        "admin": [
            ("/admin/", "#content"),
            ("/admin/prescriptions/dossier/", "#result_list"),
            (f"/admin/prescriptions/dossier/{submitted.pk}/change/", "#content"),
            ("/admin/people/apitoken/", "#content"),
            ("/admin/people/user/", "#result_list"),
        ],
    }
    for username, pages in journeys.items():
        context = browser.new_context(locale="fr-FR")
        violations = Violations(context)
        page = context.new_page()
        page.set_default_timeout(15000)
        log_in(page, violations, base, username)
        for path, ready in pages:
            visit(page, violations, base, path, ready=ready)
            if path.endswith("/clinique/"):
                # The HPO autocomplete: a blank form added by the script, then suggestions from the API.
                page.get_by_role("button", name="Ajouter un terme HPO").click()
                term = page.locator("[data-hpo-search]").last
                term.fill("intellectual disab")
                page.locator("#hpo-options option").first.wait_for(state="attached")
                assert "HP:0001249" in page.locator("#hpo-options").inner_html()
        found += [f"[{username}] {v}" for v in violations.seen]
        context.close()

    assert not found, "\n".join(found)
