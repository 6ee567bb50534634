"""The export to the national data centre (CAD, collecteur analyseur de données), pseudonymised.

It reads ``selectors.research_cohort`` and nothing else: a person who objected to research reuse, or withdrew
it, or withdrew their whole consent, is never in it, whichever way the data leave."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings
from rest_framework import mixins, permissions, serializers, viewsets

from pfmg.db import replica_reads
from prescriptions.models import DossierPerson

from .rules import export_research
from .selectors import research_cohort


def keyed_pseudonym(kind: str, pk: int) -> str:
    """HMAC-SHA256 of an internal id under ``RESEARCH_PSEUDONYM_KEY``: the same on every export, neither
    reversible nor linkable to the portal's references without the key, which never leaves the portal."""
    key = settings.RESEARCH_PSEUDONYM_KEY.encode()
    return hmac.new(key, f"{kind}:{pk}".encode(), hashlib.sha256).hexdigest()[:32]


def pseudonym(person: DossierPerson) -> str:
    """The person's pseudonym (the same person in two dossiers has the same one)."""
    return keyed_pseudonym("patient", person.patient_id)


class ResearchRecordSerializer(serializers.Serializer):
    """No direct identifier (no name, INS, birth date, dossier reference nor database id): the keyed
    pseudonyms of the person and of their family (the dossier), the year of birth, sex, place in the family,
    pre-indication and phenotype."""

    pseudonym = serializers.SerializerMethodField()
    family = serializers.SerializerMethodField()
    pre_indication = serializers.CharField(source="dossier.pre_indication_version.pre_indication.slug")
    pre_indication_version = serializers.IntegerField(source="dossier.pre_indication_version.number")
    relationship = serializers.CharField()
    affected = serializers.CharField()
    sex = serializers.CharField(source="patient.sex")
    year_of_birth = serializers.SerializerMethodField()
    hpo_present = serializers.SerializerMethodField()

    def get_pseudonym(self, person) -> str:
        return pseudonym(person)

    def get_family(self, person) -> str:
        return keyed_pseudonym("dossier", person.dossier_id)

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


class ResearchExportViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Pseudonymised records of the persons whose data may go to research, for the national data centre. A list
    only: a detail route would address a record by its database id, which links it back to the portal."""

    serializer_class = ResearchRecordSerializer
    permission_classes = [permissions.IsAuthenticated, MayExportResearch]

    def get_queryset(self):
        return research_cohort()

    def list(self, request, *args, **kwargs):
        # The cohort is read from the replica when there is one: an export tolerates a little replication lag.
        with replica_reads():
            return super().list(request, *args, **kwargs)


def export_rows() -> list[dict]:
    """The same records, for the ``export_research`` command."""
    rows = [dict(ResearchRecordSerializer(person).data) for person in research_cohort()]
    # Ordered by pseudonym, not by reference: the order of the file says nothing of the dossiers' order.
    return sorted(rows, key=lambda row: (row["family"], row["pseudonym"]))
