"""The API of the prescriptions app: the pre-indication catalogue and the dossiers (list, detail, creation,
transitions). Scope and rules are the pages': ``selectors`` and ``rules``, never a copy."""

from contextlib import contextmanager

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from people.models import User
from pfmg.pagination import keyset_page

from . import drafting, selectors
from .api_transitions import ReasonSerializer, api_transition, refusal_body, refusal_status
from .api_transitions import registered as registered_transitions
from .models import (
    Dossier,
    FamilyStructure,
    OnsetAge,
    PreIndication,
    PreIndicationDocument,
    PreIndicationVersion,
    TrioException,
)
from .rules import identities_hidden
from .services import EDITABLE_STATES, TRANSITION_NAMES, actions_for

API_PAGE_SIZE = 50


class DocumentSerializer(serializers.ModelSerializer):
    # The id is what a document upload names as ``expected``: without it, a program could not say which
    # document of the fiche it provides.
    class Meta:
        model = PreIndicationDocument
        fields = ["id", "label", "required"]


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


# --- Dossiers ---------------------------------------------------------------------------------------------


def dossier_for(request, reference: str) -> Dossier:
    """The dossier ``reference`` as ``request.user`` may see it, or a 404: the same selector as the pages."""
    try:
        return selectors.dossier_by_reference(request.user, reference)
    except Dossier.DoesNotExist:
        raise NotFound(_("Dossier inconnu ou hors de votre périmètre.")) from None


class PersonSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    relationship = serializers.CharField()
    affected = serializers.CharField()
    to_be_sequenced = serializers.BooleanField()
    birth_name = serializers.CharField(source="patient.birth_name", allow_null=True)
    used_name = serializers.CharField(source="patient.used_name", allow_null=True)
    first_names = serializers.CharField(source="patient.first_names", allow_null=True)
    sex = serializers.CharField(source="patient.sex", allow_null=True)
    date_of_birth = serializers.DateField(source="patient.date_of_birth", allow_null=True)
    ins = serializers.CharField(source="patient.ins", allow_null=True)


class ActionSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    allowed = serializers.BooleanField()
    reasons = serializers.ListField(child=serializers.CharField())
    reason_required = serializers.BooleanField()


class DossierSerializer(serializers.Serializer):
    """A dossier as a list shows it: no identity, no clinical content."""

    reference = serializers.CharField()
    status = serializers.ChoiceField(choices=Dossier.Status.choices)
    status_label = serializers.CharField(source="get_status_display")
    status_since = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    pre_indication = serializers.CharField(source="pre_indication_version.pre_indication.slug")
    pre_indication_version = serializers.IntegerField(source="pre_indication_version.number")
    prescriber = serializers.CharField(source="prescriber.username")
    entered_by = serializers.CharField(source="entered_by.username")
    establishment = serializers.CharField(source="establishment.finess", allow_null=True)
    rcp = serializers.IntegerField(source="rcp_id", allow_null=True)
    laboratory = serializers.CharField(source="laboratory.code", allow_null=True, default=None)
    handed_over_at = serializers.DateTimeField(allow_null=True)
    attested_at = serializers.DateTimeField(allow_null=True)


class RcpChoiceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class DossierDetailSerializer(DossierSerializer):
    """A dossier with its draft's content, its persons (none for whoever may not identify them) and the actions
    the requesting user may take now, each with what it still lacks."""

    criteria_checklist = serializers.JSONField()
    family_structure = serializers.CharField()
    trio_exception = serializers.CharField()
    trio_exception_reason = serializers.CharField()
    age_at_onset = serializers.CharField()
    clinical_summary = serializers.CharField()
    suspected_diagnosis = serializers.CharField(
        source="suspected_diagnosis.pk", allow_null=True, default=None
    )
    steps_done = serializers.ListField(child=serializers.CharField())
    persons = serializers.SerializerMethodField()
    actions = serializers.SerializerMethodField()
    allowed_rcps = serializers.SerializerMethodField(
        help_text=gettext_lazy(
            "Les RCP-FMG auxquelles le dossier peut être soumis (action submit, champ rcp), tant qu'il est "
            "modifiable ; vide ensuite."
        )
    )

    @extend_schema_field(RcpChoiceSerializer(many=True))
    def get_allowed_rcps(self, dossier) -> list:
        if dossier.status not in EDITABLE_STATES:
            return []
        return RcpChoiceSerializer(selectors.allowed_rcps(dossier.pre_indication_version), many=True).data

    @extend_schema_field(PersonSummarySerializer(many=True))
    def get_persons(self, dossier) -> list:
        if identities_hidden.test(self.context["request"].user, dossier):
            return []
        return PersonSummarySerializer(dossier.persons.all(), many=True).data

    @extend_schema_field(ActionSerializer(many=True))
    def get_actions(self, dossier) -> list:
        return ActionSerializer(actions_for(dossier, self.context["request"].user), many=True).data


class DossierCreateSerializer(serializers.Serializer):
    pre_indication = serializers.SlugField(help_text=_("La pré-indication (slug du catalogue)."))
    prescriber = serializers.CharField(
        required=False,
        help_text=_(
            "L'identifiant du prescripteur pour qui la prescription est saisie (par défaut : soi-même)."
        ),
    )
    criteria_checklist = serializers.ListField(child=serializers.DictField(), required=False)

    def validate_pre_indication(self, slug: str) -> PreIndicationVersion:
        pre_indication = PreIndication.objects.filter(slug=slug).first()
        if pre_indication is None:
            raise serializers.ValidationError(_("Pré-indication inconnue : « %(slug)s ».") % {"slug": slug})
        # The version in force today, as the prescribing page offers it (not merely the latest written).
        version = pre_indication.current_version()
        if version is None or not version.is_prescribable:
            raise serializers.ValidationError(_("Cette pré-indication n'est plus ouverte à la prescription."))
        return version

    def validate_prescriber(self, username: str) -> User:
        prescriber = User.objects.filter(username=username, is_active=True).first()
        if prescriber is None:
            raise serializers.ValidationError(_("Prescripteur inconnu : « %(u)s ».") % {"u": username})
        return prescriber


STATUS_FILTER = OpenApiParameter(
    "status", str, enum=list(Dossier.Status.values), description="Les dossiers à ce statut."
)
LIST_PARAMETERS = [
    STATUS_FILTER,
    OpenApiParameter("pre_indication", str, description="Les dossiers de cette pré-indication (slug)."),
    OpenApiParameter("laboratory", str, description="Les dossiers routés vers ce laboratoire (code)."),
    OpenApiParameter(
        "q",
        str,
        description="Recherche : référence (ou son début), INS, ou nom et prénoms d'une personne du dossier.",
    ),
    OpenApiParameter("cursor", str, description="La page suivante ou précédente (liens next / previous)."),
]
API_ORDER = ("-updated_at", "-pk")


@extend_schema_serializer(many=False)  # the list answers one page object, not an array of them
class DossierPageSerializer(serializers.Serializer):
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = DossierSerializer(many=True)


class TransitionErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    reasons = serializers.ListField(child=serializers.CharField(), required=False)


# A 400: {"detail": "…"} for a refusal, or the refused fields each with their messages.
FIELD_ERRORS = OpenApiResponse(
    OpenApiTypes.OBJECT, description='Ce qui est refusé : {"detail": …} ou les champs et leurs messages.'
)
REFUSAL = OpenApiResponse(TransitionErrorSerializer, description="Refus, avec son motif.")
WRITE_ERRORS = {400: FIELD_ERRORS, 403: REFUSAL, 404: REFUSAL, 409: REFUSAL}


class CriterionAnswerSerializer(serializers.Serializer):
    criterion = serializers.CharField(help_text=_("Le critère, tel que la fiche le libelle."))
    met = serializers.BooleanField(allow_null=True)
    justification = serializers.CharField(required=False, allow_blank=True, default="")


class DossierPatchSerializer(serializers.Serializer):
    """What the pre-indication, family and clinical steps hold of the dossier itself. Each step present in
    the body is validated whole, by its page's form, with the dossier's stored values for what is not sent."""

    pre_indication = serializers.SlugField(
        required=False, help_text=_("Tant que le dossier est un brouillon.")
    )
    criteria_checklist = CriterionAnswerSerializer(many=True, required=False)
    family_structure = serializers.ChoiceField(choices=FamilyStructure.choices, required=False)
    trio_exception = serializers.ChoiceField(
        choices=[("", ""), *TrioException.choices], required=False, allow_blank=True
    )
    trio_exception_reason = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    age_at_onset = serializers.ChoiceField(
        choices=[("", ""), *OnsetAge.choices], required=False, allow_blank=True
    )
    clinical_summary = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    suspected_diagnosis = serializers.CharField(
        required=False, allow_blank=True, max_length=300, help_text=_("Un code ORPHA (ORPHA:558), ou vide.")
    )


def _transition_bodies() -> list:
    """Every body a transition takes: a reason, or what the transition's screen asks (registered by its app)."""
    bodies = {ReasonSerializer, *(t.serializer for t in registered_transitions().values())}
    return sorted(bodies, key=lambda serializer: serializer.__name__)


# One of the bodies, by the transition named in the path: the schema lists them all (evaluated when the schema is
# generated, once every app has registered its transitions).
TRANSITION_BODY = PolymorphicProxySerializer(
    component_name="TransitionBody", serializers=_transition_bodies, resource_type_field_name=None
)


class DossierViewSet(viewsets.GenericViewSet):
    """Dossiers, each named by its reference. The list is the user's scope (the same selector as the pages),
    newest activity first, by cursor: a page costs the same at the first page and deep down, with 10,000
    dossiers or two million (``pfmg.pagination``)."""

    lookup_field = "reference"
    lookup_value_regex = r"[A-Za-z0-9-]{1,20}"
    serializer_class = DossierSerializer
    pagination_class = None

    def get_queryset(self):  # the schema generator's; every action below reads through the selectors
        return Dossier.objects.none()

    @extend_schema(
        parameters=LIST_PARAMETERS, responses={200: DossierPageSerializer, 400: TransitionErrorSerializer}
    )
    def list(self, request: Request) -> Response:
        for name in ("status", "pre_indication", "laboratory", "q", "cursor"):
            if "\x00" in request.query_params.get(
                name, ""
            ):  # PostgreSQL refuses it in a query: a 400, not a 500
                raise ValidationError(
                    {"detail": _("Caractère nul dans le paramètre « %(p)s ».") % {"p": name}}
                )
        user = request.user
        scope = selectors.dossier_scope(user)
        dossiers = scope.dossiers()
        status_filter = request.query_params.get("status", "")
        if status_filter:
            if status_filter not in Dossier.Status.values:
                raise ValidationError({"detail": _("Statut inconnu : « %(s)s ».") % {"s": status_filter}})
            dossiers = dossiers.filter(status=status_filter)
        if pre_indication := request.query_params.get("pre_indication", ""):
            dossiers = dossiers.filter(pre_indication_version__pre_indication__slug=pre_indication)
        if laboratory := request.query_params.get("laboratory", ""):
            dossiers = dossiers.filter(laboratory__code=laboratory)
        if query := request.query_params.get("q", "").strip():
            dossiers = dossiers.filter(selectors.dossier_search_q(user, query, scope))
        # The page's keys first (and the status, which the state machine reads as it loads a dossier), then its
        # rows with what they show: the eight joins of a row in the same query
        # as the scope's union pass PostgreSQL's join_collapse_limit, and it then joins every dossier of the
        # table before keeping the page's (90 ms at 10,000 dossiers instead of 1).
        page = keyset_page(
            dossiers.only("pk", "updated_at", "status"),
            order=API_ORDER,
            cursor=request.query_params.get("cursor"),
            size=API_PAGE_SIZE,
            branches=scope.branches,
        )
        rows = Dossier.objects.select_related(
            *selectors.DOSSIER_LIST_RELATED, "pre_indication_version__pre_indication"
        ).in_bulk([d.pk for d in page.object_list])
        page.object_list = [rows[d.pk] for d in page.object_list]
        links = {}
        for name, cursor in (("next", page.next_cursor), ("previous", page.previous_cursor)):
            links[name] = None
            if cursor:
                query_string = request.query_params.copy()
                query_string["cursor"] = cursor
                links[name] = request.build_absolute_uri(f"{request.path}?{query_string.urlencode()}")
        return Response({**links, "results": DossierSerializer(page.object_list, many=True).data})

    @extend_schema(responses={200: DossierDetailSerializer})
    def retrieve(self, request: Request, reference: str) -> Response:
        dossier = dossier_for(request, reference)
        return Response(DossierDetailSerializer(dossier, context={"request": request}).data)

    @extend_schema(
        request=DossierCreateSerializer,
        responses={
            201: DossierDetailSerializer,
            400: FIELD_ERRORS,
            403: TransitionErrorSerializer,
        },
    )
    def create(self, request: Request) -> Response:
        body = DossierCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = body.validated_data["pre_indication"]
        checklist = body.validated_data.get("criteria_checklist") or drafting.checklist_for(version)
        with refusals():
            dossier = drafting.start_prescription(
                author=request.user,
                prescriber=body.validated_data.get("prescriber", request.user),
                version=version,
                checklist=checklist,
            )
        dossier = dossier_for(request, dossier.reference)
        return Response(
            DossierDetailSerializer(dossier, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )

    @extend_schema(
        request=DossierPatchSerializer,
        responses={200: DossierDetailSerializer, **WRITE_ERRORS},
        description=(
            "Modify a draft (or a dossier awaiting more information): pre-indication and criteria, family "
            "structure and trio exception, age at onset, clinical summary, suspected diagnosis. Each step "
            "present in the body is validated whole, by its page's form, with the stored values for the rest."
        ),
    )
    def partial_update(self, request: Request, reference: str) -> Response:
        from .apis_drafting import partial_update

        return partial_update(request, reference)

    @extend_schema(
        request=None,
        responses={200: DossierDetailSerializer, **WRITE_ERRORS},
        description=(
            "The prescription assistant hands the prepared draft to the prescriber, who attests and submits it."
        ),
    )
    @action(detail=True, methods=["post"], url_path="hand-over", url_name="hand-over")
    def hand_over(self, request: Request, reference: str) -> Response:
        from .apis_drafting import hand_over

        return hand_over(request, reference)

    @extend_schema(
        request=TRANSITION_BODY,
        parameters=[
            OpenApiParameter(
                "name", str, OpenApiParameter.PATH, enum=sorted(TRANSITION_NAMES), description="L'action."
            )
        ],
        responses={
            200: DossierDetailSerializer,
            400: FIELD_ERRORS,
            403: TransitionErrorSerializer,
            409: TransitionErrorSerializer,
        },
        description=(
            "Fire a transition of the dossier's state machine. The body is a reason, for most; the actions "
            "that have their own screen take what that screen asks (see each one's description in the "
            "README): 400 names the condition that failed, 403 says whose action it is, 409 means the "
            "dossier changed meanwhile."
        ),
    )
    @action(
        detail=True, methods=["post"], url_path=r"transitions/(?P<name>[a-z_]{1,40})", url_name="transition"
    )
    def transition(self, request: Request, reference: str, name: str) -> Response:
        dossier = dossier_for(request, reference)
        if name not in TRANSITION_NAMES:
            raise NotFound(_("« %(name)s » n'est pas une action sur un dossier.") % {"name": name})
        handling = api_transition(name)
        body = handling.serializer(data=request.data, context={"request": request, "dossier": dossier})
        body.is_valid(raise_exception=True)
        with refusals():
            handling.handler(
                dossier=dossier,
                actor=request.user,
                data={**body.validated_data, "_name": name},
                request=request,
            )
        dossier = dossier_for(request, reference)
        return Response(DossierDetailSerializer(dossier, context={"request": request}).data)


class Refused(APIException):
    """A service's refusal, answered with its status and ``{"detail": …, "reasons": […]}``."""

    def __init__(self, exc: Exception, http_status: int) -> None:
        self.status_code = http_status
        super().__init__(detail=refusal_body(exc))


@contextmanager
def refusals():
    """A service's refusal (a transition refused, a conflict, a permission) as the API's 400/403/409 with its
    message and, when it names them, what is missing (``reasons``)."""
    try:
        yield
    except Exception as exc:
        http_status = refusal_status(exc)
        if http_status is None:
            raise
        raise Refused(exc, http_status) from exc
