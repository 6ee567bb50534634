"""The ids of the exported resources: ``<dossier reference>.<kind>-<database id>`` (``PFMG-2026-000123.person-45``).

The reference comes first, so that a resource read by id finds its dossier (and the audit trail its patients)
without a lookup table; a dossier reference holds no dot, the separator. Stable as long as the rows are: the same
resource has the same id in every export. Within FHIR's id rules: ``[A-Za-z0-9\\-\\.]``, 64 characters at most."""

from __future__ import annotations

import re

# FHIR's id charset and length; ours start with the reference's letters (never "." nor "..", which an HTTP client
# would fold out of the path).
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9\-\.]{0,63}$"
_ID = re.compile(ID_PATTERN)


def resource_id(reference: str, kind: str, *pks: int) -> str:
    suffix = "-".join([kind, *(str(pk) for pk in pks)])
    return f"{reference}.{suffix}"


def split_id(value: str) -> tuple[str, str] | None:
    """``(reference, suffix)`` of a well-formed id, or None."""
    if not _ID.match(value or "") or "." not in value:
        return None
    reference, suffix = value.split(".", 1)
    if not reference or not suffix:
        return None
    return reference, suffix


def person_pk(suffix: str) -> int | None:
    """The person an id names, for the resources of one person (``person-45``, ``treatment-45``…)."""
    match = re.fullmatch(r"(?:person|treatment|research)-(\d{1,18})", suffix)
    return int(match[1]) if match else None
