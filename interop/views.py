"""The FHIR R4 read routes: a dossier as a Bundle, and each of its resources by id. Read-only,
``application/fhir+json``, authenticated and scoped as the API (token or session; ``bundle.dossier_for_export``).
Every refusal is an OperationOutcome: 401 without valid credentials, 404 for what is unknown or out of scope (no 403:
whoever is signed in may ask, and what they may not see does not exist for them)."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from prescriptions.models import Dossier

from .bundle import default_base, dossier_bundle, dossier_for_export, resource_in
from .ids import ID_PATTERN, split_id

MEDIA_TYPE = "application/fhir+json"

# The types a dossier's Bundle holds, each readable alone.
RESOURCE_TYPES = (
    "Patient",
    "RelatedPerson",
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "ServiceRequest",
    "Observation",
    "Condition",
    "Consent",
    "Specimen",
    "Task",
    "DiagnosticReport",
    "Provenance",
)


class FhirJsonRenderer(JSONRenderer):
    media_type = MEDIA_TYPE
    format = "fhir"


class FhirNegotiation(BaseContentNegotiation):
    """FHIR JSON whatever the client's Accept header says (``application/json``, ``*/*``…): there is no other."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


# OperationOutcome issue types (http://hl7.org/fhir/issue-type) per HTTP status.
ISSUE_CODES = {
    status.HTTP_400_BAD_REQUEST: "invalid",
    status.HTTP_401_UNAUTHORIZED: "login",
    status.HTTP_403_FORBIDDEN: "forbidden",
    status.HTTP_404_NOT_FOUND: "not-found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "not-supported",
    status.HTTP_406_NOT_ACCEPTABLE: "not-supported",
}


def operation_outcome(status_code: int, diagnostics: str) -> dict:
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": ISSUE_CODES.get(status_code, "processing"),
                "diagnostics": diagnostics,
            }
        ],
    }


OPERATION_OUTCOME = inline_serializer(
    "OperationOutcome",
    fields={
        "resourceType": serializers.RegexField(r"^OperationOutcome$"),
        "issue": serializers.ListField(
            child=inline_serializer(
                "OperationOutcomeIssue",
                fields={
                    "severity": serializers.ChoiceField(choices=["fatal", "error", "warning", "information"]),
                    "code": serializers.CharField(),
                    "diagnostics": serializers.CharField(required=False),
                },
            ),
            min_length=1,
        ),
    },
)
ERRORS = {
    401: OpenApiResponse(
        OPERATION_OUTCOME, description="Jeton ou session absent, inconnu, expiré ou révoqué."
    ),
    404: OpenApiResponse(
        OPERATION_OUTCOME,
        description="Dossier ou ressource inconnu, hors du périmètre de l'utilisateur, ou dossier retiré dont "
        "le laboratoire ne doit pas identifier les personnes.",
    ),
}


class FhirView(APIView):
    """Read-only, FHIR JSON for answers and refusals alike; the API's authentication and permission classes."""

    renderer_classes = [FhirJsonRenderer]
    content_negotiation_class = FhirNegotiation
    http_method_names = ["get", "head"]

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
        response.data = operation_outcome(response.status_code, str(detail))
        return response

    def base(self, request) -> str:
        if settings.FHIR_BASE_URL:
            return default_base()
        root = reverse("fhir:bundle", kwargs={"reference": "-"}).rsplit("/Bundle/", 1)[0]
        return request.build_absolute_uri(root)

    def bundle_of(self, request, reference: str) -> dict:
        try:
            dossier = dossier_for_export(request.user, reference)
        except Dossier.DoesNotExist:
            raise exceptions.NotFound(_("Dossier inconnu ou hors de votre périmètre.")) from None
        return dossier_bundle(dossier, user=request.user, base=self.base(request))

    def answer(self, data: dict) -> Response:
        response = Response(data)
        response["Cache-Control"] = "private, no-store"
        return response


class BundleView(FhirView):
    @extend_schema(
        operation_id="fhir_bundle_read",
        summary="Un dossier en Bundle FHIR R4 (collection)",
        description="Le dossier nommé par sa référence, avec toutes ses ressources (patients, demandes, "
        "phénotypes, consentements, prélèvements, décision de RCP, compte rendu signé et sa signature).",
        tags=["FHIR R4"],
        parameters=[
            OpenApiParameter(
                "reference",
                str,
                OpenApiParameter.PATH,
                description="La référence du dossier (PFMG-2026-000123).",
                pattern=ID_PATTERN,
            )
        ],
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="Bundle FHIR R4."), **ERRORS},
    )
    def get(self, request, reference: str):
        return self.answer(self.bundle_of(request, reference))


class ResourceView(FhirView):
    @extend_schema(
        operation_id="fhir_resource_read",
        summary="Une ressource FHIR R4 d'un dossier, par son id",
        description="La même ressource que l'entrée du Bundle du dossier dont l'id commence par la référence.",
        tags=["FHIR R4"],
        parameters=[
            OpenApiParameter("resource_type", str, OpenApiParameter.PATH, enum=list(RESOURCE_TYPES)),
            OpenApiParameter(
                "id",
                str,
                OpenApiParameter.PATH,
                description="L'id de la ressource : « <référence du dossier>.<type>-<numéro> ».",
                pattern=ID_PATTERN,
            ),
        ],
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description="Ressource FHIR R4."), **ERRORS},
    )
    def get(self, request, resource_type: str, id: str):  # noqa: A002 - FHIR's name
        parts = split_id(id)
        if resource_type not in RESOURCE_TYPES or parts is None:
            raise exceptions.NotFound(_("Ressource inconnue."))
        resource = resource_in(self.bundle_of(request, parts[0]), resource_type, id)
        if resource is None:
            raise exceptions.NotFound(_("Ressource inconnue."))
        return self.answer(resource)
