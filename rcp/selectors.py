"""Reads of the RCP-FMG's work, always scoped to the user who asks."""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.utils import timezone

from people.models import RcpBody, User
from prescriptions.models import Dossier, DossierEvent
from prescriptions.selectors import dossiers_visible_to, index_person_prefetch

from .models import AgendaItem, Decision, DecisionCorrection, DownstreamConclusion, Meeting, SheetEntry
from .rules import DECIDERS

S = Dossier.Status


def rcps_of(user: User) -> QuerySet[RcpBody]:
    if not user.is_authenticated:
        return RcpBody.objects.none()
    return RcpBody.objects.filter(memberships__user=user).distinct().order_by("name")


def managed_rcps(user: User) -> QuerySet[RcpBody]:
    if not user.is_authenticated:
        return RcpBody.objects.none()
    return (
        RcpBody.objects.filter(memberships__user=user, memberships__function__in=DECIDERS)
        .distinct()
        .order_by("name")
    )


def meetings_visible_to(user: User) -> QuerySet[Meeting]:
    """The meetings of the RCP-FMG ``user`` belongs to, and no other."""
    if not user.is_authenticated:
        return Meeting.objects.none()
    return Meeting.objects.filter(rcp__in=rcps_of(user)).select_related("rcp")


def _pending_on_agenda(outer: str = "pk") -> Exists:
    """The dossier is on a meeting's agenda and that meeting has not decided on it (nor concluded it)."""
    decided = Decision.objects.filter(meeting=OuterRef("meeting"), dossier=OuterRef("dossier"))
    concluded = DownstreamConclusion.objects.filter(meeting=OuterRef("meeting"), dossier=OuterRef("dossier"))
    return Exists(
        AgendaItem.objects.filter(dossier=OuterRef(outer)).exclude(Exists(decided)).exclude(Exists(concluded))
    )


def submitted_at_subquery() -> Subquery:
    return Subquery(
        DossierEvent.objects.filter(dossier=OuterRef("pk"), transition="submit")
        .order_by("-at", "-id")
        .values("at")[:1]
    )


def queue(user: User, rcp: RcpBody | None = None) -> QuerySet[Dossier]:
    """Dossiers submitted to ``user``'s RCP-FMG (or to ``rcp`` among them) awaiting a decision, oldest first,
    each with ``submitted_at`` and ``scheduled`` (already on a meeting's agenda)."""
    rcps = rcps_of(user)
    if rcp is not None:
        rcps = rcps.filter(pk=rcp.pk)
    return (
        Dossier.objects.filter(rcp__in=rcps, status=S.SUBMITTED)
        .annotate(submitted_at=submitted_at_subquery(), scheduled=_pending_on_agenda())
        .select_related("pre_indication_version", "prescriber", "establishment", "rcp")
        .prefetch_related(index_person_prefetch())
        .order_by("submitted_at", "pk")
    )


def with_waiting(dossiers, today: dt.date | None = None) -> list[Dossier]:
    """Sets ``days_waited`` and ``overdue`` (past its RCP's warning threshold) on each dossier of a queue."""
    today = today or timezone.localdate()
    rows = list(dossiers)
    for d in rows:
        since = timezone.localdate(d.submitted_at) if d.submitted_at else today
        d.days_waited = (today - since).days
        d.overdue = d.days_waited > d.rcp.wait_warning_days
        d.index = d.index_persons[0].patient if d.index_persons else None
    return rows


def downstream_candidates(user: User, rcp: RcpBody | None = None) -> QuerySet[Dossier]:
    """Dossiers of ``user``'s RCP-FMG whose report is delivered and that no RCP d'aval has concluded."""
    rcps = rcps_of(user)
    if rcp is not None:
        rcps = rcps.filter(pk=rcp.pk)
    return (
        Dossier.objects.filter(rcp__in=rcps, status=S.REPORT_DELIVERED, rcp_conclusion__isnull=True)
        .annotate(scheduled=_pending_on_agenda())
        .select_related("pre_indication_version", "prescriber", "rcp")
        .prefetch_related(index_person_prefetch())
        .order_by("updated_at", "pk")
    )


def upcoming_meetings(user: User) -> QuerySet[Meeting]:
    return meetings_visible_to(user).filter(date__gte=timezone.localdate()).order_by("date", "start_time")


def past_meetings(user: User) -> QuerySet[Meeting]:
    return meetings_visible_to(user).filter(date__lt=timezone.localdate()).order_by("-date", "-start_time")


def decisions_to_record(user: User) -> QuerySet[AgendaItem]:
    """Dossiers on the agenda of a meeting held (today or before) of an RCP ``user`` coordinates or deputises,
    still awaiting the decision."""
    awaiting = Q(meeting__kind=Meeting.Kind.UPSTREAM, dossier__status=S.SUBMITTED) | Q(
        meeting__kind=Meeting.Kind.DOWNSTREAM, dossier__status=S.REPORT_DELIVERED
    )
    decided = Decision.objects.filter(meeting=OuterRef("meeting"), dossier=OuterRef("dossier"))
    concluded = DownstreamConclusion.objects.filter(dossier=OuterRef("dossier"))
    return (
        AgendaItem.objects.filter(
            awaiting, meeting__rcp__in=managed_rcps(user), meeting__date__lte=timezone.localdate()
        )
        .exclude(Exists(decided))
        .exclude(Exists(concluded))
        .select_related("meeting__rcp", "dossier__pre_indication_version", "dossier__prescriber")
        .order_by("meeting__date", "meeting__start_time", "position", "id")
    )


def _agenda_prefetch() -> Prefetch:
    dossiers = Dossier.objects.select_related(
        "pre_indication_version__pre_indication",
        "prescriber",
        "entered_by",
        "establishment",
        "rcp",
        "suspected_diagnosis",
    ).prefetch_related(
        "persons__patient",
        "phenotypes__term",
        "prior_tests",
        "documents",
        Prefetch("rcp_decisions", queryset=Decision.objects.select_related("recorded_by", "meeting")),
        Prefetch("rcp_sheet_entries", queryset=SheetEntry.objects.select_related("author")),
        "rcp_conclusion",
    )
    return Prefetch(
        "items",
        queryset=AgendaItem.objects.select_related("added_by").prefetch_related(
            Prefetch("dossier", queryset=dossiers)
        ),
    )


def meeting_detail(user: User, pk: int) -> Meeting:
    """The meeting with its agenda (each dossier with its sheet), or Meeting.DoesNotExist for a non-member."""
    return (
        meetings_visible_to(user)
        .select_related("rcp__establishment", "created_by")
        .prefetch_related(_agenda_prefetch(), "present")
        .get(pk=pk)
    )


def meeting_for_minutes(pk: int) -> Meeting:
    """Not scoped: for the rendering task, which acts for the system. Views use ``meeting_detail``."""
    return (
        Meeting.objects.select_related("rcp__establishment", "created_by")
        .prefetch_related(
            "present",
            Prefetch(
                "items",
                queryset=AgendaItem.objects.select_related(
                    "dossier__pre_indication_version", "dossier__prescriber", "dossier__establishment"
                ),
            ),
            Prefetch(
                "decisions",
                queryset=Decision.objects.select_related("recorded_by").prefetch_related(
                    Prefetch("corrections", queryset=DecisionCorrection.objects.select_related("recorded_by"))
                ),
            ),
            Prefetch("conclusions", queryset=DownstreamConclusion.objects.select_related("recorded_by")),
        )
        .get(pk=pk)
    )


def sheet_dossier(user: User, pk: int) -> Dossier:
    """A dossier with what its RCP sheet shows, among those ``user`` may see (Dossier.DoesNotExist otherwise)."""
    return (
        dossiers_visible_to(user)
        .select_related(
            "pre_indication_version__pre_indication",
            "prescriber",
            "entered_by",
            "establishment",
            "rcp",
            "laboratory",
            "suspected_diagnosis",
        )
        .prefetch_related(
            "persons__patient",
            "phenotypes__term",
            "prior_tests",
            "documents__expected",
            "pre_indication_version__documents",
        )
        .get(pk=pk)
    )


def decisions_of(dossier: Dossier) -> list[Decision]:
    return list(
        dossier.rcp_decisions.select_related("recorded_by", "meeting__rcp").prefetch_related(
            Prefetch("corrections", queryset=DecisionCorrection.objects.select_related("recorded_by"))
        )
    )


def sheet_entries_of(dossier: Dossier) -> list[SheetEntry]:
    return list(dossier.rcp_sheet_entries.select_related("author"))


def conclusion_of(dossier: Dossier) -> DownstreamConclusion | None:
    return (
        DownstreamConclusion.objects.select_related("recorded_by", "meeting").filter(dossier=dossier).first()
    )


def pending_item(dossier: Dossier, kind: str = Meeting.Kind.UPSTREAM) -> AgendaItem | None:
    """The agenda item awaiting this dossier's decision (the earliest meeting it is on and not yet decided)."""
    decided = Decision.objects.filter(meeting=OuterRef("meeting"), dossier=OuterRef("dossier"))
    return (
        AgendaItem.objects.filter(dossier=dossier, meeting__kind=kind)
        .exclude(Exists(decided))
        .select_related("meeting__rcp")
        .order_by("meeting__date", "meeting__start_time", "id")
        .first()
    )
