"""Conditions of the dossier's transitions: pure predicates that can say what is missing.

Each condition is callable on a dossier (django-fsm's contract) and also answers ``missing(dossier)``, the
list of human-readable reasons it does not hold, so the interface can say *why* an action is unavailable.

Other apps (consent, labs…) add their requirements with ``register_requirement``: prescriptions never
imports them, they plug in here from their AppConfig.ready().
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from .models import Dossier

MissingCheck = Callable[["Dossier"], list[str]]


# The conditions ``services.transition_dossier`` has just found to hold on one dossier object, inside the
# transaction that fires the transition. django-fsm checks every condition again when the transition method
# runs; those are not evaluated a second time (each may cost queries): only for that object, those conditions,
# and the duration of that call.
_verified: ContextVar[tuple[object, frozenset[Condition]] | None] = ContextVar(
    "verified_conditions", default=None
)


@contextmanager
def verified(dossier: Dossier, conditions: list) -> Iterator[None]:
    """Within the block, calling one of ``conditions`` on ``dossier`` answers True without evaluating it: the
    caller evaluated them all (``missing_for``) and found nothing missing, in the same transaction."""
    token = _verified.set((dossier, frozenset(c for c in conditions if isinstance(c, Condition))))
    try:
        yield
    finally:
        _verified.reset(token)


class Condition:
    def __init__(self, check: MissingCheck, name: str) -> None:
        self._check = check
        self.__name__ = name

    def missing(self, dossier: Dossier) -> list[str]:
        return list(self._check(dossier))

    def __call__(self, dossier: Dossier) -> bool:
        verified = _verified.get()
        if verified is not None and verified[0] is dossier and self in verified[1]:
            return True
        return not self.missing(dossier)

    def __repr__(self) -> str:
        return f"<Condition {self.__name__}>"


def condition(func: MissingCheck) -> Condition:
    return Condition(func, func.__name__)


_requirements: dict[str, list[MissingCheck]] = defaultdict(list)


def register_requirement(transition: str, check: MissingCheck) -> None:
    """Add a check to a transition. ``check(dossier)`` returns what is missing (empty when satisfied)."""
    if check not in _requirements[transition]:
        _requirements[transition].append(check)


def requirements(transition: str) -> Condition:
    def _missing(dossier: Dossier) -> list[str]:
        return [reason for check in _requirements[transition] for reason in check(dossier)]

    return Condition(_missing, f"requirements:{transition}")


def missing_for(dossier: Dossier, transition_conditions: list) -> list[str]:
    """Reasons, in order, why the given conditions do not hold on this dossier."""
    reasons: list[str] = []
    for c in transition_conditions:
        if isinstance(c, Condition):
            reasons.extend(c.missing(dossier))
        elif not c(dossier):
            reasons.append(getattr(c, "__name__", repr(c)))
    return reasons


@condition
def has_index_case(dossier: Dossier) -> list[str]:
    if dossier.pk and any(p.relationship == "index" for p in dossier.persons.all()):
        return []
    return [_("Le cas index n'est pas renseigné.")]


@condition
def has_rcp(dossier: Dossier) -> list[str]:
    return [] if dossier.rcp_id else [_("Aucune RCP-FMG n'est choisie.")]


@condition
def rcp_may_validate(dossier: Dossier) -> list[str]:
    if not dossier.rcp_id:
        return []  # has_rcp says it
    # One rule for "which RCP-FMG may validate this pre-indication": the one the review page offers.
    from .selectors import allowed_rcps  # models import this module: a top-level import would be a cycle

    if allowed_rcps(dossier.pre_indication_version).filter(pk=dossier.rcp_id).exists():
        return []
    return [_("La RCP-FMG « %(rcp)s » ne valide pas cette pré-indication.") % {"rcp": dossier.rcp.name}]


@condition
def pre_indication_prescribable(dossier: Dossier) -> list[str]:
    if dossier.pre_indication_version.is_prescribable:
        return []
    return [_("Cette pré-indication n'est plus ouverte à la prescription.")]


@condition
def laboratory_assigned(dossier: Dossier) -> list[str]:
    return [] if dossier.laboratory_id else [_("Aucun laboratoire n'est attribué au dossier.")]


@condition
def criteria_answered(dossier: Dossier) -> list[str]:
    missing = [
        item["criterion"]
        for item in dossier.criteria_checklist or []
        if item.get("met") is None
        or (item.get("met") is False and not (item.get("justification") or "").strip())
    ]
    if not missing:
        return []
    return [_("Critère de la fiche sans réponse ni justification : « %(c)s ».") % {"c": c} for c in missing]


def family_problems(
    version, structure: str, relatives: int, exception: str = "", exception_reason: str = ""
) -> list[str]:
    """What is wrong with a family structure for this pre-indication version (shared by the family step's
    form and the state machine, so the page and the refusal say the same thing)."""
    if not structure:
        return [_("La structure familiale n'est pas renseignée.")]
    problems = []
    if version.family_structures and structure not in version.family_structures:
        problems.append(
            _("La fiche de cette pré-indication n'admet pas la structure « %(s)s ».") % {"s": structure}
        )
    low, high = {"solo": (0, 0), "duo": (1, 1), "trio": (2, 2), "extended": (3, 99)}[structure]
    if not low <= relatives <= high:
        problems.append(
            _("La structure « %(s)s » ne correspond pas au nombre d'apparenté·e·s renseigné·e·s (%(n)d).")
            % {"s": structure, "n": relatives}
        )
    if version.trio_mandatory and structure in ("solo", "duo"):
        if not exception:
            problems.append(
                _("Le trio est obligatoire pour cette pré-indication : indiquez l'exception qui s'applique.")
            )
        elif exception not in (version.trio_exceptions or []):
            problems.append(_("Cette exception au trio n'est pas admise par la fiche."))
        elif not exception_reason.strip():
            problems.append(_("Justifiez l'exception au trio."))
    return problems


@condition
def family_consistent(dossier: Dossier) -> list[str]:
    relatives = sum(1 for p in dossier.persons.all() if p.relationship != "index")
    return family_problems(
        dossier.pre_indication_version,
        dossier.family_structure,
        relatives,
        dossier.trio_exception,
        dossier.trio_exception_reason,
    )


def missing_documents(dossier: Dossier) -> list[str]:
    provided = {d.expected_id for d in dossier.documents.all()}
    return [
        d.label for d in dossier.pre_indication_version.documents.all() if d.required and d.pk not in provided
    ]


@condition
def required_documents_present(dossier: Dossier) -> list[str]:
    return [_("Document obligatoire manquant : %(d)s.") % {"d": d} for d in missing_documents(dossier)]


@condition
def attested(dossier: Dossier) -> list[str]:
    return [] if dossier.attested_at else [_("Le prescripteur n'a pas attesté la prescription.")]


# What the prescriber must have filled in before submitting (the RCP and the attestation come at submission).
SUBMIT_CONTENT_CONDITIONS = [
    pre_indication_prescribable,
    criteria_answered,
    has_index_case,
    family_consistent,
    required_documents_present,
    requirements("submit"),
]
