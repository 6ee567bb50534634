"""Validators for stored ontology codes: the canonical form only, a known code, and a current HPO term of
the "Phenotypic abnormality" branch.

They refuse what selectors.search_hpo would silently correct: a stored code must be the one meant."""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .models import HpoTerm
from .selectors import get_hpo_term, get_hpo_term_with_alt_id, get_orpha_disease

_HPO_FORMAT = re.compile(r"^HP:\d{7}$")
_ORPHA_FORMAT = re.compile(r"^ORPHA:[1-9]\d*$")


def _label(term: HpoTerm) -> str:
    return f"{term.id} ({term.name})"


def _labels(ids: list[str]) -> str:
    terms = {term.id: term for term in HpoTerm.objects.filter(pk__in=ids)}
    return ", ".join(_label(terms[id_]) if id_ in terms else id_ for id_ in ids)


def validate_hpo_id(value: str) -> None:
    if not isinstance(value, str) or not _HPO_FORMAT.match(value):
        raise ValidationError(
            _("« %(value)s » n'est pas un identifiant HPO (forme attendue : HP:0001250)."),
            code="hpo_format",
            params={"value": value},
        )
    term = get_hpo_term(value)
    if term is None:
        merged_into = get_hpo_term_with_alt_id(value)
        if merged_into is not None:
            raise ValidationError(
                _("%(value)s est un ancien identifiant HPO, fusionné dans %(term)s : utilisez %(id)s."),
                code="hpo_alt_id",
                params={"value": value, "term": _label(merged_into), "id": merged_into.id},
            )
        raise ValidationError(
            _("%(value)s n'existe pas dans l'ontologie HPO."), code="hpo_unknown", params={"value": value}
        )
    if not term.is_obsolete:
        if not term.is_phenotypic_abnormality:
            # HP:0000001 "All", modes of inheritance, clinical modifiers, frequencies…: not a phenotype.
            raise ValidationError(
                _(
                    "%(term)s n'est pas une anomalie phénotypique : choisissez un terme de la branche "
                    "« Phenotypic abnormality » (HP:0000118)."
                ),
                code="hpo_not_phenotype",
                params={"term": _label(term)},
            )
        return
    if term.replaced_by:
        message = _("%(value)s est un terme HPO obsolète, remplacé par %(replacement)s.")
        params = {"value": value, "replacement": _labels([term.replaced_by])}
        if term.consider:
            message = _(
                "%(value)s est un terme HPO obsolète, remplacé par %(replacement)s (à envisager aussi : "
                "%(consider)s)."
            )
            params["consider"] = _labels(term.consider)
    elif term.consider:
        message = _("%(value)s est un terme HPO obsolète ; termes à envisager : %(consider)s.")
        params = {"value": value, "consider": _labels(term.consider)}
    else:
        message = _("%(value)s est un terme HPO obsolète, sans remplaçant : choisissez un autre terme.")
        params = {"value": value}
    raise ValidationError(message, code="hpo_obsolete", params=params)


def validate_orpha_code(value: str) -> None:
    if not isinstance(value, str) or not _ORPHA_FORMAT.match(value):
        raise ValidationError(
            _("« %(value)s » n'est pas un code ORPHA (forme attendue : ORPHA:558)."),
            code="orpha_format",
            params={"value": value},
        )
    if get_orpha_disease(value) is None:
        # The portal knows the Orphanet diseases that HPO annotates, not the whole nomenclature.
        raise ValidationError(
            _("%(value)s ne figure pas parmi les maladies Orphanet connues du portail."),
            code="orpha_unknown",
            params={"value": value},
        )
