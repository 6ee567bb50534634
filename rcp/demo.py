"""Demo data of this app, called by ``pfmg.demo`` (which owns the demo and its cast)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.db import transaction
from django.utils import timezone

from people import services as people_services
from people.models import RcpBody, RcpMembership

from . import services
from .models import DownstreamConclusion, Meeting

if TYPE_CHECKING:
    from people.models import User
    from pfmg.demo import Cast
    from prescriptions.models import Dossier

PARIS_RCP = "RCP-FMG Maladies rares Île-de-France (démo)"
LYON_RCP = "RCP-FMG-MR génomique Auvergne-Rhône-Alpes (démo)"
PLACE = "Salle de staff de génétique (démo)"
# Dossiers waiting in the Lyon RCP's queue besides the demo's own submitted one: (number, days ago).
QUEUE_EXTRAS = [(50, 12), (51, 4)]
CONCLUSION = {
    "interpretation": "Variant pathogène retenu, concordant avec le tableau clinique.",
    "care_recommendations": "Suivi en centre de référence ; bilan cardiologique annuel.",
    "family_recommendations": "Conseil génétique proposé aux apparentés au premier degré.",
}


def seed_reference(users: dict[str, User]) -> None:
    """Before any demo dossier is walked (idempotent: ``seed_demo`` runs on every ``make run``)."""
    # The genetic counsellor attends the Paris RCP as a member: sees its meetings and sheets, decides nothing.
    rcp = RcpBody.objects.get(name=PARIS_RCP)
    people_services.add_to_rcp(user=users["counsellor"], rcp=rcp, function=RcpMembership.Function.MEMBER)


def _weekly_meeting(rcp, kind: str, at: dt.datetime, coordinator: User) -> Meeting:
    """The RCP's weekly session (Tuesday, 14:00) on or before ``at``."""
    day = timezone.localdate(at)
    day -= dt.timedelta(days=(day.weekday() - 1) % 7)
    meeting = Meeting.objects.filter(rcp=rcp, kind=kind, date=day).first()
    if meeting is None:
        meeting = services.create_meeting(
            rcp=rcp, actor=coordinator, kind=kind, date=day, start_time=dt.time(14, 0), place=PLACE
        )
        meeting.present.add(coordinator)
    return meeting


def prepare(name: str, dossier: Dossier, cast: Cast, at: dt.datetime) -> None:
    """Called just before ``pfmg.demo.walk`` fires transition ``name`` on ``dossier``: create what this app
    requires of that transition (so the demo, and the tests that walk dossiers, pass the real conditions).

    A decision is taken in a meeting: the dossier goes on the agenda of its RCP's session, and the decision
    the walk then fires is recorded on that meeting (``services.on_transition``). A closed dossier was
    discussed by an RCP d'aval first."""
    if dossier.rcp_id is None or not services.rules.manages_rcp.test(cast.coordinator, dossier.rcp):
        return
    if name in ("validate", "reject", "request_more_info"):
        meeting = _weekly_meeting(dossier.rcp, Meeting.Kind.UPSTREAM, at, cast.coordinator)
        services.add_to_agenda(meeting=meeting, dossiers=[dossier], actor=cast.coordinator)
    elif name == "close" and not DownstreamConclusion.objects.filter(dossier=dossier).exists():
        meeting = _weekly_meeting(dossier.rcp, Meeting.Kind.DOWNSTREAM, at, cast.coordinator)
        services.add_to_agenda(meeting=meeting, dossiers=[dossier], actor=cast.coordinator)
        services.record_conclusion(
            dossier=dossier, actor=cast.coordinator, meeting=meeting, at=at, **CONCLUSION
        )


def seed_extras(users: dict[str, User]) -> None:
    """After the demo dossiers exist (idempotent): a few more dossiers of ``prescriber2`` waiting in the Lyon
    RCP's queue, so that its coordinator has an agenda to build."""
    from pfmg.demo import Cast, complete_draft, walk
    from prescriptions.models import Patient, PreIndication
    from prescriptions.services import choose_rcp, create_dossier

    rcp = RcpBody.objects.get(name=LYON_RCP)
    cast = Cast(users["prescriber2"], users["coordinator"], users["lab_auragen"], users["biologist_auragen"])
    version = PreIndication.objects.get(slug="deficience-intellectuelle").current_version()
    now = timezone.now()
    for number, days in QUEUE_EXTRAS:
        if Patient.objects.filter(
            birth_name__endswith=f"-{number}", dossier_roles__dossier__rcp=rcp
        ).exists():
            continue
        start = now - dt.timedelta(days=days, hours=1)
        with transaction.atomic():
            dossier = create_dossier(
                prescriber=cast.prescriber,
                entered_by=cast.prescriber,
                pre_indication_version=version,
                at=start,
            )
            complete_draft(dossier, cast.prescriber, number, trio=number % 2 == 0)
            choose_rcp(dossier=dossier, rcp=rcp)
            walk(dossier, ["submit"], cast, start, dt.timedelta(minutes=30))
