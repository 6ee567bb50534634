"""The API of the RCP-FMG: its bodies and their queues, meetings (agenda, attendance, minutes) and the decisions
on a dossier. Scope and rules are the pages' (``selectors``, ``rules``), every write is a service's; a refusal
is the service's own message (``RcpNotPermitted``: 403, any other ``RcpRefused``: 400).

The decisions themselves are transitions of the dossier (``POST /api/v1/dossiers/{reference}/transitions/
validate/``…): ``DecisionBodySerializer`` and ``decide`` are registered for them from ``RcpConfig.ready``. A
postponement changes no status: it is recorded with ``POST /api/v1/dossiers/{reference}/decisions/``
(``kind=postpone``), as the decision screen records it."""

from __future__ import annotations

from django.db.models import Count
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_serializer,
)
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from people.models import RcpBody, RcpMembership
from pfmg.pagination import keyset_page
from prescriptions.apis import API_PAGE_SIZE, TransitionErrorSerializer, dossier_for, refusals
from prescriptions.models import Dossier
from prescriptions.selectors import dossiers_visible_to

from . import pdf, rules, selectors, services
from .forms import plausible_meeting_date
from .models import Decision, DownstreamConclusion, Meeting, SheetEntry

# A primary key in a URL: any run of digits reaches the view, which answers 404 for what cannot be a key
# (instead of the resolver's HTML page).
PK_PATTERN = r"-?[0-9]+"
MAX_PK = 2**31 - 1
REFERENCE_PATTERN = r"[A-Za-z0-9-]{1,20}"
MAX_AGENDA_POST = 100

# A refusal: ``detail`` (the service's message), or the body's fields, each with its errors.
BAD_REQUEST = OpenApiResponse(
    response={
        "type": "object",
        "properties": {
            "detail": {"type": "string"},
            "reasons": {"type": "array", "items": {"type": "string"}},
        },
        "additionalProperties": True,
    },
    description=gettext_lazy(
        "Refusé : « detail » dit pourquoi (le message du service), ou chaque champ du corps avec ses erreurs."
    ),
)
FORBIDDEN = OpenApiResponse(
    response=TransitionErrorSerializer,
    description=gettext_lazy("Action réservée au coordinateur et aux suppléants de la RCP-FMG."),
)


def _pk(value) -> int:
    try:
        pk = int(value)
    except (TypeError, ValueError):
        pk = 0
    if not 0 < pk <= MAX_PK:
        raise NotFound(_("Objet inconnu ou hors de votre périmètre."))
    return pk


def _links(request: Request, page) -> dict:
    """The page's ``next`` and ``previous`` addresses: the request's, with the other cursor."""
    links = {}
    for name, cursor in (("next", page.next_cursor), ("previous", page.previous_cursor)):
        links[name] = None
        if cursor:
            query = request.query_params.copy()
            query["cursor"] = cursor
            links[name] = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
    return links


MEETING_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="La séance.")
RCP_ID = OpenApiParameter("id", int, OpenApiParameter.PATH, description="La RCP-FMG.")
REFERENCE = OpenApiParameter(
    "reference", str, OpenApiParameter.PATH, pattern=f"^{REFERENCE_PATTERN}$", description="Le dossier."
)
CURSOR = OpenApiParameter(
    "cursor", str, description="La page suivante ou précédente (liens next / previous)."
)


@extend_schema_field(
    {"type": "string", "pattern": "^[0-2][0-9]:[0-5][0-9](:[0-5][0-9](\\.[0-9]{1,6})?)?$", "example": "14:00"}
)
class ClockTimeField(serializers.TimeField):
    """A time of day as ``HH:MM`` (JSON Schema's ``time`` format would demand a UTC offset a meeting has not)."""

    def __init__(self, **kwargs):
        super().__init__(format="%H:%M", **kwargs)


class UserSummarySerializer(serializers.Serializer):
    username = serializers.CharField()
    name = serializers.CharField(source="get_full_name")


# --- RCP-FMG bodies and their queues ------------------------------------------------------------------------


class RcpBodySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    city = serializers.CharField()
    scope = serializers.ChoiceField(choices=RcpBody.Scope.choices)
    function = serializers.ChoiceField(
        choices=RcpMembership.Function.choices,
        allow_null=True,
        help_text=gettext_lazy("Votre fonction dans cette RCP-FMG ; null si vous n'en êtes pas membre."),
    )


class QueueDossierSerializer(serializers.Serializer):
    """A dossier of an RCP's queue: what the queue shows, without identity."""

    reference = serializers.CharField()
    status = serializers.ChoiceField(choices=Dossier.Status.choices)
    pre_indication = serializers.CharField(source="pre_indication_version.pre_indication.slug")
    pre_indication_name = serializers.CharField(source="pre_indication_version.name")
    prescriber = serializers.CharField(source="prescriber.username")
    establishment = serializers.CharField(source="establishment.finess", allow_null=True, default=None)
    submitted_at = serializers.DateTimeField(allow_null=True)
    days_waited = serializers.IntegerField()
    overdue = serializers.BooleanField(help_text=gettext_lazy("Attente au-delà du seuil d'alerte de la RCP."))
    scheduled = serializers.BooleanField(
        help_text=gettext_lazy("Déjà inscrit à l'ordre du jour d'une séance.")
    )


class RcpQueuePageSerializer(serializers.Serializer):
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = QueueDossierSerializer(many=True)


class RcpBodyViewSet(viewsets.GenericViewSet):
    """The RCP-FMG the user belongs to (every one for an administrator), with the user's function in each."""

    serializer_class = RcpBodySerializer
    pagination_class = None
    lookup_value_regex = PK_PATTERN

    def get_queryset(self):  # the schema generator's; the actions read through the selectors
        return RcpBody.objects.none()

    @extend_schema(responses={200: RcpBodySerializer(many=True)})
    def list(self, request: Request) -> Response:
        return Response(RcpBodySerializer(selectors.rcp_bodies_visible_to(request.user), many=True).data)

    @extend_schema(parameters=[RCP_ID], responses={200: RcpBodySerializer})
    def retrieve(self, request: Request, pk: str) -> Response:
        rcp = selectors.rcp_bodies_visible_to(request.user).filter(pk=_pk(pk)).first()
        if rcp is None:
            raise NotFound(_("RCP-FMG inconnue ou dont vous n'êtes pas membre."))
        return Response(RcpBodySerializer(rcp).data)

    @extend_schema(
        parameters=[
            RCP_ID,
            OpenApiParameter(
                "q",
                str,
                description="Recherche : référence (ou son début), ou nom d'une personne du dossier.",
            ),
            CURSOR,
        ],
        responses={200: RcpQueuePageSerializer},
        description=(
            "The RCP's queue, as on its members' home page: the dossiers submitted to it awaiting a decision, "
            "the longest wait first, by cursor. Members of the RCP only (404 for anyone else)."
        ),
    )
    @action(detail=True, methods=["get"], url_path="queue", url_name="queue")
    def queue(self, request: Request, pk: str) -> Response:
        user = request.user
        rcp = selectors.rcps_of(user).filter(pk=_pk(pk)).first()
        if rcp is None:
            raise NotFound(_("RCP-FMG inconnue ou dont vous n'êtes pas membre."))
        search = request.query_params.get("q", "").strip()[:100]
        found = selectors.matching_dossiers(user, search) if search else None
        page = selectors.queue_page(
            user, [rcp], found=found, cursor=request.query_params.get("cursor"), size=API_PAGE_SIZE
        )
        return Response(
            {**_links(request, page), "results": QueueDossierSerializer(page.object_list, many=True).data}
        )


# --- Meetings -----------------------------------------------------------------------------------------------


class MeetingSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    rcp = serializers.IntegerField(source="rcp_id")
    rcp_name = serializers.CharField(source="rcp.name")
    kind = serializers.ChoiceField(choices=Meeting.Kind.choices)
    date = serializers.DateField()
    start_time = ClockTimeField()
    place = serializers.CharField()
    video_link = serializers.CharField()
    agenda_length = serializers.IntegerField(source="n_items")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


@extend_schema_serializer(many=False)  # the list action answers one page, not a list of them
class MeetingPageSerializer(serializers.Serializer):
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = MeetingSerializer(many=True)


class AgendaDecisionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Decision.Kind.choices)
    kind_label = serializers.CharField(source="get_kind_display")
    reason = serializers.CharField()
    recorded_by = serializers.CharField(source="recorded_by.username")
    recorded_at = serializers.DateTimeField()


class AgendaItemSerializer(serializers.Serializer):
    """A dossier on the agenda, with what this meeting decided on it (none yet: ``open``)."""

    reference = serializers.CharField(source="dossier.reference")
    status = serializers.ChoiceField(source="dossier.status", choices=Dossier.Status.choices)
    position = serializers.IntegerField()
    added_at = serializers.DateTimeField()
    decisions = AgendaDecisionSerializer(many=True)
    concluded = serializers.BooleanField(
        help_text=gettext_lazy("RCP d'aval : la conclusion est enregistrée.")
    )
    open = serializers.BooleanField(
        help_text=gettext_lazy("Le dossier attend encore l'avis de cette séance.")
    )


class MeetingDetailSerializer(MeetingSerializer):
    manages = serializers.BooleanField(
        help_text=gettext_lazy("Vous organisez cette séance (coordinateur ou suppléant de sa RCP-FMG).")
    )
    agenda = AgendaItemSerializer(many=True)
    present = UserSummarySerializer(many=True, source="present_members")


def _meeting(request: Request, pk, *, manage: bool = False) -> Meeting:
    """The meeting with its agenda if the user belongs to its RCP (404 otherwise); ``manage``: its
    coordinator or deputies only (404 to its other members, as the pages)."""
    try:
        meeting = selectors.meeting_detail(request.user, _pk(pk))
    except Meeting.DoesNotExist:
        raise NotFound(_("Séance inconnue ou d'une RCP-FMG dont vous n'êtes pas membre.")) from None
    if manage and not rules.manages_meeting.test(request.user, meeting):
        raise NotFound(_("Seuls le coordinateur et les suppléants de cette RCP-FMG organisent ses séances."))
    return meeting


def _detail(request: Request, meeting: Meeting) -> dict:
    """The meeting as its page shows it: agenda (each dossier with this meeting's decisions), attendance."""
    awaiting = Dossier.Status.SUBMITTED if meeting.is_upstream else Dossier.Status.REPORT_DELIVERED
    agenda = []
    for item in meeting.items.all():
        dossier = item.dossier
        item.decisions = [d for d in dossier.rcp_decisions.all() if d.meeting_id == meeting.pk]
        item.concluded = not meeting.is_upstream and getattr(dossier, "rcp_conclusion", None) is not None
        item.open = dossier.status == awaiting and not item.decisions and not item.concluded
        agenda.append(item)
    meeting.n_items = len(agenda)
    meeting.manages = rules.manages_meeting.test(request.user, meeting)
    meeting.agenda = agenda
    meeting.present_members = sorted(meeting.present.all(), key=lambda u: (u.last_name, u.first_name, u.pk))
    return MeetingDetailSerializer(meeting).data


class MeetingFieldsSerializer(serializers.Serializer):
    """What a meeting's form asks (``forms.MeetingForm``): when, and where or by which link."""

    date = serializers.DateField(validators=[plausible_meeting_date])
    start_time = ClockTimeField()
    place = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    video_link = serializers.URLField(max_length=200, required=False, allow_blank=True, default="")


class MeetingCreateSerializer(MeetingFieldsSerializer):
    rcp = serializers.PrimaryKeyRelatedField(
        queryset=RcpBody.objects.none(),
        help_text=gettext_lazy("La RCP-FMG (une de celles que vous coordonnez ou suppléez)."),
    )
    kind = serializers.ChoiceField(choices=Meeting.Kind.choices, default=Meeting.Kind.UPSTREAM)

    def __init__(self, *args, managed=None, **kwargs):
        super().__init__(*args, **kwargs)
        if managed is not None:
            self.fields["rcp"].queryset = managed


class MeetingUpdateSerializer(MeetingFieldsSerializer):
    """Any of the fields; the others keep their value."""

    date = serializers.DateField(validators=[plausible_meeting_date], required=False)
    start_time = ClockTimeField(required=False)
    place = serializers.CharField(max_length=200, required=False, allow_blank=True)
    video_link = serializers.URLField(max_length=200, required=False, allow_blank=True)


class AgendaSerializer(serializers.Serializer):
    dossiers = serializers.ListField(
        child=serializers.CharField(max_length=20),
        min_length=1,
        max_length=MAX_AGENDA_POST,
        help_text=gettext_lazy("Les références des dossiers à inscrire, dans l'ordre."),
    )


class AttendanceSerializer(serializers.Serializer):
    present = serializers.ListField(
        child=serializers.CharField(max_length=150),
        max_length=500,
        help_text=gettext_lazy("Les identifiants des membres présents (la liste entière : elle remplace)."),
    )


class JsonRefusals(BaseContentNegotiation):
    """A download: the file is sent as stored, whatever ``Accept`` says (``application/pdf``…), and a refusal is
    JSON, as documented."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


MEETING_LIST_PARAMETERS = [
    OpenApiParameter("rcp", int, description="Les séances de cette RCP-FMG."),
    OpenApiParameter("kind", str, enum=list(Meeting.Kind.values), description="Amont ou aval."),
    OpenApiParameter("date_from", OpenApiTypes.DATE, description="Les séances de ce jour ou après."),
    CURSOR,
]
MEETING_ORDER = ("date", "start_time", "pk")


class MeetingViewSet(viewsets.GenericViewSet):
    """The meetings of the RCP-FMG the user belongs to. Their coordinator and deputies create them, change
    them, build their agendas and record attendance; any member reads them and downloads their minutes."""

    serializer_class = MeetingSerializer
    pagination_class = None
    lookup_value_regex = PK_PATTERN

    def get_queryset(self):  # the schema generator's; the actions read through the selectors
        return Meeting.objects.none()

    @extend_schema(
        parameters=MEETING_LIST_PARAMETERS,
        responses={200: MeetingPageSerializer, 400: BAD_REQUEST},
        description="The user's RCPs' meetings, by date (the earliest first), by cursor.",
    )
    def list(self, request: Request) -> Response:
        meetings = selectors.meetings_visible_to(request.user)
        params = request.query_params
        try:
            if rcp := params.get("rcp", ""):
                meetings = meetings.filter(
                    rcp_id=serializers.IntegerField(max_value=MAX_PK).to_internal_value(rcp)
                )
            if kind := params.get("kind", ""):
                meetings = meetings.filter(
                    kind=serializers.ChoiceField(Meeting.Kind.choices).to_internal_value(kind)
                )
            if date_from := params.get("date_from", ""):
                meetings = meetings.filter(date__gte=serializers.DateField().to_internal_value(date_from))
        except ValidationError as exc:
            raise ValidationError({"detail": " ".join(str(m) for m in exc.detail)}) from None
        page = keyset_page(
            meetings.annotate(n_items=Count("items")),
            order=MEETING_ORDER,
            cursor=params.get("cursor"),
            size=API_PAGE_SIZE,
        )
        return Response(
            {**_links(request, page), "results": MeetingSerializer(page.object_list, many=True).data}
        )

    @extend_schema(
        request=MeetingCreateSerializer,
        responses={201: MeetingDetailSerializer, 400: BAD_REQUEST, 403: FORBIDDEN},
        description=(
            "Schedule a meeting of an RCP the user coordinates or deputises (403 for anyone else): a place, a "
            "video link, or both."
        ),
    )
    def create(self, request: Request) -> Response:
        managed = selectors.managed_rcps(request.user)
        if not managed.exists():
            raise PermissionDenied(
                _("Seuls le coordinateur et les suppléants de cette RCP-FMG peuvent organiser ses séances.")
            )
        body = MeetingCreateSerializer(data=request.data, managed=managed)
        body.is_valid(raise_exception=True)
        with refusals():
            meeting = services.create_meeting(actor=request.user, **body.validated_data)
        return Response(_detail(request, _meeting(request, meeting.pk)), status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[MEETING_ID], responses={200: MeetingDetailSerializer})
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(_detail(request, _meeting(request, pk)))

    @extend_schema(
        parameters=[MEETING_ID],
        request=MeetingUpdateSerializer,
        responses={200: MeetingDetailSerializer, 400: BAD_REQUEST},
        description="Move the meeting or change its place or link (its coordinator and deputies only).",
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        meeting = _meeting(request, pk, manage=True)
        body = MeetingUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = {k: getattr(meeting, k) for k in ("date", "start_time", "place", "video_link")}
        with refusals():
            services.update_meeting(meeting=meeting, actor=request.user, **{**values, **body.validated_data})
        return Response(_detail(request, _meeting(request, pk)))

    @extend_schema(
        parameters=[MEETING_ID],
        request=AgendaSerializer,
        responses={200: MeetingDetailSerializer, 400: BAD_REQUEST},
        description=(
            "Put dossiers on the agenda, after those already on it (its coordinator and deputies only). Each must "
            "be in the user's scope, addressed to the meeting's RCP, awaiting this kind of meeting and on no "
            "other meeting's agenda: 400 names the first that is not."
        ),
    )
    @action(detail=True, methods=["post"], url_path="agenda", url_name="agenda")
    def agenda(self, request: Request, pk: str) -> Response:
        meeting = _meeting(request, pk, manage=True)
        body = AgendaSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        wanted = list(dict.fromkeys(body.validated_data["dossiers"]))
        found = {d.reference: d for d in dossiers_visible_to(request.user).filter(reference__in=wanted)}
        unknown = [reference for reference in wanted if reference not in found]
        if unknown:
            raise ValidationError(
                {
                    "detail": _("Dossier inconnu ou hors de votre périmètre : %(refs)s.")
                    % {"refs": ", ".join(unknown)}
                }
            )
        with refusals():
            services.add_to_agenda(meeting=meeting, dossiers=[found[r] for r in wanted], actor=request.user)
        return Response(_detail(request, _meeting(request, pk)))

    @extend_schema(
        parameters=[MEETING_ID],
        request=None,
        responses={200: MeetingDetailSerializer, 400: BAD_REQUEST},
        description=(
            "Propose the agenda as the meeting's page does (its coordinator and deputies only): the dossiers "
            "addressed to its RCP and awaiting this kind of meeting on no other agenda, the longest wait first, "
            "after those already on it. Nothing waiting: the agenda as it was."
        ),
    )
    # Named to sort before ``agenda_item``: the router orders actions by name, and ``agenda/{reference}/``
    # (DELETE only) would otherwise take ``agenda/propose/`` first and answer 405.
    @action(detail=True, methods=["post"], url_path="agenda/propose", url_name="agenda-propose")
    def agenda_auto_propose(self, request: Request, pk: str) -> Response:
        meeting = _meeting(request, pk, manage=True)
        with refusals():
            services.propose_agenda(meeting=meeting, actor=request.user)
        return Response(_detail(request, _meeting(request, pk)))

    @extend_schema(
        parameters=[MEETING_ID, REFERENCE],
        request=None,
        responses={204: None, 400: BAD_REQUEST},
        description=(
            "Take a dossier off the agenda (its coordinator and deputies only); refused once the meeting has "
            "decided on it."
        ),
    )
    @action(
        detail=True,
        methods=["delete"],
        url_path=rf"agenda/(?P<reference>{REFERENCE_PATTERN})",
        url_name="agenda-item",
    )
    def agenda_item(self, request: Request, pk: str, reference: str) -> Response:
        meeting = _meeting(request, pk, manage=True)
        item = next((i for i in meeting.items.all() if i.dossier.reference == reference), None)
        if item is None:
            raise NotFound(_("Ce dossier n'est pas à l'ordre du jour de cette séance."))
        with refusals():
            services.remove_from_agenda(item=item, actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        parameters=[MEETING_ID],
        request=AttendanceSerializer,
        responses={200: MeetingDetailSerializer, 400: BAD_REQUEST},
        description="Record who attended: members of the meeting's RCP only (its coordinator and deputies only).",
    )
    @action(detail=True, methods=["put"], url_path="attendance", url_name="attendance")
    def attendance(self, request: Request, pk: str) -> Response:
        meeting = _meeting(request, pk, manage=True)
        body = AttendanceSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        members = {u.username: u for u in selectors.meeting_members(meeting)}
        wanted = list(dict.fromkeys(body.validated_data["present"]))
        strangers = [username for username in wanted if username not in members]
        if strangers:
            raise ValidationError(
                {"detail": _("%(who)s n'est pas membre de cette RCP-FMG.") % {"who": ", ".join(strangers)}}
            )
        with refusals():
            services.set_attendance(meeting=meeting, present=[members[u] for u in wanted], actor=request.user)
        return Response(_detail(request, _meeting(request, pk)))

    @extend_schema(
        parameters=[MEETING_ID],
        responses={(200, "application/pdf"): OpenApiTypes.BINARY},
        description=(
            "The meeting's minutes (PDF), to the members of its RCP; 404 to a member from whom they would reveal "
            "the persons of a withdrawn dossier."
        ),
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="minutes",
        url_name="minutes",
        renderer_classes=[JSONRenderer],
        content_negotiation_class=JsonRefusals,
    )
    def minutes(self, request: Request, pk: str):
        meeting = _meeting(request, pk)
        if selectors.identities_hidden_on_agenda(request.user, meeting):
            raise NotFound(_("Séance inconnue ou d'une RCP-FMG dont vous n'êtes pas membre."))
        return pdf.attachment(
            pdf.current_meeting_minutes_path(meeting), f"{meeting.reference}-compte-rendu.pdf"
        )


# --- Decisions ------------------------------------------------------------------------------------------------


class CorrectionSerializer(serializers.Serializer):
    text = serializers.CharField()
    reason = serializers.CharField()
    recorded_by = serializers.CharField(source="recorded_by.username")
    recorded_at = serializers.DateTimeField()


class DecisionSerializer(serializers.Serializer):
    """A decision as the RCP sheet shows it: never edited, followed by its corrections."""

    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=Decision.Kind.choices)
    kind_label = serializers.CharField(source="get_kind_display")
    reason = serializers.CharField()
    meeting = serializers.IntegerField(source="meeting_id", allow_null=True)
    meeting_reference = serializers.SerializerMethodField()
    recorded_by = serializers.CharField(source="recorded_by.username")
    recorded_at = serializers.DateTimeField()
    corrections = CorrectionSerializer(many=True, source="corrections.all")

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_meeting_reference(self, decision: Decision) -> str | None:
        return decision.meeting.reference if decision.meeting_id else None


class MeetingOfTheDossier:
    """A body's ``meeting``: one of the dossier's RCP-FMG that the user may see (a decision and a postponement
    are recorded on it)."""

    def validate_meeting(self, pk: int) -> Meeting:
        user, dossier = self.context["request"].user, self.context["dossier"]
        meeting = selectors.meetings_visible_to(user).filter(pk=pk, rcp_id=dossier.rcp_id).first()
        if meeting is None:
            raise serializers.ValidationError(
                _("Séance inconnue, ou d'une autre RCP-FMG que celle du dossier.")
            )
        return meeting


class PostponeSerializer(MeetingOfTheDossier, serializers.Serializer):
    """What the decision screen posts to postpone (``forms.DecisionForm`` with ``kind=postpone``)."""

    kind = serializers.ChoiceField(
        choices=[(Decision.Kind.POSTPONE, Decision.Kind.POSTPONE.label)],
        help_text=gettext_lazy(
            "Seul le report s'enregistre ici ; les autres décisions sont des transitions."
        ),
    )
    reason = serializers.CharField(required=False, allow_blank=True, max_length=4000, default="")
    meeting = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_PK,
        help_text=gettext_lazy(
            "La séance où le report est décidé ; par défaut, celle dont l'ordre du jour attend le dossier."
        ),
    )


class CorrectionBodySerializer(serializers.Serializer):
    """What the correction form asks (``forms.CorrectionForm``)."""

    text = serializers.CharField(max_length=4000)
    reason = serializers.CharField(max_length=1000)


class DossierDecisionViewSet(viewsets.GenericViewSet):
    """``/api/v1/dossiers/{reference}/decisions/``: the RCP's decisions on a dossier, oldest first, to whoever
    may see its RCP sheet (404 for anyone else)."""

    serializer_class = DecisionSerializer
    pagination_class = None
    lookup_value_regex = PK_PATTERN

    def get_queryset(self):  # the schema generator's
        return Decision.objects.none()

    @extend_schema(
        parameters=[REFERENCE],
        responses={200: DecisionSerializer(many=True)},
    )
    def list(self, request: Request, reference: str) -> Response:
        dossier = _sheet_dossier(request, reference)
        return Response(DecisionSerializer(selectors.decisions_of(dossier), many=True).data)

    @extend_schema(
        parameters=[REFERENCE],
        request=PostponeSerializer,
        responses={201: DecisionSerializer, 400: BAD_REQUEST, 403: FORBIDDEN, 409: TransitionErrorSerializer},
        description=(
            "Postpone the dossier to a later meeting, as the decision screen does: a decision recorded on the "
            "meeting (the one given, or the one whose agenda awaits the dossier) that leaves the dossier "
            "awaiting the RCP-FMG. The other decisions change the dossier's status: they are its transitions "
            "(``validate``, ``reject``, ``request_more_info``)."
        ),
    )
    def create(self, request: Request, reference: str) -> Response:
        dossier = _sheet_dossier(request, reference)
        body = PostponeSerializer(data=request.data, context={"request": request, "dossier": dossier})
        body.is_valid(raise_exception=True)
        data = body.validated_data
        meeting = data.get("meeting")
        if meeting is None:
            item = selectors.pending_item(dossier)
            meeting = item.meeting if item else None
        with refusals():
            decision = services.record_decision(
                dossier=dossier, kind=data["kind"], actor=request.user, reason=data["reason"], meeting=meeting
            )
        return Response(DecisionSerializer(decision).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[
            REFERENCE,
            OpenApiParameter("id", int, OpenApiParameter.PATH, description="La décision."),
        ],
        request=CorrectionBodySerializer,
        responses={201: CorrectionSerializer, 400: BAD_REQUEST, 403: FORBIDDEN},
        description=(
            "Correct a recorded decision (the coordinator and deputies of the dossier's RCP): a new record with "
            "its reason; the decision itself stays as it was recorded."
        ),
    )
    @action(detail=True, methods=["post"], url_path="corrections", url_name="corrections")
    def corrections(self, request: Request, reference: str, pk: str) -> Response:
        dossier = _sheet_dossier(request, reference)
        decision = (
            Decision.objects.filter(dossier=dossier, pk=_pk(pk)).select_related("dossier", "meeting").first()
        )
        if decision is None:
            raise NotFound(_("Décision inconnue sur ce dossier."))
        body = CorrectionBodySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        with refusals():
            correction = services.correct_decision(
                decision=decision, actor=request.user, **body.validated_data
            )
        return Response(CorrectionSerializer(correction).data, status=status.HTTP_201_CREATED)


class DecisionBodySerializer(MeetingOfTheDossier, serializers.Serializer):
    """What the decision screen asks (``forms.DecisionForm`` and the meeting it is recorded on)."""

    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=4000,
        help_text=gettext_lazy(
            "Le motif (avis défavorable) ou les questions au prescripteur (demande de complément) : obligatoire "
            "pour ces deux décisions."
        ),
    )
    meeting = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_PK,
        help_text=gettext_lazy(
            "La séance où la décision est prise ; par défaut, celle dont l'ordre du jour attend le dossier."
        ),
    )


def decide(*, dossier: Dossier, actor, data: dict, request) -> None:
    """The handler of ``validate``, ``reject`` and ``request_more_info`` through the API: the decision screen's
    service, on the meeting given or the one whose agenda awaits the dossier (as the RCP sheet posts it)."""
    meeting = data.get("meeting")
    if meeting is None:
        item = selectors.pending_item(dossier)
        meeting = item.meeting if item else None
    services.record_decision(
        dossier=dossier, kind=data["_name"], actor=actor, reason=data.get("reason", ""), meeting=meeting
    )


# --- The RCP sheet: reviewers' entries, the RCP d'aval's conclusion ----------------------------------------------


def _sheet_dossier(request: Request, reference: str) -> Dossier:
    """The dossier if the user may see its RCP sheet (404 otherwise), as the sheet's page."""
    dossier = dossier_for(request, reference)
    if not rules.may_view_sheet.test(request.user, dossier):
        raise NotFound(_("Dossier inconnu ou hors de votre périmètre."))
    return dossier


class SheetEntrySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    kind = serializers.ChoiceField(
        choices=[(SheetEntry.Kind.CORRECTION, SheetEntry.Kind.CORRECTION.label)]
        + [(SheetEntry.Kind.ADDITION, SheetEntry.Kind.ADDITION.label)]
    )
    field = serializers.ChoiceField(choices=SheetEntry.Field.choices)
    text = serializers.CharField(max_length=4000)
    author = serializers.CharField(source="author.username", read_only=True)
    at = serializers.DateTimeField(read_only=True)


class SheetEntryReadSerializer(SheetEntrySerializer):
    """Entries as the sheet lists them: the prescribing side's preparation notes too."""

    kind = serializers.ChoiceField(choices=SheetEntry.Kind.choices)
    field = serializers.CharField()
    ready = serializers.BooleanField()


class PreparationSerializer(serializers.Serializer):
    """What the preparation form asks (``forms.PreparationForm``)."""

    note = serializers.CharField(max_length=2000)
    ready = serializers.BooleanField(
        required=False, default=False, help_text=gettext_lazy("La fiche est prête pour la séance.")
    )


class DossierSheetEntryViewSet(viewsets.GenericViewSet):
    """``/api/v1/dossiers/{reference}/sheet-entries/``: the RCP sheet's entries, to whoever may see the sheet;
    its reviewers (members of the dossier's RCP) add corrections and additions while the dossier awaits the
    decision."""

    serializer_class = SheetEntryReadSerializer
    pagination_class = None

    def get_queryset(self):  # the schema generator's
        return SheetEntry.objects.none()

    @extend_schema(parameters=[REFERENCE], responses={200: SheetEntryReadSerializer(many=True)})
    def list(self, request: Request, reference: str) -> Response:
        dossier = _sheet_dossier(request, reference)
        return Response(SheetEntryReadSerializer(selectors.sheet_entries_of(dossier), many=True).data)

    @extend_schema(
        parameters=[REFERENCE],
        request=SheetEntrySerializer,
        responses={201: SheetEntryReadSerializer, 400: BAD_REQUEST, 403: FORBIDDEN},
        description="A reviewer's correction or addition, recorded beside the dossier (never overwriting it).",
    )
    def create(self, request: Request, reference: str) -> Response:
        dossier = _sheet_dossier(request, reference)
        body = SheetEntrySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        with refusals():
            entry = services.add_sheet_entry(
                dossier=dossier, actor=request.user, kind=data["kind"], field=data["field"], text=data["text"]
            )
        return Response(SheetEntryReadSerializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[REFERENCE],
        request=PreparationSerializer,
        responses={201: SheetEntryReadSerializer, 400: BAD_REQUEST, 403: FORBIDDEN},
        description=(
            "The prescribing side (the dossier's prescriber and their prescription assistants) prepares the sheet "
            "for the meeting: a note, and whether the sheet is ready; until the RCP-FMG decides."
        ),
    )
    @action(detail=False, methods=["post"], url_path="preparation", url_name="preparation")
    def preparation(self, request: Request, reference: str) -> Response:
        dossier = _sheet_dossier(request, reference)
        body = PreparationSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        with refusals():
            entry = services.prepare_sheet(dossier=dossier, actor=request.user, **body.validated_data)
        return Response(SheetEntryReadSerializer(entry).data, status=status.HTTP_201_CREATED)


class ConclusionSerializer(serializers.Serializer):
    """What the RCP d'aval's form asks (``forms.ConclusionForm``), and the meeting it concludes in."""

    interpretation = serializers.CharField(max_length=5000)
    care_recommendations = serializers.CharField(
        max_length=5000, required=False, allow_blank=True, default=""
    )
    family_recommendations = serializers.CharField(
        max_length=5000, required=False, allow_blank=True, default=""
    )
    meeting = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_PK,
        write_only=True,
        help_text=gettext_lazy(
            "La séance d'aval ; par défaut, celle dont l'ordre du jour attend le dossier."
        ),
    )
    recorded_by = serializers.CharField(source="recorded_by.username", read_only=True)
    recorded_at = serializers.DateTimeField(read_only=True)
    meeting_id = serializers.IntegerField(read_only=True, allow_null=True)


class DossierConclusionViewSet(viewsets.GenericViewSet):
    """``/api/v1/dossiers/{reference}/conclusion/``: the RCP d'aval's conclusion on a delivered report, by the
    coordinator or a deputy of the dossier's RCP; the dossier may then be closed."""

    serializer_class = ConclusionSerializer
    pagination_class = None

    def get_queryset(self):  # the schema generator's
        return DownstreamConclusion.objects.none()

    @extend_schema(
        parameters=[REFERENCE],
        request=ConclusionSerializer,
        responses={201: ConclusionSerializer, 400: BAD_REQUEST, 403: FORBIDDEN},
    )
    def create(self, request: Request, reference: str) -> Response:
        dossier = _sheet_dossier(request, reference)
        body = ConclusionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        if "meeting" in data:
            meeting = (
                selectors.meetings_visible_to(request.user)
                .filter(pk=data["meeting"], rcp_id=dossier.rcp_id)
                .first()
            )
            if meeting is None:
                raise ValidationError(
                    {"meeting": [_("Séance inconnue, ou d'une autre RCP-FMG que celle du dossier.")]}
                )
        else:
            item = selectors.pending_item(dossier, Meeting.Kind.DOWNSTREAM)
            meeting = item.meeting if item else None
        with refusals():
            conclusion = services.record_conclusion(
                dossier=dossier,
                actor=request.user,
                meeting=meeting,
                interpretation=data["interpretation"],
                care_recommendations=data["care_recommendations"],
                family_recommendations=data["family_recommendations"],
            )
        return Response(ConclusionSerializer(conclusion).data, status=status.HTTP_201_CREATED)


# --- The dossier's RCP minutes ---------------------------------------------------------------------------------


class DossierMinutesViewSet(viewsets.GenericViewSet):
    """``/api/v1/dossiers/{reference}/minutes/``: the dossier's RCP minutes (PDF), as its page gives them."""

    pagination_class = None
    renderer_classes = [JSONRenderer]  # the PDF is a file response; a refusal is JSON
    content_negotiation_class = JsonRefusals

    def get_queryset(self):  # the schema generator's
        return Decision.objects.none()

    @extend_schema(
        parameters=[REFERENCE],
        responses={(200, "application/pdf"): OpenApiTypes.BINARY},
        description=(
            "The dossier's RCP minutes (PDF), to whoever may see the dossier and download them, once the RCP-FMG "
            "has decided something on it (404 before, and for anyone else)."
        ),
    )
    def list(self, request: Request, reference: str):
        dossier = dossier_for(request, reference)
        if not dossier.rcp_decisions.exists() or not rules.may_download_dossier_minutes.test(
            request.user, dossier
        ):
            raise NotFound(_("Pas de compte rendu RCP pour ce dossier dans votre périmètre."))
        return pdf.attachment(
            pdf.current_dossier_minutes_path(dossier), f"{dossier.reference}-compte-rendu-rcp.pdf"
        )
