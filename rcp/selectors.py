"""Reads of the RCP-FMG's work, always scoped to the user who asks."""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.db.models import CharField, Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Concat, Upper
from django.utils import timezone

from people.models import RcpBody, RcpMembership, User
from people.rules import is_administrator
from pfmg.pagination import (
    COUNT_LIMIT,
    BoundedCountSubquery,
    KeysetPage,
    Matches,
    bounded,
    bounded_matches,
    partitioned_keyset_page,
)
from prescriptions.folding import Fold, fold, unfold
from prescriptions.models import Dossier, DossierPerson
from prescriptions.selectors import DETAIL_FOLDS, dossiers_visible_to, identities_hidden_q

from .models import AgendaItem, Decision, DecisionCorrection, DownstreamConclusion, Meeting, SheetEntry
from .rules import DECIDERS

S = Dossier.Status


def rcps_of(user: User) -> QuerySet[RcpBody]:
    if not user.is_authenticated:
        return RcpBody.objects.none()
    return RcpBody.objects.filter(memberships__user=user).distinct().order_by("name")


def rcp_bodies_visible_to(user: User) -> QuerySet[RcpBody]:
    """The RCP-FMG ``user`` belongs to (every one for an administrator), each with ``function``: the user's
    function in it (coordinator, deputy, member), None where they are not a member."""
    if not user.is_authenticated:
        return RcpBody.objects.none()
    bodies = RcpBody.objects.all() if is_administrator.test(user) else rcps_of(user)
    function = RcpMembership.objects.filter(rcp=OuterRef("pk"), user=user).values("function")[:1]
    return bodies.annotate(function=Subquery(function)).order_by("name", "pk")


def rcps_with_function(user: User, limit: int | None = None) -> list[RcpBody]:
    """``rcps_of(user)``, each with ``manages`` (``user`` coordinates or deputises it) and how many dossiers
    wait for it, bounded ("more than 1,000"): ``waiting`` (submitted) and ``waiting_downstream`` (report
    delivered, not concluded). One query, each count reading at most ``limit + 1`` index entries."""
    limit = limit or COUNT_LIMIT
    decides = RcpMembership.objects.filter(rcp=OuterRef("pk"), user=user, function__in=DECIDERS)
    for_rcp = Dossier.objects.filter(rcp=OuterRef("pk"))
    rcps = list(
        rcps_of(user).annotate(
            manages=Exists(decides),
            n_waiting=BoundedCountSubquery(for_rcp.filter(status=S.SUBMITTED), limit),
            n_downstream=BoundedCountSubquery(
                for_rcp.filter(status=S.REPORT_DELIVERED, rcp_conclusion__isnull=True), limit
            ),
        )
    )
    for r in rcps:
        r.waiting, r.waiting_downstream = bounded(r.n_waiting, limit), bounded(r.n_downstream, limit)
    return rcps


def index_name() -> Subquery:
    """The index case's name as ``Patient.__str__`` writes it, read with the row (no query per row)."""
    index = DossierPerson.objects.filter(
        dossier=OuterRef("pk"), relationship=DossierPerson.Relationship.INDEX
    )
    return Subquery(
        index.order_by("pk").values(
            name=Concat(
                Upper("patient__birth_name"), Value(" "), "patient__first_names", output_field=CharField()
            )
        )[:1]
    )


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


def submitted_at_subquery() -> F:
    """When the dossier was submitted to the RCP-FMG: the moment it entered ``submitted``, kept on the dossier
    (``Dossier.status_since``) so that no queue reads the timeline."""
    return F("status_since")


# Every queue is walked along the indexes on (rcp|laboratory, status, status_since): oldest wait first.
QUEUE_ORDER = ("status_since", "pk")
CANDIDATES_SHOWN = 50


def _rcp_ids(user: User, rcp: RcpBody | None = None) -> list[int]:
    rcps = rcps_of(user)
    if rcp is not None:
        rcps = rcps.filter(pk=rcp.pk)
    return list(rcps.values_list("pk", flat=True))


def queue(user: User, rcp: RcpBody | None = None) -> QuerySet[Dossier]:
    """Dossiers submitted to ``user``'s RCP-FMG (or to ``rcp`` among them) awaiting a decision, oldest first,
    each with ``submitted_at`` and ``scheduled`` (already on a meeting's agenda)."""
    rcps = rcps_of(user)
    if rcp is not None:
        rcps = rcps.filter(pk=rcp.pk)
    return (
        Dossier.objects.filter(rcp__in=rcps, status=S.SUBMITTED)
        .annotate(
            submitted_at=submitted_at_subquery(), scheduled=_pending_on_agenda(), index_name=index_name()
        )
        .select_related("pre_indication_version__pre_indication", "prescriber", "establishment", "rcp")
        .order_by(*QUEUE_ORDER)
    )


SEARCH_LIMIT = COUNT_LIMIT


def matching_dossiers(user: User, term: str) -> Matches:
    """The waiting dossiers of ``user``'s RCP-FMG (submitted, or report delivered) whose reference begins with
    ``term`` (references are stored upper case: the index serves the prefix), or one of whose persons' birth or
    used name does (accents and case as typed by the prescriber). At most ``SEARCH_LIMIT`` of each, in one
    query; the queues intersect it with their own rows.

    The name lookup reads the patients: a name index (issue #12's trigram search of
    ``prescriptions.selectors``) is what keeps it fast at national scale."""
    term = term.strip()
    waiting = Dossier.objects.filter(rcp__in=rcps_of(user), status__in=[S.SUBMITTED, S.REPORT_DELIVERED])
    names = DossierPerson.objects.filter(dossier__in=waiting).filter(
        Q(patient__birth_name__istartswith=term) | Q(patient__used_name__istartswith=term)
    )
    lookups = [Dossier.objects.filter(reference__startswith=term.upper()).values("pk")]
    if not any(c.isdigit() for c in term):  # a name has no digit: a reference or its number, no patient read
        lookups.append(names.values("dossier_id"))
    return bounded_matches(Dossier, lookups, SEARCH_LIMIT)


def _found(dossiers: QuerySet[Dossier], found: Matches | None) -> QuerySet[Dossier]:
    return dossiers if found is None else dossiers.filter(pk__in=found.ids)


def queue_page(
    user: User,
    rcps: list[RcpBody],
    *,
    found: Matches | None = None,
    cursor: str | None = None,
    size: int = 25,
) -> KeysetPage:
    """A page of ``user``'s RCP queue among ``rcps`` (some of ``rcps_of(user)``), oldest submission first,
    with ``days_waited`` set on each row: a fixed number of queries, whatever the length of the queue."""
    page = partitioned_keyset_page(
        _found(queue(user), found),
        partitions=[Q(rcp_id=r.pk, status=S.SUBMITTED) for r in rcps],
        order=QUEUE_ORDER,
        cursor=cursor,
        size=size,
    )
    with_waiting(page.object_list)
    return page


def with_waiting(dossiers, today: dt.date | None = None) -> list[Dossier]:
    """Sets ``days_waited`` and ``overdue`` (past its RCP's warning threshold) on each dossier of a queue."""
    today = today or timezone.localdate()
    rows = list(dossiers)
    for d in rows:
        submitted_at = getattr(d, "submitted_at", None) or d.status_since
        since = timezone.localdate(submitted_at) if submitted_at else today
        d.days_waited = (today - since).days
        d.overdue = d.days_waited > d.rcp.wait_warning_days
        d.index = d.index_name
    return rows


def downstream_candidates(user: User, rcp: RcpBody | None = None) -> QuerySet[Dossier]:
    """Dossiers of ``user``'s RCP-FMG whose report is delivered and that no RCP d'aval has concluded, oldest
    delivery first."""
    rcps = rcps_of(user)
    if rcp is not None:
        rcps = rcps.filter(pk=rcp.pk)
    return (
        Dossier.objects.filter(rcp__in=rcps, status=S.REPORT_DELIVERED, rcp_conclusion__isnull=True)
        .annotate(scheduled=_pending_on_agenda(), index_name=index_name())
        .select_related("pre_indication_version", "prescriber", "rcp")
        .order_by(*QUEUE_ORDER)
    )


def downstream_page(
    user: User,
    rcps: list[RcpBody],
    *,
    found: Matches | None = None,
    cursor: str | None = None,
    size: int = 25,
) -> KeysetPage:
    """A page of the reports delivered awaiting a downstream RCP among ``rcps``, oldest delivery first."""
    page = partitioned_keyset_page(
        _found(downstream_candidates(user), found),
        partitions=[Q(rcp_id=r.pk, status=S.REPORT_DELIVERED) for r in rcps],
        order=QUEUE_ORDER,
        cursor=cursor,
        size=size,
    )
    for d in page.object_list:
        d.index = d.index_name
    return page


def agenda_candidates(user: User, meeting: Meeting) -> QuerySet[Dossier]:
    """What a meeting's agenda may take: the RCP's waiting dossiers not yet on an agenda. Unbounded: to check
    what is posted (by primary key); the page shows ``shown_candidates``."""
    base = queue(user, meeting.rcp) if meeting.is_upstream else downstream_candidates(user, meeting.rcp)
    return base.filter(scheduled=False)


def shown_candidates(
    user: User, meeting: Meeting, *, found: Matches | None = None, size: int | None = None
) -> KeysetPage:
    """The ``size`` oldest candidates for a meeting's agenda, or those ``found`` by a search (reference or
    name): never every waiting dossier."""
    status = S.SUBMITTED if meeting.is_upstream else S.REPORT_DELIVERED
    return partitioned_keyset_page(
        _found(agenda_candidates(user, meeting), found),
        partitions=[Q(rcp_id=meeting.rcp_id, status=status)],
        order=QUEUE_ORDER,
        size=size or CANDIDATES_SHOWN,
    )


def upcoming_meetings(user: User) -> QuerySet[Meeting]:
    """With ``n_items``, the length of each agenda (counted, not loaded)."""
    return (
        meetings_visible_to(user)
        .filter(date__gte=timezone.localdate())
        .annotate(n_items=Count("items"))
        .order_by("date", "start_time", "pk")
    )


def past_meetings(user: User) -> QuerySet[Meeting]:
    return meetings_visible_to(user).filter(date__lt=timezone.localdate()).order_by("-date", "-start_time")


def meetings_around(user: User, coming: int, past: int) -> tuple[list[Meeting], list[Meeting]]:
    """The first ``coming`` upcoming meetings (with ``n_items``) and the last ``past`` ones, in one query."""
    upcoming, held = upcoming_meetings(user)[:coming].values("pk"), past_meetings(user)[:past].values("pk")
    if connection.features.supports_slicing_ordering_in_compound:
        both = Q(pk__in=upcoming.union(held, all=True))
    else:  # SQLite: no LIMIT in a UNION's branch, but in a subquery
        both = Q(pk__in=upcoming) | Q(pk__in=held)
    rows = list(meetings_visible_to(user).filter(both).annotate(n_items=Count("items")))
    today = timezone.localdate()
    return (
        sorted((m for m in rows if m.date >= today), key=lambda m: (m.date, m.start_time, m.pk)),
        sorted((m for m in rows if m.date < today), key=lambda m: (m.date, m.start_time), reverse=True),
    )


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


def _decisions() -> QuerySet[Decision]:
    return Decision.objects.select_related("recorded_by", "meeting__rcp").prefetch_related(
        Prefetch("corrections", queryset=DecisionCorrection.objects.select_related("recorded_by"))
    )


# The decisions with their corrections, as the sheet and the dossier page's RCP panel read them.
DECISIONS_FOLD = Fold(
    "rcp_decisions",
    related=("recorded_by", "meeting__rcp"),
    order=("recorded_at", "id"),
    nested=(Fold("corrections", related=("recorded_by",), order=("recorded_at", "id")),),
)
# What an RCP sheet shows of a dossier beyond its own row, read with it in one query (prescriptions.folding):
# persons, phenotypes, prior tests, documents, decisions, reviewers' entries.
SHEET_FOLDS = [
    *DETAIL_FOLDS[:4],
    DECISIONS_FOLD,
    Fold("rcp_sheet_entries", related=("author",), order=("at", "id")),
]


def _on_dossier(f: Fold) -> Fold:
    return Fold(f.relation, related=f.related, order=f.order, nested=f.nested, on="dossier")


# The same, for each dossier of an agenda, read with its agenda item.
AGENDA_FOLDS = [_on_dossier(f) for f in SHEET_FOLDS]


SHEET_RELATED = (
    "pre_indication_version__pre_indication",
    "prescriber",
    "entered_by",
    "establishment",
    "rcp",
    "suspected_diagnosis",
    "rcp_conclusion__recorded_by",
    "rcp_conclusion__meeting",
)


def meeting_detail(user: User, pk: int) -> Meeting:
    """The meeting with its agenda (each dossier with its sheet), or Meeting.DoesNotExist for a non-member: the
    meeting in one query, its agenda items with their dossiers and each dossier's sheet in another, whatever
    the length of the agenda."""
    meeting = meetings_visible_to(user).select_related("rcp__establishment", "created_by").get(pk=pk)
    items = fold(
        AgendaItem.objects.filter(meeting=meeting).select_related(
            "added_by", *(f"dossier__{name}" for name in SHEET_RELATED)
        ),
        AGENDA_FOLDS,
    )
    items = [unfold(item, AGENDA_FOLDS) for item in items]
    for item in items:
        AgendaItem.meeting.field.set_cached_value(item, meeting)
    queryset = meeting.items.all()
    queryset._result_cache = items
    queryset._prefetch_done = True
    meeting._prefetched_objects_cache = {"items": queryset}
    return meeting


def identities_hidden_on_agenda(user: User, meeting: Meeting) -> set[int]:
    """The agenda's dossiers whose persons ``user`` may not identify (a withdrawn dossier, for a member who also
    works at its laboratory): the one rule, asked once for the whole agenda."""
    return set(
        Dossier.objects.filter(identities_hidden_q(user), pk__in=meeting.items.values("dossier")).values_list(
            "pk", flat=True
        )
    )


# The minutes' decisions (with their corrections) and downstream conclusions, loaded with the meeting.
MINUTES_FOLDS = [
    Fold(
        "decisions",
        related=("recorded_by",),
        order=("recorded_at", "id"),
        nested=(Fold("corrections", related=("recorded_by",), order=("recorded_at", "id")),),
    ),
    Fold("conclusions", related=("recorded_by",), order=("recorded_at", "id")),
]


def meeting_for_minutes(pk: int) -> Meeting:
    """Not scoped: for the rendering task, which acts for the system. Views use ``meeting_detail``. Three
    queries whatever the meeting holds: the meeting with its decisions and conclusions, those present, the
    agenda."""
    meeting = fold(
        Meeting.objects.select_related("rcp__establishment", "created_by").prefetch_related(
            "present",
            Prefetch(
                "items",
                queryset=AgendaItem.objects.select_related(
                    "dossier__pre_indication_version", "dossier__prescriber", "dossier__establishment"
                ),
            ),
        ),
        MINUTES_FOLDS,
    ).get(pk=pk)
    return unfold(meeting, MINUTES_FOLDS)


def sheet_dossier(user: User, pk: int) -> Dossier:
    """A dossier with what its RCP sheet shows (decisions, entries and conclusion included), among those
    ``user`` may see (Dossier.DoesNotExist otherwise): one query (``SHEET_FOLDS``)."""
    dossier = fold(
        dossiers_visible_to(user).select_related(*SHEET_RELATED, "laboratory"),
        SHEET_FOLDS,
    ).get(pk=pk)
    return unfold(dossier, SHEET_FOLDS)


def _prefetched(dossier: Dossier, name: str) -> bool:
    return name in getattr(dossier, "_prefetched_objects_cache", {})


def decisions_of(dossier: Dossier) -> list[Decision]:
    """Oldest first, with their corrections: as read with the dossier by ``sheet_dossier``, or read now."""
    if _prefetched(dossier, "rcp_decisions"):
        return list(dossier.rcp_decisions.all())
    return list(_decisions().filter(dossier=dossier))


def sheet_entries_of(dossier: Dossier) -> list[SheetEntry]:
    if _prefetched(dossier, "rcp_sheet_entries"):
        return list(dossier.rcp_sheet_entries.all())
    return list(dossier.rcp_sheet_entries.select_related("author"))


def conclusion_of(dossier: Dossier) -> DownstreamConclusion | None:
    """As read with the dossier by ``sheet_dossier``, or read now."""
    if Dossier.rcp_conclusion.is_cached(dossier):
        return getattr(dossier, "rcp_conclusion", None)
    return (
        DownstreamConclusion.objects.select_related("recorded_by", "meeting").filter(dossier=dossier).first()
    )


def pending_items(dossier: Dossier) -> dict[str, AgendaItem]:
    """Per kind of meeting, the agenda item awaiting this dossier's decision (the earliest meeting it is on and
    that has not decided on it): one query for both kinds."""
    decided = Decision.objects.filter(meeting=OuterRef("meeting"), dossier=OuterRef("dossier"))
    items: dict[str, AgendaItem] = {}
    pending = (
        AgendaItem.objects.filter(dossier=dossier)
        .exclude(Exists(decided))
        .select_related("meeting__rcp")
        .order_by("meeting__date", "meeting__start_time", "id")
    )
    for item in pending:
        items.setdefault(item.meeting.kind, item)
    return items


def pending_item(dossier: Dossier, kind: str = Meeting.Kind.UPSTREAM) -> AgendaItem | None:
    """The agenda item awaiting this dossier's decision (the earliest meeting it is on and not yet decided)."""
    return pending_items(dossier).get(kind)


def meeting_members(meeting: Meeting) -> list[User]:
    """The members of the meeting's RCP-FMG, each with ``present`` (declared present at the meeting)."""
    attended = Meeting.present.through.objects.filter(meeting=meeting, user=OuterRef("pk"))
    return list(
        User.objects.filter(rcp_memberships__rcp=meeting.rcp_id)
        .annotate(present=Exists(attended))
        .order_by("last_name", "first_name", "pk")
    )
