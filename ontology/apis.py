from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from . import selectors
from .models import HpoTerm, OrphaDisease

# An autocomplete needs a handful of answers; more would only cost the server.
MAX_LIMIT = 50


# Typed here: a bare JSONField leaves the schema without a type.
def _string_list() -> serializers.ListField:
    return serializers.ListField(child=serializers.CharField(), read_only=True)


class HpoTermSerializer(serializers.ModelSerializer):
    synonyms = _string_list()

    class Meta:
        model = HpoTerm
        fields = ["id", "name", "synonyms"]


class HpoTermDetailSerializer(serializers.ModelSerializer):
    synonyms = _string_list()
    alt_ids = _string_list()
    consider = _string_list()

    class Meta:
        model = HpoTerm
        fields = [
            "id",
            "name",
            "definition",
            "synonyms",
            "alt_ids",
            "is_obsolete",
            "replaced_by",
            "consider",
            "is_phenotypic_abnormality",
        ]


class OrphaDiseaseSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrphaDisease
        fields = ["id", "name"]


def _limit(request: Request) -> int:
    try:
        return max(1, min(int(request.query_params.get("limit", 20)), MAX_LIMIT))
    except ValueError:
        return 20


def _search_parameters(example: str) -> list[OpenApiParameter]:
    return [
        OpenApiParameter(
            "q",
            OpenApiTypes.STR,
            description=f"Identifiant ({example}) ou mots, sans casse ni accents ; moins de "
            f"{selectors.MIN_QUERY_LENGTH} caractères : liste vide.",
        ),
        OpenApiParameter(
            "limit", OpenApiTypes.INT, description=f"Nombre de résultats (20 ; {MAX_LIMIT} au plus)."
        ),
    ]


# An autocomplete, not a browsable list: the best matches in rank order, unpaginated.
class HpoTermViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """HPO terms: search (current terms only) and detail by id (obsolete terms too, with their replacement)."""

    queryset = HpoTerm.objects.all()
    lookup_value_regex = r"HP:\d{7}"
    pagination_class = None

    def get_serializer_class(self):
        return HpoTermDetailSerializer if self.action == "retrieve" else HpoTermSerializer

    @extend_schema(parameters=_search_parameters("HP:0001250"))
    def list(self, request: Request) -> Response:
        terms = selectors.search_hpo(request.query_params.get("q", ""), limit=_limit(request))
        return Response(HpoTermSerializer(terms, many=True).data)


class OrphaDiseaseViewSet(mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """ORPHA diseases: search and detail by code."""

    queryset = OrphaDisease.objects.all()
    serializer_class = OrphaDiseaseSerializer
    lookup_value_regex = r"ORPHA:\d+"
    pagination_class = None

    @extend_schema(parameters=_search_parameters("ORPHA:558"))
    def list(self, request: Request) -> Response:
        diseases = selectors.search_orpha(request.query_params.get("q", ""), limit=_limit(request))
        return Response(OrphaDiseaseSerializer(diseases, many=True).data)
