"""Work that a request queued runs after its response is sent, when there is no broker to hand it to.

With a broker, rendering PDFs and sending e-mails are Celery tasks queued once the transaction commits: the
user's request never waits for them. Without one (the embedded default, ``CELERY_TASK_ALWAYS_EAGER``), the
same tasks run in the web process; ``defer`` keeps them out of the request anyway: while a request is served
they are collected and run once its response has been sent (Django sends ``request_finished`` when the WSGI
server closes the response, after its last byte), each on its own, a failure logged and not raised (what a
task would have produced is recovered as when a broker is down: the render sweep, the download that renders
a missing file, the periodic e-mail dispatch). Outside a request (a management command, a shell, a test that
calls a service directly) there is no response to wait for: the work runs at once.

No thread: the work runs in the request's own thread, after the response, before the worker takes the next
request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.core.signals import request_finished, request_started
from django.db import connections

logger = logging.getLogger(__name__)

Pending = list[tuple[Callable[..., Any], tuple[Any, ...]]]

_pending: ContextVar[Pending | None] = ContextVar("pfmg_after_response", default=None)


def defer(func: Callable[..., Any], *args: Any) -> None:
    """Run ``func(*args)`` after the current response, or now when no response is being prepared."""
    pending = _pending.get()
    if pending is None:
        func(*args)
    else:
        pending.append((func, args))


def run(pending: Pending) -> int:
    """Run what was collected, each on its own: a failure is logged and the rest still runs. Returns how many
    ran."""
    ran = 0
    while pending:
        func, args = pending.pop(0)
        try:
            func(*args)
        except Exception:  # noqa: BLE001 - the response is gone; the sweeps recover what this would have done
            logger.exception("Deferred %s%r failed after the response", getattr(func, "__name__", func), args)
        ran += 1
    return ran


@contextmanager
def collecting() -> Iterator[Pending]:
    """Collect what ``defer`` is given inside the block instead of running it; the caller runs it with
    ``run(pending)`` when its response is out (a request does it through the signals below)."""
    pending: Pending = []
    token = _pending.set(pending)
    try:
        yield pending
    finally:
        _pending.reset(token)


def _request_started(**kwargs: Any) -> None:
    _pending.set([])


def _request_finished(**kwargs: Any) -> None:
    pending = _pending.get()
    _pending.set(None)
    if not pending:
        return
    run(pending)
    # Django closed the request's connections before this receiver (close_old_connections): release the ones
    # the deferred work opened in the same way, unless a caller holds a transaction open (the test client
    # serves requests inside the test's transaction).
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


def connect() -> None:
    """Called from ``PfmgConfig.ready()``."""
    request_started.connect(_request_started, dispatch_uid="pfmg.after_response.started")
    request_finished.connect(_request_finished, dispatch_uid="pfmg.after_response.finished")
