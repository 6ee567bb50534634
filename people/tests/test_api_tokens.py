"""API tokens: issued for a username and password, stored as a hash, refused once expired or revoked."""

import hashlib
from datetime import timedelta

import pytest
from django.contrib.admin.sites import site
from django.urls import reverse
from django.utils import timezone

from people.models import ApiToken, LaboratoryMembership
from tests import factories as f

pytestmark = pytest.mark.usefixtures("reference_data")

URL = "/api/v1/auth/token/"
CATALOGUE = "/api/v1/pre-indications/"


def obtain(client, username, password=f.PASSWORD):
    return client.post(URL, {"username": username, "password": password}, content_type="application/json")


def auth(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Token {token}"}


@pytest.fixture
def user(db):
    return f.prescriber()


def test_a_token_is_issued_for_good_credentials_stored_hashed_and_opens_the_api(client, user, settings):
    settings.API_TOKEN_TTL_HOURS = 12
    response = obtain(client, user.username)
    assert response.status_code == 201
    body = response.json()
    clear = body["token"]
    stored = ApiToken.objects.get(user=user)
    assert stored.key_hash == hashlib.sha256(clear.encode()).hexdigest()
    assert clear not in {stored.key_hash, stored.prefix} and clear.startswith(stored.prefix)
    expected = timezone.now() + timedelta(hours=12)
    assert abs(stored.expires_at - expected) < timedelta(minutes=1)
    assert body["expires_at"].startswith(timezone.localtime(stored.expires_at).isoformat()[:16])
    assert stored.last_used_at is None

    assert client.get(CATALOGUE, **auth(clear)).status_code == 200
    stored.refresh_from_db()
    assert stored.last_used_at is not None


def test_bad_credentials_get_a_400_that_does_not_say_which_part_was_wrong(client, user):
    wrong_password = obtain(client, user.username, "not-the-password")
    unknown_user = obtain(client, "nobody-by-that-name", "not-the-password")
    assert wrong_password.status_code == unknown_user.status_code == 400
    assert wrong_password.json() == unknown_user.json()
    assert wrong_password.json()["non_field_errors"] == ["Identifiant ou mot de passe incorrect."]
    assert not ApiToken.objects.exists()


def test_an_inactive_account_gets_no_token(client, user):
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert obtain(client, user.username).status_code == 400


def test_an_expired_token_is_refused_with_401(client, user):
    clear = obtain(client, user.username).json()["token"]
    ApiToken.objects.filter(user=user).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = client.get(CATALOGUE, **auth(clear))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert "expiré" in response.json()["detail"]


def test_delete_revokes_the_token_used_and_only_that_one(client, user):
    first = obtain(client, user.username).json()["token"]
    second = obtain(client, user.username).json()["token"]
    assert client.delete(URL, **auth(first)).status_code == 204
    refused = client.get(CATALOGUE, **auth(first))
    assert refused.status_code == 401 and "révoqué" in refused.json()["detail"]
    assert client.get(CATALOGUE, **auth(second)).status_code == 200
    assert client.delete(URL, **auth(first)).status_code == 401


def test_unknown_or_malformed_tokens_and_no_token_get_401(client, db):
    assert client.get(CATALOGUE, **auth("made-up")).status_code == 401
    assert client.get(CATALOGUE, HTTP_AUTHORIZATION="Token a b").status_code == 401
    assert client.get(CATALOGUE).status_code == 401
    assert client.delete(URL).status_code == 401


def test_the_admin_lists_tokens_by_prefix_never_their_hash_and_revokes_them(client, user):
    clear = obtain(client, user.username).json()["token"]
    token = ApiToken.objects.get(user=user)
    admin = f.UserFactory(is_staff=True, is_superuser=True)
    client.force_login(admin)
    listing = client.get(reverse("admin:people_apitoken_changelist"))
    assert listing.status_code == 200
    page = listing.content.decode()
    assert token.prefix in page and str(user) in page
    assert token.key_hash not in page and clear not in page
    detail = client.get(reverse("admin:people_apitoken_change", args=[token.pk])).content.decode()
    assert token.key_hash not in detail
    assert "revoke" in site._registry[ApiToken].get_actions(listing.wsgi_request)

    response = client.post(
        reverse("admin:people_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
        follow=True,
    )
    assert "1 jeton révoqué." in response.content.decode()
    client.logout()
    assert client.get(CATALOGUE, **auth(clear)).status_code == 401


def test_a_role_that_requires_a_second_factor_gets_a_token_only_with_a_valid_code(client, db):
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    biologist = f.lab_member("seqoia", LaboratoryMembership.Function.BIOLOGIST)
    without_device = obtain(client, biologist.username)
    assert without_device.status_code == 400
    assert "double authentification" in without_device.json()["otp"][0]

    device = TOTPDevice.objects.create(user=biologist, name="t", confirmed=True)
    no_code = obtain(client, biologist.username)
    wrong_code = client.post(
        URL,
        {"username": biologist.username, "password": f.PASSWORD, "otp": "000000"},
        content_type="application/json",
    )
    assert no_code.status_code == wrong_code.status_code == 400
    assert wrong_code.json()["otp"] == ["Code à usage unique manquant ou incorrect."]
    assert not ApiToken.objects.filter(user=biologist).exists()

    device.refresh_from_db()
    device.throttle_reset()  # django-otp slows retries after a wrong code; that is its own feature
    code = f"{TOTP(device.bin_key).token():06d}"
    right = client.post(
        URL,
        {"username": biologist.username, "password": f.PASSWORD, "otp": code},
        content_type="application/json",
    )
    assert right.status_code == 201
    assert ApiToken.objects.filter(user=biologist).count() == 1


def test_a_token_request_costs_one_lookup_and_writes_nothing_within_the_minute(client, user):
    """The API's per-request overhead: the token and its user in one query, no session, no write while the
    token's last use is recent (it is recorded once a minute at most)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from people.services import issue_api_token

    _, clear = issue_api_token(user=user)
    slug = client.get(CATALOGUE, **auth(clear)).json()["results"][0]["slug"]  # records the use
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"{CATALOGUE}{slug}/", **auth(clear))
    assert response.status_code == 200
    sql = [q["sql"] for q in queries]
    assert sum('FROM "people_apitoken"' in s for s in sql) == 1
    assert not [s for s in sql if s.startswith(("UPDATE", "INSERT", "DELETE"))], sql
    assert not [s for s in sql if "django_session" in s], sql
    assert "sessionid" not in response.cookies


def test_repeated_wrong_passwords_lock_the_account_out_of_the_token_endpoint_too(client, user, settings):
    """The login page's lockout (django-axes, by username) holds for the API: the client gets the page's message
    as JSON with 429, and the right password is refused while the lock lasts."""
    settings.LOGIN_FAILURE_LIMIT = 3
    for _ in range(2):
        wrong = obtain(client, user.username, "wrong")
        assert wrong.status_code == 400
    locked = obtain(client, user.username, "wrong")
    assert locked.status_code == 429
    assert "Trop de tentatives de connexion ont échoué" in locked.json()["detail"]
    right = obtain(client, user.username)
    assert right.status_code == 429
    assert not ApiToken.objects.filter(user=user).exists()
