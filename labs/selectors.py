"""Laboratory-side reads, always scoped to the user who asks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import CharField, F, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Concat, Upper
from django.utils import timezone

from people.models import Laboratory, User
from pfmg.pagination import (
    COUNT_LIMIT,
    PAGE_SIZE,
    BoundedCount,
    KeysetPage,
    Matches,
    bounded_counts,
    bounded_matches,
    partitioned_keyset_page,
)
from prescriptions.models import Dossier, DossierEvent, DossierPerson
from prescriptions.selectors import dossier_scope, dossiers_visible_to

from .models import Report, Sample, SequencingRun, Shipment

S = Dossier.Status
# The statuses a laboratory works on, in the order of the pathway.
QUEUE_STATUSES = [S.FINALISED, S.SAMPLES_SHIPPED, S.RECEIVED, S.SEQUENCING, S.ANALYSIS, S.REPORT_SIGNED]


def laboratories_of(user: User) -> QuerySet[Laboratory]:
    if not user.is_authenticated:
        return Laboratory.objects.none()
    return Laboratory.objects.filter(memberships__user=user).distinct()


def lab_dossiers(user: User) -> QuerySet[Dossier]:
    """The dossiers of the laboratories ``user`` works at (and only those, whatever else they may see). The
    laboratories are resolved to ids first: a plain ``laboratory_id IN (…)`` that the laboratory's indexes serve,
    not a join through the memberships."""
    laboratory_ids = dossier_scope(user).laboratory_ids
    if not laboratory_ids:
        return Dossier.objects.none()
    return dossiers_visible_to(user).filter(laboratory_id__in=laboratory_ids)


# Walked along the index on (laboratory, status, status_since): oldest wait first.
QUEUE_ORDER = ("status_since", "pk")
# A search by a beginning of reference, barcode or run reads at most this many matches of each kind.
SEARCH_LIMIT = COUNT_LIMIT


def _index_name() -> Subquery:
    """The index case's name as ``Patient.__str__`` writes it, read with the queue's row (no query per row)."""
    index = DossierPerson.objects.filter(
        dossier=OuterRef("pk"), relationship=DossierPerson.Relationship.INDEX
    )
    name = Concat(Upper("patient__birth_name"), Value(" "), "patient__first_names", output_field=CharField())
    return Subquery(index.order_by("pk").values(name=name)[:1])


def lab_queue(user: User, status: str = "") -> QuerySet[Dossier]:
    """The incoming queue: the laboratory's dossiers in a working status, oldest wait first, each with the time
    it entered that status (``since``) and its index case. Scoped by the laboratories ``user`` works at: a
    laboratory sees its dossiers in every working status (``prescriptions.selectors.LAB_VISIBLE``)."""
    if not user.is_authenticated or not user.is_active:
        return Dossier.objects.none()
    statuses = [status] if status in QUEUE_STATUSES else QUEUE_STATUSES
    return (
        Dossier.objects.filter(laboratory__in=laboratories_of(user), status__in=statuses)
        .annotate(since=F("status_since"), index_name=_index_name())
        .select_related("pre_indication_version", "establishment", "laboratory", "prescriber")
        .order_by(*QUEUE_ORDER)
    )


def matching_dossiers(term: str) -> Matches:
    """The dossiers whose reference, or one of whose tubes (barcode, or sample number) or sequencing runs,
    begins with ``term``: each kind read through its own index, all in one query, at most ``SEARCH_LIMIT``
    of each. Not scoped: the queue intersects it with the laboratory's own dossiers."""
    term = term.strip()
    lookups = [
        Dossier.objects.filter(reference__startswith=term.upper()).values("pk"),
        Sample.objects.filter(barcode__startswith=term).values("dossier_id"),
        SequencingRun.objects.filter(run_identifier__startswith=term).values("dossier_id"),
    ]
    if term.isdigit() and len(term) < 12:
        lookups.append(Sample.objects.filter(pk=int(term)).values("dossier_id"))
    return bounded_matches(Dossier, lookups, SEARCH_LIMIT)


def queue_page(
    user: User,
    *,
    status: str = "",
    search: str = "",
    cursor: str | None = None,
    size: int = PAGE_SIZE,
    laboratories: list[Laboratory] | None = None,
) -> tuple[KeysetPage, Matches | None]:
    """A page of ``user``'s laboratory queue (one status, or all), oldest wait first, with ``waiting`` (days)
    and ``index`` set on each row; with the search that narrowed it, if any. A fixed number of queries.
    ``laboratories``: ``laboratories_of(user)`` if already read."""
    if laboratories is None:
        laboratories = list(laboratories_of(user))
    labs = [lab.pk for lab in laboratories]
    statuses = [status] if status in QUEUE_STATUSES else QUEUE_STATUSES
    dossiers = lab_queue(user, status)
    found = matching_dossiers(search) if search.strip() else None
    if found is not None:
        dossiers = dossiers.filter(pk__in=found.ids)
    page = partitioned_keyset_page(
        dossiers,
        partitions=[Q(laboratory_id=lab, status=s) for lab in labs for s in statuses],
        order=QUEUE_ORDER,
        cursor=cursor,
        size=size,
    )
    now = timezone.now()
    for dossier in page.object_list:
        dossier.waiting = waiting_days(dossier.status_since, now)
        dossier.index = dossier.index_name
    return page, found


def queue_counts(user: User, limit: int | None = None) -> dict[str, BoundedCount]:
    """How many of the laboratory's dossiers are in each working status, bounded ("more than 1,000")."""
    partitions = {s.value: Q(status=s) for s in QUEUE_STATUSES}
    return bounded_counts(lab_queue(user).order_by(), partitions, limit or COUNT_LIMIT)


def waiting_days(since: dt.datetime | None, now: dt.datetime | None = None) -> int | None:
    if since is None:
        return None
    return ((now or timezone.now()) - since).days


def samples_of(dossier: Dossier) -> list[Sample]:
    return list(
        dossier.samples.select_related("person__patient", "shipment", "checked_by").order_by(
            "recorded_at", "id"
        )
    )


def shipments_of(dossier: Dossier) -> list[Shipment]:
    return list(
        dossier.shipments.prefetch_related(
            Prefetch("samples", queryset=Sample.objects.select_related("person").order_by("id"))
        ).order_by("created_at", "id")
    )


def reports_of(dossier: Dossier, user: User) -> list[Report]:
    """Every version, newest first; drafts (unsigned) only to the laboratory's staff."""
    from .rules import may_prepare_report

    reports = dossier.reports.select_related("signed_by", "created_by", "amends").order_by("-version")
    if not may_prepare_report.test(user, dossier):
        reports = reports.filter(signed_at__isnull=False)
    return list(reports)


def visible_report(user: User, pk: int) -> Report:
    """A report whose dossier ``user`` may see (drafts only to its laboratory), or Report.DoesNotExist."""
    from .rules import identities_hidden, may_prepare_report

    if user.is_authenticated and "_memberships" not in user.__dict__:
        user.load_memberships()  # one query for the rules below, instead of one each
    report = Report.objects.select_related("dossier").get(pk=pk, dossier__in=dossiers_visible_to(user))
    if identities_hidden.test(user, report.dossier):
        raise Report.DoesNotExist
    if not report.is_signed and not may_prepare_report.test(user, report.dossier):
        raise Report.DoesNotExist
    return report


@dataclass
class Step:
    label: str
    start: dt.datetime
    end: dt.datetime

    @property
    def duration(self) -> dt.timedelta:
        return self.end - self.start

    @property
    def days(self) -> float:
        return round(self.duration.total_seconds() / 86400, 1)


def turnaround(dossier: Dossier, timeline: list[DossierEvent] | None = None) -> dict:
    """Time spent in each status and end to end, read from the timeline (never from mutable fields): the
    dossier's events in order of time, or ``timeline`` when the page has them already."""
    events = [
        e
        for e in (dossier.events.order_by("at", "id") if timeline is None else timeline)
        if e.kind in (DossierEvent.Kind.CREATED, DossierEvent.Kind.TRANSITION)
    ]
    steps = []
    for previous, event in zip(events, events[1:], strict=False):
        status = previous.to_status or S.DRAFT
        steps.append(Step(str(S(status).label), previous.at, event.at))
    first = {}
    for event in events:
        if event.transition:
            first.setdefault(event.transition, event.at)
    spans = []
    for label, start, end in (
        ("prescription", first.get("submit"), first.get("finalise")),
        ("laboratory", first.get("receive"), first.get("sign_report")),
        ("end_to_end", first.get("finalise"), first.get("deliver_report") or first.get("sign_report")),
    ):
        if start and end:
            spans.append((label, Step(label, start, end)))
    return {
        "steps": steps,
        "spans": dict(spans),
        "total": Step("total", events[0].at, events[-1].at) if events else None,
    }


def signed_report_with_digest(user: User, sha256: str) -> Report | None:
    """The signed report whose signed file has this SHA-256, if ``user`` may see it (the same scope as a
    download: ``visible_report``); None otherwise, whether it exists or not."""
    candidates = Report.objects.filter(signed_sha256=sha256, signed_at__isnull=False).order_by("-pk")
    for pk in candidates.values_list("pk", flat=True):
        try:
            return visible_report(user, pk)
        except Report.DoesNotExist:
            continue
    return None
