"""The laboratory section of the dossier page: routing, samples and shipments, pipeline, report, turnaround."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

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
    reports = [] if hidden else selectors.reports_of(dossier, user)
    lab_staff = rules.may_run_pipeline.test(user, dossier)
    step = LAB_STEPS.get(dossier.status) if lab_staff else None
    return {
        "next_step": (reverse(step[0], args=[dossier.pk]), step[1]) if step else None,
        "can_override": dossier.status in rules.ROUTABLE_STATES
        and rules.may_override_routing.test(user, dossier),
        "routed": dossier.events.filter(kind="routed").select_related("actor").order_by("-at").first(),
        "past_finalise": past_finalise,
        "hidden": hidden,
        "samples": selectors.samples_of(dossier) if past_finalise and not hidden else [],
        "shipments": selectors.shipments_of(dossier) if past_finalise and not hidden else [],
        "may_record": dossier.status == S.FINALISED and rules.may_record_samples.test(user, dossier),
        "lab_staff": lab_staff,
        "run": dossier.sequencing_runs.order_by("-recorded_at", "-id").first(),
        "assignment": dossier.analysis_assignments.select_related("interpreter")
        .order_by("-assigned_at")
        .first(),
        "reports": reports,
        "turnaround": selectors.turnaround(dossier),
    }
