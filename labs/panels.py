"""The laboratory section of the dossier page: routing, samples and shipments, pipeline, report, turnaround."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from prescriptions.folding import Fold
from prescriptions.models import Dossier

from . import rules, selectors

S = Dossier.Status
# The laboratory's screen for the step each status waits for (its form records what the step needs).
LAB_STEPS = {
    S.SAMPLES_SHIPPED: ("labs_reception", _("Contrôler les prélèvements reçus")),
    S.RECEIVED: ("labs_sequencing", _("Lancer le séquençage")),
    S.SEQUENCING: ("labs_analysis", _("Lancer l'analyse")),
    S.ANALYSIS: ("labs_report", _("Préparer et signer le compte rendu")),
}


# What the panel and the laboratory transitions' requirements read, loaded with the dossier on its page
# (prescriptions.folding); the panel reads them as ``dossier.samples.all()``…
FOLDS = [
    Fold("samples", related=("person__patient", "shipment", "checked_by"), order=("recorded_at", "id")),
    Fold("shipments", order=("created_at", "id")),
    Fold("sequencing_runs", order=("-recorded_at", "-id")),
    Fold("analysis_assignments", related=("interpreter",), order=("-assigned_at", "-id")),
    Fold("reports", related=("signed_by", "created_by", "amends"), order=("-version",)),
]


def panel_context(request, dossier: Dossier) -> dict | None:
    if dossier.status in (S.DRAFT,):
        return None
    user = request.user
    hidden = rules.identities_hidden.test(user, dossier)
    past_finalise = dossier.status not in (
        S.SUBMITTED,
        S.MORE_INFO_REQUESTED,
        S.RCP_REJECTED,
        S.RCP_VALIDATED,
    )
    lab_staff = rules.may_run_pipeline.test(user, dossier)
    # Drafts (unsigned) only to the laboratory's staff (selectors.reports_of).
    reports = [] if hidden else [r for r in dossier.reports.all() if r.signed_at is not None or lab_staff]
    step = LAB_STEPS.get(dossier.status) if lab_staff else None
    shown = past_finalise and not hidden
    events = list(dossier.events.all())
    routed = [e for e in events if e.kind == "routed"]
    return {
        "next_step": (reverse(step[0], args=[dossier.pk]), step[1]) if step else None,
        "can_override": dossier.status in rules.ROUTABLE_STATES
        and rules.may_override_routing.test(user, dossier),
        "routed": max(routed, key=lambda e: e.at) if routed else None,
        "past_finalise": past_finalise,
        "hidden": hidden,
        "samples": list(dossier.samples.all()) if shown else [],
        "shipments": list(dossier.shipments.all()) if shown else [],
        "may_record": dossier.status == S.FINALISED and rules.may_record_samples.test(user, dossier),
        "lab_staff": lab_staff,
        "run": next(iter(dossier.sequencing_runs.all()), None),
        "assignment": next(iter(dossier.analysis_assignments.all()), None),
        "reports": reports,
        "turnaround": selectors.turnaround(dossier, events),
    }
