"""The export to the national data centre (CAD, collecteur analyseur de données), pseudonymised.

It reads ``selectors.research_cohort`` and nothing else: a person who objected to research reuse, or withdrew
it, or withdrew their whole consent, is never in it, whichever way the data leave."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from rest_framework import permissions, serializers, viewsets

from prescriptions.models import DossierPerson

from .rules import export_research
from .selectors import research_cohort


def pseudonym(person: DossierPerson) -> str:
    """A stable pseudonym of the person in this dossier: the same on every export, not reversible without the key."""
    message = f"{person.dossier.reference}:{person.pk}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()[:24]


class ResearchRecordSerializer(serializers.Serializer):
    """No identity: the pseudonym, the year of birth, sex, place in the family, pre-indication and phenotype."""

    pseudonym = serializers.SerializerMethodField()
    dossier = serializers.CharField(source="dossier.reference")
    pre_indication = serializers.CharField(source="dossier.pre_indication_version.pre_indication.slug")
    pre_indication_version = serializers.IntegerField(source="dossier.pre_indication_version.number")
    relationship = serializers.CharField()
    affected = serializers.CharField()
    sex = serializers.CharField(source="patient.sex")
    year_of_birth = serializers.SerializerMethodField()
    hpo_present = serializers.SerializerMethodField()

    def get_pseudonym(self, person) -> str:
        return pseudonym(person)

    def get_year_of_birth(self, person) -> int | None:
        born = person.patient.date_of_birth
        return born.year if born else None

    def get_hpo_present(self, person) -> list[str]:
        if person.relationship != DossierPerson.Relationship.INDEX:
            return []
        return [p.term_id for p in person.dossier.phenotypes.all() if p.present]


class MayExportResearch(permissions.BasePermission):
    message = (
        "Réservé au collecteur analyseur de données (permission « export_research ») et aux administrateurs."
    )

    def has_permission(self, request, view) -> bool:
        return bool(export_research.test(request.user))


class ResearchExportViewSet(viewsets.ReadOnlyModelViewSet):
    """Pseudonymised records of the persons whose data may go to research, for the national data centre."""

    serializer_class = ResearchRecordSerializer
    permission_classes = [permissions.IsAuthenticated, MayExportResearch]
    lookup_field = "pk"

    def get_queryset(self):
        return research_cohort()


def export_rows() -> list[dict]:
    """The same records, for the ``export_research`` command."""
    return [dict(ResearchRecordSerializer(person).data) for person in research_cohort()]
