"""Reads of dossiers, always scoped to the user who asks."""

import datetime as dt
import functools
import operator
import re
import unicodedata
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import connection, models
from django.db.models import Count, Prefetch, Q, QuerySet
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


@dataclass(frozen=True)
class DossierScope:
    """What a user may see, resolved to ids first (their RCPs, laboratories, assisted prescribers): each branch
    is then a plain condition on the dossier's own columns, served by an index on that column, instead of an OR
    across joins that makes PostgreSQL read the whole table. ``everything`` for administrators."""

    user_id: int | None = None
    everything: bool = False
    rcp_ids: tuple[int, ...] = ()
    laboratory_ids: tuple[int, ...] = ()
    assisted_ids: tuple[int, ...] = ()
    counsellor_establishment_id: int | None = None
    # Someone assists the user: drafts may be handed over to them (the home list's "À valider").
    assisted_by_someone: bool = False

    @property
    def branches(self) -> list[Q]:
        """One condition per way of seeing a dossier; their union is the scope. Each is served by one of the
        dossier's ``(column, updated_at, id)`` and ``(column, status, updated_at, id)`` indexes."""
        if self.everything or self.user_id is None:
            return []
        # Entered by the user for someone else: those entered for themselves are in the first branch already.
        entered_for_others = Q(entered_by_id=self.user_id) & ~Q(entered_by=models.F("prescriber"))
        branches = [Q(prescriber_id=self.user_id), entered_for_others]
        if self.assisted_ids:
            branches.append(Q(prescriber_id__in=self.assisted_ids))
        if self.rcp_ids:
            branches.append(Q(rcp_id__in=self.rcp_ids, status__in=RCP_VISIBLE))
        if self.laboratory_ids:
            branches.append(Q(laboratory_id__in=self.laboratory_ids, status__in=LAB_VISIBLE))
        if self.counsellor_establishment_id:
            branches.append(
                Q(establishment_id=self.counsellor_establishment_id) & ~Q(status=Dossier.Status.DRAFT)
            )
        return branches

    def dossiers(self) -> QuerySet[Dossier]:
        if self.everything:
            return Dossier.objects.all()
        branches = self.branches
        if not branches:
            return Dossier.objects.none()
        return Dossier.objects.filter(functools.reduce(operator.or_, branches))


def dossier_scope(user: User) -> DossierScope:
    """``user``'s scope, its memberships read in one small query (each part served by the membership's index)."""
    if not user.is_authenticated or not user.is_active:
        return DossierScope()
    # Read once per request (people.middleware), or now for a user object outside a request.
    memo = user._memo()
    if memo is None:
        memo = user.read_memberships()
    ids = {
        "rcp": list(memo["rcp"]),
        "lab": list(memo["lab"]),
        "assisted": list(memo["assists"]),
        "assistant": list(memo["assisted_by"]),
    }
    counselling = user.has_role(Role.GENETIC_COUNSELLOR) and user.establishment_id
    # Administrators see every dossier; their memberships still count (a laboratory's withdrawn identities).
    return DossierScope(
        user_id=user.pk,
        everything=user.is_superuser or user.has_role(Role.ADMINISTRATOR),
        rcp_ids=tuple(sorted(ids["rcp"])),
        laboratory_ids=tuple(sorted(ids["lab"])),
        assisted_ids=tuple(sorted(ids["assisted"])),
        counsellor_establishment_id=user.establishment_id if counselling else None,
        assisted_by_someone=bool(ids["assistant"]),
    )


def dossiers_visible_to(user: User) -> QuerySet[Dossier]:
    """Every dossier ``user`` may see, and no other. National coordination sees aggregates only: none here."""
    return dossier_scope(user).dossiers()


def identities_hidden_q(user: User, scope: DossierScope | None = None) -> Q:
    """The dossiers whose persons ``user`` may not identify: withdrawn ones, seen from their laboratory."""
    laboratory_ids = (scope or dossier_scope(user)).laboratory_ids
    if not laboratory_ids:
        return Q(pk__in=[])  # matches nothing: excluding it keeps everything
    return Q(status=Dossier.Status.WITHDRAWN, laboratory_id__in=laboratory_ids) & ~Q(prescriber_id=user.pk)


# What a list row shows of a dossier, joined in the same query.
DOSSIER_LIST_RELATED = (
    "pre_indication_version",
    "prescriber",
    "entered_by",
    "establishment",
    "rcp",
    "laboratory",
)


def dossier_list(user: User) -> QuerySet[Dossier]:
    return dossiers_visible_to(user).select_related(*DOSSIER_LIST_RELATED)


# What every screen of a dossier reads of its collections (its persons, clinic, documents and the documents
# its pre-indication expects), loaded with it in its one query (prescriptions.folding).
DETAIL_FOLDS = [
    Fold("persons", related=("patient",)),
    Fold("phenotypes", related=("term",), order=("-present", "term_id")),
    Fold("prior_tests", order=("performed_on", "id")),
    Fold("documents", related=("expected",), order=("uploaded_at", "id")),
    Fold("documents", on="pre_indication_version", order=("position",)),
]


def _detail(user: User, folds: list[Fold] = DETAIL_FOLDS, **lookup) -> Dossier:
    if user.is_authenticated and "_memberships" not in user.__dict__:
        user.load_memberships()
    queryset = dossier_list(user).select_related(
        "pre_indication_version__pre_indication",
        "suspected_diagnosis",
        "establishment__department__region",  # the laboratory's territory, the sample types of overseas
    )
    return unfold(fold(queryset, folds).get(**lookup), folds)


def dossier_detail(user: User, pk: int) -> Dossier:
    """The dossier with its collections, or Dossier.DoesNotExist (a 404) if ``user`` may not see it. The
    user's memberships are read once for the rules the screen will ask (``User.load_memberships``)."""
    return _detail(user, pk=pk)


def dossier_by_reference(user: User, reference: str, *, whole: bool = False) -> Dossier:
    """``dossier_detail`` by the dossier's reference, which the API and the FHIR export name it by. ``whole``:
    with the collections the other apps register for the dossier's page too (its decisions, samples,
    consents…), for a reader of the whole dossier (the FHIR export)."""
    return _detail(user, dossier_folds(DETAIL_FOLDS) if whole else DETAIL_FOLDS, reference=reference)


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


def prescribable_versions(query: str = "", *, with_details: bool = True) -> list[PreIndicationVersion]:
    """The versions in force today that may be prescribed, by category then filière then name (with their
    documents and RCP-FMG bodies unless ``with_details`` is false: a filter's options need only the names)."""
    today = timezone.localdate()
    versions = (
        PreIndicationVersion.objects.filter(effective_from__lte=today, status__in=["active", "extended"])
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=today))
        .select_related("pre_indication")
    )
    if with_details:
        versions = versions.prefetch_related("documents", "pre_indication__rcp_bodies")
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
    return Patient.objects.filter(
        pk__in=DossierPerson.objects.filter(dossier__in=visible).values("patient_id")
    )


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


class PatientSearchName(models.Func):
    """A person's names as searched: birth name, used name and first names, lower case and without accents.

    On PostgreSQL, ``pfmg_search_name`` (an IMMUTABLE wrapper of ``unaccent``, created by the migration that
    adds its trigram GIN index) is computed by the database: nothing stores it, so bulk loaders fill nothing
    more. Elsewhere (SQLite) the names are only lowered: accents then count."""

    function = "pfmg_search_name"
    output_field = models.TextField()

    def __init__(self, prefix: str = "") -> None:
        super().__init__(
            *(models.F(f"{prefix}{name}") for name in ("birth_name", "used_name", "first_names"))
        )

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            template="LOWER(%(expressions)s)",
            arg_joiner=" || ' ' || ",
            **extra,
        )


# What PostgreSQL's unaccent writes for the letters NFKD does not decompose.
_LIGATURES = str.maketrans({"œ": "oe", "æ": "ae", "ß": "ss", "ø": "o", "đ": "d", "ł": "l"})


def search_words(text: str, *, unaccent: bool = True) -> list[str]:
    """The words of a name search as ``PatientSearchName`` holds them: lower case, without accents where the
    database removes them too; hyphens and apostrophes separate words (« Jean-Pierre » finds « JEAN PIERRE »)."""
    plain = text.lower()
    if unaccent:
        decomposed = unicodedata.normalize("NFKD", plain.translate(_LIGATURES))
        plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return [w for w in re.split(r"[\s'’\-]+", plain) if w]


def _name_search_q(words: list[str]) -> Q:
    """The dossiers one of whose persons bears every word, from the trigram index's persons to their dossiers."""
    patients = Patient.objects.alias(search_name=PatientSearchName())
    for word in words:
        patients = patients.filter(search_name__contains=word)
    return Q(pk__in=DossierPerson.objects.filter(patient__in=patients.values("pk")).values("dossier_id"))


def dossier_search_q(user: User, query: str, scope: DossierScope | None = None) -> Q:
    """The dossiers a home-list search finds: by the name of one of their persons (every word found in the
    birth name, used name or first names, without accents or case), by a person's INS (exact), or by the
    dossier's reference (its beginning, any case). A withdrawn dossier's persons are hidden from its laboratory:
    a search by name or INS must not reveal them there; its reference still finds it.

    Each part is one an index serves: the trigram index on the names (PostgreSQL), the INS's unique index
    (resolved to the few dossier ids first), the reference's pattern index."""
    scope = scope or dossier_scope(user)
    compact = re.sub(r"\s+", "", query).upper()
    has_digit = any(c.isdigit() for c in compact)
    # A reference (PFMG-2026-…) or an INS (15 characters, digits but for Corsica's 2A/2B) is looked up as such
    # only: OR'ed with a name search, it would keep PostgreSQL from serving either by its index.
    reference_like = bool(re.fullmatch(r"PFMG[-\d]*", compact))
    ins_like = bool(re.fullmatch(r"[\dAB]{13,15}", compact)) and sum(c.isdigit() for c in compact) >= 11
    identity = Q(pk__in=[])
    words = (
        [] if reference_like or ins_like else search_words(query, unaccent=connection.vendor == "postgresql")
    )
    if words:
        identity |= _name_search_q(words)
    if has_digit and not reference_like:
        by_ins = DossierPerson.objects.filter(patient__ins=compact).values_list("dossier_id", flat=True)
        identity |= Q(pk__in=list(by_ins))
    found = identity & ~identities_hidden_q(user, scope)
    if reference_like:
        found |= Q(reference__startswith=compact)
    return found


# The national aggregates: a COUNT over every dossier (2.35 million at the plan's scale) is too dear for each view
# of a page, and steering does not need them to the second. Counted by a beat task every
# NATIONAL_COUNTS_REFRESH_SECONDS (prescriptions.tasks.refresh_national_counts) into the shared cache; a view
# counts only when the cache holds nothing (a cold start, or a cache restarted).
NATIONAL_COUNTS_KEY = "prescriptions:national-status-counts"


def national_status_counts(*, refresh: bool = False) -> tuple[dict[str, int], dt.datetime]:
    """Dossiers per status across the nation, and when they were counted."""
    cached = None if refresh else cache.get(NATIONAL_COUNTS_KEY)
    if cached is None:
        counts = dict(Dossier.objects.values_list("status").annotate(n=Count("id")).order_by())
        cached = {"counts": counts, "at": timezone.now()}
        # Kept past two missed refreshes: a late beat never leaves the page without figures.
        cache.set(NATIONAL_COUNTS_KEY, cached, timeout=3 * settings.NATIONAL_COUNTS_REFRESH_SECONDS)
    return cached["counts"], cached["at"]
