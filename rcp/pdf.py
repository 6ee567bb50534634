"""The RCP minutes (comptes rendus de RCP): per meeting and per dossier, rendered and stored like the prescription
summary (``prescriptions.pdf``): deterministic bytes, stored once under a name carrying their hash.

Meeting minutes: ``renders/rcp/<meeting reference>/meeting-minutes-<hash>.pdf``; a dossier's minutes:
``renders/<dossier reference>/rcp-minutes-<hash>.pdf``.
"""

from __future__ import annotations

import datetime as dt

from django.core.files.storage import default_storage
from django.http import FileResponse
from django.utils.translation import gettext_lazy as _

from pfmg.pdf import latest_render, render_pdf, store_render
from prescriptions.folding import Fold, fold, unfold
from prescriptions.models import Dossier

from . import selectors
from .models import Decision, Meeting

MEETING_TEMPLATE = "pdf/rcp_meeting_minutes.html"
DOSSIER_TEMPLATE = "pdf/rcp_dossier_minutes.html"
MEETING_PREFIX = "meeting-minutes-"
DOSSIER_PREFIX = "rcp-minutes-"


def attachment(path: str, filename: str) -> FileResponse:
    """A stored render, downloaded (the pages and the API alike); never kept by a shared cache."""
    response = FileResponse(
        default_storage.open(path, "rb"),
        content_type="application/pdf",
        as_attachment=True,
        filename=filename,
    )
    response["Cache-Control"] = "private, no-store"
    return response


# --- Meeting minutes --------------------------------------------------------------------------------------


def meeting_context(meeting: Meeting) -> dict:
    decisions: dict[int, list[Decision]] = {}
    for decision in meeting.decisions.all():
        decisions.setdefault(decision.dossier_id, []).append(decision)
    conclusions = {c.dossier_id: c for c in meeting.conclusions.all()}
    rows = [
        {
            "item": item,
            "dossier": item.dossier,
            "decisions": decisions.get(item.dossier_id, []),
            "conclusion": conclusions.get(item.dossier_id),
        }
        for item in meeting.items.all()
    ]
    return {"meeting": meeting, "rows": rows, "present": sorted(meeting.present.all(), key=str)}


def render_meeting_minutes(meeting: Meeting) -> bytes:
    return render_pdf(
        MEETING_TEMPLATE,
        meeting_context(meeting),
        reference=meeting.reference,
        title=_("Compte rendu de RCP"),
        created=meeting.starts_at,
    )


def meeting_folder(meeting: Meeting) -> str:
    return f"renders/rcp/{meeting.reference}"


def store_meeting_minutes(meeting: Meeting) -> str:
    return store_render(meeting_folder(meeting), MEETING_PREFIX, render_meeting_minutes(meeting))


def meeting_minutes_path(meeting: Meeting) -> str | None:
    return latest_render(meeting_folder(meeting), MEETING_PREFIX)


def current_meeting_minutes_path(meeting: Meeting) -> str:
    """The latest stored minutes if stored after the meeting's last change, else minutes rendered now."""
    path = meeting_minutes_path(meeting)
    if path is not None and default_storage.get_modified_time(path) >= meeting.updated_at:
        return path
    return store_meeting_minutes(selectors.meeting_for_minutes(meeting.pk))


# --- A dossier's minutes ----------------------------------------------------------------------------------


# The dossier's persons and decisions (with their corrections), loaded with it in one query.
MINUTES_FOLDS = [
    Fold("persons", related=("patient",)),
    Fold(
        "rcp_decisions",
        related=("recorded_by", "meeting"),
        order=("recorded_at", "id"),
        nested=(Fold("corrections", related=("recorded_by",), order=("recorded_at", "id")),),
    ),
]


def dossier_for_minutes(pk: int) -> Dossier:
    """Not scoped: for the rendering task; views read the dossier through a scoped selector first."""
    dossiers = Dossier.objects.select_related(
        "pre_indication_version", "prescriber", "entered_by", "establishment", "rcp"
    )
    return unfold(fold(dossiers, MINUTES_FOLDS).get(pk=pk), MINUTES_FOLDS)


def dossier_context(dossier: Dossier) -> dict:
    decisions = list(dossier.rcp_decisions.all())
    meetings = {d.meeting_id: d.meeting for d in decisions if d.meeting_id}
    present = {
        m.pk: sorted(m.present.all(), key=str)
        for m in Meeting.objects.filter(pk__in=meetings).prefetch_related("present")
    }
    index = next((p.patient for p in dossier.persons.all() if p.relationship == "index"), None)
    return {
        "dossier": dossier,
        "index": index,
        "decisions": [{"decision": d, "present": present.get(d.meeting_id or 0, [])} for d in decisions],
        "conclusion": selectors.conclusion_of(dossier),
    }


def _dossier_created(dossier: Dossier, context: dict) -> dt.datetime:
    times = [row["decision"].recorded_at for row in context["decisions"]]
    return max(times) if times else dossier.created_at


def render_dossier_minutes(dossier: Dossier) -> bytes:
    context = dossier_context(dossier)
    return render_pdf(
        DOSSIER_TEMPLATE,
        context,
        reference=dossier.reference,
        title=_("Compte rendu de RCP-FMG du dossier"),
        created=_dossier_created(dossier, context),
    )


def dossier_folder(dossier: Dossier) -> str:
    return f"renders/{dossier.reference}"


def store_dossier_minutes(dossier: Dossier) -> str:
    return store_render(dossier_folder(dossier), DOSSIER_PREFIX, render_dossier_minutes(dossier))


def dossier_minutes_path(dossier: Dossier) -> str | None:
    return latest_render(dossier_folder(dossier), DOSSIER_PREFIX)


def _dossier_last_change(dossier: Dossier) -> dt.datetime:
    times = [dossier.updated_at]
    for decision in Decision.objects.filter(dossier=dossier).prefetch_related("corrections"):
        times.append(decision.recorded_at)
        times.extend(c.recorded_at for c in decision.corrections.all())
    conclusion = selectors.conclusion_of(dossier)
    if conclusion:
        times.append(conclusion.recorded_at)
    return max(times)


def current_dossier_minutes_path(dossier: Dossier) -> str:
    path = dossier_minutes_path(dossier)
    if path is not None and default_storage.get_modified_time(path) >= _dossier_last_change(dossier):
        return path
    return store_dossier_minutes(dossier_for_minutes(dossier.pk))
