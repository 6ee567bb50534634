"""Shared pytest set-up: reference data, service-backed tests that skip (or, in CI, fail) without their service."""

import os
import shutil

import pytest
from django.conf import settings
from django.core.management import call_command

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES", "") not in ("", "0", "false")
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def _redis_available() -> tuple[bool, str]:
    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis"):
        return False, "CELERY_BROKER_URL is not a Redis URL"
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as exc:  # noqa: BLE001 - the reason is what we report
        return False, f"Redis at {url} does not answer ({exc.__class__.__name__})"
    return True, ""


def _missing_service(item) -> str:
    if (
        item.get_closest_marker("postgres")
        and settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql"
    ):
        return "needs PostgreSQL: set DATABASE_URL=postgres://…"
    if item.get_closest_marker("redis"):
        ok, why = _redis_available()
        if not ok:
            return f"needs Redis: {why}"
    if item.get_closest_marker("browser") and not shutil.which(CHROMIUM):
        return f"needs Chromium at {CHROMIUM} (apt-get install chromium)"
    return ""


def pytest_runtest_setup(item):
    missing = _missing_service(item)
    if missing:
        if REQUIRE_SERVICES:
            pytest.fail(f"REQUIRE_SERVICES is set but this test {missing}", pytrace=False)
        pytest.skip(missing)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        call_command("load_reference", verbosity=0)
        _demo_signing_certificates(tmp_path_factory.mktemp("signing"), django_db_blocker)


def _demo_signing_certificates(directory, django_db_blocker):
    """Reports are signed with their laboratory's certificate: the demo ones, written once per session in a
    temporary folder, and their root trusted by the verification (as REPORT_SIGNING_TRUST_ROOTS would)."""
    from django.test import override_settings

    from labs.certificates import generate_demo_certificates
    from labs.signing import DEMO_ROOT_FILE
    from people.models import Laboratory

    password = "test-signing-password"  # noqa: S105 - a throwaway demo key
    generate_demo_certificates(directory, Laboratory.objects.all(), password)
    override_settings(
        REPORT_SIGNING_DIR=directory,
        REPORT_SIGNING_PASSWORD=password,
        REPORT_SIGNING_TRUST_ROOTS=[str(directory / DEMO_ROOT_FILE)],
    ).enable()


@pytest.fixture
def reference_data(db):
    """The shipped reference data; reloaded if a transactional test flushed it."""
    from people.models import Region

    if not Region.objects.exists():
        call_command("load_reference", verbosity=0)


@pytest.fixture(autouse=True)
def _celery_eager(request):
    """Tasks run in the test's own process, whatever broker is configured; tests marked ``worker`` run them on
    a real worker instead."""
    from pfmg.celery import app

    eager = request.node.get_closest_marker("worker") is None
    previous = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = eager, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = previous


@pytest.fixture(autouse=True)
def _french_between_tests():
    # Django keeps the active language of the thread: a test that switches to English must not leak it.
    yield
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _plain_http(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"  # uploaded documents never land in the working tree
    settings.SECURE_SSL_REDIRECT = False
    # Real hashing costs ~0.3 s a user; tests create hundreds.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The manifest storage needs collectstatic first; the tests do not test static files.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser_page(live_server, settings, reference_data, monkeypatch):
    """A French Chromium page (Debian's, driven by Playwright) against the live server, with the demo seeded.

    Use with ``pytest.mark.django_db(transaction=True, serialized_rollback=True)`` and the ``browser`` marker."""
    from pfmg.demo import seed_demo

    # Playwright's sync API runs an event loop in this thread; the ORM calls of the test stay synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False  # the live server speaks plain HTTP
    seed_demo()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(locale="fr-FR")
        page = context.new_page()
        page.set_default_timeout(15000)
        yield page
        context.close()
        browser.close()


@pytest.fixture(autouse=True, scope="session")
def _audit_flush_on_sqlite():
    """Django empties tables between transactional tests with DELETE on SQLite, which the audit trail's trigger
    refuses outside a purge; PostgreSQL uses TRUNCATE, which row triggers do not see."""
    from audit import guard

    guard.ALLOW_SQLITE_FLUSH = True
    yield
    guard.ALLOW_SQLITE_FLUSH = False
