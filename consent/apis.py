"""The API of the consent app: each dossier's consents, recording a consent or a withdrawal, the pre-filled form
and the signed scan (for those who care for the dossier, as on the pages), and the export to the national data
centre (CAD, collecteur analyseur de données), pseudonymised.

The export reads ``selectors.research_cohort`` and nothing else: a person who objected to research reuse, or
withdrew it, or withdrew their whole consent, is never in it, whichever way the data leave."""

from __future__ import annotations

import hashlib
import hmac
from contextlib import contextmanager

from django.conf import settings
from django.core.exceptions import PermissionDenied as Refusal
from django.core.exceptions import ValidationError as ServiceRefusal
from django.core.files.storage import default_storage
from django.http import FileResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from people.models import User
from pfmg.db import replica_reads
from prescriptions.apis import PersonSummarySerializer, TransitionErrorSerializer, dossier_for, refusals
from prescriptions.models import Dossier, DossierPerson
from prescriptions.rules import TRANSITION_RULES

from . import pdf, selectors, services
from .models import (
    Agreement,
    Audience,
    Choice3,
    ConsentRecord,
    ConsentTemplateVersion,
    PersonStatus,
    ReadingLevel,
    RelativesChoice,
    ResearchChoice,
    Withdrawal,
)
from .rules import cares_for_dossier, export_research
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


# --- A dossier's consents ------------------------------------------------------------------------------------
# The pages' rules, by the same selectors: a dossier outside the user's scope is a 404; one they see but do not
# care for (a laboratory, an RCP member) is a 403: they never see its consents.


def cared_for_dossier(request: Request, reference: str) -> Dossier:
    dossier = dossier_for(request, reference)
    if not cares_for_dossier.test(request.user, dossier):
        raise PermissionDenied(
            _("Les consentements ne sont visibles que de l'équipe qui prend en charge le dossier.")
        )
    return dossier


def sequenced_person(request: Request, dossier: Dossier, person_id: str) -> DossierPerson:
    person = selectors.person_for(request.user, dossier, int(person_id))
    if person is None:
        raise NotFound(_("Personne inconnue dans ce dossier, ou qui ne sera pas séquencée."))
    return person


class TemplateVersionSerializer(serializers.ModelSerializer):
    slug = serializers.CharField(source="template.slug")
    title = serializers.CharField(source="template.title")
    audience = serializers.ChoiceField(source="template.audience", choices=Audience.choices)
    reading_level = serializers.ChoiceField(source="template.reading_level", choices=ReadingLevel.choices)

    class Meta:
        model = ConsentTemplateVersion
        fields = [
            "id",
            "slug",
            "title",
            "audience",
            "reading_level",
            "number",
            "effective_from",
            "effective_to",
        ]


class WithdrawalSerializer(serializers.ModelSerializer):
    recorded_by = serializers.CharField(source="recorded_by.username")

    class Meta:
        model = Withdrawal
        fields = ["scope", "withdrawn_on", "reason", "recorded_by", "recorded_at"]


class ConsentRecordSerializer(serializers.ModelSerializer):
    """A signed consent as recorded, with its withdrawals and what is in force after them (``effective_…``):
    ``research_objection`` is true when the person's data may not go to research (an objection at signature,
    or withdrawn since)."""

    template_version = TemplateVersionSerializer()
    collected_by = serializers.CharField(source="collected_by.username")
    supervising_geneticist = serializers.CharField(
        source="supervising_geneticist.username", allow_null=True, default=None
    )
    recorded_by = serializers.CharField(source="recorded_by.username")
    has_scan = serializers.SerializerMethodField()
    withdrawals = WithdrawalSerializer(many=True)
    fully_withdrawn = serializers.BooleanField()
    accepts_analysis = serializers.BooleanField(
        help_text=gettext_lazy("L'analyse est acceptée et le consentement n'a pas été retiré en entier.")
    )
    effective_additional_findings = serializers.ChoiceField(choices=Choice3.choices)
    effective_research_reuse = serializers.ChoiceField(choices=ResearchChoice.choices)
    research_objection = serializers.SerializerMethodField()

    class Meta:
        model = ConsentRecord
        fields = [
            "template_version",
            "person_status",
            "signed_by_person",
            "parent_signatory_1",
            "parent_signatory_2",
            "legal_representative",
            "relative_signatory",
            "person_agreement",
            "analysis_accepted",
            "additional_findings",
            "research_reuse",
            "relatives_information",
            "signed_on",
            "collector_kind",
            "collected_by",
            "supervising_geneticist",
            "recorded_by",
            "recorded_at",
            "has_scan",
            "scan_content_type",
            "scan_sha256",
            "withdrawals",
            "fully_withdrawn",
            "accepts_analysis",
            "effective_additional_findings",
            "effective_research_reuse",
            "research_objection",
        ]

    def get_has_scan(self, record: ConsentRecord) -> bool:
        return bool(record.scan)  # gone once a withdrawn dossier's files are purged

    def get_research_objection(self, record: ConsentRecord) -> bool:
        return record.effective_research_reuse == ResearchChoice.OBJECTS


class PersonConsentSerializer(PersonSummarySerializer):
    audience = serializers.SerializerMethodField(
        help_text=gettext_lazy("Le formulaire qui convient à la personne.")
    )
    suggested_template_version = serializers.SerializerMethodField(
        help_text=gettext_lazy(
            "La version en vigueur du formulaire standard qui convient à la personne (son id)."
        )
    )
    consent = ConsentRecordSerializer(source="consent_record", allow_null=True)

    @extend_schema_field(serializers.ChoiceField(choices=Audience.choices))
    def get_audience(self, person: DossierPerson) -> str:
        return selectors.audience_for_form(person)

    def get_suggested_template_version(self, person: DossierPerson) -> int | None:
        audience, today = selectors.audience_for_form(person), timezone.localdate()
        suited = [
            v
            for v in self.context["versions"]
            if v.template.audience == audience
            and v.template.reading_level == ReadingLevel.STANDARD
            and (v.effective_to is None or v.effective_to >= today)
        ]
        return max(suited, key=lambda v: v.number).pk if suited else None


@extend_schema_serializer(many=False)  # one document, not a list of them
class DossierConsentsSerializer(serializers.Serializer):
    """The consents page of a dossier: each person to be sequenced with their consent (or null), who is still
    missing one for finalisation, and what recording a consent takes (the form versions, who may have collected
    it)."""

    reference = serializers.CharField()
    status = serializers.ChoiceField(choices=Dossier.Status.choices)
    open = serializers.BooleanField(
        help_text=gettext_lazy("Des consentements et des retraits s'y enregistrent encore.")
    )
    missing = serializers.ListField(
        child=serializers.CharField(),
        help_text=gettext_lazy("Les consentements qui manquent pour finaliser le dossier."),
    )
    persons = PersonConsentSerializer(many=True)
    form_versions = TemplateVersionSerializer(many=True)
    collectors = serializers.ListField(
        child=serializers.CharField(),
        help_text=gettext_lazy("Qui peut avoir recueilli un consentement sur ce dossier (identifiants)."),
    )


def consents_of(request: Request, dossier: Dossier) -> dict:
    persons = selectors.consents_for(request.user, dossier)
    versions = list(selectors.form_versions(dossier))
    document = {
        "reference": dossier.reference,
        "status": dossier.status,
        "open": dossier.status not in Dossier.FINAL_STATES,
        "missing": selectors.finalise_requirement(dossier),
        "persons": persons,
        "form_versions": versions,
        "collectors": list(services.collectors_for(dossier).values_list("username", flat=True)),
    }
    return DossierConsentsSerializer(document, context={"request": request, "versions": versions}).data


class DossierConsentViewSet(viewsets.GenericViewSet):
    """``/api/v1/dossiers/{reference}/consents/``: what the dossier's consents page shows."""

    serializer_class = DossierConsentsSerializer
    pagination_class = None

    def get_queryset(self):  # the schema generator's; the action reads through the selectors
        return ConsentRecord.objects.none()

    @extend_schema(
        responses={200: DossierConsentsSerializer, 403: TransitionErrorSerializer},
        description=(
            "Each person to be sequenced with their signed consent, its withdrawals and the choices in force "
            "(research objection included). For those who care for the dossier: a laboratory or an RCP member "
            "gets a 403, as on the pages."
        ),
    )
    def list(self, request: Request, reference: str, **kwargs) -> Response:  # kwargs: a format suffix
        dossier = cared_for_dossier(request, reference)
        return Response(consents_of(request, dossier))


def _errors(name: str, fields: list[str]) -> type[serializers.Serializer]:
    """The body of a 400: the refusal's message (``detail``) or, field by field, what is wrong."""
    attributes = {
        field: serializers.ListField(child=serializers.CharField(), required=False)
        for field in [*fields, "non_field_errors"]
    }
    attributes["detail"] = serializers.CharField(required=False)
    attributes["reasons"] = serializers.ListField(child=serializers.CharField(), required=False)
    return type(name, (serializers.Serializer,), attributes)


class RecordConsentSerializer(serializers.Serializer):
    """The consents page's form. What is missing or inconsistent is said by the service, field by field, as on
    the page; a version or a collector that does not fit the dossier is refused here."""

    template_version = serializers.PrimaryKeyRelatedField(
        queryset=ConsentTemplateVersion.objects.none(),
        required=False,
        allow_null=True,
        default=None,
        help_text=gettext_lazy("Le formulaire signé (id d'une version de ``form_versions``)."),
    )
    person_status = serializers.ChoiceField(choices=PersonStatus.choices, required=False, default="")
    signed_by_person = serializers.BooleanField(required=False, default=False)
    parent_signatory_1 = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    parent_signatory_2 = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    legal_representative = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    relative_signatory = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    person_agreement = serializers.ChoiceField(
        choices=Agreement.choices, required=False, default=Agreement.NOT_APPLICABLE
    )
    analysis_accepted = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text=gettext_lazy("Analyse du génome pour l'indication."),
    )
    additional_findings = serializers.ChoiceField(choices=Choice3.choices, required=False, default="")
    research_reuse = serializers.ChoiceField(
        choices=ResearchChoice.choices,
        required=False,
        default="",
        help_text=gettext_lazy(
            "« objects » : la personne s'oppose à la réutilisation de ses données pour la recherche."
        ),
    )
    relatives_information = serializers.ChoiceField(
        choices=RelativesChoice.choices, required=False, default=""
    )
    signed_on = serializers.DateField(required=False, allow_null=True, default=None)
    collected_by = serializers.SlugRelatedField(
        slug_field="username",
        queryset=User.objects.none(),
        required=False,
        allow_null=True,
        default=None,
        help_text=gettext_lazy("Qui a recueilli le consentement (un identifiant de ``collectors``)."),
    )
    scan = serializers.FileField(
        required=False,
        allow_null=True,
        default=None,
        help_text=gettext_lazy("Le formulaire signé numérisé (PDF, JPEG ou PNG) : obligatoire."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        dossier = self.context.get("dossier")
        if dossier is not None:
            self.fields["template_version"].queryset = selectors.form_versions(dossier)
            collected_by = self.fields["collected_by"]
            collected_by.queryset = services.collectors_for(dossier)
            collected_by.error_messages["does_not_exist"] = _(
                "« {value} » ne peut pas avoir recueilli ce consentement : seuls le prescripteur, ses "
                "assistant·e·s de prescription et les conseiller·ère·s en génétique de l'établissement "
                "recueillent un consentement."
            )


RecordConsentErrors = _errors("RecordConsentErrors", list(RecordConsentSerializer._declared_fields))


class RecordWithdrawalSerializer(serializers.Serializer):
    scope = serializers.ChoiceField(
        choices=Withdrawal.Scope.choices,
        required=False,
        default="",
        help_text=gettext_lazy(
            "« all » retire l'ensemble du consentement et arrête le dossier ; « research » : opposition à la "
            "recherche ; « additional_findings » : retrait des données additionnelles."
        ),
    )
    withdrawn_on = serializers.DateField(required=False, allow_null=True, default=None)
    reason = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        help_text=gettext_lazy("Circonstances du retrait."),
    )


RecordWithdrawalErrors = _errors("RecordWithdrawalErrors", list(RecordWithdrawalSerializer._declared_fields))


@contextmanager
def form_refusals():
    """A service's refusal as the API answers it: field by field when it names the fields (as the page's form
    shows them), else ``refusals()``' 400/403/409 with its message."""
    with refusals():
        try:
            yield
        except ServiceRefusal as exc:
            if not hasattr(exc, "error_dict"):
                raise
            raise serializers.ValidationError(exc.message_dict) from exc


SCAN_TYPES = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}


class PersonConsentViewSet(viewsets.GenericViewSet):
    """``/api/v1/dossiers/{reference}/persons/{person_id}/…``: one person's consent, withdrawal, pre-filled form
    and signed scan, through the consent services, for those who care for the dossier (as on the pages)."""

    serializer_class = DossierConsentsSerializer
    parser_classes = [MultiPartParser, JSONParser]
    pagination_class = None

    def get_queryset(self):  # the schema generator's; the actions read through the selectors
        return ConsentRecord.objects.none()

    def perform_content_negotiation(self, request, force=False):
        # A download asked for by its type (``Accept: application/pdf``) is answered with the file; a refusal is
        # then JSON, whatever was asked.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        request=RecordConsentSerializer,
        responses={201: DossierConsentsSerializer, 400: RecordConsentErrors, 403: TransitionErrorSerializer},
        description=(
            "Record the signed consent of a person to be sequenced (multipart, with the signed form's scan): the "
            "consents page's form and checks. Answers the dossier's consents."
        ),
    )
    @action(detail=False, methods=["post"], url_path="consents", url_name="record")
    def record(self, request: Request, reference: str, person_id: str, **kwargs) -> Response:
        dossier = cared_for_dossier(request, reference)
        person = sequenced_person(request, dossier, person_id)
        body = RecordConsentSerializer(data=request.data, context={"request": request, "dossier": dossier})
        body.is_valid(raise_exception=True)
        with form_refusals():
            services.record_consent(person=person, actor=request.user, **body.validated_data)
        return Response(consents_of(request, dossier), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=RecordWithdrawalSerializer,
        responses={
            200: DossierConsentsSerializer,
            400: RecordWithdrawalErrors,
            403: TransitionErrorSerializer,
            409: TransitionErrorSerializer,
        },
        description=(
            "Record that the person withdraws their whole consent (the dossier is then withdrawn and its data "
            "marked for deletion) or a part of it (research, additional findings): the withdrawal page."
        ),
    )
    @action(detail=False, methods=["post"], url_path="withdrawal", url_name="withdrawal")
    def withdrawal(self, request: Request, reference: str, person_id: str, **kwargs) -> Response:
        dossier = cared_for_dossier(request, reference)
        person = sequenced_person(request, dossier, person_id)
        consent = selectors.consent_of(person)
        if consent is None:
            raise NotFound(_("Aucun consentement n'est enregistré pour cette personne : rien à retirer."))
        body = RecordWithdrawalSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        with form_refusals():
            services.record_withdrawal(consent=consent, actor=request.user, **body.validated_data)
        dossier = dossier_for(request, reference)
        return Response(consents_of(request, dossier))

    @extend_schema(
        responses={(200, "application/pdf"): OpenApiTypes.BINARY, 403: TransitionErrorSerializer},
        description="The person's pre-filled consent form, to print and have signed.",
    )
    @action(detail=False, methods=["get"], url_path="consent-form", url_name="form-pdf")
    def form_pdf(self, request: Request, reference: str, person_id: str, **kwargs) -> FileResponse:
        dossier = cared_for_dossier(request, reference)
        person = sequenced_person(request, dossier, person_id)
        return _download(
            default_storage.open(pdf.current_consent_form_path(person), "rb"),
            "application/pdf",
            f"{dossier.reference}-consentement-{person.pk}.pdf",
        )

    @extend_schema(
        responses={
            **{(200, content_type): OpenApiTypes.BINARY for content_type in SCAN_TYPES},
            403: TransitionErrorSerializer,
        },
        description="The signed consent form as scanned (404 when none, or once a withdrawn dossier is purged).",
    )
    @action(detail=False, methods=["get"], url_path="signed-consent", url_name="scan")
    def scan(self, request: Request, reference: str, person_id: str, **kwargs) -> FileResponse:
        dossier = cared_for_dossier(request, reference)
        person = sequenced_person(request, dossier, person_id)
        consent = selectors.consent_of(person)
        if consent is None or not consent.scan:
            raise NotFound(_("Aucun formulaire signé n'est enregistré pour cette personne."))
        content_type = consent.scan_content_type
        return _download(
            consent.scan.open("rb"),
            content_type,
            f"{dossier.reference}-consentement-signe-{person.pk}{SCAN_TYPES[content_type]}",
        )


def _download(file, content_type: str, filename: str) -> FileResponse:
    response = FileResponse(file, content_type=content_type, as_attachment=True, filename=filename)
    response["Cache-Control"] = "private, no-store"
    return response


# --- The ``withdraw`` transition ------------------------------------------------------------------------------
# On the pages, a dossier is withdrawn from its consents page: a person withdraws their whole consent, dated and
# with its circumstances. ``POST …/transitions/withdraw/`` does the same (``consent.apps`` registers it).


class WithdrawTransitionSerializer(serializers.Serializer):
    """What the withdrawal page asks when a person withdraws their whole consent."""

    person_id = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        min_value=1,
        max_value=2**31 - 1,
        help_text=gettext_lazy("La personne qui retire l'ensemble de son consentement (obligatoire)."),
    )
    withdrawn_on = serializers.DateField(required=False, allow_null=True, default=None)
    reason = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        default="",
        help_text=gettext_lazy("Circonstances du retrait."),
    )


def withdraw_through_api(*, dossier: Dossier, actor, data: dict, request) -> None:
    """Who may is checked before what is asked: a laboratory, an RCP member or an assistant (who cares for the
    dossier but may not stop it) gets a 403 whatever the body."""
    if not cares_for_dossier.test(actor, dossier):
        raise Refusal(_("Seuls ceux qui prennent en charge le dossier enregistrent un retrait."))
    if not TRANSITION_RULES["withdraw"].test(actor, dossier):
        raise Refusal(
            _(
                "Un retrait complet arrête le dossier : seuls le prescripteur, le ou la conseiller·ère en "
                "génétique de l'établissement et un administrateur peuvent l'enregistrer."
            )
        )
    if data["person_id"] is None:
        raise ServiceRefusal({"person_id": _("Indiquez la personne qui retire son consentement.")})
    person = selectors.person_for(actor, dossier, data["person_id"])
    consent = selectors.consent_of(person) if person is not None else None
    if consent is None:
        raise ServiceRefusal(
            {
                "person_id": _(
                    "Aucun consentement n'est enregistré pour cette personne du dossier : un dossier sans "
                    "consentement s'annule (action « cancel »)."
                )
            }
        )
    services.record_withdrawal(
        consent=consent,
        actor=actor,
        scope=Withdrawal.Scope.ALL,
        withdrawn_on=data["withdrawn_on"],
        reason=data["reason"],
    )
