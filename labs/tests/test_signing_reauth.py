"""Signing a report asks for a fresh strong authentication: a second factor enrolled, then password and code
again within SIGNING_REAUTH_SECONDS; the service refuses a signature without that proof."""

import datetime as dt
import time

import pytest
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from labs import services
from labs.models import Report
from labs.tests.test_labs import cast, pdf_upload, walked  # noqa: F401 - the fixture and helpers
from people import auth
from prescriptions.models import Dossier
from tests.factories import PASSWORD

pytestmark = pytest.mark.usefixtures("reference_data")
S = Dossier.Status
KEY = "3132333435363738393031323334353637383930"


def code(steps_ahead: int = 0) -> str:
    totp = TOTP(bytes.fromhex(KEY))
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


@pytest.fixture
def awaiting(cast):  # noqa: F811
    dossier = walked(cast, S.ANALYSIS)
    report = services.upload_report(dossier=dossier, actor=cast.lab_staff, uploaded=pdf_upload())
    return dossier, report


def sign(client, dossier):
    return client.post(reverse("labs_report", args=[dossier.pk]), {"action": "sign"})


def test_a_biologist_without_a_second_factor_cannot_sign_and_is_told_to_enrol(client, cast, awaiting):  # noqa: F811
    dossier, report = awaiting
    client.force_login(cast.biologist)
    response = sign(client, dossier)
    assert response["Location"].startswith(reverse("account_totp"))
    page = client.get(response["Location"]).content.decode()
    assert "activez d&#x27;abord la double authentification" in page
    report.refresh_from_db()
    assert not report.is_signed


def test_a_password_only_session_is_sent_to_reauthenticate_and_signs_after_it(client, cast, awaiting):  # noqa: F811
    dossier, report = awaiting
    TOTPDevice.objects.create(user=cast.biologist, name="téléphone", key=KEY, confirmed=True)
    client.force_login(cast.biologist)  # a session without a strong authentication
    back = reverse("labs_report", args=[dossier.pk])
    response = sign(client, dossier)
    assert response["Location"] == f"{reverse('reauthenticate')}?next={back.replace('/', '%2F')}"
    report.refresh_from_db()
    assert not report.is_signed

    url = response["Location"]
    assert "Confirmez votre identité pour signer" in client.get(url).content.decode()
    wrong = client.post(url, {"password": PASSWORD, "code": "000000", "next": back})
    assert "Mot de passe ou code incorrect." in wrong.content.decode()
    TOTPDevice.objects.filter(user=cast.biologist).update(throttling_failure_timestamp=None)
    wrong_password = client.post(url, {"password": "not-it", "code": code(), "next": back})
    assert "Mot de passe ou code incorrect." in wrong_password.content.decode()
    confirmed = client.post(url, {"password": PASSWORD, "code": code(), "next": back})
    assert confirmed["Location"] == back
    signed = sign(client, dossier)
    assert signed["Location"] == back
    assert "Compte rendu signé." in client.get(back).content.decode()
    report.refresh_from_db()
    assert report.is_signed and report.signed_by == cast.biologist


def test_a_stale_reauthentication_is_refused(client, cast, awaiting, settings):  # noqa: F811
    dossier, report = awaiting
    settings.SIGNING_REAUTH_SECONDS = 300
    TOTPDevice.objects.create(user=cast.biologist, name="téléphone", key=KEY, confirmed=True)
    client.force_login(cast.biologist)
    session = client.session
    session[auth.STRONG_AUTH_AT] = (timezone.now() - dt.timedelta(seconds=301)).isoformat()
    session.save()
    assert sign(client, dossier)["Location"].startswith(reverse("reauthenticate"))
    report.refresh_from_db()
    assert not report.is_signed
    with pytest.raises(services.LabActionRefused, match="dans les 5 dernières minutes"):
        services.sign_report(
            report=report, actor=cast.biologist, strong_auth_at=timezone.now() - dt.timedelta(seconds=301)
        )
    with pytest.raises(services.LabActionRefused, match="confirmer votre identité"):
        services.sign_report(report=report, actor=cast.biologist, strong_auth_at=None)
    assert not Report.objects.get(pk=report.pk).is_signed


def test_the_generic_transition_page_cannot_sign_without_the_proof(client, cast, awaiting):  # noqa: F811
    dossier, report = awaiting
    client.force_login(cast.biologist)
    page = client.post(reverse("dossier_transition", args=[dossier.pk, "sign_report"]), follow=True)
    assert "se signe depuis sa page" in page.content.decode()
    dossier.refresh_from_db()
    report.refresh_from_db()
    assert dossier.status == S.ANALYSIS and not report.is_signed
