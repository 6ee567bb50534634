"""Local accounts: lockout, the TOTP second factor, the admin's way in, password change, session lifetime."""

import base64
import datetime as dt
import re
import time

import pytest
from axes.models import AccessAttempt
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from people import auth
from people.models import LaboratoryMembership, RcpMembership, Role
from people.services import grant_role
from pfmg.demo import DEMO_TOTP_KEY, demo_totp_code, seed_people
from tests import factories as f
from tests.factories import PASSWORD

pytestmark = pytest.mark.usefixtures("reference_data")

WRONG = "Identifiant ou mot de passe incorrect."
LOCKED = "Trop de tentatives de connexion ont échoué"
KEY = "00112233445566778899aabbccddeeff00112233"


def code_for(key: str, steps_ahead: int = 0) -> str:
    totp = TOTP(bytes.fromhex(key))
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


def with_device(user, key: str = KEY) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="téléphone", key=key, confirmed=True)


def unthrottle(user) -> None:
    # After a wrong code django-otp makes the next try wait (1 s, then doubling): skip the wait, not the check.
    TOTPDevice.objects.filter(user=user).update(throttling_failure_timestamp=None)


def post_login(client, username, password=PASSWORD, **extra):
    return client.post(reverse("login"), {"username": username, "password": password, **extra})


def logged_in(client) -> bool:
    return client.get(reverse("account")).status_code == 200


# --- Lockout -------------------------------------------------------------------------------------------


def test_ten_wrong_passwords_lock_the_account_and_the_right_one_is_then_refused(client, db):
    user = f.prescriber()
    for _ in range(9):
        response = post_login(client, user.username, "not-the-password")
        assert response.status_code == 200 and WRONG in response.content.decode()
    tenth = post_login(client, user.username, "not-the-password")
    assert tenth.status_code == 429 and LOCKED in tenth.content.decode()
    right = post_login(client, user.username)
    assert right.status_code == 429 and LOCKED in right.content.decode()
    assert not logged_in(client)


def test_the_limit_is_a_setting_and_the_lock_does_not_confirm_that_the_account_exists(client, db, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    user = f.prescriber()
    pages = {}
    for username in (user.username, "nobody-by-this-name"):
        for _ in range(3):
            response = post_login(client, username, "not-the-password")
        pages[username] = response.content.decode()
        assert response.status_code == 429
    # Same words for a real account and a made-up one: the page confirms nothing.
    messages = {
        re.search(r'role="alert" id="login-error"><p>(.*?)</p>', page).group(1) for page in pages.values()
    }
    assert len(messages) == 1 and LOCKED in messages.pop()
    assert post_login(client, user.username).status_code == 429


def test_a_success_clears_the_count_so_only_failures_in_a_row_lock(client, db, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    user = f.prescriber()
    for _ in range(2):
        post_login(client, user.username, "not-the-password")
    assert post_login(client, user.username).status_code == 302
    client.post(reverse("logout"))
    for _ in range(2):
        post_login(client, user.username, "not-the-password")
    assert post_login(client, user.username).status_code == 302


def test_the_lock_ends_after_the_cool_off_or_when_an_administrator_lifts_it(client, db, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    user = f.prescriber()
    for _ in range(3):
        post_login(client, user.username, "not-the-password")
    assert post_login(client, user.username).status_code == 429
    call_command("axes_reset_username", user.username)
    assert post_login(client, user.username).status_code == 302

    other = f.prescriber()
    for _ in range(3):
        post_login(Client(), other.username, "not-the-password")
    AccessAttempt.objects.filter(username=other.username).update(
        attempt_time=timezone.now() - dt.timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES + 1)
    )
    assert post_login(Client(), other.username).status_code == 302


# --- Second factor -------------------------------------------------------------------------------------


def test_a_user_with_a_device_gives_a_valid_code_after_the_password(client, db):
    user = f.prescriber()
    with_device(user)
    response = post_login(client, user.username, next="/notifications/")
    assert response.status_code == 302 and response["Location"] == reverse("login_code")
    assert not logged_in(client)  # the password alone opens nothing
    refused = client.post(reverse("login_code"), {"code": "000000"})
    assert "Code incorrect ou expiré." in refused.content.decode() and not logged_in(client)
    unthrottle(user)
    accepted = client.post(reverse("login_code"), {"code": code_for(KEY)})
    assert accepted["Location"] == "/notifications/"
    assert client.session[auth.AUTH_METHOD] == "password+totp"
    assert auth.STRONG_AUTH_AT in client.session
    client.post(reverse("logout"))
    # The same code a second time is refused (no replay).
    post_login(client, user.username)
    assert "Code incorrect" in client.post(reverse("login_code"), {"code": code_for(KEY)}).content.decode()


def test_wrong_codes_count_towards_the_lockout(client, db, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    user = f.prescriber()
    with_device(user)
    post_login(client, user.username)
    client.post(reverse("login_code"), {"code": "000000"})
    client.post(reverse("login_code"), {"code": "000001"})
    locked = client.post(reverse("login_code"), {"code": "000002"})
    assert locked.status_code == 429 and LOCKED in locked.content.decode()
    assert post_login(client, user.username).status_code == 429


def test_a_coordinator_without_a_device_is_sent_to_enrol_before_anything_else(client, db):
    user = f.coordinator(f.rcp_body())
    response = post_login(client, user.username)
    assert response["Location"].startswith(reverse("account_totp"))
    assert client.get("/")["Location"] == reverse("account_totp")
    assert client.get(reverse("notifications_inbox"))["Location"] == reverse("account_totp")
    page = client.get(reverse("account_totp")).content.decode()
    assert "<svg" in page and "impose une double authentification" in page
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
    key = base64.b32decode(secret).hex()
    assert not TOTPDevice.objects.filter(user=user).exists()  # showing the page wrote nothing
    refused = client.post(reverse("account_totp"), {"code": "000000"})
    assert "Code incorrect" in refused.content.decode()
    done = client.post(reverse("account_totp"), {"code": code_for(key), "next": "/"})
    assert done["Location"] == "/"
    assert client.get("/").status_code == 200
    assert TOTPDevice.objects.get(user=user).confirmed
    assert client.session[auth.AUTH_METHOD] == "password+totp"
    client.post(reverse("logout"))
    assert post_login(client, user.username)["Location"] == reverse("login_code")


def test_others_are_offered_the_second_factor_from_their_account_page(client, db):
    user = f.prescriber()
    assert post_login(client, user.username)["Location"] == "/"
    assert client.get("/").status_code == 200
    assert client.session[auth.AUTH_METHOD] == "password"
    page = client.get(reverse("account")).content.decode()
    assert "Activer la double authentification" in page and "Changer mon mot de passe" in page


@pytest.mark.parametrize(
    ("make", "required"),
    [
        (lambda: f.coordinator(f.rcp_body()), True),
        (lambda: f.coordinator(f.rcp_body(), function=RcpMembership.Function.DEPUTY), True),
        (lambda: f.coordinator(f.rcp_body(), function=RcpMembership.Function.MEMBER), False),
        (lambda: f.lab_member("seqoia", LaboratoryMembership.Function.BIOLOGIST), True),
        (lambda: f.lab_member("seqoia"), False),
        (lambda: f.UserFactory(roles=[Role.AUDITOR]), True),
        (lambda: f.UserFactory(roles=[Role.ADMINISTRATOR]), True),
        (lambda: f.UserFactory(is_staff=True), True),
        (lambda: f.UserFactory(roles=[Role.NATIONAL_COORDINATION]), False),
        (f.prescriber, False),
    ],
)
def test_who_must_use_a_second_factor(db, make, required):
    assert auth.second_factor_required(make()) is required


def test_a_biologist_role_requires_a_second_factor_too(db):
    user = f.UserFactory()
    grant_role(user=user, role=Role.BIOLOGIST)
    assert auth.second_factor_required(user)


# --- The admin goes through the portal's login ---------------------------------------------------------


def test_the_admin_login_is_the_portal_login_with_its_second_factor(client, db):
    admin = f.UserFactory(is_staff=True, is_superuser=True)
    with_device(admin)
    response = client.get("/admin/")
    assert response.status_code == 302
    to_admin_login = client.get(response["Location"])
    assert to_admin_login["Location"].startswith(reverse("login"))
    # Posting credentials to the admin's own login logs no one in.
    client.post(reverse("admin:login"), {"username": admin.username, "password": PASSWORD})
    assert client.get("/admin/").status_code == 302
    post_login(client, admin.username, next="/admin/")
    assert client.post(reverse("login_code"), {"code": code_for(KEY)})["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_a_logged_in_user_who_is_not_staff_is_refused_by_the_admin(client, db):
    client.force_login(f.prescriber())
    assert client.get("/admin/", follow=True).status_code == 403


# --- Demo ----------------------------------------------------------------------------------------------


def test_demo_accounts_of_required_roles_have_the_documented_key_and_the_command_prints_the_code(
    client, db, settings, capsys
):
    seed_people()
    for username in ("coordinator", "biologist_auragen", "biologist_seqoia", "admin"):
        assert TOTPDevice.objects.get(user__username=username).key == DEMO_TOTP_KEY
    assert not TOTPDevice.objects.filter(user__username="prescriber").exists()
    settings.DEMO_MODE = True
    call_command("demo_totp", "coordinator")
    printed = capsys.readouterr().out.strip()
    assert printed == demo_totp_code()
    with pytest.raises(CommandError, match="no demo TOTP device"):
        call_command("demo_totp", "prescriber")
    settings.DEMO_MODE = False
    with pytest.raises(CommandError, match="demo mode"):
        call_command("demo_totp", "coordinator")


# --- Password change -----------------------------------------------------------------------------------


def test_a_password_change_ends_every_other_session_and_keeps_this_one(db):
    user = f.prescriber()
    here, elsewhere = Client(), Client()
    here.force_login(user)
    elsewhere.force_login(user)
    assert logged_in(here) and logged_in(elsewhere)
    url = reverse("password_change")
    weak = here.post(
        url, {"old_password": PASSWORD, "new_password1": "12345678", "new_password2": "12345678"}
    )
    assert weak.status_code == 200 and "trop court" in weak.content.decode()
    new = "un-nouveau-mot-de-passe-2026"
    done = here.post(url, {"old_password": PASSWORD, "new_password1": new, "new_password2": new}, follow=True)
    assert "vos autres sessions ont été fermées" in done.content.decode()
    assert logged_in(here)
    assert not logged_in(elsewhere)
    assert elsewhere.get("/")["Location"].startswith(reverse("login"))


# --- Session lifetime ----------------------------------------------------------------------------------


def _set_clock(client, **values):
    session = client.session
    session.update(values)
    session.save()


def test_an_idle_session_ends_and_activity_slides_the_limit(client, db, settings):
    settings.SESSION_IDLE_MINUTES = 30
    client.force_login(f.prescriber())
    _set_clock(client, **{auth.LAST_SEEN: time.time() - 29 * 60})
    assert client.get("/").status_code == 200
    assert time.time() - client.session[auth.LAST_SEEN] < 60  # the request moved the limit on
    _set_clock(client, **{auth.LAST_SEEN: time.time() - 31 * 60})
    expired = client.get("/notifications/")
    assert expired["Location"].startswith(reverse("login")) and "next=/notifications/" in expired["Location"]
    assert "Votre session a expiré" in client.get(expired["Location"]).content.decode()
    assert not logged_in(client)


def test_a_session_ends_after_the_absolute_maximum_even_when_active(client, db, settings):
    settings.SESSION_MAX_HOURS = 12
    client.force_login(f.prescriber())
    _set_clock(client, **{auth.LOGIN_AT: time.time() - 11.9 * 3600, auth.LAST_SEEN: time.time() - 60})
    assert client.get("/").status_code == 200
    _set_clock(client, **{auth.LOGIN_AT: time.time() - 12 * 3600 - 5, auth.LAST_SEEN: time.time() - 60})
    assert client.get("/")["Location"].startswith(reverse("login"))
    assert not logged_in(client)


def test_who_logged_in_with_pro_sante_connect_reauthenticates_there_not_by_enrolling(client, db, settings):
    settings.PSC_ENABLED = True
    biologist = f.lab_member("seqoia", LaboratoryMembership.Function.BIOLOGIST)
    client.force_login(biologist)
    session = client.session
    session[auth.AUTH_METHOD] = "psc"
    session.save()
    page = client.get(reverse("reauthenticate"), {"next": "/laboratoire/"})
    assert page.status_code == 200  # not sent to enrol a device they do not need
    html = page.content.decode()
    assert reverse("oidc_authentication_init") in html and 'value="/laboratoire/"' in html
    assert 'name="password"' not in html
    # Without Pro Santé Connect, the same user has no way but a second factor of their own.
    session[auth.AUTH_METHOD] = "password"
    session.save()
    assert reverse("account_totp") in client.get(reverse("reauthenticate"))["Location"]


def test_an_active_session_is_written_once_a_minute_not_on_every_page(client, db, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.SESSION_IDLE_MINUTES = 30
    client.force_login(f.prescriber())
    _set_clock(client, **{auth.LAST_SEEN: time.time() - 10})
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/notifications/").status_code == 200
    writes = [q["sql"] for q in queries if "django_session" in q["sql"] and not q["sql"].startswith("SELECT")]
    assert writes == []
    _set_clock(client, **{auth.LAST_SEEN: time.time() - 61})
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/notifications/")
    writes = [q["sql"] for q in queries if "django_session" in q["sql"] and not q["sql"].startswith("SELECT")]
    assert response.status_code == 200 and writes, "a minute later the activity is recorded"
    assert time.time() - client.session[auth.LAST_SEEN] < 5
    assert response.cookies[settings.SESSION_COOKIE_NAME]["max-age"] == settings.SESSION_COOKIE_AGE  # slides
