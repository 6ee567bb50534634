"""The laboratory's PDFs: the shipping manifest of a shipment and the composed report (compte rendu).

Rendered by ``pfmg.pdf.render_pdf`` (deterministic) from the ``render_*`` tasks of ``labs.tasks``, or on demand
by a download that finds nothing stored yet, through the same functions."""

from __future__ import annotations

import hashlib

from django.core.files.base import ContentFile
from django.utils.translation import gettext_lazy as _

from pfmg.pdf import latest_render, render_pdf, store_render

from .models import Report, Shipment

MANIFEST_TEMPLATE = "pdf/shipping_manifest.html"
REPORT_TEMPLATE = "pdf/report.html"


def shipment_for_rendering(pk: int) -> Shipment:
    return Shipment.objects.select_related(
        "dossier__establishment", "dossier__laboratory", "dossier__prescriber", "created_by"
    ).get(pk=pk)


def render_shipping_manifest(shipment: Shipment) -> bytes:
    samples = list(shipment.samples.select_related("person__patient").order_by("id"))
    return render_pdf(
        MANIFEST_TEMPLATE,
        {"shipment": shipment, "dossier": shipment.dossier, "samples": samples},
        reference=shipment.dossier.reference,
        title=_("Bordereau d'expédition"),
        created=shipment.created_at,
    )


def _manifest_location(shipment: Shipment) -> tuple[str, str]:
    return f"renders/{shipment.dossier.reference}", f"shipping-manifest-{shipment.pk}-"


def store_shipping_manifest(shipment: Shipment) -> str:
    return store_render(*_manifest_location(shipment), render_shipping_manifest(shipment))


def shipping_manifest_path(shipment: Shipment) -> str:
    """A stored manifest (a shipment does not change once made), rendered now if none is stored yet."""
    return latest_render(*_manifest_location(shipment)) or store_shipping_manifest(shipment)


def report_for_rendering(pk: int) -> Report:
    return Report.objects.select_related(
        "dossier__pre_indication_version__pre_indication",
        "dossier__establishment",
        "dossier__laboratory",
        "dossier__prescriber",
        "created_by",
        "amends",
    ).get(pk=pk)


def render_report(report: Report) -> bytes:
    dossier = report.dossier
    return render_pdf(
        REPORT_TEMPLATE,
        {
            "report": report,
            "dossier": dossier,
            "persons": list(dossier.persons.select_related("patient").filter(to_be_sequenced=True)),
            "run": dossier.sequencing_runs.order_by("-recorded_at", "-id").first(),
            "variants": [line.strip() for line in report.variants.splitlines() if line.strip()],
        },
        reference=dossier.reference,
        title=_("Compte rendu de séquençage de génome"),
        created=report.created_at,
    )


def store_report_file(report: Report) -> Report:
    """Lay out a composed report and attach the PDF to it, unless it already has its file (idempotent)."""
    if report.file or report.source != Report.Source.COMPOSED:
        return report
    data = render_report(report)
    report.sha256 = hashlib.sha256(data).hexdigest()
    report.size = len(data)
    report.file.save("report.pdf", ContentFile(data), save=False)
    report.save(update_fields=["file", "sha256", "size"])
    return report


def queue_missing_report_files(since) -> int:
    """Render sweep (``pfmg.renders``): composed reports created since ``since`` still without their PDF (the
    render was lost with the broker). Signing lays out a missing PDF too; this makes it ready before."""
    from pfmg.renders import queue_render

    from .tasks import render_report

    missing = Report.objects.filter(source=Report.Source.COMPOSED, file="", created_at__gte=since)
    return sum(queue_render(render_report, pk) for pk in missing.values_list("pk", flat=True))
