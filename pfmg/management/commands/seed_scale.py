"""Synthetic dossiers in bulk, each with a history the state machine could have produced.

Walking every dossier through the services (a transaction and a handful of queries per step and transition)
would take days for the 2.35 million dossiers of ten years of the plan. This command writes the same rows in
bulk instead: the statuses and timelines follow ``pfmg.demo.PATHS``, and every row the real services would
have written along the way is there: the prescription's content (criteria, family, clinical picture, prior
tests, the fiche's documents, the attestation), the consents recorded before finalisation, the samples and
their shipment, the sequencing run, the interpreter, the signed report. Drafts stop at some step of the
prescribing journey.

The dossiers are spread over many synthetic prescribers, assistants, establishments, RCP-FMG and laboratory
staff across every region (so both laboratories, by territory), and the demo cast (``pfmg.demo``) gets a
national-sized share of them: each demo role's lists are as long as a real user's would be.

``--dossiers N`` is the total wanted: a rerun adds what is missing, so an interrupted load resumes where it
stopped (each batch is one transaction). Each dossier is drawn from its own ordinal and the seed, so a
resumed load writes what an uninterrupted one would have. On PostgreSQL the rows go through ``COPY`` with
ids reserved from the sequences; elsewhere (SQLite) through ``executemany``.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import io
import json
import math
import random
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import accumulate, groupby
from typing import Any, NamedTuple

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, models, reset_queries, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from consent.demo import DEMO_SCAN
from consent.models import (
    Agreement,
    Choice3,
    CollectorKind,
    ConsentRecord,
    ConsentTemplateVersion,
    PersonStatus,
    RelativesChoice,
    ResearchChoice,
)
from labs.demo import minimal_pdf
from labs.models import AnalysisAssignment, Report, Sample, SequencingRun, Shipment
from ontology.models import HpoTerm
from people.models import (
    AssistantAssignment,
    Department,
    Establishment,
    LaboratoryMembership,
    RcpBody,
    RcpMembership,
    Role,
    Territory,
    User,
)
from pfmg.demo import DEMO_PASSWORD, PATHS, REASONS, seed_people
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
    PreIndication,
    PreIndicationDocument,
    PreIndicationVersion,
    PriorTest,
    SampleType,
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
_STATUSES = list(STATUS_WEIGHTS)
_CUMULATIVE = list(accumulate(STATUS_WEIGHTS.values()))

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
PRIOR_TESTS = (
    PriorTest.Kind.ARRAY_CGH,
    PriorTest.Kind.KARYOTYPE,
    PriorTest.Kind.GENE_PANEL,
    PriorTest.Kind.FRAGILE_X,
)
# Steps of the prescribing journey a submitted dossier has been through (the review is the submission).
SUBMITTED_STEPS = [step for step in STEPS if step != "validation"]

# The demo prescribers' share each (0.3 %: about 7,000 dossiers each out of 2.35 million, a busy
# geneticist's ten years), and how many dossiers each synthetic prescriber gets on average.
DEMO_PRESCRIBER_SHARE = 0.003
DOSSIERS_PER_PRESCRIBER = 750
PRESCRIBERS_PER_ESTABLISHMENT = 8
PRESCRIBERS_PER_ASSISTANT = 5
LAB_STAFF_PER_LABORATORY = 12
BIOLOGISTS_PER_LABORATORY = 6
SYNTHETIC = "synth"  # prefix of every synthetic username, establishment name and RCP-FMG name
CANCER_RCP = "RCP-FMG Cancers et oncogénétique (synthétique)"
# Every synthetic FINESS number starts so (department 98 is not a French one): no clash with a real one.
FINESS_PREFIX = "980"


def _transition_target(name: str) -> str:
    # Read from the state machine itself, so a change of target there cannot leave this seed behind.
    (target,) = {t.target for t in getattr(Dossier, name)._django_fsm.transitions.values()}
    return str(target)


TARGETS: dict[str, str] = {name: _transition_target(name) for name in DELAY_DAYS}


# --- Who acts: the demo cast and the synthetic people around it ------------------------------------------


class Prescriber(NamedTuple):
    """A prescriber at their establishment, and the laboratory of its territory."""

    user_id: int
    establishment_id: int
    region_id: int
    laboratory_id: int
    laboratory_name: str


@dataclass
class Crew:
    """Who works at a laboratory: staff receive and sequence, biologists interpret and sign."""

    staff: list[int]
    biologists: list[int]


@dataclass
class Spread:
    """Everyone the dossiers are spread over (ids only: the rows need nothing else)."""

    demo_prescribers: list[Prescriber]
    prescribers: list[Prescriber]  # the synthetic ones, in a stable order
    crews: dict[int, Crew]  # by laboratory id
    rcp_by_region: dict[int, int]  # the multi-theme RCP-FMG of each region
    coordinator_by_rcp: dict[int, int]
    linked_rcps: dict[int, list[int]]  # RCP-FMG named for a pre-indication (cancers), by pre-indication id


def _ensure_users(specs: list[dict[str, Any]], roles: Iterable[str], password: str) -> dict[str, int]:
    """The users ``specs`` describe (by username), created if missing with ``roles``. Synthetic users share
    one password hash (computed once: hashing is the slow part of creating a user), the demo password, so
    that a load test may log in as any of them."""
    names = [spec["username"] for spec in specs]
    have = _user_ids(names)
    User.objects.bulk_create(
        [
            User(password=password, email=f"{spec['username']}@synthetique.invalid", **spec)
            for spec in specs
            if spec["username"] not in have
        ],
        batch_size=1000,
    )
    have = _user_ids(names)
    groups = [Group.objects.get(name=Role(role).value).pk for role in roles]
    through = User.groups.through
    through.objects.bulk_create(
        [through(user_id=pk, group_id=group) for pk in have.values() for group in groups],
        batch_size=1000,
        ignore_conflicts=True,
    )
    return have


def _user_ids(names: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for start in range(0, len(names), 500):
        found.update(
            User.objects.filter(username__in=names[start : start + 500]).values_list("username", "pk")
        )
    return found


def _department(by_laboratory: list[list[Department]], n: int) -> Department:
    # The laboratories in turn, so that each gets about as many establishments (the territories do not hold
    # as many departments each); within one, a stride prime to its number of departments, so that the first
    # few establishments are already all over its territory and the next ones fill in every department.
    departments = by_laboratory[n % len(by_laboratory)]
    step = 37 if len(departments) % 37 else 1
    return departments[(n // len(by_laboratory) * step) % len(departments)]


def build_spread(users: dict[str, User], total: int) -> Spread:
    """Create (once) the synthetic establishments, prescribers, assistants, RCP-FMG and laboratory staff that
    ``total`` dossiers need, and return who is who. Idempotent: a bigger total adds people, never moves one."""
    territories = {t.region_id: t.laboratory for t in Territory.objects.select_related("laboratory")}
    departments = list(
        Department.objects.filter(region_id__in=territories).select_related("region").order_by("code")
    )
    if not departments:
        raise CommandError("No territory: load the reference data first (load_reference).")
    by_laboratory = [
        [d for d in departments if territories[d.region_id].pk == laboratory_id]
        for laboratory_id in sorted({lab.pk for lab in territories.values()})
    ]
    password = make_password(DEMO_PASSWORD)
    n_prescribers = max(8, math.ceil(total / DOSSIERS_PER_PRESCRIBER))
    n_establishments = max(4, math.ceil(n_prescribers / PRESCRIBERS_PER_ESTABLISHMENT))

    finesses = [f"{FINESS_PREFIX}{n:06d}" for n in range(n_establishments)]
    existing = set(
        Establishment.objects.filter(finess__startswith=FINESS_PREFIX).values_list("finess", flat=True)
    )
    Establishment.objects.bulk_create(
        [
            Establishment(
                finess=finess,
                name=f"Centre hospitalier synthétique {n:05d} ({_department(by_laboratory, n).name})",
                kind=Establishment.Kind.CH,
                city=_department(by_laboratory, n).name,
                department=_department(by_laboratory, n),
            )
            for n, finess in enumerate(finesses)
            if finess not in existing
        ],
        batch_size=1000,
    )
    region_of = dict(
        Establishment.objects.filter(finess__startswith=FINESS_PREFIX).values_list(
            "finess", "department__region_id"
        )
    )
    establishment_ids = dict(
        Establishment.objects.filter(finess__startswith=FINESS_PREFIX).values_list("finess", "pk")
    )
    paris = users["prescriber"].establishment
    assert paris is not None  # seed_people attaches both demo prescribers

    def establishment_of(n: int) -> tuple[int, int]:
        # One synthetic prescriber in 50 works at the demo CHU in Paris: its genetic counsellor's scope grows too.
        if n % 50 == 49:
            return paris.pk, paris.department.region_id
        finess = finesses[n % n_establishments]
        return establishment_ids[finess], region_of[finess]

    prescriber_specs: list[dict[str, Any]] = []
    for n in range(n_prescribers):
        establishment_id, _region = establishment_of(n)
        prescriber_specs.append(
            {
                "username": f"{SYNTHETIC}.prescriber.{n:05d}",
                "first_name": FIRST_NAMES[Sex.FEMALE if n % 2 else Sex.MALE][n % 24],
                "last_name": SURNAMES[n % len(SURNAMES)].capitalize(),
                "rpps": f"9{n:010d}",
                "establishment_id": establishment_id,
            }
        )
    prescriber_ids = _ensure_users(prescriber_specs, [Role.PRESCRIBER], password)

    def prescriber(user_id: int, establishment_id: int, region_id: int) -> Prescriber:
        laboratory = territories[region_id]
        return Prescriber(user_id, establishment_id, region_id, laboratory.pk, laboratory.name)

    prescribers = [
        prescriber(prescriber_ids[spec["username"]], *establishment_of(n))
        for n, spec in enumerate(prescriber_specs)
    ]
    demo_prescribers = []
    for name in ("prescriber", "prescriber2"):
        site = users[name].establishment
        assert site is not None  # seed_people attaches both demo prescribers
        demo_prescribers.append(prescriber(users[name].pk, site.pk, site.department.region_id))

    # Assistants, each for a handful of prescribers; the demo assistant helps a few synthetic ones besides.
    n_assistants = math.ceil(n_prescribers / PRESCRIBERS_PER_ASSISTANT)
    assistant_ids = _ensure_users(
        [
            {
                "username": f"{SYNTHETIC}.assistant.{k:04d}",
                "first_name": "Assistant",
                "last_name": f"Synthétique {k:04d}",
            }
            for k in range(n_assistants)
        ],
        [Role.PRESCRIPTION_ASSISTANT],
        password,
    )
    AssistantAssignment.objects.bulk_create(
        [AssistantAssignment(assistant_id=pk) for pk in assistant_ids.values()],
        ignore_conflicts=True,
        batch_size=1000,
    )
    assignment_of = dict(
        AssistantAssignment.objects.filter(assistant_id__in=list(assistant_ids.values())).values_list(
            "assistant_id", "pk"
        )
    )
    demo_assignment = AssistantAssignment.objects.get(assistant=users["assistant"])
    links = [
        (assignment_of[assistant_ids[f"{SYNTHETIC}.assistant.{n // PRESCRIBERS_PER_ASSISTANT:04d}"]], p)
        for n, p in enumerate(prescribers)
    ] + [(demo_assignment.pk, p) for p in prescribers[:4]]
    for related, attname, value in (
        ("prescribers", "user_id", "user_id"),
        ("sites", "establishment_id", "establishment_id"),
    ):
        through = getattr(AssistantAssignment, related).through
        through.objects.bulk_create(
            {
                (a, getattr(p, value)): through(assistantassignment_id=a, **{attname: getattr(p, value)})
                for a, p in links
            }.values(),
            ignore_conflicts=True,
            batch_size=1000,
        )

    # Laboratory staff and biologists: the demo ones and a dozen more per laboratory.
    crews: dict[int, Crew] = {}
    for laboratory in {lab.pk: lab for lab in territories.values()}.values():
        ids: dict[str, list[int]] = {}
        for function, count, roles in (
            (LaboratoryMembership.Function.STAFF, LAB_STAFF_PER_LABORATORY, [Role.LABORATORY_STAFF]),
            (
                LaboratoryMembership.Function.BIOLOGIST,
                BIOLOGISTS_PER_LABORATORY,
                [Role.LABORATORY_STAFF, Role.BIOLOGIST],
            ),
        ):
            made = _ensure_users(
                [
                    {
                        "username": f"{SYNTHETIC}.{function}.{laboratory.code}.{i:02d}",
                        "first_name": FIRST_NAMES[Sex.MALE][i],
                        "last_name": f"{SURNAMES[i].capitalize()} ({laboratory.name})",
                    }
                    for i in range(count)
                ],
                roles,
                password,
            )
            LaboratoryMembership.objects.bulk_create(
                [
                    LaboratoryMembership(user_id=pk, laboratory=laboratory, function=function)
                    for pk in made.values()
                ],
                ignore_conflicts=True,
            )
            ids[function] = sorted(
                LaboratoryMembership.objects.filter(laboratory=laboratory, function=function).values_list(
                    "user_id", flat=True
                )
            )
        crews[laboratory.pk] = Crew(
            staff=ids[LaboratoryMembership.Function.STAFF],
            biologists=ids[LaboratoryMembership.Function.BIOLOGIST],
        )

    # The RCP-FMG: each region's multi-theme one (the demo ones for Île-de-France and Auvergne-Rhône-Alpes),
    # and a second national one for cancers besides the demo's. Each with a coordinator who decides.
    coordinator = users["coordinator"]
    coordinator_by_rcp = dict(
        RcpMembership.objects.filter(
            user=coordinator, function=RcpMembership.Function.COORDINATOR
        ).values_list("rcp_id", "user_id")
    )
    rcp_by_region: dict[int, int] = {}
    for rcp in RcpBody.objects.filter(
        pk__in=list(coordinator_by_rcp), multi_theme_rare_disease=True
    ).select_related("establishment__department"):
        if rcp.establishment is not None:
            rcp_by_region.setdefault(rcp.establishment.department.region_id, rcp.pk)
    regions = {d.region_id: d.region for d in departments}
    wanted = {
        region_id: f"RCP-FMG-MR génomique {region.name} (synthétique)"
        for region_id, region in regions.items()
        if region_id not in rcp_by_region
    }
    RcpBody.objects.bulk_create(
        [
            RcpBody(
                name=name,
                city=regions[region_id].name,
                scope=RcpBody.Scope.INTERREGIONAL,
                multi_theme_rare_disease=True,
            )
            for region_id, name in wanted.items()
        ],
        ignore_conflicts=True,
    )
    cancer, _created = RcpBody.objects.get_or_create(
        name=CANCER_RCP, defaults={"city": "Paris", "scope": RcpBody.Scope.NATIONAL}
    )
    cancer.pre_indications.add(
        *PreIndication.objects.filter(category__in=[Category.CANCER, Category.ONCOGENETICS])
    )
    rcp_ids = dict(RcpBody.objects.filter(name__in=[*wanted.values(), CANCER_RCP]).values_list("name", "pk"))
    rcp_by_region.update({region_id: rcp_ids[name] for region_id, name in wanted.items()})
    by_username = {f"{SYNTHETIC}.coordinator.{rcp_id}": rcp_id for rcp_id in rcp_ids.values()}
    coordinators = _ensure_users(
        [
            {"username": name, "first_name": "Coordination", "last_name": f"RCP-FMG {rcp_id}"}
            for name, rcp_id in by_username.items()
        ],
        [Role.RCP_MEMBER],
        password,
    )
    RcpMembership.objects.bulk_create(
        [
            RcpMembership(
                user_id=coordinators[name], rcp_id=rcp_id, function=RcpMembership.Function.COORDINATOR
            )
            for name, rcp_id in by_username.items()
        ],
        ignore_conflicts=True,
    )
    coordinator_by_rcp.update({rcp_id: coordinators[name] for name, rcp_id in by_username.items()})
    linked: dict[int, list[int]] = {}
    for pre_indication_id, rcp_id in (
        RcpBody.pre_indications.through.objects.filter(rcpbody_id__in=list(coordinator_by_rcp))
        .order_by("rcpbody_id")
        .values_list("preindication_id", "rcpbody_id")
    ):
        linked.setdefault(pre_indication_id, []).append(rcp_id)
    return Spread(
        demo_prescribers=demo_prescribers,
        prescribers=prescribers,
        crews=crews,
        rcp_by_region=rcp_by_region,
        coordinator_by_rcp=coordinator_by_rcp,
        linked_rcps=linked,
    )


# --- What each dossier holds -------------------------------------------------------------------------------


class PlannedEvent(NamedTuple):
    kind: str
    at: dt.datetime
    actor_id: int
    transition: str = ""
    from_status: str = ""
    to_status: str = ""
    reason: str = ""


class PlannedPatient(NamedTuple):
    birth_name: str
    used_name: str
    first_names: str
    date_of_birth: dt.date
    sex: str


class PlannedPerson(NamedTuple):
    relationship: str
    affected: str
    patient: PlannedPatient


class PlannedConsent(NamedTuple):
    person: int  # index in the dossier's persons
    at: dt.datetime
    minor: bool


@dataclass
class PlannedContent:
    """What the prescriber filled in, step by step (see prescriptions.drafting)."""

    steps_done: list[str]
    criteria_checklist: str  # JSON, serialised once per fiche
    family_structure: str = ""
    age_at_onset: str = ""
    clinical_summary: str = ""
    attested_at: dt.datetime | None = None
    phenotypes: list[tuple[str, bool]] = field(default_factory=list)  # (HPO id, present)
    prior_tests: list[tuple[str, dt.date, str]] = field(default_factory=list)  # (kind, performed on, result)
    documents: list[tuple[int, str, dt.datetime]] = field(default_factory=list)  # (expected id, label, at)


@dataclass
class PlannedDossier:
    ordinal: int
    prescriber: Prescriber
    version: PreIndicationVersion
    rcp_id: int
    status: str
    created_at: dt.datetime
    events: list[PlannedEvent]
    persons: list[PlannedPerson]
    content: PlannedContent
    consents: list[PlannedConsent]
    crew: tuple[int, int, int]  # coordinator, laboratory staff, biologist (ids)
    sequencing: tuple[Decimal, Decimal] = (Decimal("0"), Decimal("0"))  # mean coverage, % at 20x

    @property
    def status_since(self) -> dt.datetime:
        """When the dossier entered its status: its last transition, or its creation for a draft."""
        return next(e.at for e in reversed(self.events) if e.kind in (Kind.TRANSITION, Kind.CREATED))

    @property
    def laboratory_id(self) -> int | None:
        return self.prescriber.laboratory_id if "finalise" in PATHS[self.status] else None

    def moment(self, transition: str) -> PlannedEvent | None:
        """The event of ``transition`` in this dossier's timeline, if it went through it."""
        return next((e for e in self.events if e.transition == transition), None)


def actor_for(transition: str, prescriber_id: int, crew: tuple[int, int, int]) -> int:
    """Who fires each transition (as ``pfmg.demo.Cast.actor_for``): the RCP-FMG's coordinator decides, the
    laboratory's staff receive and run, its biologist signs, the prescriber does the rest."""
    coordinator, staff, biologist = crew
    if transition in ("request_more_info", "reject", "validate"):
        return coordinator
    if transition in ("receive", "reject_samples", "start_sequencing", "start_analysis", "deliver_report"):
        return staff
    if transition == "sign_report":
        return biologist
    return prescriber_id


class Planner:
    """Draws each dossier from its own ordinal and the seed: the same arguments give the same dossiers
    (relative to today), whether they are written in one run or in several."""

    def __init__(
        self,
        seed: int,
        *,
        spread: Spread,
        versions: list[PreIndicationVersion],
        hpo_terms: list[str],
        documents: dict[int, list[tuple[int, str]]],
        today: dt.datetime,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data, not secrets
        self.spread = spread
        self.versions = versions
        self.hpo_terms = hpo_terms
        self.documents = documents
        self.today = today
        # The first dossiers take every status once, in an order drawn from the seed: any load of 15 or more
        # holds every status.
        self.first_statuses = list(PATHS)
        random.Random(seed).shuffle(self.first_statuses)  # noqa: S311
        self._in_force: dict[dt.date, list[PreIndicationVersion]] = {}
        self._checklists: dict[int, str] = {}

    def status(self, ordinal: int) -> str:
        if ordinal < len(self.first_statuses):
            return self.first_statuses[ordinal]
        return self.rng.choices(_STATUSES, cum_weights=_CUMULATIVE)[0]

    def prescriber(self) -> Prescriber:
        draw = self.rng.random()
        demo = self.spread.demo_prescribers
        if draw < DEMO_PRESCRIBER_SHARE * len(demo):
            return demo[int(draw / DEMO_PRESCRIBER_SHARE)]
        return self.rng.choice(self.spread.prescribers)

    def dossier(self, ordinal: int) -> PlannedDossier:
        rng = self.rng
        rng.seed(self.seed * 1_000_003 + ordinal)
        status = self.status(ordinal)
        prescriber = self.prescriber()
        crew = self.spread.crews[prescriber.laboratory_id]
        path = PATHS[status]
        delays = [self._days(DELAY_DAYS[name]) for name in path]
        created_at = self.today - sum(delays, self._days(IDLE_DAYS[status]))
        version = rng.choice(self._versions_in_force(created_at.date()))
        checklist = self._checklist(version)
        if path:
            # Submitted (whatever happened next): every step done, attested as it was submitted.
            content = PlannedContent(SUBMITTED_STEPS, checklist, attested_at=created_at + delays[0])
        else:
            # A draft stops somewhere after the index case, not yet attested.
            content = PlannedContent(list(STEPS[: rng.randint(2, len(SUBMITTED_STEPS))]), checklist)
        persons = self._family(version, created_at.date(), content)
        if "clinique" in content.steps_done:
            self._clinical_picture(version, persons[0].patient, created_at.date(), content)
        rcp_id = self._rcp(version, prescriber)
        cast = (self.spread.coordinator_by_rcp[rcp_id], rng.choice(crew.staff), rng.choice(crew.biologists))

        prescriber_id = prescriber.user_id
        events = [PlannedEvent(Kind.CREATED, created_at, prescriber_id, to_status=S.DRAFT)]
        if "documents" in content.steps_done:
            # The fiche's documents, uploaded in the session that created the dossier, a minute apart.
            for minutes, (expected_id, label) in enumerate(self.documents.get(version.pk, []), 1):
                at = created_at + dt.timedelta(minutes=minutes)
                content.documents.append((expected_id, label, at))
                events.append(PlannedEvent(Kind.NOTE, at, prescriber_id, reason=_uploaded(label)))
        consents: list[PlannedConsent] = []
        at, state = created_at, S.DRAFT.value
        for name, delay in zip(path, delays, strict=True):
            if name == "finalise":
                # Routing by territory happens as the prescriber finalises, moments before the transition;
                # the consents (which finalising requires) were recorded before, ten minutes apart.
                routed_at = at + delay - min(delay / 2, dt.timedelta(minutes=rng.randint(1, 120)))
                for number, person in enumerate(persons):
                    signed_at = routed_at - dt.timedelta(minutes=10 * (len(persons) - number))
                    minor = _age(person.patient.date_of_birth, _localdate(signed_at)) < 18
                    consents.append(PlannedConsent(number, signed_at, minor))
                    events.append(
                        PlannedEvent(
                            Kind.NOTE, signed_at, prescriber_id, reason=_consented(person.relationship)
                        )
                    )
                events.append(
                    PlannedEvent(
                        Kind.ROUTED,
                        routed_at,
                        prescriber_id,
                        reason=_routing_reason(prescriber.laboratory_name),
                    )
                )
            at += delay
            target = TARGETS[name]
            reason = REASONS[name] if name in REASON_REQUIRED else ""
            events.append(
                PlannedEvent(
                    Kind.TRANSITION, at, actor_for(name, prescriber_id, cast), name, state, target, reason
                )
            )
            state = target
        planned = PlannedDossier(
            ordinal=ordinal,
            prescriber=prescriber,
            version=version,
            rcp_id=rcp_id,
            status=status,
            created_at=created_at,
            events=events,
            persons=persons,
            content=content,
            consents=consents,
            crew=cast,
        )
        if "start_sequencing" in path:
            planned.sequencing = (Decimal(rng.randint(300, 480)) / 10, Decimal(rng.randint(9000, 9950)) / 100)
        return planned

    def _days(self, bounds: tuple[float, float]) -> dt.timedelta:
        # Whole seconds: the timeline is compared and displayed to the minute, microseconds add nothing.
        return dt.timedelta(seconds=int(self.rng.uniform(*bounds) * 86400))

    def _versions_in_force(self, day: dt.date) -> list[PreIndicationVersion]:
        """Versions already in force on ``day``: a dossier cannot cite a fiche published after it."""
        if day not in self._in_force:
            self._in_force[day] = [v for v in self.versions if v.effective_from <= day] or self.versions
        return self._in_force[day]

    def _checklist(self, version: PreIndicationVersion) -> str:
        # Every criterion of the fiche met: a dossier that did not meet them would have been rejected.
        if version.pk not in self._checklists:
            self._checklists[version.pk] = json.dumps(
                [
                    {"criterion": criterion, "met": True, "justification": ""}
                    for criterion in version.criteria
                ],
                ensure_ascii=False,
            )
        return self._checklists[version.pk]

    def _rcp(self, version: PreIndicationVersion, prescriber: Prescriber) -> int:
        """An RCP-FMG that ``rcp_may_validate`` accepts: the region's multi-theme one for a rare disease, one
        of those named for the pre-indication otherwise."""
        pre_indication = version.pre_indication
        if pre_indication.category == Category.RARE_DISEASE:
            return self.spread.rcp_by_region[prescriber.region_id]
        allowed = self.spread.linked_rcps.get(pre_indication.pk)
        if not allowed:
            raise CommandError(f"No RCP-FMG may validate « {pre_indication.slug} ».")
        return self.rng.choice(allowed)

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
        self, version: PreIndicationVersion, index: PlannedPatient, day: dt.date, content: PlannedContent
    ) -> None:
        rng = self.rng
        category = version.pre_indication.category
        content.clinical_summary = rng.choice(SUMMARIES[category])
        adult = (day - index.date_of_birth).days >= 18 * 365
        content.age_at_onset = rng.choice(ADULT_ONSETS if adult else CHILD_ONSETS)
        if category == Category.RARE_DISEASE and self.hpo_terms:
            terms = rng.sample(self.hpo_terms, k=min(len(self.hpo_terms), rng.randint(1, 4)))
            # Now and then a sign explicitly absent, as the clinical step allows.
            content.phenotypes = [
                (term, position == 0 or rng.random() > 0.15) for position, term in enumerate(terms)
            ]
            # The first-line work-up that came back negative (what made the genome worth asking for).
            for kind in rng.sample(PRIOR_TESTS, k=rng.randint(0, 2)):
                performed = day - dt.timedelta(days=rng.randint(30, 700))
                content.prior_tests.append(
                    (kind, max(performed, index.date_of_birth), PriorTest.Result.NEGATIVE)
                )

    def _patient(self, surname: str, sex: str, born: dt.date, used_name: str = "") -> PlannedPatient:
        # No INS: it is unique when set, and a synthetic NIR could collide with a real one in an export.
        return PlannedPatient(surname, used_name, self.rng.choice(FIRST_NAMES[sex]), born, sex)


_LOCAL = timezone.get_default_timezone()


def _localdate(moment: dt.datetime) -> dt.date:
    # timezone.localdate() looks up the active zone on every call: a tenth of the seed's time.
    return moment.astimezone(_LOCAL).date()


def _age(born: dt.date, on: dt.date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


@functools.cache
def _uploaded(label: str) -> str:
    # The same wording as prescriptions.drafting.add_document.
    return _("Document déposé : %(label)s.") % {"label": label}


@functools.cache
def _consented(relationship: str) -> str:
    # The same wording as consent.services.record_consent.
    return _("Consentement enregistré : %(who)s.") % {"who": Relationship(relationship).label}


@functools.cache
def _routing_reason(laboratory_name: str) -> str:
    # The same wording as labs.services.route_dossier, so the two kinds of timeline read alike.
    return _("Orienté vers %(lab)s selon le territoire.") % {"lab": laboratory_name}


# --- Writing rows ------------------------------------------------------------------------------------------

_INTEGERS = {
    "AutoField",
    "BigAutoField",
    "SmallAutoField",
    "IntegerField",
    "BigIntegerField",
    "SmallIntegerField",
    "PositiveIntegerField",
    "PositiveBigIntegerField",
    "PositiveSmallIntegerField",
    "ForeignKey",
    "OneToOneField",
    "DecimalField",
}
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(_COPY_ESCAPES)
    return text


def _copy_converter(model_field: models.Field) -> Callable[[Any], str]:
    """How a value of ``model_field`` is spelt in COPY's text format (ids, dates and flags are never text)."""
    kind = model_field.get_internal_type()
    if kind in _INTEGERS:
        return lambda value: "\\N" if value is None else str(value)
    if kind == "BooleanField":
        return lambda value: "\\N" if value is None else ("t" if value else "f")
    if kind in ("DateTimeField", "DateField"):
        return lambda value: "\\N" if value is None else value.isoformat()
    return _copy_text


def _sqlite_converter(model_field: models.Field) -> Callable[[Any], Any]:
    kind = model_field.get_internal_type()
    if kind == "DateTimeField":
        adapt = connection.ops.adapt_datetimefield_value
        return lambda value: None if value is None else adapt(value)
    if kind == "DateField":
        return lambda value: None if value is None else value.isoformat()
    if kind == "DecimalField":
        return lambda value: None if value is None else str(value)
    if kind == "JSONField":
        return lambda value: value if value is None or isinstance(value, str) else json.dumps(value)
    return lambda value: value


def _column(model: type[models.Model], name: str) -> models.Field:
    column = model._meta.get_field(name)
    if not isinstance(column, models.Field) or column.column is None:
        raise ValueError(f"{model.__name__}.{name} is not a column.")
    return column


class Table:
    """Rows of one model, written in one statement per batch: COPY on PostgreSQL, executemany elsewhere.

    Each row gives the values of ``names`` (plain Python values, JSON already serialised or not); every
    other column gets its model default, the same for all rows, except generated columns and columns with a
    database default, left to the database. Bypassing the ORM and its debug cursor is the point: the values
    need no per-row preparation, and nothing lands in Django's query log even with DEBUG on."""

    def __init__(self, model: type[models.Model], names: tuple[str, ...]) -> None:
        meta = model._meta
        provided = [_column(model, name) for name in names]
        rest: list[models.Field] = []
        for column in meta.concrete_fields:
            if (
                column in provided
                or column.primary_key
                or getattr(column, "generated", False)
                or column.has_db_default()
            ):
                continue
            rest.append(column)
        defaults = [column.get_default() for column in rest]
        for column, default in zip(rest, defaults, strict=True):
            if default is None and not column.null:
                raise CommandError(
                    f"seed_scale does not fill {meta.label}.{column.name}: add it to its table."
                )
        self.model = model
        self.rows: list[tuple] = []
        fields = [*provided, *rest]
        quote = connection.ops.quote_name
        self.columns = ", ".join(quote(str(f.column)) for f in fields)
        self.table = quote(meta.db_table)
        self.copy = connection.vendor == "postgresql"
        if self.copy:
            self.converters = [_copy_converter(f) for f in provided]
            tail = [_copy_converter(f)(value) for f, value in zip(rest, defaults, strict=True)]
            self.tail = "".join("\t" + value for value in tail) + "\n"
        else:
            self.converters = [_sqlite_converter(f) for f in provided]
            self.defaults = tuple(
                _sqlite_converter(f)(value) for f, value in zip(rest, defaults, strict=True)
            )
            self.placeholders = ", ".join(["?"] * len(fields))

    def add(self, *row: Any) -> None:
        self.rows.append(row)

    def take(self) -> Payload:
        """The rows added since the last call, ready to write: COPY's text on PostgreSQL, tuples elsewhere."""
        rows, self.rows = self.rows, []
        converters = self.converters
        if self.copy:
            tail = self.tail
            buffer = io.StringIO()
            buffer.writelines(
                "\t".join([convert(value) for convert, value in zip(converters, row, strict=True)]) + tail
                for row in rows
            )
            buffer.seek(0)
            return Payload(self, len(rows), buffer)
        defaults = self.defaults
        return Payload(
            self,
            len(rows),
            [
                tuple([convert(value) for convert, value in zip(converters, row, strict=True)]) + defaults
                for row in rows
            ],
        )

    def write(self, cursor, payload: Payload) -> None:
        if not payload.rows:
            return
        if self.copy:
            cursor.copy_expert(f"COPY {self.table} ({self.columns}) FROM STDIN", payload.data)
        else:
            cursor.executemany(
                f"INSERT INTO {self.table} ({self.columns}) VALUES ({self.placeholders})",  # noqa: S608 - names from _meta
                payload.data,
            )


class Payload(NamedTuple):
    table: Table
    rows: int
    data: Any  # io.StringIO for COPY, a list of tuples for executemany


def reserve_ids(cursor, model: type[models.Model], count: int) -> list[int]:
    """``count`` primary keys for ``model``, taken from its sequence on PostgreSQL (in one statement, so the
    rows can be wired together before any is written); above the largest on SQLite, which has one writer."""
    if not count:
        return []
    table = model._meta.db_table
    if connection.vendor == "postgresql":
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [table, model._meta.pk.column, count],
        )
        return [row[0] for row in cursor.fetchall()]
    cursor.execute(f"SELECT COALESCE(MAX({model._meta.pk.column}), 0) FROM {table}")  # noqa: S608
    (last,) = cursor.fetchone()
    return list(range(last + 1, last + 1 + count))


def _shared_file(name: str, content: bytes) -> str:
    """One stored file that every seeded row of a kind points to (millions of copies would add nothing)."""
    if not default_storage.exists(name):
        stored = default_storage.save(name, ContentFile(content))
        if stored != name:
            raise CommandError(f"Could not store {name} (got {stored}).")
    return name


class Writer:
    """Turns planned dossiers into rows, table by table, with the ids that wire them together."""

    def __init__(
        self, *, consent_versions: dict[tuple[str, str], list[tuple[dt.date, dt.date | None, int]]]
    ) -> None:
        self.consent_versions = consent_versions
        self.patients = Table(
            Patient, ("id", "birth_name", "used_name", "first_names", "date_of_birth", "sex", "created_at")
        )
        self.dossiers = Table(
            Dossier,
            (
                "id",
                "reference",
                "pre_indication_version",
                "prescriber",
                "entered_by",
                "establishment",
                "rcp",
                "laboratory",
                "criteria_checklist",
                "family_structure",
                "age_at_onset",
                "clinical_summary",
                "steps_done",
                "attested_at",
                "status",
                "created_at",
                "updated_at",
                "status_since",
            ),
        )
        self.persons = Table(DossierPerson, ("id", "dossier", "patient", "relationship", "affected"))
        self.phenotypes = Table(DossierPhenotype, ("dossier", "term", "present"))
        self.prior_tests = Table(PriorTest, ("dossier", "kind", "performed_on", "result"))
        self.documents = Table(
            DossierDocument,
            (
                "dossier",
                "expected",
                "label",
                "file",
                "original_name",
                "content_type",
                "size",
                "sha256",
                "uploaded_by",
                "uploaded_at",
            ),
        )
        self.consents = Table(
            ConsentRecord,
            (
                "person",
                "template_version",
                "person_status",
                "signed_by_person",
                "parent_signatory_1",
                "person_agreement",
                "analysis_accepted",
                "additional_findings",
                "research_reuse",
                "relatives_information",
                "signed_on",
                "collector_kind",
                "collected_by",
                "scan",
                "scan_content_type",
                "scan_sha256",
                "recorded_by",
                "recorded_at",
            ),
        )
        self.shipments = Table(
            Shipment,
            (
                "id",
                "dossier",
                "carrier",
                "tracking_number",
                "pickup_date",
                "created_by",
                "created_at",
                "declared_at",
            ),
        )
        self.samples = Table(
            Sample,
            (
                "dossier",
                "person",
                "sample_type",
                "barcode",
                "collected_on",
                "collected_by",
                "shipment",
                "check_result",
                "checked_by",
                "checked_at",
                "recorded_by",
                "recorded_at",
            ),
        )
        self.runs = Table(
            SequencingRun,
            ("dossier", "run_identifier", "mean_coverage", "pct_20x", "recorded_by", "recorded_at"),
        )
        self.assignments = Table(AnalysisAssignment, ("dossier", "interpreter", "assigned_by", "assigned_at"))
        self.reports = Table(
            Report,
            (
                "dossier",
                "version",
                "source",
                "file",
                "size",
                "sha256",
                "created_by",
                "created_at",
                "signed_by",
                "signed_at",
                "signed_sha256",
            ),
        )
        self.events = Table(
            DossierEvent,
            ("dossier", "kind", "actor", "transition", "from_status", "to_status", "at", "reason"),
        )
        # Parents before children, so that SQLite's immediate checks pass as PostgreSQL's deferred ones do.
        self.tables = [
            self.patients,
            self.dossiers,
            self.persons,
            self.phenotypes,
            self.prior_tests,
            self.documents,
            self.consents,
            self.shipments,
            self.samples,
            self.runs,
            self.assignments,
            self.reports,
            self.events,
        ]
        self.scan = (
            _shared_file("seed_scale/consent-scan.pdf", DEMO_SCAN),
            hashlib.sha256(DEMO_SCAN).hexdigest(),
        )
        report = minimal_pdf("Compte rendu synthetique (seed_scale)")
        self.report = (
            _shared_file("seed_scale/report.pdf", report),
            len(report),
            hashlib.sha256(report).hexdigest(),
        )
        self._document_files: dict[str, tuple[str, int, str]] = {}

    def document_file(self, label: str) -> tuple[str, int, str]:
        if label not in self._document_files:
            content, sha256 = _synthetic_pdf(label)
            self._document_files[label] = (
                _shared_file(f"seed_scale/documents/{sha256[:16]}.pdf", content),
                len(content),
                sha256,
            )
        return self._document_files[label]

    def consent_version(self, category: str, minor: bool, day: dt.date) -> int:
        situation = "rare_disease" if category == Category.RARE_DISEASE else "cancer"
        versions = self.consent_versions[(situation, "minor" if minor else "adult")]
        for effective_from, effective_to, pk in versions:  # newest first
            if effective_from <= day and (effective_to is None or effective_to >= day):
                return pk
        return versions[-1][2]  # signed before the first version: the oldest there is

    def prepare(self, planned: list[PlannedDossier]) -> list[Payload]:
        """One batch's rows, ids wired, ready to write. Takes the references and the ids (sequences are not
        transactional: a batch that fails leaves a gap, as a failed creation does through the services)."""
        # References follow creation order within the batch and carry the year the dossier was created in,
        # as create_dossier allocates them.
        planned.sort(key=lambda p: (p.created_at, p.ordinal))
        references: list[str] = []
        for year, group in groupby(planned, key=lambda p: p.created_at.astimezone(_LOCAL).year):
            references += allocate_references(year=year, count=len(list(group)))
        connection.ensure_connection()
        with closing(connection.connection.cursor()) as cursor:
            n_persons = sum(len(p.persons) for p in planned)
            dossier_ids = iter(reserve_ids(cursor, Dossier, len(planned)))
            patient_ids = iter(reserve_ids(cursor, Patient, n_persons))
            person_ids = iter(reserve_ids(cursor, DossierPerson, n_persons))
            shipments = sum("ship_samples" in PATHS[p.status] for p in planned)
            shipment_ids = iter(reserve_ids(cursor, Shipment, shipments))
        for p, reference in zip(planned, references, strict=True):
            self._rows(p, reference, next(dossier_ids), patient_ids, person_ids, shipment_ids)
        return [table.take() for table in self.tables]

    @staticmethod
    def flush(payloads: list[Payload], trust_keys: bool = False) -> int:
        """Write one prepared batch in one transaction (of this thread's connection); returns how many rows.

        ``trust_keys`` (PostgreSQL, superuser): the foreign-key triggers do not fire in this transaction. Half
        of the server's work is those checks, row by row at commit, for rows whose keys were all read from the
        database or reserved from its sequences moments before."""
        with transaction.atomic():
            connection.ensure_connection()
            with closing(connection.connection.cursor()) as cursor:
                if trust_keys:
                    cursor.execute("SET LOCAL session_replication_role = replica")
                for payload in payloads:
                    payload.table.write(cursor, payload)
        return sum(payload.rows for payload in payloads)

    def _rows(
        self, p: PlannedDossier, reference: str, dossier_id: int, patient_ids, person_ids, shipment_ids
    ) -> None:
        content = p.content
        prescriber_id = p.prescriber.user_id
        # The protected FSM status is written as a plain value: nothing bypasses the machine here, the history
        # written below is the one its transitions allow.
        self.dossiers.add(
            dossier_id,
            reference,
            p.version.pk,
            prescriber_id,
            prescriber_id,
            p.prescriber.establishment_id,
            p.rcp_id,
            p.laboratory_id,
            content.criteria_checklist,
            content.family_structure,
            content.age_at_onset,
            content.clinical_summary,
            content.steps_done,
            content.attested_at,
            p.status,
            p.created_at,
            p.events[-1].at,  # the last activity, as the services keep it
            p.status_since,
        )
        persons: list[int] = []
        for person in p.persons:
            patient_id, person_id = next(patient_ids), next(person_ids)
            self.patients.add(patient_id, *person.patient, p.created_at)
            self.persons.add(person_id, dossier_id, patient_id, person.relationship, person.affected)
            persons.append(person_id)
        for term, present in content.phenotypes:
            self.phenotypes.add(dossier_id, term, present)
        for kind, performed_on, result in content.prior_tests:
            self.prior_tests.add(dossier_id, kind, performed_on, result)
        for expected_id, label, at in content.documents:
            name, size, sha256 = self.document_file(label)
            self.documents.add(
                dossier_id,
                expected_id,
                label,
                name,
                f"{label}.pdf"[:255],
                DossierDocument.ContentType.PDF,
                size,
                sha256,
                prescriber_id,
                at,
            )
        category = p.version.pre_indication.category
        scan, scan_sha256 = self.scan
        for consent in p.consents:
            day = _localdate(consent.at)
            minor = consent.minor
            # As consent.demo.record_demo_consents: the person signs when adult, a parent (with the minor's
            # agreement) otherwise; every choice made, the analysis accepted.
            self.consents.add(
                persons[consent.person],
                self.consent_version(category, minor, day),
                PersonStatus.MINOR if minor else PersonStatus.ADULT,
                not minor,
                "Titulaire de l'autorité parentale (synthétique)" if minor else "",
                Agreement.GIVEN if minor else Agreement.NOT_APPLICABLE,
                True,
                Choice3.YES,
                ResearchChoice.ACCEPTS,
                RelativesChoice.DOCTOR,
                day,
                CollectorKind.PRESCRIBER,
                prescriber_id,
                scan,
                "application/pdf",
                scan_sha256,
                prescriber_id,
                consent.at,
            )
        self._laboratory_rows(p, reference, dossier_id, persons, shipment_ids)
        for e in p.events:
            self.events.add(
                dossier_id, e.kind, e.actor_id, e.transition, e.from_status, e.to_status, e.at, e.reason
            )

    def _laboratory_rows(
        self, p: PlannedDossier, reference: str, dossier_id: int, persons: list[int], shipment_ids
    ) -> None:
        """What labs.services would have recorded for each laboratory step the dossier went through."""
        shipped = p.moment("ship_samples")
        if shipped is None:
            return
        prescriber_id = p.prescriber.user_id
        shipment_id = next(shipment_ids)
        self.shipments.add(
            shipment_id,
            dossier_id,
            "Transporteur santé (synthétique)",
            f"TRK{dossier_id:010d}",
            _localdate(shipped.at),
            prescriber_id,
            shipped.at - dt.timedelta(hours=1),
            shipped.at,
        )
        received = p.moment("receive")
        sample_type = (p.version.sample_types or [SampleType.BLOOD_EDTA.value])[0]
        collected_on = _localdate(shipped.at - dt.timedelta(hours=4))
        for number, person_id in enumerate(persons, 1):
            self.samples.add(
                dossier_id,
                person_id,
                sample_type,
                f"{reference}-T{number}",
                collected_on,
                "IDE du service (synthétique)",
                shipment_id,
                Sample.Check.CONFORM if received else Sample.Check.PENDING,
                received.actor_id if received else None,
                received.at if received else None,
                prescriber_id,
                shipped.at - dt.timedelta(hours=3, minutes=-number),
            )
        sequenced = p.moment("start_sequencing")
        if sequenced is not None:
            self.runs.add(
                dossier_id,
                f"RUN-{_localdate(sequenced.at):%Y%m%d}-{dossier_id}",
                *p.sequencing,
                sequenced.actor_id,
                sequenced.at,
            )
        analysed = p.moment("start_analysis")
        if analysed is not None:
            _coordinator, staff, biologist = p.crew
            self.assignments.add(dossier_id, biologist, staff, analysed.at)
        signed = p.moment("sign_report")
        if signed is not None:
            name, size, sha256 = self.report
            # Deposited the day before it was signed; signed as reports were before PAdES (the signed hash is
            # the deposited file's), so one shared file serves every seeded report.
            self.reports.add(
                dossier_id,
                1,
                Report.Source.UPLOADED,
                name,
                size,
                sha256,
                p.crew[1],
                signed.at - dt.timedelta(days=1),
                signed.actor_id,
                signed.at,
                sha256,
            )


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


class Command(BaseCommand):
    help = (
        "Fill the database up to N synthetic dossiers (every status, full histories, spread over synthetic "
        "prescribers, RCP-FMG and laboratory staff around the demo cast). Resumable. Demo mode only."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dossiers",
            type=int,
            required=True,
            help="How many dossiers the database should hold: a rerun adds only what is missing.",
        )
        parser.add_argument("--batch", type=int, default=5000, help="Dossiers per transaction (%(default)s).")
        parser.add_argument("--seed", type=int, default=42, help="Random seed (%(default)s).")
        parser.add_argument(
            "--trust-keys",
            action="store_true",
            help="PostgreSQL, as a superuser: skip the foreign-key checks of the rows written (about half the "
            "server's work). Every other constraint is still checked. For throw-away load-test databases.",
        )

    def handle(
        self, *args, dossiers: int, batch: int, seed: int, trust_keys: bool = False, **options
    ) -> None:
        if not settings.DEMO_MODE:
            raise CommandError("seed_scale runs only in demo mode (DEMO_MODE=true): it seeds demo accounts.")
        if dossiers < 1 or batch < 1:
            raise CommandError("--dossiers and --batch must be positive.")
        if trust_keys:
            self._check_may_trust_keys()
        started = time.perf_counter()
        call_command("load_reference", verbosity=0, stdout=self.stdout)
        users = seed_people()
        existing = Dossier.objects.count()
        if existing >= dossiers:
            self.stdout.write(
                f"The database already holds {existing} dossiers (asked: {dossiers}): nothing to add."
            )
            return
        spread = build_spread(users, dossiers)
        planner = self._planner(seed, spread)
        writer = Writer(consent_versions=self._consent_versions())
        self.stdout.write(
            f"Seeding dossiers {existing + 1} to {dossiers} in batches of {batch} (seed {seed}), over "
            f"{len(spread.prescribers)} synthetic prescribers and the demo cast…"
        )
        # On PostgreSQL the next batch is planned while a second thread (with its own connection) writes the
        # previous one: the server's work (COPY, indexes, foreign-key checks at commit) overlaps the client's.
        # Not inside a transaction (a test's): another connection would not see it.
        pipelined = connection.vendor == "postgresql" and not connection.in_atomic_block
        added = 0

        def done(count: int) -> None:
            nonlocal added
            added += count
            reset_queries()  # the few ORM queries of a batch (references) are all DEBUG would keep: drop them
            elapsed = time.perf_counter() - started
            self.stdout.write(
                f"  {existing + added}/{dossiers} dossiers, {elapsed:.1f}s ({added / elapsed:.0f}/s)"
            )

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="seed_scale") as pool:
            writing: tuple[Future, int] | None = None  # the batch being written, and its size
            for first in range(existing, dossiers, batch):
                ordinals = range(first, min(first + batch, dossiers))
                planned = [planner.dossier(ordinal) for ordinal in ordinals]
                if not pipelined:
                    with transaction.atomic():
                        Writer.flush(writer.prepare(planned), trust_keys)
                    done(len(ordinals))
                    continue
                payloads = writer.prepare(planned)
                del planned
                if writing is not None:
                    writing[0].result()  # at most one batch in flight: memory stays flat
                    done(writing[1])
                writing = (pool.submit(Writer.flush, payloads, trust_keys), len(ordinals))
            if writing is not None:
                writing[0].result()
                done(writing[1])
            if pipelined:
                pool.submit(lambda: connection.close()).result()  # the thread's own connection
        elapsed = time.perf_counter() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Created {added} dossiers in {elapsed:.1f}s: {added / elapsed:.0f} dossiers/second."
            )
        )

    @staticmethod
    def _check_may_trust_keys() -> None:
        if connection.vendor != "postgresql":
            raise CommandError("--trust-keys is for PostgreSQL.")
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('is_superuser')")
            (superuser,) = cursor.fetchone()
        if superuser != "on":
            raise CommandError(
                "--trust-keys needs a PostgreSQL superuser (it sets session_replication_role)."
            )

    def _planner(self, seed: int, spread: Spread) -> Planner:
        # Midnight rather than now, so that two runs on the same day with the same seed write the same dates.
        today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
        versions = [
            v
            for v in PreIndicationVersion.objects.select_related("pre_indication").order_by("pk")
            if v.is_prescribable and v.pre_indication.current_version() == v
        ]
        if not versions:
            raise CommandError("No prescribable pre-indication: load the catalogue first (load_reference).")
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
            seed, spread=spread, versions=versions, hpo_terms=hpo_terms, documents=documents, today=today
        )

    def _consent_versions(self) -> dict[tuple[str, str], list[tuple[dt.date, dt.date | None, int]]]:
        """The standard consent forms by (situation, audience), newest version first."""
        found: dict[tuple[str, str], list[tuple[dt.date, dt.date | None, int]]] = {}
        for version in (
            ConsentTemplateVersion.objects.filter(template__kind="form", template__reading_level="standard")
            .select_related("template")
            .order_by("-number")
        ):
            key = (version.template.situation, version.template.audience)
            found.setdefault(key, []).append((version.effective_from, version.effective_to, version.pk))
        for key in (
            ("rare_disease", "adult"),
            ("rare_disease", "minor"),
            ("cancer", "adult"),
            ("cancer", "minor"),
        ):
            if key not in found:
                raise CommandError(f"No consent form for {key}: load the reference data (load_reference).")
        return found
