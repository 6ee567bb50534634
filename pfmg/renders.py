"""Renders that a broker outage made us miss are queued again by a periodic sweep.

A rendering task is queued once its transaction commits; if the broker is down at that moment the task is
lost, but what it would render is not: it is derived from committed data, and rendering is deterministic. So
each app that renders documents registers a sweep here (from its AppConfig.ready()): ``sweep(since)`` queues
the renders of documents changed since ``since`` that are not in storage, and returns how many it queued.
``pfmg.tasks.sweep_missing_renders`` runs them all under Celery beat (RENDER_SWEEP_SECONDS). Download views
still render on demand what is missing, so a user never waits for the sweep."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from . import after_response

logger = logging.getLogger(__name__)

Sweep = Callable[[datetime], int]

_sweeps: list[Sweep] = []


def register_render_sweep(sweep: Sweep) -> None:
    if sweep not in _sweeps:
        _sweeps.append(sweep)


def sweep_missing_renders(since: datetime) -> int:
    return sum(sweep(since) for sweep in _sweeps)


def queue_render(task, *args) -> bool:
    """Queue a rendering task; call it from ``transaction.on_commit``. With the broker down the data are already
    committed: log it and leave the render to the sweep and the download (no error for the user). Returns
    whether it was queued. Without a broker (eager tasks) the render runs after the response
    (``pfmg.after_response``), never inside the request that asked for it."""
    if task.app.conf.task_always_eager:
        after_response.defer(_apply, task, args)
        return True
    return _apply(task, args)


def _apply(task, args: tuple) -> bool:
    try:
        task.apply_async(args=args, retry=False)
    except Exception:  # noqa: BLE001 - any broker failure (or eager render failure): the sweep recovers it
        logger.warning("Broker unavailable: %s%r left to the render sweep", task.name, args, exc_info=True)
        return False
    return True
