"""Two copies of one API POST with the same ``Idempotency-Key`` at the same instant act once (PostgreSQL, real
connections: no shared test transaction)."""

import threading

import pytest
from django.db import connection
from django.test import Client

from prescriptions.models import Dossier
from prescriptions.tests.test_api_dossiers import _slug


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_simultaneous_requests_with_one_key_act_once(reference_data):
    """Two copies of one POST at the same instant (a client retrying on a timeout while the first still runs):
    the second waits for the first on the key's unique index, then answers what the first answered."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's row locks between connections")
    from people.models import User
    from people.services import issue_api_token
    from pfmg.demo import seed_demo

    seed_demo()
    _token, clear = issue_api_token(user=User.objects.get(username="prescriber"))
    slug = _slug()
    before = Dossier.objects.count()
    answers: list = []
    barrier = threading.Barrier(2)

    def send():
        barrier.wait()
        try:
            answers.append(
                Client(HTTP_AUTHORIZATION=f"Token {clear}").post(
                    "/api/v1/dossiers/",
                    {"pre_indication": slug},
                    content_type="application/json",
                    HTTP_IDEMPOTENCY_KEY="same-instant",
                )
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json()["reference"] == answers[1].json()["reference"]
    assert Dossier.objects.count() == before + 1
