"""Pro Santé Connect is configured from the environment, and absent (no button, no route, no backend) without it.
The login itself is tested end to end in tests/test_pro_sante_connect.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from people.psc import rpps_from_national_id

ROOT = Path(__file__).resolve().parents[2]
PSC_ENV = {
    "PSC_CLIENT_ID": "portail-pfmg",
    "PSC_CLIENT_SECRET": "secret",
    "PSC_AUTHORIZATION_ENDPOINT": "https://wallet.bas.esw.esante.gouv.fr/auth",
    "PSC_TOKEN_ENDPOINT": "https://auth.bas.esw.esante.gouv.fr/auth/realms/esante-wallet/protocol/openid-connect/token",
    "PSC_USERINFO_ENDPOINT": "https://auth.bas.esw.esante.gouv.fr/auth/realms/esante-wallet/protocol/openid-connect/userinfo",
    "PSC_JWKS_ENDPOINT": "https://auth.bas.esw.esante.gouv.fr/auth/realms/esante-wallet/protocol/openid-connect/certs",
}
PRINT_SETTINGS = (
    "import json, django; django.setup(); from django.conf import settings as s; print(json.dumps({"
    "'enabled': s.PSC_ENABLED, 'backends': s.AUTHENTICATION_BACKENDS, 'scopes': s.OIDC_RP_SCOPES,"
    "'extra': s.OIDC_AUTH_REQUEST_EXTRA_PARAMS, 'algo': s.OIDC_RP_SIGN_ALGO, 'token': s.OIDC_OP_TOKEN_ENDPOINT}))"
)


def settings_with(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PSC_")}
    return subprocess.run(  # noqa: S603
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=ROOT,
        env={**clean, "DEBUG": "true", "DJANGO_SETTINGS_MODULE": "pfmg.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_psc_variables_configure_the_relying_party():
    result = settings_with(**PSC_ENV)
    assert result.returncode == 0, result.stderr
    configured = json.loads(result.stdout)
    assert configured["enabled"] is True
    assert "people.psc.ProSanteConnectBackend" in configured["backends"]
    assert configured["scopes"] == "openid scope_all"
    assert configured["extra"] == {"acr_values": "eidas1"}
    assert configured["algo"] == "RS256"
    assert configured["token"] == PSC_ENV["PSC_TOKEN_ENDPOINT"]


def test_a_partial_psc_configuration_is_refused_at_start():
    result = settings_with(**{**PSC_ENV, "PSC_JWKS_ENDPOINT": ""})
    assert result.returncode != 0
    assert "missing: PSC_JWKS_ENDPOINT" in result.stderr


def test_without_configuration_psc_is_absent(client, db):
    assert settings.PSC_ENABLED is False  # the test environment sets no PSC_* variable
    assert "people.psc.ProSanteConnectBackend" not in settings.AUTHENTICATION_BACKENDS
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert "Pro Santé Connect" not in page.content.decode()
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/", {"code": "x", "state": "y"}).status_code == 404


@pytest.mark.parametrize(
    ("national_id", "rpps"),
    [
        ("810000000777", "10000000777"),
        ("010000000777", None),  # an ADELI identifier: no RPPS
        ("10000000777", None),  # a bare RPPS is not a national identifier
        ("8100000007770", None),
        (None, None),
        (810000000777, None),
    ],
)
def test_the_rpps_is_read_from_the_national_identifier(national_id, rpps):
    assert rpps_from_national_id(national_id) == rpps


def test_a_psc_session_ends_when_its_account_is_deactivated(client, settings, reference_data):
    from tests.factories import UserFactory

    settings.AUTHENTICATION_BACKENDS = [
        *settings.AUTHENTICATION_BACKENDS,
        "people.psc.ProSanteConnectBackend",
    ]
    user = UserFactory(rpps="10000000777")
    client.force_login(user, backend="people.psc.ProSanteConnectBackend")
    assert client.get("/").status_code == 200

    user.is_active = False
    user.save(update_fields=["is_active"])

    assert client.get("/").url.startswith("/accounts/login/")
