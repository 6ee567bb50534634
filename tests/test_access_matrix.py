"""Access proven by a matrix: every URL of the portal, tried by every demo role (and an anonymous visitor) on
the objects it must not reach; after every refused POST the database is unchanged. The matrix, its shape and
the convention it checks (404 / 403 / refused in the page / login) are in ``tests/access_matrix.py``.

The demo is seeded once for the module, inside a transaction rolled back at the end (other modules see an
untouched database); every request runs in a savepoint rolled back after it, so no cell sees another's
effects."""

from __future__ import annotations

import re
import sys

import pytest
import rules
from django.db import transaction

from tests import access_matrix as m

# The mark makes pytest-django create the test database (it creates one only for the tests that ask for it).
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_matrix_media")]


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker, tmp_path_factory):
    with m.seeded_demo(django_db_blocker, tmp_path_factory.mktemp("matrix-media")) as seeded:
        seeded.baseline = m.fingerprint()
        yield seeded


@pytest.fixture
def _matrix_media(_plain_http, settings, request):
    # The files seeded with the demo (signed scans, reports) live where the module fixture put them.
    if "demo" in request.fixturenames:
        settings.MEDIA_ROOT = request.getfixturevalue("demo").extra["media"]
    # One write less per request; sessions are not what the matrix tests.
    settings.SESSION_SAVE_EVERY_REQUEST = False


def test_every_url_pattern_has_an_entry_in_the_matrix():
    missing = m.uncovered()
    assert not missing, (
        "URL patterns without an entry in tests/access_matrix.py ENTRIES (say who may reach what):\n"
        + "\n".join(missing)
    )


def test_every_entry_of_the_matrix_names_a_url():
    names = {p.name for p in m.url_patterns()}
    assert not [e.name for e in m.ENTRIES if e.name not in names]
    assert len(m.ENTRY_BY_NAME) == len(m.ENTRIES), "one entry per URL name"


@pytest.mark.parametrize("entry", m.ENTRIES, ids=[e.name for e in m.ENTRIES])
def test_access(demo, entry):
    violations = [
        v
        for cell in m.cells(demo, entry)
        if (cell.name, cell.role, cell.target, cell.method) not in m.KNOWN_HOLES
        and (v := m.check(demo, entry, cell))
    ]
    assert not violations, f"{len(violations)} violation(s):\n" + "\n".join(violations)


@pytest.mark.parametrize(
    "hole",
    [pytest.param(k, marks=pytest.mark.xfail(strict=True, reason=r)) for k, r in m.KNOWN_HOLES.items()]
    or [pytest.param(None, marks=pytest.mark.skip(reason="no known hole"))],
    ids=lambda k: " ".join(k) if k else "none",
)
def test_known_hole(demo, hole):
    name, role, target, method = hole
    entry = m.ENTRY_BY_NAME[name]
    violation = m.check(demo, entry, m.Cell(name, role, target, method))
    assert violation is None, violation


# The admin's gate (``AdminSite.admin_view``) looks at ``is_staff`` only, never at a role: every admin URL is
# tried by an anonymous visitor and by one logged-in non-staff role, a sample of them by every other role.
ADMIN_EVERY_URL = (m.ANONYMOUS, "prescriber")
ADMIN_SAMPLE = re.compile(
    r"^admin:(index|\w+_(dossier|patient|consentrecord|user|report)_(changelist|change|delete|add))$"
)


@pytest.mark.parametrize("role", [r for r in m.ALL_ROLES if r not in m.STAFF])
def test_the_admin_answers_only_staff(demo, role):
    """GET and POST on the admin's URLs send whoever is not staff to the admin's login page and change nothing.
    The POSTs of a role share one check of the database (a change is then traced to its URL)."""
    violations = []
    urls = []
    for p in m.url_patterns():
        if not m.is_admin_pattern(p):
            continue
        if role not in ADMIN_EVERY_URL and not ADMIN_SAMPLE.match(p.name or ""):
            continue
        url = m.admin_url(p)
        if url is None:
            violations.append(f"/{p.route}: no sample address resolves to it")
            continue
        urls.append((p, url))
    assert role in ADMIN_EVERY_URL or len(urls) >= 10
    for p, url in urls:
        want = m.A.PUBLIC if p.name in m.ADMIN_PUBLIC else m.A.LOGIN
        if p.name == "admin:login" and role != m.ANONYMOUS and role not in m.MACHINES:
            # The admin has no login form: the portal's login is the way in, and a signed-in user who is not
            # staff is told no (403) rather than sent round in a loop.
            want = m.A.FORBIDDEN
        if v := m.run(demo, m.Cell(p.name or p.route, role, m.NONE, "GET"), url, want):
            violations.append(v)
    client = demo.client(role)
    with transaction.atomic():
        writes = m.write_count()
        for p, url in urls:
            response = client.post(
                url, {"action": "delete_selected", "_selected_action": ["1"], "post": "yes"}
            )
            want_login = p.name not in m.ADMIN_PUBLIC
            if response.status_code >= 500 or (want_login and not m._is_login_redirect(response, url)):
                violations.append(f"POST {p.name or p.route} as {role} {url}: got {response.status_code}")
        changed = m.write_count() != writes and m.fingerprint() != demo.baseline
        transaction.set_rollback(True)
    if changed:
        for p, url in urls:
            if v := m.run(demo, m.Cell(p.name or p.route, role, m.NONE, "POST"), url, m.A.REFUSED):
                violations.append(v)
    assert not violations, "\n".join(violations)


def test_the_admin_serves_its_staff(demo):
    for name in ("admin:index", "admin:prescriptions_dossier_changelist"):
        cell = m.Cell(name, "admin", m.NONE, "GET")
        from django.urls import reverse

        assert m.run(demo, cell, reverse(name), m.A.ALLOW) is None


def test_the_auditor_sees_only_the_trail(demo):
    """The data protection officer is staff, but the admin gives them the audit trail and nothing else: every
    other model's pages answer 403, whatever the object."""
    from django.urls import reverse

    assert (
        m.run(
            demo,
            m.Cell("admin:audit_auditentry_changelist", "auditor", m.NONE, "GET"),
            reverse("admin:audit_auditentry_changelist"),
            m.A.ALLOW,
        )
        is None
    )
    violations = []
    for p in m.url_patterns():
        if not m.is_admin_pattern(p) or not ADMIN_SAMPLE.match(p.name or "") or p.name == "admin:index":
            continue
        url = m.admin_url(p)
        if url is None:
            continue
        for method in ("GET", "POST"):
            want = m.A.FORBIDDEN if method == "GET" else m.A.REFUSED
            if v := m.run(demo, m.Cell(p.name, "auditor", m.NONE, method), url, want):
                violations.append(v)
    assert not violations, "\n".join(violations)


# --- The matrix itself is tested: widen one scope, and it must report it -----------------------------------


def _violations(demo, name: str, targets: list[tuple[str, str, str]]) -> list[str]:
    entry = m.ENTRY_BY_NAME[name]
    return [
        v
        for role, target, method in targets
        if (v := m.check(demo, entry, m.Cell(name, role, target, method)))
    ]


def test_the_cells_used_below_hold_unpatched(demo):
    cells = {
        "dossier_detail": [("national", "paris.submitted", "GET"), ("prescriber2", "paris.finalised", "GET")],
        "labs_report": [
            ("lab_seqoia", "paris.withdrawn", "GET"),
            ("lab_auragen", "paris.report_signed", "GET"),
        ],
        "rcp:decide": [("prescriber2", "paris.submitted", "POST")],
    }
    for name, targets in cells.items():
        assert _violations(demo, name, targets) == []


def replace_everywhere(monkeypatch, original, replacement) -> int:
    """Replace a function or rule wherever the project's modules hold it (``from x import f`` copies the name)."""
    replaced = 0
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(PROJECT_PACKAGES):
            continue
        for attribute, value in list(vars(module).items()):
            if value is original:
                monkeypatch.setattr(module, attribute, replacement)
                replaced += 1
    return replaced


PROJECT_PACKAGES = ("prescriptions", "rcp", "consent", "labs", "people", "notifications", "pfmg")


def test_the_matrix_catches_a_dossier_selector_that_shows_everything(demo, monkeypatch):
    from prescriptions import selectors
    from prescriptions.models import Dossier

    everything = lambda user: Dossier.objects.all()  # noqa: E731
    assert replace_everywhere(monkeypatch, selectors.dossiers_visible_to, everything) >= 3
    found = _violations(
        demo,
        "dossier_detail",
        [("national", "paris.submitted", "GET"), ("prescriber2", "paris.finalised", "GET")],
    )
    assert len(found) == 2 and all("expected 404, got 200" in v for v in found), found
    # A write reaching its view through the widened scope is reported, whatever refuses it further on.
    found = _violations(demo, "labs_samples", [("prescriber2", "paris.withdrawn", "POST")])
    found += _violations(demo, "labs_reception", [("lab_auragen", "paris.samples_shipped", "POST")])
    assert len(found) == 2 and all("expected 404" in v for v in found), found


def test_the_matrix_catches_a_laboratory_seeing_dossiers_in_any_status(demo, monkeypatch):
    from prescriptions import selectors
    from prescriptions.models import Dossier

    monkeypatch.setattr(selectors, "LAB_VISIBLE", list(Dossier.Status))
    found = _violations(
        demo,
        "dossier_detail",
        [("lab_seqoia", "paris.rcp_validated", "GET"), ("biologist_auragen", "lyon.rcp_validated", "GET")],
    )
    assert len(found) == 2, found


def test_the_matrix_catches_a_withdrawn_dossier_identified_by_its_laboratory(demo, monkeypatch):
    from prescriptions import rules as dossier_rules

    never = rules.predicate(lambda user, dossier: False)
    assert replace_everywhere(monkeypatch, dossier_rules.identities_hidden, never) >= 3
    found = _violations(demo, "prescription_summary_pdf", [("lab_seqoia", "paris.withdrawn", "GET")])
    found += _violations(demo, "document_download", [("lab_auragen", "lyon.withdrawn", "GET")])
    found += _violations(demo, "dossier_detail", [("biologist_seqoia", "paris.withdrawn", "GET")])
    assert len(found) == 3, found
    assert "showing" in found[2], found  # the dossier page now names the persons


def test_the_matrix_catches_consents_shown_to_a_laboratory(demo, monkeypatch):
    from consent import rules as consent_rules

    anyone = rules.predicate(lambda user, dossier: True)
    assert replace_everywhere(monkeypatch, consent_rules.cares_for_dossier, anyone) >= 2
    found = _violations(demo, "consent:dossier", [("lab_seqoia", "paris.finalised", "GET")])
    found += _violations(demo, "consent:withdraw", [("coordinator", "lyon.finalised", "POST")])
    assert len(found) == 2 and "expected 403" in found[0], found
