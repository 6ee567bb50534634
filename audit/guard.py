"""The database's refusal of UPDATE and DELETE on the trail, and the one door it keeps for the retention purge.

PostgreSQL: a plpgsql trigger. DELETE passes only for a row older than ``audit.purge_before``, a
transaction-local setting that must itself be at least MINIMUM_RETENTION_DAYS in the past; everything else
raises. SQLite has no session settings: its trigger asks ``audit_may_purge(at)``, a function this module
registers on the portal's own connections and that answers from the purge under way in this thread (any
other client of the file lacks the function, so its DELETE fails)."""

from __future__ import annotations

import datetime as dt
import threading
from contextlib import contextmanager

from django.db import connection
from django.utils import timezone

MINIMUM_RETENTION_DAYS = 183  # six months, the legal minimum
GUARDED_TABLES = ("audit_auditentry", "audit_checkpoint")

_state = threading.local()
# Django's test runner empties tables with DELETE on SQLite (TRUNCATE on PostgreSQL, which row triggers do not
# see): the test configuration sets this, nothing else does.
ALLOW_SQLITE_FLUSH = False

POSTGRES_INSTALL = """
CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger AS $$
DECLARE
    floor timestamptz;
BEGIN
    IF TG_OP = 'DELETE' AND TG_TABLE_NAME = 'audit_auditentry' THEN
        floor := NULLIF(current_setting('audit.purge_before', true), '')::timestamptz;
        IF floor IS NOT NULL AND floor <= now() - interval '__DAYS__ days' AND OLD.at < floor THEN
            RETURN OLD;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit trail is append-only: % refused on %', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$ LANGUAGE plpgsql;
""".replace("__DAYS__", str(MINIMUM_RETENTION_DAYS))

POSTGRES_TRIGGER = (
    "CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
    "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();"
)
POSTGRES_UNINSTALL = "DROP TRIGGER IF EXISTS {table}_append_only ON {table};"

SQLITE_TRIGGERS = {
    "audit_auditentry": [
        "CREATE TRIGGER audit_auditentry_no_update BEFORE UPDATE ON audit_auditentry "
        "BEGIN SELECT RAISE(ABORT, 'audit trail is append-only: UPDATE refused'); END;",
        "CREATE TRIGGER audit_auditentry_no_delete BEFORE DELETE ON audit_auditentry "
        "WHEN audit_may_purge(OLD.at) IS NOT 1 "
        "BEGIN SELECT RAISE(ABORT, 'audit trail is append-only: DELETE refused'); END;",
    ],
    "audit_checkpoint": [
        "CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE ON audit_checkpoint "
        "BEGIN SELECT RAISE(ABORT, 'audit trail is append-only: UPDATE refused'); END;",
        "CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_checkpoint "
        "WHEN audit_may_purge(NULL) IS NOT 1 "
        "BEGIN SELECT RAISE(ABORT, 'audit trail is append-only: DELETE refused'); END;",
    ],
}


def install(schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_INSTALL, None)
        for table in GUARDED_TABLES:
            schema_editor.execute(POSTGRES_TRIGGER.format(table=table))
    elif vendor == "sqlite":
        for statements in SQLITE_TRIGGERS.values():
            for sql in statements:
                schema_editor.execute(sql)
    else:  # pragma: no cover - the portal runs on these two
        raise NotImplementedError(f"No append-only guard for {vendor}")


def uninstall(schema_editor) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for table in GUARDED_TABLES:
            schema_editor.execute(POSTGRES_UNINSTALL.format(table=table))
        schema_editor.execute("DROP FUNCTION IF EXISTS audit_refuse_change();")
    elif vendor == "sqlite":
        for statements in SQLITE_TRIGGERS.values():
            for sql in statements:
                name = sql.split()[2]
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {name};")


def _may_purge(at) -> int:
    if ALLOW_SQLITE_FLUSH and getattr(_state, "floor", None) is None:
        return 1
    floor = getattr(_state, "floor", None)
    if floor is None or at is None:
        return 0
    if floor > timezone.now() - dt.timedelta(days=MINIMUM_RETENTION_DAYS):
        return 0
    try:
        when = dt.datetime.fromisoformat(str(at))
    except ValueError:
        return 0
    if timezone.is_naive(when):
        when = when.replace(tzinfo=dt.UTC)
    return 1 if when < floor else 0


def register_sqlite_function(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_function("audit_may_purge", 1, _may_purge, deterministic=False)


@contextmanager
def purge_floor(floor: dt.datetime):
    """Open the purge's door, for rows older than ``floor``, for the current transaction only."""
    if floor > timezone.now() - dt.timedelta(days=MINIMUM_RETENTION_DAYS):
        raise ValueError(f"The audit trail is kept at least {MINIMUM_RETENTION_DAYS} days.")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('audit.purge_before', %s, true)", [floor.isoformat()])
    _state.floor = floor
    try:
        yield
    finally:
        _state.floor = None
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('audit.purge_before', '', true)")
