"""Demo data of this app, called by ``pfmg.demo`` (which owns the demo and its cast)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from people.models import User
    from pfmg.demo import Cast
    from prescriptions.models import Dossier


def seed_reference(users: dict[str, User]) -> None:
    """Before any demo dossier is walked (idempotent: ``seed_demo`` runs on every ``make run``)."""


def prepare(name: str, dossier: Dossier, cast: Cast, at: dt.datetime) -> None:
    """Called just before ``pfmg.demo.walk`` fires transition ``name`` on ``dossier``: create what this app
    requires of that transition (so the demo, and the tests that walk dossiers, pass the real conditions)."""


def seed_extras(users: dict[str, User]) -> None:
    """After the demo dossiers exist (idempotent)."""
