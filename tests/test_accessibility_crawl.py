"""Every page each demo role can reach, crawled in Debian's Chromium and checked with axe-core.

For each demo account the test logs in through the login form, then follows the same-origin links of the
pages it reaches (GET only), breadth-first from ``/``, and runs axe-core on each page. It fails on any page
that answers a server error and lists every serious or critical axe violation (rule, role, address, first
offending elements), so that one run shows all that is wrong rather than the first problem.

The crawl is bounded: addresses are de-duplicated and each kind of page is checked once per role, a kind
being the path with its numbers blanked plus its query keys and, for a dossier, its status (which changes the
markup: actions offered, questions, documents). So not all 25 dossiers of a list nor all fiches of the
catalogue are checked, but a dossier in each status is. Pages are taken breadth-first and no role goes beyond
``MAX_PAGES``. The prescribers and the assistant also go through every step of one of their drafts and the
new-prescription page with a pre-indication chosen, whether or not a link led there.

``CRAWL_VERBOSE=1`` (with ``-s``) prints the pages of each role and every violation, whatever its impact.
"""

from __future__ import annotations

import os
import re
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import pytest
from django.urls import Resolver404, resolve

from pfmg.demo import DEMO_PASSWORD
from pfmg.management.commands.seed_demo import ACCOUNTS
from prescriptions.models import Dossier
from tests.test_browser_journeys import give_second_factor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

MAX_PAGES = 40
VERBOSE = bool(os.environ.get("CRAWL_VERBOSE"))
# Query keys that select another view of the same page; any other (a search, a filter typed by the user)
# would multiply the addresses without new markup.
ALLOWED_QUERY_KEYS = {"page", "statut", "vue", "choix"}
# Not crawled: Django's own admin (only its index is checked to answer, for the administrator), the API
# (JSON and Swagger UI, not the portal's markup), the language switch and logout (POST endpoints that would
# end the crawl), file downloads.
SKIPPED_PREFIXES = ("/admin/", "/api/", "/i18n/", "/accounts/logout/")
SKIPPED_URL_NAMES = {
    "document_download",
    "prescription_summary_pdf",
    "notice_pdf",  # consent: the notices, the pre-filled forms and the signed scans
    "form_pdf",
    "scan",
    "meeting_minutes",  # rcp: the minutes of a meeting and of a dossier
    "dossier_minutes",
    "labs_manifest_pdf",  # labs: the shipping manifest and the report (whose first download delivers it)
    "labs_report_download",
    "logout",
    "set_language",
    "dossier_transition",
}
DRAFT_STEPS = ("pre-indication", "patient", "famille", "clinique", "documents", "validation")
REPORTED_IMPACTS = {"serious", "critical"}
# The least a role's crawl must reach for the test not to pass vacuously. National coordination sees one
# page of aggregates, nothing else, by design.
MIN_PAGES = {"national": 1, "auditor": 1}  # the auditor works in the admin (the trail), not the portal
MIN_PAGES_DEFAULT = 8


@dataclass
class RoleCrawl:
    role: str
    visited: list[tuple[str, int]] = field(default_factory=list)  # (path?query, status)
    problems: list[str] = field(default_factory=list)


def normalise(url: str, origin: str) -> str | None:
    """The crawlable ``path?query`` of a link, or None when the link is out of bounds."""
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" != origin:
        return None
    path = parts.path or "/"
    if path.startswith(SKIPPED_PREFIXES):
        return None
    try:
        if resolve(path).url_name in SKIPPED_URL_NAMES:
            return None
    except Resolver404:
        pass  # a broken link is still followed: its 404 page is checked like any other
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if v != ""]
    if any(k not in ALLOWED_QUERY_KEYS for k, _ in query):
        return None
    return urlunsplit(("", "", path, urlencode(sorted(query)), ""))


def kind_of(url: str, statuses: dict[int, str]) -> str:
    parts = urlsplit(url)
    if (match := re.fullmatch(r"/dossiers/(\d+)/", parts.path)) and not parts.query:
        return f"dossier in status {statuses.get(int(match[1]))}"
    keys = ",".join(sorted(k for k, _ in parse_qsl(parts.query)))
    return re.sub(r"\d+", "N", parts.path) + "?" + keys


def forced_pages(username: str) -> list[str]:
    """For those who prescribe: each step of one of their drafts and the catalogue with a fiche open."""
    from people.models import User
    from prescriptions import selectors
    from prescriptions.rules import may_edit_draft

    user = User.objects.get(username=username)
    if not selectors.prescribers_for(user).exists():
        return []
    drafts = selectors.dossiers_visible_to(user).filter(status=Dossier.Status.DRAFT).order_by("pk")
    draft = next((d for d in drafts if may_edit_draft.test(user, d)), None)
    assert draft is not None, f"{username} prescribes but has no draft in the demo data"
    version = next(v for v in selectors.prescribable_versions() if v.criteria)
    return [
        *(f"/prescriptions/{draft.pk}/{step}/" for step in DRAFT_STEPS),
        "/prescriptions/nouvelle/",
        f"/prescriptions/nouvelle/?choix={version.pk}",
    ]


def check_page(page, axe, crawl: RoleCrawl, url: str) -> None:
    # The formsets' blank forms live in <template> elements, which axe does not look into: add one of each,
    # as a user would, so that their fields are checked too. No request leaves the browser.
    page.eval_on_selector_all("button[data-add-form]", "buttons => buttons.forEach(b => b.click())")
    results = axe.run(page)
    for violation in results.response["violations"]:
        if VERBOSE:
            print(f"    {url}: {violation['id']} ({violation['impact']}) {violation['nodes'][0]['target']}")
        if violation["impact"] not in REPORTED_IMPACTS:
            continue
        targets = "; ".join(" ".join(node["target"]) for node in violation["nodes"][:3])
        more = len(violation["nodes"]) - 3
        crawl.problems.append(
            f"[{crawl.role}] {url}: {violation['id']} ({violation['impact']}) — {violation['help']} — "
            f"{targets}{f' (+{more} more)' if more > 0 else ''}"
        )


def log_in(page, base: str, username: str) -> None:
    page.goto(base + "/accounts/login/")
    page.get_by_label("Identifiant").fill(username)
    page.get_by_label("Mot de passe").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    give_second_factor(page, username)
    page.wait_for_url(lambda u: "/accounts/login/" not in u and "/accounts/verification/" not in u)


def crawl_role(browser, axe, base: str, username: str) -> RoleCrawl:
    crawl = RoleCrawl(username)
    context = browser.new_context(locale="fr-FR")
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        log_in(page, base, username)
        if username == "admin":
            response = page.goto(base + "/admin/")
            if response is None or response.status >= 500:
                crawl.problems.append(f"[admin] /admin/ answered {response and response.status}")

        seen: set[str] = set()
        kinds_seen: set[str] = set()
        statuses = dict(Dossier.objects.values_list("pk", "status"))
        forced = forced_pages(username)  # checked whatever their kind; not counted against MAX_PAGES
        frontier: deque[str] = deque(["/"])  # breadth-first
        crawled = 0
        while forced or (frontier and crawled < MAX_PAGES):
            if forced:
                url, is_forced = forced.pop(0), True
            else:
                url, is_forced = frontier.popleft(), False
                if kind_of(url, statuses) in kinds_seen:
                    continue
            if url in seen:
                continue
            seen.add(url)
            response = page.goto(base + url)
            status = response.status if response is not None else 0
            landed = normalise(page.url, base) or url  # after a redirect, the page actually shown
            crawl.visited.append((url if landed == url else f"{url} → {landed}", status))
            if not is_forced:
                crawled += 1
            if landed != url and landed in seen:
                continue  # a redirect to a page already checked
            seen.add(landed)
            kinds_seen.add(kind_of(landed, statuses))
            if status >= 500 or status == 0:
                crawl.problems.append(f"[{username}] {url}: HTTP {status}")
                continue
            check_page(page, axe, crawl, landed)
            for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
                link = normalise(urljoin(page.url, href), base)
                if link is not None and link not in seen:
                    frontier.append(link)
    finally:
        context.close()
    return crawl


def test_every_page_of_every_role_answers_and_has_no_serious_accessibility_violation(
    browser_page, live_server
):
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    base = live_server.url
    problems: list[str] = []

    # The login page, as everyone first sees it.
    anonymous = RoleCrawl("anonymous")
    response = browser_page.goto(base + "/accounts/login/")
    assert response is not None and response.status == 200
    check_page(browser_page, axe, anonymous, "/accounts/login/")
    problems += anonymous.problems

    # One browser for the whole crawl (the shared fixture's), a fresh context (no cookies) for each role.
    browser = browser_page.context.browser

    summary = []
    for username, _ in ACCOUNTS:
        crawl = crawl_role(browser, axe, base, username)
        problems += crawl.problems
        summary.append(f"{username}: {len(crawl.visited)} pages")
        if VERBOSE:
            print(f"\n{username} ({len(crawl.visited)} pages)")
            for url, status in crawl.visited:
                print(f"  {status} {url}")
        least = MIN_PAGES.get(username, MIN_PAGES_DEFAULT)
        if len(crawl.visited) < least or ("/", 200) not in crawl.visited:
            problems.append(
                f"[{username}] the crawl reached only {len(crawl.visited)} pages (at least {least} expected, "
                f"the home page among them): {crawl.visited}"
            )

    assert not problems, f"{len(problems)} problem(s) ({', '.join(summary)}):\n" + "\n".join(problems)
