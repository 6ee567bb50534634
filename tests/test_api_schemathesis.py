"""Schemathesis against the OpenAPI schema the portal serves, as authenticated demo users: every operation,
a bounded number of generated requests each, no server error and no answer outside the schema."""

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from people.models import User
from people.services import issue_api_token
from pfmg.demo import DEMO_PASSWORD, demo_totp_code, seed_demo
from tests.access_matrix import MACHINES, ROLES

pytestmark = pytest.mark.usefixtures("reference_data")

# Every demo role (tests.access_matrix.ROLES): each sees the API through its own scope.
USERNAMES = list(ROLES)
# Examples per operation and user: bounded so that every operation, as every role, keeps the run to minutes.
MAX_EXAMPLES = 3
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def obtain_token(client, username: str) -> str:
    """Through the endpoint, with the demo second factor for the accounts that require one."""
    response = client.post(
        "/api/v1/auth/token/",
        {"username": username, "password": DEMO_PASSWORD, "otp": demo_totp_code()},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    return response.json()["token"]


def fresh_token(username: str) -> str:
    # A TOTP code is accepted once: the tokens that DELETE cases spend come from the service directly.
    _token, clear = issue_api_token(user=User.objects.get(username=username))
    return clear


def test_every_api_operation_answers_within_its_schema_for_every_role(client, db, settings_override):
    seed_demo()
    # People get theirs through the endpoint; a laboratory's machine account has no password: its token is issued
    # by the command or the admin (people.services.issue_machine_token).
    tokens = {
        username: fresh_token(username) if username in MACHINES else obtain_token(client, username)
        for username in USERNAMES
    }
    app = in_test_transaction(get_wsgi_application())
    schema = schemathesis.openapi.from_wsgi(
        "/api/schema/?format=json", app, headers={"Authorization": f"Token {tokens['prescriber']}"}
    )
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {
        "/api/v1/auth/token/",
        "/api/v1/pre-indications/",
        "/api/v1/hpo-terms/{id}/",
        "/api/v1/research-export/",
        "/api/v1/dossiers/",
        "/api/v1/dossiers/{reference}/",
        "/api/v1/dossiers/{reference}/transitions/{name}/",
        "/fhir/r4/Bundle/{reference}",
    }
    failures: list[str] = []
    for username, token in tokens.items():
        for operation in operations:
            try:
                fuzz(operation, client, username, token)
            except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - every failure of every role is reported together
                failures.append(f"[{username}] {operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)


def fuzz(operation, client, username: str, token: str) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        # Revoking spends the token: each DELETE gets a fresh one.
        used = fresh_token(username) if case.method == "DELETE" else token
        case.call_and_validate(headers={"Authorization": f"Token {used}"}, checks=CHECKS)

    check()


@pytest.fixture
def settings_override(settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "localhost", "testserver"]
    return settings


def in_test_transaction(application):
    """The real WSGI application, without the start and end of request closing the test's database
    connection (and its transaction): what Django's test client does around each request."""

    def wrapped(environ, start_response):
        signals.request_started.disconnect(close_old_connections)
        signals.request_finished.disconnect(close_old_connections)
        try:
            response = application(environ, start_response)
            body = list(response)
            response.close()
        finally:
            signals.request_started.connect(close_old_connections)
            signals.request_finished.connect(close_old_connections)
        return body

    return wrapped
