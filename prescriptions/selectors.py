"""Reads of dossiers, always scoped to the user who asks."""

from django.db.models import Q, QuerySet

from people.models import Role, User

from .models import Dossier, DossierEvent

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


def dossier_list(user: User) -> QuerySet[Dossier]:
    return dossiers_visible_to(user).select_related(
        "pre_indication_version", "prescriber", "establishment", "rcp", "laboratory"
    )


def dossier_detail(user: User, pk: int) -> Dossier:
    """The dossier with what its page shows, or Dossier.DoesNotExist (a 404) if ``user`` may not see it."""
    return (
        dossier_list(user)
        .prefetch_related("persons__patient", "pre_indication_version__documents")
        .get(pk=pk)
    )


def timeline(dossier: Dossier) -> QuerySet[DossierEvent]:
    return dossier.events.select_related("actor").order_by("at", "id")
