"""The database refuses to change the trail; the chain names what was removed or altered; the purge keeps it
verifiable."""

import datetime as dt
import hashlib
from contextlib import contextmanager

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from audit import guard, services
from audit.models import GENESIS_HASH, AuditEntry, Checkpoint


@pytest.fixture
def strict_sqlite():
    """The test configuration lets Django's flush through on SQLite; these tests need the real guard."""
    previous, guard.ALLOW_SQLITE_FLUSH = guard.ALLOW_SQLITE_FLUSH, False
    yield
    guard.ALLOW_SQLITE_FLUSH = previous


def _entries(n, *, days_ago=0):
    at = timezone.now() - dt.timedelta(days=days_ago)
    return [
        services.record(source="command", action="read", object_id=i, at=at + dt.timedelta(seconds=i))
        for i in range(n)
    ]


def _refused(sql, params=()):
    with pytest.raises(DatabaseError) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(caught.value)


@contextmanager
def _trigger_disabled():
    """What an attacker with DDL rights would do; inside the test's transaction, so undone afterwards."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER audit_auditentry_append_only")
        else:
            cursor.execute("DROP TRIGGER audit_auditentry_no_update")
            cursor.execute("DROP TRIGGER audit_auditentry_no_delete")
    yield


def test_the_database_refuses_update_and_delete(db, strict_sqlite):
    entry = _entries(2)[0]
    assert "append-only" in _refused("UPDATE audit_auditentry SET action = 'write' WHERE id = %s", [entry.pk])
    assert "append-only" in _refused("DELETE FROM audit_auditentry WHERE id = %s", [entry.pk])
    assert "append-only" in _refused("DELETE FROM audit_auditentry")
    entry.refresh_from_db()
    assert entry.action == "read" and AuditEntry.objects.count() == 2


@pytest.mark.postgres
def test_postgres_lets_only_an_old_enough_purge_through(db):
    recent, old = _entries(1)[0], _entries(1, days_ago=300)[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('audit.purge_before', %s, true)", [timezone.now().isoformat()])
    # A floor younger than six months opens nothing, even for an old row.
    assert "append-only" in _refused("DELETE FROM audit_auditentry WHERE id = %s", [old.pk])
    floor = (timezone.now() - dt.timedelta(days=200)).isoformat()
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('audit.purge_before', %s, true)", [floor])
    assert "append-only" in _refused("DELETE FROM audit_auditentry WHERE id = %s", [recent.pk])
    assert "append-only" in _refused("UPDATE audit_auditentry SET action = 'x' WHERE id = %s", [old.pk])
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditentry WHERE id = %s", [old.pk])
        cursor.execute("SELECT set_config('audit.purge_before', '', true)")
    assert list(AuditEntry.objects.values_list("pk", flat=True)) == [recent.pk]


def test_verify_passes_on_an_intact_chain(db):
    _entries(5)
    result = services.verify()
    assert result.ok and result.checked == 5
    call_command("verify_audit", stdout=open("/dev/null", "w"))


def test_verify_names_a_removed_entry(db):
    entries = _entries(5)
    with _trigger_disabled(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditentry WHERE id = %s", [entries[2].pk])
    result = services.verify()
    assert not result.ok and result.first_bad_seq == entries[2].seq
    with pytest.raises(CommandError, match=f"#{entries[2].seq} is missing"):
        call_command("verify_audit")


def test_verify_names_the_last_entry_removed(db):
    entries = _entries(3)
    with _trigger_disabled(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditentry WHERE id = %s", [entries[-1].pk])
    assert services.verify().first_bad_seq == entries[-1].seq


def test_verify_names_an_altered_entry(db):
    entries = _entries(5)
    with _trigger_disabled(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditentry SET actor_username = 'nobody' WHERE id = %s", [entries[3].pk])
    with pytest.raises(CommandError, match=f"#{entries[3].seq} was altered"):
        call_command("verify_audit")


def _forge(alteration: tuple[str, list], hash_entry) -> None:
    """What an attacker with write access to the database does: alter an entry, then rehash every entry, and the
    head, in order."""
    previous = GENESIS_HASH
    with _trigger_disabled(), connection.cursor() as cursor:
        cursor.execute(*alteration)
        for row in AuditEntry.objects.order_by("seq").values("id", *services.HASHED_FIELDS):
            row["prev_hash"] = previous
            previous = hash_entry(row)
            cursor.execute(
                "UPDATE audit_auditentry SET prev_hash = %s, hash = %s WHERE id = %s",
                [row["prev_hash"], previous, row["id"]],
            )
        cursor.execute("UPDATE audit_chainhead SET hash = %s", [previous])


def test_a_chain_rewritten_without_the_key_does_not_verify(db, monkeypatch):
    entries = _entries(3)

    def plain(values):
        return hashlib.sha256(services.canonical(values)).hexdigest()

    _forge(("UPDATE audit_auditentry SET actor_username = 'nobody' WHERE id = %s", [entries[1].pk]), plain)
    assert services.verify().first_bad_seq == entries[0].seq
    # Unkeyed, the same forgery passes: the chain's key is what finds it.
    monkeypatch.setattr(services, "entry_hash", plain)
    assert services.verify().ok


def test_the_purge_deletes_past_retention_and_the_rest_still_verifies(db, settings, strict_sqlite):
    settings.AUDIT_RETENTION_DAYS = 400
    old = _entries(3, days_ago=500)
    kept = _entries(2)
    call_command("purge_audit", stdout=open("/dev/null", "w"))
    assert list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True)) == [e.seq for e in kept]
    checkpoint = Checkpoint.objects.get()
    assert (checkpoint.last_seq, checkpoint.last_hash, checkpoint.deleted) == (old[-1].seq, old[-1].hash, 3)
    result = services.verify()
    assert result.ok and result.checked == 2, result.message
    # The checkpoint is append-only too, and a purge with nothing to delete leaves none.
    assert "append-only" in _refused("DELETE FROM audit_checkpoint")
    assert services.purge() is None and Checkpoint.objects.count() == 1
    # A later alteration is still found, from the checkpoint.
    with _trigger_disabled(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditentry SET ip = '6.6.6.6' WHERE id = %s", [kept[0].pk])
    assert services.verify().first_bad_seq == kept[0].seq


def test_retention_below_six_months_is_refused(db, settings):
    settings.AUDIT_RETENTION_DAYS = 90
    with pytest.raises(ValueError, match="183"):
        services.purge()
    with pytest.raises(ValueError):
        with guard.purge_floor(timezone.now() - dt.timedelta(days=30)):
            pass


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_appends_form_one_chain():
    """Appends from several connections at once wait on the chain head: one chain, no fork, no gap."""
    import threading

    start = services.record(source="command", action="read").seq
    errors = []

    def append():
        try:
            for _ in range(10):
                services.record(source="command", action="read")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=append) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    seqs = list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(start, start + 41))
    assert services.verify().ok
