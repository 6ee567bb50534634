"""The pre-indication catalogue as data: import, export and revision.

A version is never edited once written: a change is a new version whose ``effective_from`` closes the previous
one. A dossier keeps the version it was prescribed under. Importing the same file twice changes nothing.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.db import transaction
from django.utils import timezone

from .models import (
    Category,
    FamilyStructure,
    PreIndication,
    PreIndicationDocument,
    PreIndicationVersion,
    SampleType,
    TrioException,
)

DATA_FILE = Path(__file__).resolve().parent / "data" / "pre_indications.yaml"

# Fields of a version that an import or a revision may set, with their defaults.
VERSION_FIELDS: dict[str, Any] = {
    "name": "",
    "filiere": "",
    "validation_year": None,
    "status": PreIndicationVersion.Status.ACTIVE.value,
    "conditional": False,
    "presentation": "",
    "criteria": [],
    "genome_place": "",
    "family_structures": [s.value for s in FamilyStructure],
    "trio_mandatory": False,
    "trio_exceptions": [],
    "sample_types": [],
    "sources": [],
}
LIST_FIELDS = ("criteria", "family_structures", "trio_exceptions", "sample_types", "sources")
CSV_COLUMNS = ["slug", "category", *VERSION_FIELDS, "merged_into", "documents", "effective_from"]


class CatalogueError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("\n".join(errors))


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)
    revised: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def _validate(entry: dict, position: int, slugs: set[str]) -> list[str]:
    where = f"entry {position} ({entry.get('slug', '?')})"
    errors = []
    if not entry.get("slug") or not str(entry["slug"]).replace("-", "").isalnum():
        errors.append(f"{where}: slug is missing or not made of letters, digits and hyphens")
    if entry.get("category") not in Category.values:
        errors.append(f"{where}: category must be one of {', '.join(Category.values)}")
    if not str(entry.get("name", "")).strip():
        errors.append(f"{where}: name is missing")
    if entry.get("status", "active") not in PreIndicationVersion.Status.values:
        errors.append(f"{where}: status must be one of {', '.join(PreIndicationVersion.Status.values)}")
    for name, allowed in (
        ("family_structures", FamilyStructure.values),
        ("trio_exceptions", TrioException.values),
        ("sample_types", SampleType.values),
    ):
        values = entry.get(name) or []
        if not isinstance(values, list) or any(v not in allowed for v in values):
            errors.append(f"{where}: {name} must be a list among {', '.join(allowed)}")
    for name in ("criteria", "sources"):
        if not isinstance(entry.get(name) or [], list):
            errors.append(f"{where}: {name} must be a list")
    if not entry.get("sources"):
        errors.append(f"{where}: at least one source address is required")
    for doc in entry.get("documents") or []:
        if not isinstance(doc, dict) or not str(doc.get("label", "")).strip():
            errors.append(f"{where}: each document needs a label")
    if entry.get("status") == "merged" and not entry.get("merged_into"):
        errors.append(f"{where}: a merged pre-indication names the one it was merged into (merged_into)")
    merged_into = entry.get("merged_into")
    if (
        merged_into
        and merged_into not in slugs
        and not PreIndication.objects.filter(slug=merged_into).exists()
    ):
        errors.append(f"{where}: merged_into '{merged_into}' is not in the catalogue")
    effective_from = entry.get("effective_from")
    if effective_from is not None and not isinstance(effective_from, dt.date):
        try:
            dt.date.fromisoformat(str(effective_from))
        except ValueError:
            errors.append(f"{where}: effective_from must be a date (YYYY-MM-DD)")
    return errors


def _normalise(entry: dict) -> dict:
    content = {name: entry.get(name, default) for name, default in VERSION_FIELDS.items()}
    for name in LIST_FIELDS:
        content[name] = list(content[name] or [])
    content["name"] = str(content["name"]).strip()
    content["documents"] = [
        {"label": str(d["label"]).strip(), "required": bool(d.get("required", True))}
        for d in entry.get("documents") or []
    ]
    content["merged_into"] = entry.get("merged_into") or None
    return content


def _version_content(version: PreIndicationVersion) -> dict:
    content = {name: getattr(version, name) for name in VERSION_FIELDS}
    content["documents"] = [{"label": d.label, "required": d.required} for d in version.documents.all()]
    content["merged_into"] = version.merged_into.slug if version.merged_into_id else None
    return content


def latest_version(pre_indication: PreIndication) -> PreIndicationVersion | None:
    return pre_indication.versions.order_by("-number").first()


@transaction.atomic
def revise_pre_indication(
    *, pre_indication: PreIndication, content: dict, effective_from: dt.date | None = None
) -> PreIndicationVersion:
    """Write a new version of ``pre_indication`` from ``content`` (see ``VERSION_FIELDS`` + documents,
    merged_into), closing the current one the day before ``effective_from`` (today by default)."""
    previous = latest_version(pre_indication)
    start = effective_from or timezone.localdate()
    if previous is not None:
        if start <= previous.effective_from:
            today = timezone.localdate()
            if today > previous.effective_from:
                start = today
            else:
                raise CatalogueError(
                    [f"{pre_indication.slug}: a new version must take effect after {previous.effective_from}"]
                )
        previous.effective_to = start - dt.timedelta(days=1)
        previous.save(update_fields=["effective_to"])
    merged_into = content.get("merged_into")
    version = PreIndicationVersion.objects.create(
        pre_indication=pre_indication,
        number=(previous.number + 1) if previous else 1,
        effective_from=start,
        merged_into=PreIndication.objects.get(slug=merged_into) if merged_into else None,
        **{name: content.get(name, default) for name, default in VERSION_FIELDS.items()},
    )
    PreIndicationDocument.objects.bulk_create(
        PreIndicationDocument(version=version, label=d["label"], required=d["required"], position=i)
        for i, d in enumerate(content.get("documents") or [])
    )
    return version


@transaction.atomic
def import_catalogue(entries: list[dict]) -> ImportResult:
    """Create or revise pre-indications from ``entries``; all or nothing."""
    slugs = {str(e.get("slug")) for e in entries if isinstance(e, dict)}
    errors: list[str] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            errors.append(f"entry {i}: not a mapping")
            continue
        errors.extend(_validate(entry, i, slugs))
        if entry.get("slug") in seen:
            errors.append(f"entry {i}: slug '{entry['slug']}' appears twice")
        seen.add(entry.get("slug"))
    if errors:
        raise CatalogueError(errors)

    result = ImportResult()
    # Merged entries point at others: create the targets first.
    for entry in sorted(entries, key=lambda e: bool(e.get("merged_into"))):
        content = _normalise(entry)
        effective_from = entry.get("effective_from")
        if effective_from is not None and not isinstance(effective_from, dt.date):
            effective_from = dt.date.fromisoformat(str(effective_from))
        pre_indication, created = PreIndication.objects.get_or_create(
            slug=entry["slug"], defaults={"category": entry["category"]}
        )
        if not created and pre_indication.category != entry["category"]:
            pre_indication.category = entry["category"]
            pre_indication.save(update_fields=["category"])
        previous = None if created else latest_version(pre_indication)
        if previous is not None and _version_content(previous) == content:
            result.unchanged.append(pre_indication.slug)
            continue
        revise_pre_indication(pre_indication=pre_indication, content=content, effective_from=effective_from)
        (result.created if previous is None else result.revised).append(pre_indication.slug)
    return result


def import_file(path: Path) -> ImportResult:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".csv":
        entries = _entries_from_csv(text)
    else:
        data = yaml.safe_load(text) or {}
        entries = data.get("pre_indications") if isinstance(data, dict) else None
        if not isinstance(entries, list):
            raise CatalogueError([f"{path}: expected a mapping with a 'pre_indications' list"])
    return import_catalogue(entries)


def export_entries() -> list[dict]:
    """The latest version of every pre-indication, in the import format (re-importing it changes nothing)."""
    entries = []
    pre_indications = PreIndication.objects.prefetch_related("versions__documents", "versions__merged_into")
    for pre_indication in pre_indications.order_by("slug"):
        version = max(pre_indication.versions.all(), key=lambda v: v.number, default=None)
        if version is None:
            continue
        content = _version_content(version)
        entry = {"slug": pre_indication.slug, "category": pre_indication.category, **content}
        entry["effective_from"] = version.effective_from
        entry["version"] = version.number
        if entry["merged_into"] is None:
            del entry["merged_into"]
        entries.append(entry)
    return entries


def export_yaml() -> str:
    return yaml.safe_dump({"pre_indications": export_entries()}, allow_unicode=True, sort_keys=False)


def export_csv() -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for entry in export_entries():
        row = dict(entry)
        for name in LIST_FIELDS:
            row[name] = " | ".join(row[name])
        row["documents"] = " | ".join(
            f"{d['label']}{'' if d['required'] else ' (recommandé)'}" for d in entry["documents"]
        )
        writer.writerow(row)
    return out.getvalue()


def _entries_from_csv(text: str) -> list[dict]:
    entries = []
    for row in csv.DictReader(io.StringIO(text)):
        entry: dict[str, Any] = {k: v for k, v in row.items() if k in CSV_COLUMNS and v not in (None, "")}
        for name in LIST_FIELDS:
            entry[name] = [p.strip() for p in (row.get(name) or "").split("|") if p.strip()]
        entry["documents"] = [
            {
                "label": p.strip().removesuffix("(recommandé)").strip(),
                "required": not p.strip().endswith("(recommandé)"),
            }
            for p in (row.get("documents") or "").split("|")
            if p.strip()
        ]
        for name in ("conditional", "trio_mandatory"):
            entry[name] = str(row.get(name, "")).strip().lower() in ("1", "true", "yes", "oui")
        year = str(row.get("validation_year") or "").strip()
        entry["validation_year"] = int(year) if year.isdigit() else None
        entries.append(entry)
    return entries
