"""Laboratory-side reads, always scoped to the user who asks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Max, Prefetch, Q, QuerySet
from django.utils import timezone

from people.models import Laboratory, User
from prescriptions.models import Dossier, DossierEvent
from prescriptions.selectors import dossier_scope, dossiers_visible_to, index_person_prefetch

from .models import Report, Sample, Shipment

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


def lab_queue(user: User, status: str = "") -> QuerySet[Dossier]:
    """The incoming queue: the laboratory's dossiers in a working status, oldest wait first, each with the time
    of the transition that put it in that status (``since``) and its index case."""
    statuses = [status] if status in QUEUE_STATUSES else QUEUE_STATUSES
    return (
        lab_dossiers(user)
        .filter(status__in=statuses)
        .annotate(since=Max("events__at", filter=Q(events__kind=DossierEvent.Kind.TRANSITION)))
        .select_related("pre_indication_version", "establishment", "laboratory", "prescriber")
        .prefetch_related(index_person_prefetch())
        .order_by("since", "pk")
    )


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


def turnaround(dossier: Dossier) -> dict:
    """Time spent in each status and end to end, read from the timeline (never from mutable fields)."""
    events = [
        e
        for e in dossier.events.order_by("at", "id")
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
