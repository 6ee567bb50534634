"""The prescription summary ("bon de prescription"): what it shows, its rendering and where renders are stored.

A render is stored through Django's default storage at ``renders/<reference>/prescription-summary-<hash>.pdf``,
the hash being that of the PDF's bytes: rendering is deterministic (``pfmg.pdf``), so the same content gives
the same path and is stored once, and a changed dossier gives a new file beside the previous ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.files.storage import default_storage
from django.utils.translation import gettext_lazy as _

from pfmg.pdf import latest_render, render_pdf, store_render

from .models import Dossier

SUMMARY_TEMPLATE = "pdf/prescription_summary.html"
SUMMARY_PREFIX = "prescription-summary-"


def dossier_for_rendering(pk: int) -> Dossier:
    """The dossier with everything its summary shows. Not scoped to a user: for the rendering task, which
    acts for the system; a view reads the dossier through ``selectors.dossier_detail`` instead."""
    return (
        Dossier.objects.select_related(
            "pre_indication_version__pre_indication",
            "prescriber",
            "entered_by",
            "establishment",
            "rcp",
            "laboratory",
            "suspected_diagnosis",
        )
        .prefetch_related("persons__patient", "phenotypes__term", "prior_tests", "documents")
        .get(pk=pk)
    )


def summary_context(dossier: Dossier) -> dict[str, Any]:
    phenotypes = list(dossier.phenotypes.all())
    return {
        "dossier": dossier,
        "version": dossier.pre_indication_version,
        "persons": list(dossier.persons.all()),
        "present": [p for p in phenotypes if p.present],
        "absent": [p for p in phenotypes if not p.present],
        "prior_tests": list(dossier.prior_tests.all()),
        "documents": list(dossier.documents.all()),
    }


def render_prescription_summary(dossier: Dossier) -> bytes:
    # The PDF declares the attestation as its date: the prescriber's act, not the time it was rendered.
    return render_pdf(
        SUMMARY_TEMPLATE,
        summary_context(dossier),
        reference=dossier.reference,
        title=_("Bon de prescription"),
        created=dossier.attested_at or dossier.created_at,
    )


def renders_folder(dossier: Dossier) -> str:
    return f"renders/{dossier.reference}"


def store_prescription_summary(dossier: Dossier) -> str:
    """Render the summary and store it unless the same bytes are already stored; returns its storage path."""
    return store_render(renders_folder(dossier), SUMMARY_PREFIX, render_prescription_summary(dossier))


def prescription_summary_path(dossier: Dossier) -> str | None:
    """The storage path of the latest stored render of the summary, or None if none is stored."""
    return latest_render(renders_folder(dossier), SUMMARY_PREFIX)


def current_prescription_summary_path(dossier: Dossier) -> str:
    """A stored render that shows the dossier as it stands: the latest one if it was stored after the dossier's
    last activity, else a render made now (stored once, like the task's)."""
    path = prescription_summary_path(dossier)
    if path is not None and default_storage.get_modified_time(path) >= dossier.updated_at:
        return path
    return store_prescription_summary(dossier)


def queue_missing_summaries(since: datetime) -> int:
    """Render sweep (``pfmg.renders``): queue the summary of every dossier attested since ``since`` whose
    summary was not stored after its attestation (its render was lost with the broker). Returns how many."""
    from .drafting import queue_summary_render  # drafting queues renders: imported here to avoid a cycle

    attested = (
        Dossier.objects.filter(attested_at__gte=since)
        .exclude(status=Dossier.Status.DRAFT)
        .only("pk", "reference", "attested_at")
    )
    queued = 0
    for dossier in attested.iterator():
        path = prescription_summary_path(dossier)
        if path is None or default_storage.get_modified_time(path) < dossier.attested_at:
            queue_summary_render(dossier.pk)
            queued += 1
    return queued
