"""Who may do what to a dossier: one source of truth for views, the API, the admin and the state machine.

The state machine's ``permission=`` goes through ``transition_permission`` and tests the rule directly, so
that no superuser shortcut can bypass a separation of duty (an administrator is not an RCP coordinator).

The membership predicates ask ``User.rcp_function`` and friends: one query each, or none once the page has
called ``user.load_memberships()`` (the dossier page asks a dozen of them).
"""

import rules
from django.utils.translation import gettext_lazy as _

from people.models import AssistantAssignment, LaboratoryMembership, RcpMembership, Role
from people.rules import is_administrator, is_prescriber


@rules.predicate
def is_dossier_prescriber(user, dossier) -> bool:
    return bool(dossier and user.is_authenticated and dossier.prescriber_id == user.pk)


@rules.predicate
def is_dossier_enterer(user, dossier) -> bool:
    return bool(dossier and user.is_authenticated and dossier.entered_by_id == user.pk)


@rules.predicate
def assists_dossier_prescriber(user, dossier) -> bool:
    if not (dossier and user.is_authenticated):
        return False
    return user.assists(dossier.prescriber_id)


@rules.predicate
def decides_for_dossier_rcp(user, dossier) -> bool:
    """Coordinator or deputy of the RCP-FMG the dossier was submitted to."""
    if not (dossier and dossier.rcp_id and user.is_authenticated):
        return False
    return user.rcp_function(dossier.rcp_id) in (
        RcpMembership.Function.COORDINATOR,
        RcpMembership.Function.DEPUTY,
    )


@rules.predicate
def works_at_dossier_laboratory(user, dossier) -> bool:
    if not (dossier and dossier.laboratory_id and user.is_authenticated):
        return False
    return user.laboratory_function(dossier.laboratory_id) is not None


@rules.predicate
def is_biologist_of_dossier_laboratory(user, dossier) -> bool:
    if not (dossier and dossier.laboratory_id and user.is_authenticated):
        return False
    return user.laboratory_function(dossier.laboratory_id) == LaboratoryMembership.Function.BIOLOGIST


@rules.predicate
def is_establishment_counsellor(user, dossier) -> bool:
    """A genetic counsellor of the prescribing establishment (who holds its consent consultations)."""
    if not (dossier and user.is_authenticated and user.establishment_id):
        return False
    return user.has_role(Role.GENETIC_COUNSELLOR) and user.establishment_id == dossier.establishment_id


@rules.predicate
def is_machine_account(user) -> bool:
    """A laboratory's system calling the API with a token (``people.User.is_machine_account``)."""
    return bool(user and user.is_authenticated and getattr(user, "is_machine_account", False))


@rules.predicate
def may_prescribe_for(author, prescriber) -> bool:
    """``author`` may start a prescription in ``prescriber``'s name: themselves, or an assistant of theirs."""
    if not (author.is_authenticated and prescriber is not None and prescriber.has_role("prescriber")):
        return False
    if is_machine_account(author) or is_machine_account(prescriber):
        return False
    if author.pk == prescriber.pk:
        return True
    return AssistantAssignment.objects.filter(assistant=author, prescribers=prescriber).exists()


may_edit_draft = is_dossier_prescriber | assists_dossier_prescriber | is_dossier_enterer


@rules.predicate
def dossier_withdrawn(user, dossier) -> bool:
    return bool(dossier and dossier.status == "withdrawn")


# Laboratory staff never see who the persons of a withdrawn dossier are (pages, lists, PDFs, documents). The
# same rule as a query filter, for lists and searches: selectors.identities_hidden_q.
identities_hidden = works_at_dossier_laboratory & dossier_withdrawn & ~is_dossier_prescriber

rcp_decision = decides_for_dossier_rcp & ~is_dossier_prescriber & ~is_dossier_enterer

TRANSITION_RULES: dict[str, rules.Predicate] = {
    "submit": is_dossier_prescriber & is_prescriber,
    "request_more_info": rcp_decision,
    "reject": rcp_decision,
    "validate": rcp_decision,
    "finalise": is_dossier_prescriber,
    "ship_samples": is_dossier_prescriber | assists_dossier_prescriber,
    "receive": works_at_dossier_laboratory,
    "reject_samples": works_at_dossier_laboratory,
    "start_sequencing": works_at_dossier_laboratory,
    "start_analysis": works_at_dossier_laboratory,
    "sign_report": is_biologist_of_dossier_laboratory,
    # The prescriber's first download of the signed report delivers it (labs.services.record_download); the
    # laboratory may also record a delivery made through another channel.
    "deliver_report": works_at_dossier_laboratory | is_dossier_prescriber,
    "close": is_dossier_prescriber | decides_for_dossier_rcp,
    "cancel": is_dossier_prescriber | is_administrator,
    "withdraw": is_dossier_prescriber | is_establishment_counsellor | is_administrator,
}
# A laboratory's machine account fires these and nothing else (never a signature, a prescription, a decision).
MACHINE_TRANSITIONS = frozenset({"receive", "reject_samples", "start_sequencing", "start_analysis"})
TRANSITION_RULES = {
    name: rule if name in MACHINE_TRANSITIONS else rule & ~is_machine_account
    for name, rule in TRANSITION_RULES.items()
}

# Why a user may not fire a transition, said to them in plain words.
REFUSAL_MESSAGES: dict[str, str] = {
    "submit": _("Seul le prescripteur du dossier peut le soumettre à la RCP."),
    "request_more_info": _(
        "Seul le coordinateur ou le suppléant de la RCP-FMG du dossier, qui n'en est ni le "
        "prescripteur ni l'auteur de la saisie, peut enregistrer cette décision."
    ),
    "reject": _(
        "Seul le coordinateur ou le suppléant de la RCP-FMG du dossier, qui n'en est ni le prescripteur ni "
        "l'auteur de la saisie, peut enregistrer cette décision."
    ),
    "validate": _(
        "Seul le coordinateur ou le suppléant de la RCP-FMG du dossier, qui n'en est ni le prescripteur "
        "ni l'auteur de la saisie, peut valider le dossier."
    ),
    "finalise": _("Seul le prescripteur du dossier peut finaliser la prescription."),
    "ship_samples": _(
        "Seuls le prescripteur et ses assistant·e·s de prescription peuvent déclarer l'expédition."
    ),
    "receive": _("Seul le personnel du laboratoire du dossier peut enregistrer la réception."),
    "reject_samples": _(
        "Seul le personnel du laboratoire du dossier peut déclarer un prélèvement non conforme."
    ),
    "start_sequencing": _("Seul le personnel du laboratoire du dossier peut lancer le séquençage."),
    "start_analysis": _("Seul le personnel du laboratoire du dossier peut lancer l'analyse."),
    "sign_report": _(
        "Seul un·e biologiste habilité·e du laboratoire du dossier peut signer le compte rendu."
    ),
    "deliver_report": _(
        "Seuls le personnel du laboratoire du dossier et son prescripteur (en téléchargeant le compte rendu) "
        "peuvent en enregistrer la transmission."
    ),
    "close": _("Seuls le prescripteur et la coordination de la RCP-FMG peuvent clôturer le dossier."),
    "cancel": _("Seuls le prescripteur du dossier et un administrateur peuvent l'annuler."),
    "withdraw": _(
        "Seuls le prescripteur du dossier, le ou la conseiller·ère en génétique de l'établissement et un "
        "administrateur peuvent enregistrer un retrait de consentement."
    ),
}

# Transitions whose log entry must carry a reason (the question, for a request for information).
REASON_REQUIRED = frozenset({"reject", "request_more_info", "reject_samples", "cancel", "withdraw"})


def transition_permission(name: str):
    rule = TRANSITION_RULES[name]

    def _permission(dossier, user) -> bool:
        return bool(rule.test(user, dossier))

    _permission.__name__ = f"may_{name}"
    return _permission


for _name, _rule in TRANSITION_RULES.items():
    rules.add_perm(f"prescriptions.{_name}_dossier", _rule)
rules.add_perm("prescriptions.edit_dossier", may_edit_draft)
