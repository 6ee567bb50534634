"""What the laboratory-side transitions require, registered on the dossier's state machine
(``prescriptions.conditions.register_requirement``). Each check returns what is missing, in French."""

from __future__ import annotations

from django.utils.translation import gettext as _

from people.models import LaboratoryMembership
from prescriptions.folding import folded
from prescriptions.models import Dossier

from .models import AnalysisAssignment, Report, Sample, SequencingRun, Shipment

# Each check reads what the dossier page loaded with the dossier (``folded``: labs.panels.FOLDS), or asks.


def persons_to_sequence(dossier: Dossier) -> list:
    persons = folded(dossier, "persons")
    if persons is None:
        persons = dossier.persons.select_related("patient")
    return [p for p in persons if p.to_be_sequenced]


def latest_samples(dossier: Dossier) -> dict[int, Sample]:
    """Each person's latest sample (a new tube replaces a non-conform one)."""
    latest: dict[int, Sample] = {}
    samples = folded(dossier, "samples")  # in the same order
    if samples is None:
        samples = Sample.objects.filter(dossier=dossier).order_by("recorded_at", "id")
    for sample in samples:
        latest[sample.person_id] = sample
    return latest


def _who(person) -> str:
    return f"{person.get_relationship_display()} ({person.patient})"


def samples_shipped(dossier: Dossier) -> list[str]:
    missing = []
    latest = latest_samples(dossier)
    for person in persons_to_sequence(dossier):
        sample = latest.get(person.pk)
        if sample is None or not sample.active:
            missing.append(_("Prélèvement à enregistrer pour : %(who)s.") % {"who": _who(person)})
        elif sample.shipment_id is None:
            missing.append(_("Prélèvement de %(who)s à joindre à une expédition.") % {"who": _who(person)})
    if not missing and not _undeclared_shipment(dossier):
        missing.append(_("Aucune nouvelle expédition : indiquez le transporteur et le numéro de suivi."))
    return missing


def samples_conform(dossier: Dossier) -> list[str]:
    """Every person's sample received and none non-conform. Receiving records the samples still unchecked as
    conform (``services.conform_on_reception``): firing ``receive`` is the laboratory's word that they are."""
    missing = []
    latest = latest_samples(dossier)
    for person in persons_to_sequence(dossier):
        sample = latest.get(person.pk)
        if sample is None or sample.shipment_id is None:
            missing.append(_("Aucun prélèvement reçu pour : %(who)s.") % {"who": _who(person)})
        elif sample.check_result == Sample.Check.NON_CONFORM:
            missing.append(
                _("Prélèvement %(code)s non conforme : déclarez la non-conformité au prescripteur.")
                % {"code": sample.barcode}
            )
    return missing


def _undeclared_shipment(dossier: Dossier) -> bool:
    shipments = folded(dossier, "shipments")
    if shipments is not None:
        return any(s.declared_at is None for s in shipments)
    return Shipment.objects.filter(dossier=dossier, declared_at__isnull=True).exists()


def run_recorded(dossier: Dossier) -> list[str]:
    runs = folded(dossier, "sequencing_runs")
    if runs if runs is not None else SequencingRun.objects.filter(dossier=dossier).exists():
        return []
    return [_("Identifiant du run et indicateurs qualité (profondeur, part à 20x) à enregistrer.")]


def interpreter_assigned(dossier: Dossier) -> list[str]:
    assignments = folded(dossier, "analysis_assignments")  # newest first
    if assignments is not None:
        assignment = assignments[0] if assignments else None
    else:
        assignment = (
            AnalysisAssignment.objects.filter(dossier=dossier).order_by("-assigned_at", "-id").first()
        )
    if assignment is None:
        return [_("Aucun·e interprète n'est désigné·e.")]
    if not LaboratoryMembership.objects.filter(
        user_id=assignment.interpreter_id, laboratory_id=dossier.laboratory_id
    ).exists():
        return [_("L'interprète désigné·e n'est pas membre du laboratoire du dossier.")]
    return []


def report_ready_to_sign(dossier: Dossier) -> list[str]:
    reports = folded(dossier, "reports")  # newest version first
    if reports is not None:
        draft = next((r for r in reports if r.signed_at is None), None)
    else:
        draft = Report.objects.filter(dossier=dossier, signed_at__isnull=True).order_by("-version").first()
    if draft is None:
        return [_("Aucun compte rendu à signer : déposez le PDF ou rédigez-le.")]
    if not draft.file:
        return [_("Le compte rendu est en cours de mise en page : réessayez dans un instant.")]
    if not draft.intact():
        return [_("Le fichier du compte rendu a été modifié depuis son dépôt : déposez-le à nouveau.")]
    return []


def report_signed(dossier: Dossier) -> list[str]:
    reports = folded(dossier, "reports")
    if reports is not None:
        signed = any(r.signed_at is not None for r in reports)
    else:
        signed = Report.objects.filter(dossier=dossier, signed_at__isnull=False).exists()
    if signed:
        return []
    return [_("Aucun compte rendu signé.")]


REQUIREMENTS = {
    "ship_samples": samples_shipped,
    "receive": samples_conform,
    "start_sequencing": run_recorded,
    "start_analysis": interpreter_assigned,
    "sign_report": report_ready_to_sign,
    "deliver_report": report_signed,
}
