"""Who may do what on the laboratory side. The transitions' own rules live in ``prescriptions.rules``
(TRANSITION_RULES): these are the rules of this app's screens, built from the same predicates."""

import rules

from people.models import LaboratoryMembership
from people.rules import is_administrator
from prescriptions import rules as prescriptions_rules
from prescriptions.models import Dossier
from prescriptions.rules import (
    TRANSITION_RULES,
    decides_for_dossier_rcp,
    is_biologist_of_dossier_laboratory,
    is_machine_account,
    works_at_dossier_laboratory,
)


@rules.predicate
def is_laboratory_member(user) -> bool:
    return bool(user and user.is_authenticated and LaboratoryMembership.objects.filter(user=user).exists())


# Routing can be overridden (with a reason) by the RCP-FMG's coordination or an administrator.
may_override_routing = decides_for_dossier_rcp | is_administrator
# The prescribing side records the samples it ships (the same people who declare the shipment).
may_record_samples = TRANSITION_RULES["ship_samples"]
may_check_samples = works_at_dossier_laboratory
may_run_pipeline = works_at_dossier_laboratory
may_prepare_report = works_at_dossier_laboratory
# A machine account never signs, not even a rectification (which needs no transition).
may_sign_report = is_biologist_of_dossier_laboratory & ~is_machine_account
identities_hidden = prescriptions_rules.identities_hidden  # one rule for every screen (prescriptions.rules)

ROUTABLE_STATES = (Dossier.Status.SUBMITTED, Dossier.Status.RCP_VALIDATED, Dossier.Status.FINALISED)
