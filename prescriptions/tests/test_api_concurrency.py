"""A transition through the API that races another change of the same dossier answers 409 with the conflict's
message and changes nothing more (PostgreSQL, two real connections: no shared test transaction)."""

import threading

import pytest
from django.db import connection, transaction
from django.test import Client

from people.models import User
from people.services import issue_api_token
from pfmg.demo import seed_demo
from prescriptions.models import Dossier, DossierEvent
from prescriptions.services import transition_dossier


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_transition_racing_another_change_answers_409_and_changes_nothing(reference_data):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's row locks between connections")
    seed_demo()
    dossier = Dossier.objects.filter(
        prescriber__username="prescriber", status=Dossier.Status.SUBMITTED
    ).first()
    _token, clear = issue_api_token(user=User.objects.get(username="prescriber"))
    coordinator = User.objects.get(username="coordinator")
    locked, release = threading.Event(), threading.Event()

    def coordinator_asks_questions():
        # The RCP's request for information holds the dossier's row until the prescriber's cancellation has
        # read the dossier as still submitted and is waiting to write it.
        try:
            with transaction.atomic():
                row = Dossier.objects.select_for_update().get(pk=dossier.pk)
                transition_dossier(dossier=row, name="request_more_info", actor=coordinator, reason="Arbre ?")
                locked.set()
                release.wait(timeout=10)
        finally:
            connection.close()

    other = threading.Thread(target=coordinator_asks_questions)
    other.start()
    assert locked.wait(timeout=10)
    timer = threading.Timer(1.0, release.set)  # the cancellation is then blocked on the row lock
    timer.start()
    response = Client(HTTP_AUTHORIZATION=f"Token {clear}").post(
        f"/api/v1/dossiers/{dossier.reference}/transitions/cancel/",
        {"reason": "Erreur de saisie."},
        content_type="application/json",
    )
    other.join()
    timer.cancel()

    assert response.status_code == 409, response.content
    assert "modifié par quelqu'un d'autre" in response.json()["detail"]
    dossier.refresh_from_db()
    assert dossier.status == Dossier.Status.MORE_INFO_REQUESTED
    assert not DossierEvent.objects.filter(dossier=dossier, transition="cancel").exists()
