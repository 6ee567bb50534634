"""Conditions of the dossier's transitions: pure predicates that can say what is missing.

Each condition is callable on a dossier (django-fsm's contract) and also answers ``missing(dossier)``, the
list of human-readable reasons it does not hold, so the interface can say *why* an action is unavailable.

Other apps (consent, labs…) add their requirements with ``register_requirement``: prescriptions never
imports them, they plug in here from their AppConfig.ready().
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.utils.translation import gettext as _

if TYPE_CHECKING:
    from .models import Dossier

MissingCheck = Callable[["Dossier"], list[str]]


class Condition:
    def __init__(self, check: MissingCheck, name: str) -> None:
        self._check = check
        self.__name__ = name

    def missing(self, dossier: Dossier) -> list[str]:
        return list(self._check(dossier))

    def __call__(self, dossier: Dossier) -> bool:
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
    rcp = dossier.rcp
    pre_indication = dossier.pre_indication_version.pre_indication
    if rcp.multi_theme_rare_disease and pre_indication.category == "rare_disease":
        return []
    if pre_indication.rcp_bodies.filter(pk=rcp.pk).exists():
        return []
    return [_("La RCP-FMG « %(rcp)s » ne valide pas cette pré-indication.") % {"rcp": rcp.name}]


@condition
def pre_indication_prescribable(dossier: Dossier) -> list[str]:
    if dossier.pre_indication_version.is_prescribable:
        return []
    return [_("Cette pré-indication n'est plus ouverte à la prescription.")]


@condition
def laboratory_assigned(dossier: Dossier) -> list[str]:
    return [] if dossier.laboratory_id else [_("Aucun laboratoire n'est attribué au dossier.")]
