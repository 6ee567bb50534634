"""Reads on the ontologies: look-ups by id and the ranked searches behind the phenotype and diagnosis pickers.

The ontologies are public reference data: unlike dossiers, nothing here is scoped to the user who asks.
"""

import re

from django.db.models import Case, Q, QuerySet, Value, When
from django.db.models.functions import Length

from .models import HpoTerm, OrphaDisease, normalise

# Below this a query matches a large part of the ontology: an autocomplete shows nothing rather than that.
MIN_QUERY_LENGTH = 2

# What people paste: "HP:0001250", "hp:0001250", "HP_0001250" (OBO PURLs) or just "0001250".
_HPO_ID = re.compile(r"^(?:HP\s*[:_]?\s*)?(\d{7})$", re.IGNORECASE)
_ORPHA_ID = re.compile(r"^(?:ORPHA(?:NET)?\s*[:_]?\s*)?(\d{1,7})$", re.IGNORECASE)
_WORD_SEPARATORS = re.compile(r"[\W_]+")


def canonical_hpo_id(value: str) -> str | None:
    match = _HPO_ID.match(value.strip())
    return f"HP:{match.group(1)}" if match else None


def canonical_orpha_code(value: str) -> str | None:
    match = _ORPHA_ID.match(value.strip())
    # Orphanet codes carry no leading zeros (ORPHA:558): "0558" is the same disease.
    return f"ORPHA:{int(match.group(1))}" if match else None


def get_hpo_term(term_id: str) -> HpoTerm | None:
    """The term with this id, obsolete or not (a dossier may name a term retired since); None if unknown."""
    canonical = canonical_hpo_id(term_id)
    return HpoTerm.objects.filter(pk=canonical).first() if canonical else None


def get_hpo_term_with_alt_id(alt_id: str) -> HpoTerm | None:
    """The term into which HPO merged this secondary id (HP:0001275 -> HP:0001250 Seizure), if any."""
    canonical = canonical_hpo_id(alt_id)
    if not canonical:
        return None
    # The ids are quoted in the stored JSON, so this cannot match a longer id. It scans the table, which
    # is fine for a look-up that only runs when the id is not a term of its own.
    return HpoTerm.objects.filter(alt_ids__icontains=f'"{canonical}"').first()


def get_orpha_disease(code: str) -> OrphaDisease | None:
    canonical = canonical_orpha_code(code)
    return OrphaDisease.objects.filter(pk=canonical).first() if canonical else None


def _current_hpo_term(term_id: str) -> HpoTerm | None:
    """The term a user means by an id: itself, the term it was merged into, or its replacement."""
    term = get_hpo_term(term_id) or get_hpo_term_with_alt_id(term_id)
    if term is not None and term.is_obsolete:
        return HpoTerm.objects.filter(pk=term.replaced_by, is_obsolete=False).first()
    return term


def _words(phrase: str) -> list[str]:
    return [word for word in _WORD_SEPARATORS.split(phrase) if word]


def _ranked(queryset: QuerySet, query: str, *, synonyms: bool) -> QuerySet:
    """Every word (in any order) somewhere in the name or a synonym; then exact name, exact synonym, name
    starting with the query, name containing every word, a synonym only; shorter names first in each."""
    # Control characters mean nothing in a search and PostgreSQL refuses a NUL in a literal (found by Schemathesis).
    phrase = normalise("".join(char if char.isprintable() else " " for char in query))
    words = _words(phrase)
    if not words:
        return queryset.none()
    for word in words:
        queryset = queryset.filter(search_text__contains=word)
    name = "search_name" if synonyms else "search_text"
    whens = [When(**{name: phrase}, then=Value(0))]
    if synonyms:
        # search_text is the name then one synonym a line: a whole line equal to the query is an exact synonym.
        whens.append(
            When(
                Q(search_text__contains=f"\n{phrase}\n") | Q(search_text__endswith=f"\n{phrase}"),
                then=Value(1),
            )
        )
    whens += [
        When(**{f"{name}__startswith": phrase}, then=Value(2)),
        When(Q(*(Q(**{f"{name}__contains": word}) for word in words)), then=Value(3)),
    ]
    return queryset.annotate(rank=Case(*whens, default=Value(4)), name_length=Length("name")).order_by(
        "rank", "name_length", "name"
    )


def search_hpo(query: str, limit: int = 20) -> list[HpoTerm]:
    """Current (non-obsolete) phenotypic abnormalities (the HP:0000118 branch: no "All", no mode of
    inheritance, no modifier) for a picker: by id ("HP:0001250", "0001250") or by English words,
    case- and accent-insensitive. An obsolete or merged id leads to the term that replaces it."""
    query = (query or "").strip()
    if len(query) < MIN_QUERY_LENGTH:
        return []
    if canonical_hpo_id(query):
        term = _current_hpo_term(query)
        return [term] if term and term.is_phenotypic_abnormality else []
    phenotypes = HpoTerm.objects.filter(is_obsolete=False, is_phenotypic_abnormality=True)
    return list(_ranked(phenotypes, query, synonyms=True)[:limit])


def search_orpha(query: str, limit: int = 20) -> list[OrphaDisease]:
    """ORPHA diseases by code ("ORPHA:558", "558") or by words of their name, case- and accent-insensitive."""
    query = (query or "").strip()
    if len(query) < MIN_QUERY_LENGTH:
        return []
    if canonical_orpha_code(query):
        disease = get_orpha_disease(query)
        return [disease] if disease else []
    return list(_ranked(OrphaDisease.objects.all(), query, synonyms=False)[:limit])
