"""Log in with Pro Santé Connect, end to end, against a real OpenID Connect provider started for this module
(django-oauth-toolkit's, tests/oidc_provider/): the portal's login page → the provider's login form → the
portal's callback, which exchanges the code with the provider server to server, as it would with PSC."""

import datetime as dt
import html
import re
import secrets
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from django.contrib.sessions.backends.db import SessionStore
from django.utils import timezone

from people.models import Role, User
from tests.factories import EstablishmentFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

ROOT = Path(__file__).resolve().parent.parent
CLIENT_ID = "portail-pfmg"
CLIENT_SECRET = secrets.token_urlsafe(32)
PROVIDER_PASSWORD = "mot-de-passe-du-fournisseur"
RPPS = "10000000777"
UNKNOWN_RPPS = "19999999999"
INACTIVE_RPPS = "10000000778"
# Provider accounts: the username is the national identifier ("8" + RPPS); the last has none.
PROVIDER_USERS = [f"8{RPPS}", f"8{UNKNOWN_RPPS}", f"8{INACTIVE_RPPS}", "sans-rpps"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def provider(live_server, tmp_path_factory):
    """The provider's base URL; one process for the module."""
    data_dir = tmp_path_factory.mktemp("oidc_provider")
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "tests.oidc_provider.serve",
        f"--data-dir={data_dir}",
        f"--port={port}",
        f"--client-id={CLIENT_ID}",
        f"--client-secret={CLIENT_SECRET}",
        f"--redirect-uri={live_server.url}/oidc/callback/",
        f"--post-logout-redirect-uri={live_server.url}/accounts/login/",
    ]
    command += [f"--user={name}:{PROVIDER_PASSWORD}:Prénom:Nom" for name in PROVIDER_USERS]
    log = (data_dir / "provider.log").open("w")
    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            pytest.fail(
                "the OpenID Connect provider did not start:\n" + (data_dir / "provider.log").read_text()
            )
        try:
            if requests.get(f"{base}/o/.well-known/openid-configuration", timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the OpenID Connect provider did not answer within 60 s")
        time.sleep(0.2)
    yield base
    process.terminate()
    process.wait(timeout=10)
    log.close()


@pytest.fixture
def portal(settings, provider, live_server, reference_data):
    """The portal's URL, configured as a relying party of the provider (as the PSC_* variables would)."""
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False  # the live server speaks plain HTTP
    settings.PSC_ENABLED = True
    settings.PSC_ISSUER = f"{provider}/o"
    settings.PSC_END_SESSION_ENDPOINT = f"{provider}/o/logout/"
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_OP_AUTHORIZATION_ENDPOINT = f"{provider}/o/authorize/"
    settings.OIDC_OP_TOKEN_ENDPOINT = f"{provider}/o/token/"
    settings.OIDC_OP_USER_ENDPOINT = f"{provider}/o/userinfo/"
    settings.OIDC_OP_JWKS_ENDPOINT = f"{provider}/o/.well-known/jwks.json"
    settings.OIDC_STORE_ID_TOKEN = True
    settings.AUTHENTICATION_BACKENDS = [
        *settings.AUTHENTICATION_BACKENDS,
        "people.psc.ProSanteConnectBackend",
    ]
    return live_server.url


def _csrf(page: requests.Response) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert match, "no CSRF token in the form"
    return match.group(1)


def start_psc_login(browser: requests.Session, portal: str, provider: str) -> requests.Response:
    """From the portal's button to the provider's login form."""
    form = browser.get(f"{portal}/oidc/authenticate/", params={"next": "/"})
    assert form.url.startswith(f"{provider}/accounts/login/"), form.url
    return form


def sign_in_at_provider(
    browser: requests.Session, form: requests.Response, username: str
) -> requests.Response:
    """Types the credentials into the provider's form; the browser then follows the provider back to the
    portal's callback and wherever the portal sends it."""
    return browser.post(
        form.url,
        data={
            "csrfmiddlewaretoken": _csrf(form),
            "username": username,
            "password": PROVIDER_PASSWORD,
            "next": parse_qs(urlparse(form.url).query)["next"][0],
        },
    )


def portal_session(browser: requests.Session) -> SessionStore:
    return SessionStore(session_key=browser.cookies.get("sessionid"))


def test_a_psc_login_lands_on_the_account_with_that_rpps(portal, provider):
    user = UserFactory(
        first_name="Hélène",
        last_name="Vasseur",
        rpps=RPPS,
        roles=[Role.PRESCRIBER],
        establishment=EstablishmentFactory(),
    )
    other = UserFactory(first_name="Autre", last_name="Compte", rpps="10000000779")
    browser = requests.Session()

    login_page = browser.get(f"{portal}/accounts/login/")
    assert "Se connecter avec Pro Santé Connect" in login_page.text
    form = start_psc_login(browser, portal, provider)
    authorize = parse_qs(urlparse(form.history[0].headers["Location"]).query)
    assert authorize["scope"] == ["openid scope_all"]
    assert authorize["acr_values"] == ["eidas1"]
    assert authorize["code_challenge_method"] == ["S256"]

    home = sign_in_at_provider(browser, form, f"8{RPPS}")

    assert home.url == f"{portal}/"
    assert "Mes dossiers" in home.text
    assert "Hélène Vasseur" in home.text
    assert other.get_full_name() not in home.text
    assert 'action="/oidc/logout/"' in home.text  # logging out also ends the PSC session
    session = portal_session(browser)
    assert session["_auth_user_id"] == str(user.pk)
    assert session["pfmg_auth_method"] == "psc"
    strong_at = dt.datetime.fromisoformat(session["pfmg_strong_auth_at"])
    assert timezone.now() - strong_at < dt.timedelta(minutes=1)


def test_reauthenticating_asks_psc_again_and_refreshes_the_strong_authentication(portal, provider):
    UserFactory(rpps=RPPS, roles=[Role.PRESCRIBER], establishment=EstablishmentFactory())
    browser = requests.Session()
    sign_in_at_provider(browser, start_psc_login(browser, portal, provider), f"8{RPPS}")
    first = dt.datetime.fromisoformat(portal_session(browser)["pfmg_strong_auth_at"])

    # The provider still has its own session, yet a logged-in user's new PSC login must show its form again
    # (prompt=login): a fresh authentication, not a silent reuse.
    form = start_psc_login(browser, portal, provider)
    page = sign_in_at_provider(browser, form, f"8{RPPS}")

    assert page.url == f"{portal}/"
    assert dt.datetime.fromisoformat(portal_session(browser)["pfmg_strong_auth_at"]) > first


@pytest.mark.parametrize("rpps", [UNKNOWN_RPPS, INACTIVE_RPPS], ids=["unknown", "inactive"])
def test_an_rpps_without_an_active_account_is_refused_and_no_account_is_created(portal, provider, rpps):
    UserFactory(rpps=INACTIVE_RPPS, is_active=False)
    users_before = User.objects.count()
    browser = requests.Session()

    page = sign_in_at_provider(browser, start_psc_login(browser, portal, provider), f"8{rpps}")

    assert page.url == f"{portal}/accounts/login/"
    assert "ne correspond à aucun compte actif du portail" in page.text
    assert User.objects.count() == users_before
    assert not User.objects.filter(rpps=rpps, is_active=True).exists()
    assert "_auth_user_id" not in portal_session(browser)
    assert browser.get(f"{portal}/").url.startswith(f"{portal}/accounts/login/")


def test_an_identity_without_rpps_is_refused(portal, provider):
    browser = requests.Session()

    page = sign_in_at_provider(browser, start_psc_login(browser, portal, provider), "sans-rpps")

    assert page.url == f"{portal}/accounts/login/"
    assert "Pro Santé Connect n'a pas transmis de numéro RPPS" in html.unescape(page.text)
    assert "_auth_user_id" not in portal_session(browser)


def test_a_lower_authentication_level_than_required_is_refused(portal, provider, settings):
    UserFactory(rpps=RPPS)
    settings.PSC_ACR_VALUES = "eidas2"  # the provider vouches for eidas1 only
    browser = requests.Session()

    page = sign_in_at_provider(browser, start_psc_login(browser, portal, provider), f"8{RPPS}")

    assert page.url == f"{portal}/accounts/login/"
    assert "n'a pas confirmé une authentification forte" in html.unescape(page.text)
    assert "_auth_user_id" not in portal_session(browser)


def test_logging_out_ends_the_psc_session_too(portal, provider):
    UserFactory(rpps=RPPS, roles=[Role.PRESCRIBER], establishment=EstablishmentFactory())
    browser = requests.Session()
    home = sign_in_at_provider(browser, start_psc_login(browser, portal, provider), f"8{RPPS}")

    page = browser.post(f"{portal}/oidc/logout/", data={"csrfmiddlewaretoken": _csrf(home)})

    assert any(r.url.startswith(f"{provider}/o/logout/") for r in page.history)
    assert page.url == f"{portal}/accounts/login/"
    assert browser.get(f"{portal}/").url.startswith(f"{portal}/accounts/login/")
    # Without the provider's logout, this would log straight back in from the provider's session.
    start_psc_login(browser, portal, provider)
