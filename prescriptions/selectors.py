"""Reads of dossiers, always scoped to the user who asks."""

import re
import unicodedata

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from people.models import RcpBody, Role, User

from .folding import Fold, fold, folded, unfold
from .models import Category, Dossier, DossierEvent, DossierPerson, Patient, PreIndicationVersion
from .panels import dossier_folds

# What each role may see beyond the dossiers it prescribed: RCP members see dossiers once submitted to their
# RCP; laboratories once a dossier is routed to them and finalised.
RCP_VISIBLE = [s for s in Dossier.Status if s not in (Dossier.Status.DRAFT, Dossier.Status.CANCELLED)]
LAB_VISIBLE = [
    Dossier.Status.FINALISED,
    Dossier.Status.SAMPLES_SHIPPED,
    Dossier.Status.RECEIVED,
    Dossier.Status.SEQUENCING,
    Dossier.Status.ANALYSIS,
    Dossier.Status.REPORT_SIGNED,
    Dossier.Status.REPORT_DELIVERED,
    Dossier.Status.CLOSED,
    Dossier.Status.WITHDRAWN,
]


def dossiers_visible_to(user: User) -> QuerySet[Dossier]:
    """Every dossier ``user`` may see, and no other. National coordination sees aggregates only: none here."""
    if not user.is_authenticated or not user.is_active:
        return Dossier.objects.none()
    if user.is_superuser or user.has_role(Role.ADMINISTRATOR):
        return Dossier.objects.all()
    scope = Q(prescriber=user) | Q(entered_by=user)
    scope |= Q(prescriber__assisted_by__assistant=user)
    scope |= Q(rcp__memberships__user=user, status__in=RCP_VISIBLE)
    scope |= Q(laboratory__memberships__user=user, status__in=LAB_VISIBLE)
    if user.has_role(Role.GENETIC_COUNSELLOR) and user.establishment_id:
        scope |= Q(establishment_id=user.establishment_id) & ~Q(status=Dossier.Status.DRAFT)
    # The joins above may repeat a row; filter on the ids to keep a plain, orderable queryset.
    return Dossier.objects.filter(pk__in=Dossier.objects.filter(scope).values("pk"))


def identities_hidden_q(user: User) -> Q:
    """The dossiers whose persons ``user`` may not identify: withdrawn ones, seen from their laboratory."""
    return Q(status=Dossier.Status.WITHDRAWN, laboratory__memberships__user=user) & ~Q(prescriber=user)


def dossier_list(user: User) -> QuerySet[Dossier]:
    return dossiers_visible_to(user).select_related(
        "pre_indication_version", "prescriber", "entered_by", "establishment", "rcp", "laboratory"
    )


# What every screen of a dossier reads of its collections (its persons, clinic, documents and the documents
# its pre-indication expects), loaded with it in its one query (prescriptions.folding).
DETAIL_FOLDS = [
    Fold("persons", related=("patient",)),
    Fold("phenotypes", related=("term",), order=("-present", "term_id")),
    Fold("prior_tests", order=("performed_on", "id")),
    Fold("documents", related=("expected",), order=("uploaded_at", "id")),
    Fold("documents", on="pre_indication_version", order=("position",)),
]


def dossier_detail(user: User, pk: int) -> Dossier:
    """The dossier with its collections, or Dossier.DoesNotExist (a 404) if ``user`` may not see it. The
    user's memberships are read once for the rules the screen will ask (``User.load_memberships``)."""
    if user.is_authenticated and "_memberships" not in user.__dict__:
        user.load_memberships()
    queryset = dossier_list(user).select_related(
        "pre_indication_version__pre_indication",
        "suspected_diagnosis",
        "establishment__department__region",  # the laboratory's territory, the sample types of overseas
    )
    return unfold(fold(queryset, DETAIL_FOLDS).get(pk=pk), DETAIL_FOLDS)


# What the dossier page shows of the dossier's own collections, loaded with it (prescriptions.folding).
PAGE_FOLDS = [*DETAIL_FOLDS[:4], Fold("events", related=("actor",), order=("at", "id"))]


def dossier_page(user: User, pk: int) -> Dossier:
    """The dossier with everything its page and its panels show, in one query, or Dossier.DoesNotExist if
    ``user`` may not see it. Each collection (its own, and those the other apps' panels register with
    ``panels.register_fold``) is read as ``dossier.<relation>.all()`` without a query; for the page only: a
    view that changes the dossier reads it with ``dossier_detail``."""
    folds = dossier_folds(PAGE_FOLDS)
    dossier = fold(
        dossier_list(user).select_related("pre_indication_version__pre_indication", "suspected_diagnosis"),
        folds,
    ).get(pk=pk)
    return unfold(dossier, folds)


def timeline(dossier: Dossier) -> QuerySet[DossierEvent] | list[DossierEvent]:
    events = folded(dossier, "events")
    if events is not None:
        return events
    return dossier.events.select_related("actor").order_by("at", "id")


def prescribers_for(user: User) -> QuerySet[User]:
    """Those in whose name ``user`` may prescribe: themselves, or the prescribers an assistant assists."""
    scope = Q(pk=user.pk) if user.has_role(Role.PRESCRIBER) else Q(pk__in=[])
    scope |= Q(assisted_by__assistant=user)
    return (
        User.objects.filter(scope, groups__name=Role.PRESCRIBER, is_active=True)
        .select_related("establishment")
        .distinct()
        .order_by("last_name", "first_name")
    )


def prescribable_versions(query: str = "") -> list[PreIndicationVersion]:
    """The versions in force today that may be prescribed, by category then filière then name."""
    today = timezone.localdate()
    versions = (
        PreIndicationVersion.objects.filter(effective_from__lte=today, status__in=["active", "extended"])
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=today))
        .select_related("pre_indication")
        .prefetch_related("documents", "pre_indication__rcp_bodies")
    )
    for word in query.split():
        versions = versions.filter(Q(name__icontains=word) | Q(filiere__icontains=word))
    order = {c: i for i, c in enumerate(Category.values)}
    return sorted(versions, key=lambda v: (order[v.pre_indication.category], v.filiere or "~", v.name))


def allowed_rcps(version: PreIndicationVersion) -> QuerySet[RcpBody]:
    scope = Q(pre_indications=version.pre_indication_id)
    if version.pre_indication.category == Category.RARE_DISEASE:
        scope |= Q(multi_theme_rare_disease=True)
    return RcpBody.objects.filter(scope).distinct().order_by("name")


def normalised_trait(value) -> str:
    """A name as identity vigilance compares it: no accents, no case, one space for any run of spaces,
    hyphens and apostrophes (« Jean-Pierre » and « JEAN PIERRE » are the same first names)."""
    text = unicodedata.normalize("NFKD", str(value or "")).encode("ascii", "ignore").decode()
    return re.sub(r"[\s'’-]+", " ", text).strip().upper()


# The traits that, with the INS, identify a person (référentiel national d'identitovigilance).
STRICT_TRAITS = ("birth_name", "first_names", "date_of_birth", "sex")


def trait_agrees(field: str, stored, typed) -> bool:
    if field in ("birth_name", "used_name", "first_names"):
        return normalised_trait(stored) == normalised_trait(typed)
    if field in ("is_fetus", "is_deceased"):
        return bool(stored) == bool(typed)
    return (stored or None) == (typed or None)


def traits_differing(patient: Patient, identity: dict, fields) -> list[str]:
    return [k for k in fields if k in identity and not trait_agrees(k, getattr(patient, k), identity[k])]


def patients_in_scope(user: User) -> QuerySet[Patient]:
    """The patients of the dossiers ``user`` may see with their identities."""
    visible = dossiers_visible_to(user).exclude(identities_hidden_q(user))
    return Patient.objects.filter(dossier_roles__dossier__in=visible).distinct()


def known_patients(user: User, identity: dict) -> list[Patient]:
    """Patients already known whose strict traits (birth name, first names, birth date, sex) agree with
    ``identity``, among those ``user`` may see, and only those: a patient outside the user's scope is never
    offered, whatever the INS typed. A typed INS must be the candidate's own INS too."""
    candidates = patients_in_scope(user).filter(
        date_of_birth=identity.get("date_of_birth"), sex=identity.get("sex", "")
    )
    if identity.get("ins"):
        candidates = candidates.filter(ins=identity["ins"])
    return [p for p in candidates.order_by("pk") if not traits_differing(p, identity, STRICT_TRAITS)]


def index_person_prefetch() -> Prefetch:
    return Prefetch(
        "persons",
        queryset=DossierPerson.objects.filter(relationship=DossierPerson.Relationship.INDEX).select_related(
            "patient"
        ),
        to_attr="index_persons",
    )


def more_info_questions(dossier: Dossier) -> DossierEvent | None:
    """The RCP's latest request for more information, while the dossier awaits the answer."""
    if dossier.status != Dossier.Status.MORE_INFO_REQUESTED:
        return None
    events = folded(dossier, "events")
    if events is not None:
        asked = [e for e in events if e.transition == "request_more_info"]
        return max(asked, key=lambda e: e.at) if asked else None
    return (
        dossier.events.filter(transition="request_more_info").select_related("actor").order_by("-at").first()
    )
