"""Reads that may go to a PostgreSQL read replica (``DATABASE_REPLICA_URL``).

Only what tolerates a few seconds of replication lag and costs the most goes there: statistics and exports,
each run inside ``replica_reads()``. A page that shows what its user has just done must read the primary, so
reads go to the replica only when asked, never by default. Without a replica configured everything reads
``default``; writes always go to ``default``, even inside ``replica_reads()``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings

REPLICA = "replica"

_reading_from_replica: ContextVar[bool] = ContextVar("reading_from_replica", default=False)


@contextmanager
def replica_reads() -> Iterator[None]:
    """Inside this block, ORM reads go to the replica when there is one."""
    token = _reading_from_replica.set(True)
    try:
        yield
    finally:
        _reading_from_replica.reset(token)


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        if _reading_from_replica.get() and REPLICA in settings.DATABASES:
            return REPLICA
        return None  # default

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the replica holds the same rows as the primary

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db != REPLICA  # the replica follows the primary's schema through replication
