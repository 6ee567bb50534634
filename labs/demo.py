"""Demo data of this app, called by ``pfmg.demo`` (which owns the demo and its cast)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from django.core.files.uploadedfile import SimpleUploadedFile

if TYPE_CHECKING:
    from people.models import User
    from pfmg.demo import Cast
    from prescriptions.models import Dossier


def seed_reference(users: dict[str, User]) -> None:
    """Before any demo dossier is walked (idempotent: ``seed_demo`` runs on every ``make run``): each
    laboratory's machine account (``machine_seqoia``, ``machine_auragen``), without a token (``manage.py
    create_machine_account --laboratory seqoia`` prints one)."""
    from people.models import Laboratory
    from people.services import create_machine_account

    for laboratory in Laboratory.objects.filter(code__in=["seqoia", "auragen"]).order_by("code"):
        create_machine_account(laboratory=laboratory)


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF saying ``text`` (ASCII): a report deposited in the demo, without a rendering engine."""
    stream = f"BT /F1 14 Tf 72 760 Td ({text}) Tj ET".encode("ascii", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def prepare(name: str, dossier: Dossier, cast: Cast, at: dt.datetime) -> None:
    """Called just before ``pfmg.demo.walk`` fires transition ``name`` on ``dossier``: create what this app
    requires of that transition (so the demo, and the tests that walk dossiers, pass the real conditions)."""
    from django.utils import timezone

    from .conditions import latest_samples, persons_to_sequence, samples_conform
    from .models import AnalysisAssignment, Report, Sample, SequencingRun, Shipment
    from .services import allowed_sample_types, unshipped_samples

    if name == "receive" and samples_conform(dossier):
        # A dossier that reached "shipped" without this app (bulk-seeded): its samples, shipped then.
        prepare("ship_samples", dossier, cast, at)
        Shipment.objects.filter(dossier=dossier, declared_at__isnull=True).update(declared_at=at)
    if name == "ship_samples":
        latest = latest_samples(dossier)
        sample_type = (allowed_sample_types(dossier) or ["blood_edta"])[0]
        for person in persons_to_sequence(dossier):
            sample = latest.get(person.pk)
            if sample is None or not sample.active:
                n = Sample.objects.filter(dossier=dossier).count() + 1
                Sample.objects.create(
                    dossier=dossier,
                    person=person,
                    sample_type=sample_type,
                    barcode=f"{dossier.reference}-T{n}",
                    collected_on=timezone.localdate(at),
                    collected_by="IDE du service (démo)",
                    recorded_by=cast.prescriber,
                    recorded_at=at,
                )
        loose = list(unshipped_samples(dossier))
        if loose:
            shipment = Shipment.objects.create(
                dossier=dossier,
                carrier="Transporteur santé (démo)",
                tracking_number=f"TRK{dossier.pk:06d}{Shipment.objects.filter(dossier=dossier).count() + 1}",
                pickup_date=timezone.localdate(at),
                created_by=cast.prescriber,
                created_at=at,
            )
            Sample.objects.filter(pk__in=[s.pk for s in loose]).update(shipment=shipment)
    elif name == "receive":
        Sample.objects.filter(dossier=dossier, check_result=Sample.Check.PENDING).update(
            check_result=Sample.Check.CONFORM, checked_by=cast.lab_staff, checked_at=at
        )
    elif name == "reject_samples":
        pending = Sample.objects.filter(dossier=dossier, check_result=Sample.Check.PENDING).first()
        if pending is not None:
            pending.check_result = Sample.Check.NON_CONFORM
            pending.check_reason = "Tube hémolysé : merci de prélever à nouveau."
            pending.checked_by, pending.checked_at = cast.lab_staff, at
            pending.save(update_fields=["check_result", "check_reason", "checked_by", "checked_at"])
    if name in ("receive", "start_sequencing") and not SequencingRun.objects.filter(dossier=dossier).exists():
        # The run is planned at reception in the demo, so that a received dossier can be sequenced at once.
        SequencingRun.objects.create(
            dossier=dossier,
            run_identifier=f"RUN-{timezone.localdate(at):%Y%m%d}-{dossier.pk:04d}",
            mean_coverage="38.5",
            pct_20x="96.20",
            recorded_by=cast.lab_staff,
            recorded_at=at,
        )
    if name == "start_analysis" and not AnalysisAssignment.objects.filter(dossier=dossier).exists():
        AnalysisAssignment.objects.create(
            dossier=dossier, interpreter=cast.biologist, assigned_by=cast.lab_staff, assigned_at=at
        )
    unsigned = Report.objects.filter(dossier=dossier, signed_at__isnull=True).exists()
    signed = Report.objects.filter(dossier=dossier, signed_at__isnull=False).exists()
    if (name == "sign_report" and not unsigned) or (name == "deliver_report" and not signed):
        import hashlib

        content = minimal_pdf(f"Compte rendu {dossier.reference} (demonstration)")
        report = Report(
            dossier=dossier,
            version=Report.objects.filter(dossier=dossier).count() + 1,
            source=Report.Source.UPLOADED,
            size=len(content),
            sha256=hashlib.sha256(content).hexdigest(),
            created_by=cast.lab_staff,
            created_at=at,
        )
        report.file.save("report.pdf", SimpleUploadedFile("report.pdf", content), save=False)
        report.save()
        if name == "deliver_report":  # reached "signed" without this app (bulk-seeded): signed then
            from .services import _record_signature

            _record_signature(report, cast.biologist, at)


def seed_extras(users: dict[str, User]) -> None:
    """After the demo dossiers exist (idempotent)."""
