from rest_framework import serializers, viewsets

from .models import PreIndication, PreIndicationDocument, PreIndicationVersion


class DocumentSerializer(serializers.ModelSerializer):
    class Meta:
        model = PreIndicationDocument
        fields = ["label", "required"]


class VersionSerializer(serializers.ModelSerializer):
    documents = DocumentSerializer(many=True, read_only=True)
    merged_into = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)

    class Meta:
        model = PreIndicationVersion
        fields = [
            "number",
            "name",
            "filiere",
            "validation_year",
            "status",
            "merged_into",
            "conditional",
            "presentation",
            "criteria",
            "genome_place",
            "documents",
            "family_structures",
            "trio_mandatory",
            "trio_exceptions",
            "sample_types",
            "sources",
            "effective_from",
            "effective_to",
        ]


class PreIndicationSerializer(serializers.ModelSerializer):
    versions = VersionSerializer(many=True, read_only=True)
    rcp_bodies = serializers.StringRelatedField(many=True, read_only=True)

    class Meta:
        model = PreIndication
        fields = ["slug", "category", "rcp_bodies", "versions"]


class PreIndicationViewSet(viewsets.ReadOnlyModelViewSet):
    """The pre-indication catalogue, every version with its effective dates (the latest last)."""

    serializer_class = PreIndicationSerializer
    lookup_field = "slug"
    queryset = PreIndication.objects.prefetch_related(
        "rcp_bodies", "versions__documents", "versions__merged_into"
    ).order_by("slug")
    filterset_fields = None
