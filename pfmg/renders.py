"""Renders that a broker outage made us miss are queued again by a periodic sweep.

A rendering task is queued once its transaction commits; if the broker is down at that moment the task is
lost, but what it would render is not: it is derived from committed data, and rendering is deterministic. So
each app that renders documents registers a sweep here (from its AppConfig.ready()): ``sweep(since)`` queues
the renders of documents changed since ``since`` that are not in storage, and returns how many it queued.
``pfmg.tasks.sweep_missing_renders`` runs them all under Celery beat (RENDER_SWEEP_SECONDS). Download views
still render on demand what is missing, so a user never waits for the sweep."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

Sweep = Callable[[datetime], int]

_sweeps: list[Sweep] = []


def register_render_sweep(sweep: Sweep) -> None:
    if sweep not in _sweeps:
        _sweeps.append(sweep)


def sweep_missing_renders(since: datetime) -> int:
    return sum(sweep(since) for sweep in _sweeps)
