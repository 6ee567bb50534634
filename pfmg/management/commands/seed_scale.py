"""Synthetic dossiers in bulk, each with a history the state machine could have produced.

Walking every dossier through the services (a transaction and a handful of queries per step and transition)
would take hours for the 100,000 dossiers that volume work (lists, statistics, exports) needs. This command
writes the same rows in bulk instead: the statuses and timelines follow ``pfmg.demo.PATHS``, the actors are
the demo cast (``pfmg.demo.Cast``), and a submitted dossier holds what submission requires (criteria,
family, clinical picture, the fiche's documents, the attestation), so every event is one the real services
would have accepted from that user. Drafts stop at some step of the prescribing journey.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import groupby
from typing import NamedTuple

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from labs.services import RoutingError, laboratory_for
from ontology.models import HpoTerm
from people.models import Establishment, Laboratory, LaboratoryMembership, RcpBody, RcpMembership, User
from pfmg.demo import PATHS, REASONS, Cast, seed_people
from prescriptions.drafting import STEPS
from prescriptions.models import (
    Category,
    Dossier,
    DossierDocument,
    DossierEvent,
    DossierPerson,
    DossierPhenotype,
    FamilyStructure,
    OnsetAge,
    Patient,
    PreIndicationDocument,
    PreIndicationVersion,
    Sex,
)
from prescriptions.rules import REASON_REQUIRED
from prescriptions.services import allocate_references

S = Dossier.Status
Kind = DossierEvent.Kind
Relationship = DossierPerson.Relationship
Affected = DossierPerson.Affected

# Weighted towards the end of the pathway: most dossiers of a programme running for years are done.
STATUS_WEIGHTS: dict[str, int] = {
    S.DRAFT: 3,
    S.SUBMITTED: 4,
    S.MORE_INFO_REQUESTED: 2,
    S.RCP_REJECTED: 4,
    S.RCP_VALIDATED: 3,
    S.FINALISED: 3,
    S.SAMPLES_SHIPPED: 3,
    S.RECEIVED: 2,
    S.SEQUENCING: 4,
    S.ANALYSIS: 6,
    S.REPORT_SIGNED: 3,
    S.REPORT_DELIVERED: 22,
    S.CLOSED: 33,
    S.CANCELLED: 4,
    S.WITHDRAWN: 4,
}

# Days between a transition and the previous event (roughly the published PFMG delays: the RCP meets every
# few weeks, the report takes one to three months after reception).
DELAY_DAYS: dict[str, tuple[float, float]] = {
    "submit": (0.2, 15),
    "request_more_info": (3, 30),
    "reject": (5, 40),
    "validate": (3, 35),
    "finalise": (1, 10),
    "ship_samples": (1, 20),
    "receive": (1, 7),
    "reject_samples": (1, 7),
    "start_sequencing": (3, 20),
    "start_analysis": (5, 25),
    "sign_report": (15, 90),
    "deliver_report": (0.1, 5),
    "close": (5, 60),
    "cancel": (2, 30),
    "withdraw": (3, 60),
}

# Days between a dossier's last event and today: a dossier in progress has not waited long at its step,
# a finished one may be years old.
_IN_PROGRESS = (0.1, 45.0)
_FINISHED = (1.0, 800.0)
IDLE_DAYS: dict[str, tuple[float, float]] = {
    status: _FINISHED
    if status in (S.RCP_REJECTED, S.REPORT_DELIVERED, S.CLOSED, S.CANCELLED, S.WITHDRAWN)
    else _IN_PROGRESS
    for status in PATHS
}

SURNAMES = (
    "MARTIN BERNARD THOMAS PETIT ROBERT RICHARD DURAND DUBOIS MOREAU LAURENT SIMON MICHEL LEFEBVRE LEROY "
    "ROUX DAVID BERTRAND MOREL FOURNIER GIRARD BONNET DUPONT LAMBERT FONTAINE ROUSSEAU VINCENT MULLER FAURE "
    "ANDRE MERCIER BLANC GUERIN BOYER GARNIER CHEVALIER FRANCOIS LEGRAND GAUTHIER GARCIA PERRIN ROBIN "
    "CLEMENT MORIN NICOLAS HENRY ROUSSEL MATHIEU GAUTIER MASSON LEFEVRE"
).split()
FIRST_NAMES: dict[str, list[str]] = {
    Sex.FEMALE: "Léa Chloé Manon Emma Camille Inès Sarah Jade Louise Alice Lina Zoé Anna Rose Julie Claire "
    "Mathilde Lucie Nina Eva Juliette Margaux Élise Agathe".split(),
    Sex.MALE: "Hugo Nathan Lucas Louis Gabriel Jules Arthur Adam Raphaël Paul Léo Tom Noah Ethan Théo Maël "
    "Sacha Victor Julien Antoine Marc Pierre Thomas Baptiste".split(),
}

# Common findings in the rare-disease pre-indications (only those present in the loaded HPO are used).
HPO_TERMS = (
    "HP:0001249 HP:0001250 HP:0001263 HP:0000252 HP:0001252 HP:0000729 HP:0001251 HP:0001332 HP:0001644 "
    "HP:0002376 HP:0004322 HP:0000750 HP:0001508 HP:0002650 HP:0000486 HP:0002066 HP:0001270 HP:0001257"
).split()
SUMMARIES: dict[str, tuple[str, ...]] = {
    Category.RARE_DISEASE: (
        "Retard global du développement et crises convulsives depuis la première année.",
        "Tableau neurologique progressif sans diagnostic après le bilan de première intention.",
        "Association malformative et retard des acquisitions, histoire familiale non contributive.",
        "Atteinte d'apparition précoce, bilan métabolique et ACPA normaux.",
    ),
    Category.CANCER: (
        "Tumeur pédiatrique réfractaire, prélèvement tumoral congelé disponible.",
        "Rechute précoce après traitement de première ligne.",
    ),
    Category.ONCOGENETICS: ("Histoire familiale évocatrice d'une prédisposition aux cancers.",),
}
CHILD_ONSETS = (OnsetAge.CONGENITAL, OnsetAge.NEONATAL, OnsetAge.INFANTILE, OnsetAge.CHILDHOOD)
ADULT_ONSETS = (OnsetAge.JUVENILE, OnsetAge.ADULT)
# Steps of the prescribing journey a submitted dossier has been through (the review is the submission).
SUBMITTED_STEPS = [step for step in STEPS if step != "validation"]


def _transition_target(name: str) -> str:
    # Read from the state machine itself, so a change of target there cannot leave this seed behind.
    (target,) = {t.target for t in getattr(Dossier, name)._django_fsm.transitions.values()}
    return str(target)


TARGETS: dict[str, str] = {name: _transition_target(name) for name in DELAY_DAYS}

# Rows per INSERT statement on PostgreSQL (SQLite is capped lower by Django, at 999 parameters).
INSERT_CHUNK = 2000


@dataclass(frozen=True)
class Site:
    """A prescribing establishment with everyone who acts on its dossiers."""

    establishment: Establishment
    laboratory: Laboratory
    cast: Cast


class PlannedEvent(NamedTuple):
    kind: str
    at: dt.datetime
    actor_id: int
    transition: str = ""
    from_status: str = ""
    to_status: str = ""
    reason: str = ""


@dataclass
class PlannedContent:
    """What the prescriber filled in, step by step (see prescriptions.drafting)."""

    steps_done: list[str]
    criteria_checklist: list[dict]
    family_structure: str = ""
    age_at_onset: str = ""
    clinical_summary: str = ""
    attested_at: dt.datetime | None = None
    phenotypes: list[tuple[str, bool]] = field(default_factory=list)  # (HPO id, present)
    documents: list[tuple[int, str, dt.datetime]] = field(default_factory=list)  # (expected id, label, at)


class PlannedPerson(NamedTuple):
    relationship: str
    affected: str
    patient: Patient


@dataclass
class PlannedDossier:
    site: Site
    version: PreIndicationVersion
    rcp: RcpBody
    status: str
    created_at: dt.datetime
    events: list[PlannedEvent]
    persons: list[PlannedPerson]
    content: PlannedContent

    @property
    def status_since(self) -> dt.datetime:
        """When the dossier entered its status: its last transition, or its creation for a draft."""
        return next(e.at for e in reversed(self.events) if e.kind in (Kind.TRANSITION, Kind.CREATED))

    @property
    def laboratory(self) -> Laboratory | None:
        return self.site.laboratory if "finalise" in PATHS[self.status] else None


class Planner:
    """Draws dossiers from one ``random.Random``: the same seed gives the same dossiers, relative to today."""

    def __init__(
        self,
        rng: random.Random,
        *,
        sites: list[Site],
        versions: list[PreIndicationVersion],
        rcps: list[RcpBody],
        rcp_ids_by_pre_indication: dict[int, set[int]],
        hpo_terms: list[str],
        documents: dict[int, list[tuple[int, str]]],
        today: dt.datetime,
    ) -> None:
        self.rng = rng
        self.sites = sites
        self.versions = versions
        self.rcps = rcps
        self.rcp_ids_by_pre_indication = rcp_ids_by_pre_indication
        self.hpo_terms = hpo_terms
        self.documents = documents
        self.today = today
        self._in_force: dict[dt.date, list[PreIndicationVersion]] = {}
        self._allowed_rcps: dict[int, list[RcpBody]] = {}

    def statuses(self, count: int) -> list[str]:
        """``count`` statuses by weight, with every status at least once when there is room for all."""
        statuses: list[str] = list(PATHS) if count >= len(PATHS) else []
        statuses += self.rng.choices(
            list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()), k=count - len(statuses)
        )
        self.rng.shuffle(statuses)
        return statuses

    def dossier(self, status: str) -> PlannedDossier:
        rng = self.rng
        site = rng.choice(self.sites)
        crew = site.cast
        path = PATHS[status]
        delays = [self._days(DELAY_DAYS[name]) for name in path]
        created_at = self.today - sum(delays, self._days(IDLE_DAYS[status]))
        version = rng.choice(self._versions_in_force(created_at.date()))
        if path:
            # Submitted (whatever happened next): every step done, attested as it was submitted.
            content = PlannedContent(SUBMITTED_STEPS, _checklist(version), attested_at=created_at + delays[0])
        else:
            # A draft stops somewhere after the index case, not yet attested.
            content = PlannedContent(list(STEPS[: rng.randint(2, len(SUBMITTED_STEPS))]), _checklist(version))
        persons = self._family(version, created_at.date(), content)
        if "clinique" in content.steps_done:
            self._clinical_picture(version, persons[0].patient, created_at.date(), content)

        prescriber_id = crew.prescriber.pk
        events = [PlannedEvent(Kind.CREATED, created_at, prescriber_id, to_status=S.DRAFT)]
        if "documents" in content.steps_done:
            # The fiche's documents, uploaded in the session that created the dossier, a minute apart.
            for minutes, (expected_id, label) in enumerate(self.documents.get(version.pk, []), 1):
                at = created_at + dt.timedelta(minutes=minutes)
                content.documents.append((expected_id, label, at))
                events.append(PlannedEvent(Kind.NOTE, at, prescriber_id, reason=_uploaded(label)))
        at, state = created_at, S.DRAFT.value
        for name, delay in zip(path, delays, strict=True):
            if name == "finalise":
                # Routing by territory happens as the prescriber finalises, moments before the transition.
                routed_at = at + delay - min(delay / 2, dt.timedelta(minutes=rng.randint(1, 120)))
                routing = _routing_reason(site.laboratory)
                events.append(PlannedEvent(Kind.ROUTED, routed_at, prescriber_id, reason=routing))
            at += delay
            target = TARGETS[name]
            reason = REASONS[name] if name in REASON_REQUIRED else ""
            actor_id = crew.actor_for(name).pk
            events.append(PlannedEvent(Kind.TRANSITION, at, actor_id, name, state, target, reason))
            state = target
        return PlannedDossier(
            site=site,
            version=version,
            rcp=self._rcp(version, site),
            status=status,
            created_at=created_at,
            events=events,
            persons=persons,
            content=content,
        )

    def _days(self, bounds: tuple[float, float]) -> dt.timedelta:
        # Whole seconds: the timeline is compared and displayed to the minute, microseconds add nothing.
        return dt.timedelta(seconds=int(self.rng.uniform(*bounds) * 86400))

    def _versions_in_force(self, day: dt.date) -> list[PreIndicationVersion]:
        """Versions already in force on ``day``: a dossier cannot cite a fiche published after it."""
        if day not in self._in_force:
            self._in_force[day] = [v for v in self.versions if v.effective_from <= day] or self.versions
        return self._in_force[day]

    def _rcp(self, version: PreIndicationVersion, site: Site) -> RcpBody:
        """An RCP-FMG that ``rcp_may_validate`` accepts, preferably the one held at the prescriber's site."""
        pre_indication = version.pre_indication
        if pre_indication.pk not in self._allowed_rcps:
            self._allowed_rcps[pre_indication.pk] = [
                rcp
                for rcp in self.rcps
                if (rcp.multi_theme_rare_disease and pre_indication.category == Category.RARE_DISEASE)
                or rcp.pk in self.rcp_ids_by_pre_indication.get(pre_indication.pk, set())
            ]
        allowed = self._allowed_rcps[pre_indication.pk]
        if not allowed:
            raise CommandError(f"No demo RCP-FMG may validate « {pre_indication.slug} ».")
        local = [rcp for rcp in allowed if rcp.establishment_id == site.establishment.pk]
        return local[0] if local else self.rng.choice(allowed)

    def _family(
        self, version: PreIndicationVersion, day: dt.date, content: PlannedContent
    ) -> list[PlannedPerson]:
        """The index case, and the parents when the family step chose a trio (as the fiche allows)."""
        rng = self.rng
        child = version.pre_indication.category == Category.RARE_DISEASE and rng.random() < 0.65
        age_days = rng.randint(30, 17 * 365) if child else rng.randint(18 * 365, 75 * 365)
        born = day - dt.timedelta(days=age_days)
        sex = rng.choice((Sex.FEMALE, Sex.MALE))
        surname = rng.choice(SURNAMES)
        persons = [PlannedPerson(Relationship.INDEX, Affected.AFFECTED, self._patient(surname, sex, born))]
        if "famille" not in content.steps_done:
            return persons
        allowed = version.family_structures or FamilyStructure.values
        trio = FamilyStructure.TRIO in allowed and (
            version.trio_mandatory
            or FamilyStructure.SOLO not in allowed
            or rng.random() < (0.55 if child else 0.1)
        )
        content.family_structure = FamilyStructure.TRIO if trio else FamilyStructure.SOLO
        if trio:
            mother = self._patient(
                rng.choice(SURNAMES),
                Sex.FEMALE,
                _years_before(born, rng.randint(19, 42)),
                used_name=surname if rng.random() < 0.5 else "",
            )
            father = self._patient(surname, Sex.MALE, _years_before(born, rng.randint(19, 50)))
            persons += [
                PlannedPerson(Relationship.MOTHER, Affected.UNAFFECTED, mother),
                PlannedPerson(Relationship.FATHER, Affected.UNAFFECTED, father),
            ]
        return persons

    def _clinical_picture(
        self, version: PreIndicationVersion, index: Patient, day: dt.date, content: PlannedContent
    ) -> None:
        rng = self.rng
        category = version.pre_indication.category
        content.clinical_summary = rng.choice(SUMMARIES[category])
        adult = index.date_of_birth is not None and (day - index.date_of_birth).days >= 18 * 365
        content.age_at_onset = rng.choice(ADULT_ONSETS if adult else CHILD_ONSETS)
        if category == Category.RARE_DISEASE and self.hpo_terms:
            terms = rng.sample(self.hpo_terms, k=min(len(self.hpo_terms), rng.randint(1, 4)))
            # Now and then a sign explicitly absent, as the clinical step allows.
            content.phenotypes = [
                (term, position == 0 or rng.random() > 0.15) for position, term in enumerate(terms)
            ]

    def _patient(self, surname: str, sex: str, born: dt.date, used_name: str = "") -> Patient:
        # No INS: it is unique when set, and a synthetic NIR could collide with a real one in an export.
        return Patient(
            birth_name=surname,
            used_name=used_name,
            first_names=self.rng.choice(FIRST_NAMES[sex]),
            date_of_birth=born,
            sex=sex,
        )


def _checklist(version: PreIndicationVersion) -> list[dict]:
    # Every criterion of the fiche met: a dossier that did not meet them would have been rejected.
    return [{"criterion": criterion, "met": True, "justification": ""} for criterion in version.criteria]


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _uploaded(label: str) -> str:
    # The same wording as prescriptions.drafting.add_document.
    return _("Document déposé : %(label)s.") % {"label": label}


def _routing_reason(laboratory: Laboratory) -> str:
    # The same wording as labs.services.route_dossier, so the two kinds of timeline read alike.
    return _("Orienté vers %(lab)s selon le territoire.") % {"lab": laboratory.name}


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Command(BaseCommand):
    help = (
        "Bulk-create N synthetic dossiers (demo people, every status, full timelines) for volume work. "
        "Demo mode only."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dossiers", type=int, required=True, help="How many dossiers to create.")
        parser.add_argument("--batch", type=int, default=5000, help="Dossiers per transaction (%(default)s).")
        parser.add_argument("--seed", type=int, default=42, help="Random seed (%(default)s).")

    def handle(self, *args, dossiers: int, batch: int, seed: int, **options) -> None:
        if not settings.DEMO_MODE:
            raise CommandError("seed_scale runs only in demo mode (DEMO_MODE=true): it seeds demo accounts.")
        if dossiers < 1 or batch < 1:
            raise CommandError("--dossiers and --batch must be positive.")
        started = time.perf_counter()
        call_command("load_reference", verbosity=0, stdout=self.stdout)
        # Reproducible synthetic data, not secrets: a seeded PRNG is what is wanted.
        planner = self._planner(random.Random(seed))  # noqa: S311
        statuses = planner.statuses(dossiers)
        self.stdout.write(f"Seeding {dossiers} dossiers in batches of {batch} (seed {seed})…")
        done = 0
        for chunk in _chunks(statuses, batch):
            planned = [planner.dossier(status) for status in chunk]
            with transaction.atomic():
                self._insert(planned)
            done += len(chunk)
            elapsed = time.perf_counter() - started
            self.stdout.write(f"  {done}/{dossiers} dossiers, {elapsed:.1f}s ({done / elapsed:.0f}/s)")
        elapsed = time.perf_counter() - started
        rate = dossiers / elapsed
        self.stdout.write(
            self.style.SUCCESS(f"Created {dossiers} dossiers in {elapsed:.1f}s: {rate:.0f} dossiers/second.")
        )

    def _planner(self, rng: random.Random) -> Planner:
        users = seed_people()
        sites = [self._site(users[name], users) for name in ("prescriber", "prescriber2")]
        coordinator = users["coordinator"]
        # The RCP-FMG bodies the demo coordinator decides for: their decisions pass ``rcp_decision``.
        rcps = list(
            RcpBody.objects.filter(
                memberships__user=coordinator,
                memberships__function__in=[RcpMembership.Function.COORDINATOR, RcpMembership.Function.DEPUTY],
            ).order_by("pk")
        )
        # Midnight rather than now, so that two runs on the same day with the same seed write the same dates.
        today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
        versions = [
            v
            for v in PreIndicationVersion.objects.select_related("pre_indication").order_by("pk")
            if v.is_prescribable and v.pre_indication.current_version() == v
        ]
        if not versions:
            raise CommandError("No prescribable pre-indication: load the catalogue first (load_reference).")
        rcp_ids: dict[int, set[int]] = {}
        for pre_indication_id, rcp_id in RcpBody.pre_indications.through.objects.values_list(
            "preindication_id", "rcpbody_id"
        ):
            rcp_ids.setdefault(pre_indication_id, set()).add(rcp_id)
        hpo_terms = list(
            HpoTerm.objects.filter(id__in=HPO_TERMS, is_obsolete=False)
            .order_by("id")
            .values_list("id", flat=True)
        )
        # The documents each fiche requires before submission (by version, in the fiche's order).
        documents: dict[int, list[tuple[int, str]]] = {}
        for document in PreIndicationDocument.objects.filter(required=True).order_by(
            "version", "position", "pk"
        ):
            documents.setdefault(document.version_id, []).append((document.pk, document.label))
        return Planner(
            rng,
            documents=documents,
            sites=sites,
            versions=versions,
            rcps=rcps,
            rcp_ids_by_pre_indication=rcp_ids,
            hpo_terms=hpo_terms,
            today=today,
        )

    def _site(self, prescriber: User, users: dict[str, User]) -> Site:
        establishment = prescriber.establishment
        assert establishment is not None  # seed_people attaches both prescribers
        try:
            # laboratory_for reads only the establishment of the dossier it is given: one unsaved will do.
            laboratory = laboratory_for(Dossier(establishment=establishment))
        except RoutingError as exc:
            raise CommandError(str(exc)) from exc
        members = {
            m.function: m.user
            for m in LaboratoryMembership.objects.filter(laboratory=laboratory, user__in=list(users.values()))
            .select_related("user")
            .order_by("-user__username")
        }
        functions = LaboratoryMembership.Function
        missing = {functions.STAFF, functions.BIOLOGIST} - set(members)
        if missing:
            raise CommandError(
                f"The territory of {establishment} is served by {laboratory}, which has no demo "
                f"{', '.join(sorted(missing))}: reassign the territory or add the people."
            )
        cast = Cast(
            prescriber=prescriber,
            coordinator=users["coordinator"],
            lab_staff=members[functions.STAFF],
            biologist=members[functions.BIOLOGIST],
        )
        return Site(establishment=establishment, laboratory=laboratory, cast=cast)

    def _insert(self, planned: list[PlannedDossier]) -> None:
        # References follow creation order within the batch and carry the year the dossier was created in,
        # as create_dossier allocates them.
        planned.sort(key=lambda p: p.created_at)
        references: list[str] = []
        for year, group in groupby(planned, key=lambda p: timezone.localtime(p.created_at).year):
            references += allocate_references(year=year, count=len(list(group)))
        dossiers = [
            # The protected FSM field accepts its first value from the constructor: nothing bypasses the
            # machine here, the history written below is the one its transitions allow.
            Dossier(
                reference=reference,
                pre_indication_version_id=p.version.pk,
                prescriber_id=p.site.cast.prescriber.pk,
                entered_by_id=p.site.cast.prescriber.pk,
                establishment_id=p.site.establishment.pk,
                rcp_id=p.rcp.pk,
                laboratory_id=p.laboratory.pk if p.laboratory else None,
                status=p.status,
                created_at=p.created_at,
                updated_at=p.events[-1].at,  # the last activity, as the services keep it
                status_since=p.status_since,
                steps_done=p.content.steps_done,
                criteria_checklist=p.content.criteria_checklist,
                family_structure=p.content.family_structure,
                age_at_onset=p.content.age_at_onset,
                clinical_summary=p.content.clinical_summary,
                attested_at=p.content.attested_at,
            )
            for p, reference in zip(planned, references, strict=True)
        ]
        Dossier.objects.bulk_create(dossiers, batch_size=INSERT_CHUNK)
        patients = [person.patient for p in planned for person in p.persons]
        Patient.objects.bulk_create(patients, batch_size=INSERT_CHUNK)
        DossierPerson.objects.bulk_create(
            [
                DossierPerson(
                    dossier_id=d.pk,
                    patient_id=person.patient.pk,
                    relationship=person.relationship,
                    affected=person.affected,
                )
                for p, d in zip(planned, dossiers, strict=True)
                for person in p.persons
            ],
            batch_size=INSERT_CHUNK,
        )
        _insert_rows(
            DossierPhenotype,
            ("dossier", "term", "present"),
            [
                (d.pk, term, present)
                for p, d in zip(planned, dossiers, strict=True)
                for term, present in p.content.phenotypes
            ],
        )
        DossierDocument.objects.bulk_create(
            [
                _stored_document(d, expected_id, label, at)
                for p, d in zip(planned, dossiers, strict=True)
                for expected_id, label, at in p.content.documents
            ],
            batch_size=INSERT_CHUNK,
        )
        adapt = connection.ops.adapt_datetimefield_value
        _insert_rows(
            DossierEvent,
            EVENT_COLUMNS,
            [
                (d.pk, e.kind, e.actor_id, e.transition, e.from_status, e.to_status, adapt(e.at), e.reason)
                for p, d in zip(planned, dossiers, strict=True)
                for e in p.events
            ],
        )


EVENT_COLUMNS = ("dossier", "kind", "actor", "transition", "from_status", "to_status", "at", "reason")


def _stored_document(dossier: Dossier, expected_id: int, label: str, at: dt.datetime) -> DossierDocument:
    """A required document, stored where an upload would be, so that it downloads (and may be removed from
    a draft) like any other. Its content says it is synthetic."""
    content, sha256 = _synthetic_pdf(label)
    document = DossierDocument(
        dossier=dossier,
        expected_id=expected_id,
        label=label,
        original_name=f"{label}.pdf"[:255],
        content_type=DossierDocument.ContentType.PDF,
        size=len(content),
        sha256=sha256,
        uploaded_by_id=dossier.prescriber_id,
        uploaded_at=at,
    )
    document.file.save("upload", ContentFile(content), save=False)
    return document


@functools.cache
def _synthetic_pdf(label: str) -> tuple[bytes, str]:
    """A one-page PDF titled ``label``, and its SHA-256."""
    text = f"Document synthétique (seed_scale) : {label}".encode("cp1252", "replace")
    text = text.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    stream = b"BT /F1 14 Tf 56 780 Td (" + text + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    pdf = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(pdf), hashlib.sha256(pdf).hexdigest()


def _insert_rows(model: type[models.Model], names: tuple[str, ...], rows: list[tuple]) -> None:
    """Multi-row INSERTs of ready-made rows. The timeline is ~9 rows per dossier, and bulk_create spends
    ~10 µs preparing each value: on SQLite that was half of the seed's time (415 dossiers/s overall, 850/s
    with this). The rows hold plain values that need no conversion but the datetime one, and the database
    still checks every constraint and foreign key."""
    fields: list[models.Field] = []
    for name in names:
        field = model._meta.get_field(name)
        if not isinstance(field, models.Field) or field.column is None:
            raise ValueError(f"{model.__name__}.{name} is not a column.")
        fields.append(field)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(field.column)) for field in fields)
    placeholder = f"({', '.join(['%s'] * len(fields))})"
    per_statement = min(INSERT_CHUNK, connection.ops.bulk_batch_size(fields, rows) or INSERT_CHUNK)
    with connection.cursor() as cursor:
        for chunk in _chunks(rows, per_statement):
            cursor.execute(
                f"INSERT INTO {quote(model._meta.db_table)} ({columns}) "  # noqa: S608 - names from _meta
                f"VALUES {', '.join([placeholder] * len(chunk))}",
                [value for row in chunk for value in row],
            )
