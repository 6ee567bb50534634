"""Concurrent losers are told, never answered with a 500: a double click on « Soumettre » (eight POSTs at
once) submits once and tells the seven others the dossier changed under them."""

import threading

import pytest
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

from prescriptions import drafting
from prescriptions.models import Dossier
from tests import factories as f

from .test_prescribing import step_url


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_double_click_on_submit_submits_once_and_tells_the_others(reference_data, monkeypatch):
    assert connection.vendor == "postgresql"
    prescriber = f.prescriber()
    rcp = f.rcp_body()
    dossier = f.dossier(prescriber_user=prescriber, rcp=rcp)
    clicks = 8
    # Every request has loaded the draft in its view before any submits: the worst double click.
    barrier = threading.Barrier(clicks)
    real_submit = drafting.attest_and_submit

    def submit_together(**kwargs):
        barrier.wait(timeout=20)
        return real_submit(**kwargs)

    monkeypatch.setattr(drafting, "attest_and_submit", submit_together)
    responses = []

    def click() -> None:
        try:
            client = Client(raise_request_exception=False)
            client.force_login(prescriber)
            responses.append(
                client.post(step_url(dossier, "validation"), {"rcp": rcp.pk, "attestation": "on"})
            )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=click) for _ in range(clicks)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * (clicks - 1) + [302], statuses
    assert responses and all(
        r["Location"] == reverse("dossier_detail", args=[dossier.pk])
        for r in responses
        if r.status_code == 302
    )
    told = [r.content.decode() for r in responses if r.status_code == 200]
    assert all("a été modifié par quelqu&#x27;un d&#x27;autre" in page for page in told), told[0][:3000]
    stored = Dossier.objects.get(pk=dossier.pk)
    assert stored.status == Dossier.Status.SUBMITTED
    assert stored.events.filter(transition="submit").count() == 1


def test_sqlite_writers_wait_for_the_lock_rather_than_fail(tmp_path):
    """On the embedded SQLite default, a writer waits for another's lock (taken when its transaction begins)
    instead of failing at once with "database is locked"."""
    import os
    import subprocess
    import sys

    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SECRET_KEY", "CELERY_BROKER_URL")
    }
    env.update(DEBUG="true", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    script = (
        "from django.db import connection; connection.ensure_connection(); "
        "print(connection.settings_dict['OPTIONS']['transaction_mode'], "
        "connection.connection.execute('PRAGMA busy_timeout').fetchone()[0])"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.stdout.splitlines()[-1].split() == ["IMMEDIATE", "20000"], result.stderr[-2000:]


def test_a_write_that_still_finds_sqlite_locked_answers_the_conflict_message(tmp_path, rf, db):
    """Past its timeout, SQLite's "database is locked" reaches the user as the conflict message (409)."""
    import sqlite3

    from django.contrib.auth.models import AnonymousUser
    from django.db import OperationalError
    from django.db.backends.sqlite3.base import DatabaseWrapper

    from pfmg.middleware import DatabaseBusyMiddleware

    path = tmp_path / "busy.sqlite3"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x INTEGER)")
    holder.execute("BEGIN IMMEDIATE")  # another user's write, in progress
    settings_dict = {**connection.settings_dict, "ENGINE": "django.db.backends.sqlite3", "NAME": str(path)}
    settings_dict["OPTIONS"] = {"timeout": 0.1, "transaction_mode": "IMMEDIATE"}
    loser = DatabaseWrapper(settings_dict, alias="busy")
    try:
        with pytest.raises(OperationalError) as locked:
            with loser.cursor() as cursor:
                cursor.execute("INSERT INTO t VALUES (1)")
    finally:
        loser.close()
        holder.close()
    request = rf.post("/")
    request.user = AnonymousUser()
    response = DatabaseBusyMiddleware(lambda r: None).process_exception(request, locked.value)
    assert response.status_code == 409
    assert "modifiait ce dossier au même moment" in response.content.decode()
