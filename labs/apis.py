"""The laboratory side of the API: a dossier's samples, shipments (and their manifests) and reports, the
laboratory queue, and the laboratory transitions' bodies (registered from ``apps.LabsConfig.ready``).

The pages' own scope and rules (``views``): the dossier comes from ``prescriptions.apis.dossier_for`` (the
pages' selector), each action asks the rule its page asks, and every write goes through ``services``."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.http import FileResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from people import auth
from people.models import Laboratory, User
from prescriptions.apis import DossierDetailSerializer, TransitionErrorSerializer, dossier_for, refusals
from prescriptions.models import Dossier
from prescriptions.rules import REFUSAL_MESSAGES
from prescriptions.services import TransitionNotPermitted, transition_dossier

from . import rules, selectors, services
from .conditions import persons_to_sequence
from .forms import past_and_plausible, within_a_month
from .models import Report, Sample, Shipment
from .pdf import shipping_manifest_path

REFERENCE = r"dossiers/(?P<reference>[A-Za-z0-9-]{1,20})"
PDF = OpenApiResponse(OpenApiTypes.BINARY, description="Le PDF, en pièce jointe.")


class ErrorSerializer(serializers.Serializer):
    """A 400: a service's refusal (``detail``, and ``reasons`` when it names what is missing), or the body's
    field errors (each field named, with its messages)."""

    detail = serializers.CharField(required=False)
    reasons = serializers.ListField(child=serializers.CharField(), required=False)


ERRORS = {
    400: ErrorSerializer,
    403: TransitionErrorSerializer,
    404: TransitionErrorSerializer,
    409: TransitionErrorSerializer,
}


def _require(rule, actor, dossier: Dossier, transition: str) -> None:
    """The page's rule for this action: a 403 with the rule's own words when it is not the user's."""
    if not rule.test(actor, dossier):
        raise TransitionNotPermitted(str(REFUSAL_MESSAGES[transition]))


def _visible_files(request, dossier: Dossier) -> None:
    """A withdrawn dossier's files (manifests, reports) never reach its laboratory: 404, as on the pages."""
    if rules.identities_hidden.test(request.user, dossier):
        raise NotFound(_("Dossier inconnu ou hors de votre périmètre."))


class FileNegotiation(BaseContentNegotiation):
    """A download answers its PDF, or its refusal in JSON, whatever the client's Accept says (DRF would
    otherwise answer 406 to ``Accept: application/pdf`` before the file is even looked for)."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _pdf(name: str, filename: str) -> FileResponse:
    response = FileResponse(
        default_storage.open(name, "rb"),
        content_type="application/pdf",
        as_attachment=True,
        filename=filename,
    )
    response["Cache-Control"] = "private, no-store"
    return response


def _flat_errors(errors, prefix: str = "") -> list[str]:
    """A serializer's errors as lines naming their field ("samples.0.barcode : …")."""
    if isinstance(errors, dict):
        return [line for key, value in errors.items() for line in _flat_errors(value, f"{prefix}{key}.")]
    if isinstance(errors, list) and errors and all(isinstance(e, str) for e in errors):
        return [f"{prefix.rstrip('.')} : {e}" if prefix else str(e) for e in errors]
    if isinstance(errors, list):
        return [line for i, value in enumerate(errors) for line in _flat_errors(value, f"{prefix}{i}.")]
    return [f"{prefix.rstrip('.')} : {errors}" if prefix else str(errors)]


class TransitionBody(serializers.Serializer):
    """A transition's body: its field errors answered as every refusal of the transition endpoint is,
    ``{"detail": …, "reasons": [one line per field]}`` (``prescriptions.apis.TransitionErrorSerializer``)."""

    def is_valid(self, *, raise_exception: bool = False) -> bool:
        valid = super().is_valid(raise_exception=False)
        if not valid and raise_exception:
            reasons = _flat_errors(self.errors)
            raise ValidationError(
                {
                    "detail": _("Corps de la requête invalide : %(r)s") % {"r": " ; ".join(reasons)},
                    "reasons": reasons,
                }
            )
        return valid


# --- Samples and shipments ---------------------------------------------------------------------------------


class SampleSerializer(serializers.Serializer):
    """A tube: whose (the dossier's person, by id and relationship: no name), what, when, and its check."""

    id = serializers.IntegerField()
    person = serializers.IntegerField(source="person_id")
    relationship = serializers.CharField(source="person.relationship")
    sample_type = serializers.CharField()
    barcode = serializers.CharField()
    collected_on = serializers.DateField()
    collected_by = serializers.CharField()
    shipment = serializers.IntegerField(source="shipment_id", allow_null=True)
    check_result = serializers.ChoiceField(choices=Sample.Check.choices)
    check_reason = serializers.CharField()
    checked_at = serializers.DateTimeField(allow_null=True)
    recorded_at = serializers.DateTimeField()


class SampleCreateSerializer(serializers.Serializer):
    person = serializers.IntegerField(help_text=_("La personne prélevée (son id dans le dossier)."))
    sample_type = serializers.CharField(max_length=20)
    barcode = serializers.CharField(max_length=40)
    collected_on = serializers.DateField(validators=[past_and_plausible])
    collected_by = serializers.CharField(max_length=150)


class SampleViewSet(viewsets.GenericViewSet):
    """A dossier's samples; the prescribing side records them (``labs.services.record_sample``) while the dossier
    is finalised, then declares the shipment (transition ``ship_samples``)."""

    serializer_class = SampleSerializer
    pagination_class = None

    def get_queryset(self):  # the schema generator's; the actions read through the selectors
        return Sample.objects.none()

    @extend_schema(responses={200: SampleSerializer(many=True)})
    def list(self, request: Request, reference: str) -> Response:
        dossier = dossier_for(request, reference)
        return Response(SampleSerializer(selectors.samples_of(dossier), many=True).data)

    @extend_schema(request=SampleCreateSerializer, responses={201: SampleSerializer, **ERRORS})
    def create(self, request: Request, reference: str) -> Response:
        dossier = dossier_for(request, reference)
        body = SampleCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        with refusals():
            _require(rules.may_record_samples, request.user, dossier, "ship_samples")
            person = next((p for p in persons_to_sequence(dossier) if p.pk == data["person"]), None)
            if person is None:
                raise services.LabActionRefused(_("Cette personne n'est pas à séquencer dans ce dossier."))
            sample = services.record_sample(
                dossier=dossier,
                actor=request.user,
                person=person,
                sample_type=data["sample_type"],
                barcode=data["barcode"],
                collected_on=data["collected_on"],
                collected_by=data["collected_by"],
            )
        sample = Sample.objects.select_related("person").get(pk=sample.pk)
        return Response(SampleSerializer(sample).data, status=status.HTTP_201_CREATED)


class ShipmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    carrier = serializers.CharField()
    tracking_number = serializers.CharField()
    pickup_date = serializers.DateField()
    created_at = serializers.DateTimeField()
    declared_at = serializers.DateTimeField(allow_null=True)
    samples = serializers.SerializerMethodField()

    def get_samples(self, shipment) -> list[str]:
        return [sample.barcode for sample in shipment.samples.all()]


class ShipmentViewSet(viewsets.GenericViewSet):
    """A dossier's shipments, each with its tubes' barcodes and its manifest (bordereau) as a PDF."""

    serializer_class = ShipmentSerializer
    pagination_class = None
    lookup_value_regex = r"[0-9]{1,10}"

    def get_queryset(self):  # the schema generator's
        return Shipment.objects.none()

    @extend_schema(responses={200: ShipmentSerializer(many=True)})
    def list(self, request: Request, reference: str) -> Response:
        dossier = dossier_for(request, reference)
        return Response(ShipmentSerializer(selectors.shipments_of(dossier), many=True).data)

    @extend_schema(responses={(200, "application/pdf"): PDF, 404: TransitionErrorSerializer})
    @action(detail=True, methods=["get"], url_path="manifest", content_negotiation_class=FileNegotiation)
    def manifest(self, request: Request, reference: str, pk: str) -> FileResponse:
        dossier = dossier_for(request, reference)
        _visible_files(request, dossier)
        shipment = Shipment.objects.filter(pk=pk, dossier=dossier).first()
        if shipment is None:
            raise NotFound(_("Expédition inconnue dans ce dossier."))
        return _pdf(shipping_manifest_path(shipment), f"{dossier.reference}-bordereau-{shipment.pk}.pdf")


class ShipSamplesSerializer(TransitionBody):
    """``ship_samples``: the shipment of the samples recorded and not yet shipped, as the samples page asks."""

    carrier = serializers.CharField(max_length=100)
    tracking_number = serializers.CharField(max_length=60)
    pickup_date = serializers.DateField(validators=[within_a_month])


def ship_samples_through_api(*, dossier, actor, data, request) -> None:
    _require(rules.may_record_samples, actor, dossier, "ship_samples")
    services.ship_samples(
        dossier=dossier,
        actor=actor,
        carrier=data["carrier"],
        tracking_number=data["tracking_number"],
        pickup_date=data["pickup_date"],
    )


# --- Reception and pipeline --------------------------------------------------------------------------------


class SampleCheckSerializer(serializers.Serializer):
    barcode = serializers.CharField(max_length=40)
    conform = serializers.BooleanField()
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=services.SAMPLE_REASON_MAX_LENGTH,
        help_text=_("Le motif de non-conformité (obligatoire pour un tube non conforme)."),
    )


class ReceptionSerializer(TransitionBody):
    """``receive`` (every tube conform) or ``reject_samples`` (one or more not): each tube awaiting its check,
    by barcode, as the reception page asks."""

    samples = SampleCheckSerializer(many=True, allow_empty=False)


def check_samples_through_api(*, dossier, actor, data, request) -> None:
    name = data["_name"]
    _require(rules.may_check_samples, actor, dossier, name)
    checks = {item["barcode"]: item for item in data["samples"]}
    all_conform = all(item["conform"] for item in checks.values())
    if name == "receive" and not all_conform:
        raise services.LabActionRefused(
            _("Un tube non conforme renvoie le dossier au prescripteur : utilisez l'action reject_samples.")
        )
    if name == "reject_samples" and all_conform:
        raise services.LabActionRefused(_("Tous les tubes sont conformes : utilisez l'action receive."))
    pending = {sample.barcode: sample.pk for sample in services.samples_to_check(dossier)}
    unknown = sorted(set(checks) - set(pending))
    if unknown:
        raise services.LabActionRefused(
            _("Ces tubes n'attendent pas de contrôle dans ce dossier : %(codes)s.")
            % {"codes": ", ".join(unknown)}
        )
    results = {
        pending[barcode]: (item["conform"], item.get("reason", "")) for barcode, item in checks.items()
    }
    services.check_samples(dossier=dossier, actor=actor, results=results)


class SequencingSerializer(TransitionBody):
    """``start_sequencing``: the run and its quality figures, as the sequencing page asks."""

    run_identifier = serializers.CharField(max_length=80)
    mean_coverage = serializers.DecimalField(max_digits=6, decimal_places=1, min_value=0)
    pct_20x = serializers.DecimalField(max_digits=5, decimal_places=2, min_value=0, max_value=100)


def start_sequencing_through_api(*, dossier, actor, data, request) -> None:
    _require(rules.may_run_pipeline, actor, dossier, "start_sequencing")
    services.start_sequencing(
        dossier=dossier,
        actor=actor,
        run_identifier=data["run_identifier"],
        mean_coverage=data["mean_coverage"],
        pct_20x=data["pct_20x"],
    )


class AnalysisSerializer(TransitionBody):
    """``start_analysis``: the interpreter, a member of the dossier's laboratory (by username)."""

    interpreter = serializers.CharField(max_length=150)


def start_analysis_through_api(*, dossier, actor, data, request) -> None:
    _require(rules.may_run_pipeline, actor, dossier, "start_analysis")
    interpreter = services.interpreters_for(dossier).filter(username=data["interpreter"]).first()
    if interpreter is None:
        raise services.LabActionRefused(_("L'interprète doit être membre du laboratoire du dossier."))
    services.start_analysis(dossier=dossier, actor=actor, interpreter=interpreter)


class SignatureSerializer(TransitionBody):
    """``sign_report``: the biologist proves their identity again, with two factors, as the re-authentication
    page asks before a signature."""

    password = serializers.CharField(
        max_length=4096, trim_whitespace=False, write_only=True, style={"input_type": "password"}
    )
    otp = serializers.CharField(
        max_length=12, write_only=True, help_text=_("Le code à usage unique (TOTP) du ou de la biologiste.")
    )


def _strong_authentication(request, actor: User, password: str, otp: str):
    """Password and TOTP code of ``actor``, checked as the re-authentication page checks them
    (``people.auth.confirm_identity``: the lockout counts a wrong one): the moment of the proof, or a refusal."""
    if auth.confirmed_device(actor) is None:
        raise services.LabActionRefused(
            _("Pour signer, activez d'abord la double authentification (code à usage unique).")
        )
    if not auth.confirm_identity(request._request, actor, password, otp):
        raise services.LabActionRefused(_("Mot de passe ou code incorrect."))
    return timezone.now()


def sign_report_through_api(*, dossier, actor, data, request) -> None:
    _require(rules.may_sign_report, actor, dossier, "sign_report")
    draft = Report.objects.filter(dossier=dossier, signed_at__isnull=True).order_by("-version").first()
    if draft is None:
        raise services.LabActionRefused(_("Aucun compte rendu à signer."))
    proved_at = _strong_authentication(request, actor, data["password"], data["otp"])
    services.sign_report(report=draft, actor=actor, strong_auth_at=proved_at)


class DeliverySerializer(TransitionBody):
    """``deliver_report`` by the laboratory: a delivery made through another channel, and which."""

    reason = serializers.CharField(
        max_length=10_000, help_text=_("Comment le compte rendu a été transmis au prescripteur.")
    )


def deliver_report_through_api(*, dossier, actor, data, request) -> None:
    transition_dossier(dossier=dossier, name="deliver_report", actor=actor, reason=data["reason"])


TRANSITIONS = {
    "ship_samples": (ShipSamplesSerializer, ship_samples_through_api),
    "receive": (ReceptionSerializer, check_samples_through_api),
    "reject_samples": (ReceptionSerializer, check_samples_through_api),
    "start_sequencing": (SequencingSerializer, start_sequencing_through_api),
    "start_analysis": (AnalysisSerializer, start_analysis_through_api),
    "sign_report": (SignatureSerializer, sign_report_through_api),
    "deliver_report": (DeliverySerializer, deliver_report_through_api),
}


# --- Reports -----------------------------------------------------------------------------------------------


class ReportSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField()
    source = serializers.ChoiceField(choices=Report.Source.choices)
    conclusion = serializers.CharField()
    variants = serializers.CharField()
    additional_findings = serializers.CharField()
    amends = serializers.IntegerField(source="amends_id", allow_null=True)
    amendment_reason = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    created_at = serializers.DateTimeField()
    signed = serializers.BooleanField(source="is_signed")
    signed_by = serializers.CharField(source="signed_by.username", allow_null=True, default=None)
    signed_at = serializers.DateTimeField(allow_null=True)
    signed_sha256 = serializers.CharField()


class ReportUploadSerializer(serializers.Serializer):
    """A report written elsewhere, deposited as a PDF (multipart/form-data)."""

    file = serializers.FileField(help_text=_("Le compte rendu (PDF)."))
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=1000, help_text=_("Le motif, pour une rectification.")
    )


class ReportComposeSerializer(serializers.Serializer):
    """A report composed from its structured fields (application/json): the portal lays out its PDF."""

    conclusion = serializers.ChoiceField(choices=Report.Conclusion.choices)
    variants = serializers.CharField(required=False, allow_blank=True, max_length=10000)
    additional_findings = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=1000, help_text=_("Le motif, pour une rectification.")
    )


class ReportViewSet(viewsets.GenericViewSet):
    """A dossier's report versions (drafts only to its laboratory), a new version deposited or composed by the
    laboratory, and each version's PDF. The prescriber's first download of the signed report delivers it."""

    serializer_class = ReportSerializer
    pagination_class = None
    lookup_value_regex = r"[0-9]{1,10}"
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_queryset(self):  # the schema generator's
        return Report.objects.none()

    def _dossier(self, request: Request, reference: str) -> Dossier:
        dossier = dossier_for(request, reference)
        _visible_files(request, dossier)
        return dossier

    @extend_schema(responses={200: ReportSerializer(many=True), 404: TransitionErrorSerializer})
    def list(self, request: Request, reference: str) -> Response:
        dossier = self._dossier(request, reference)
        return Response(ReportSerializer(selectors.reports_of(dossier, request.user), many=True).data)

    @extend_schema(
        request={"multipart/form-data": ReportUploadSerializer, "application/json": ReportComposeSerializer},
        responses={201: ReportSerializer, **ERRORS},
        description=(
            "A new version of the report, awaiting a biologist's signature: a PDF deposited (multipart/form-data, "
            "field `file`) or composed from its fields (application/json). Once a version is signed, a new one "
            "rectifies it and needs a `reason`."
        ),
    )
    def create(self, request: Request, reference: str) -> Response:
        dossier = self._dossier(request, reference)
        uploading = "file" in request.data or (request.content_type or "").startswith("multipart/")
        body = (ReportUploadSerializer if uploading else ReportComposeSerializer)(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        with refusals():
            if not rules.may_prepare_report.test(request.user, dossier):
                raise TransitionNotPermitted(
                    _("Seul le personnel du laboratoire du dossier peut préparer le compte rendu.")
                )
            latest = Report.objects.filter(dossier=dossier).order_by("-version").first()
            amends = latest if latest is not None and latest.is_signed else None
            if uploading:
                report = services.upload_report(
                    dossier=dossier,
                    actor=request.user,
                    uploaded=data["file"],
                    amends=amends,
                    reason=data.get("reason", ""),
                )
            else:
                report = services.compose_report(dossier=dossier, actor=request.user, amends=amends, **data)
        report = Report.objects.select_related("signed_by").get(pk=report.pk)
        return Response(ReportSerializer(report).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={(200, "application/pdf"): PDF, **ERRORS},
        description=(
            "The version's PDF (the signed one once signed). The prescriber's first download of the signed report "
            "is its delivery (transition deliver_report), as on the report's page."
        ),
    )
    @action(detail=True, methods=["get"], url_path="download", content_negotiation_class=FileNegotiation)
    def download(self, request: Request, reference: str, pk: str) -> FileResponse:
        dossier = self._dossier(request, reference)
        try:
            item = selectors.visible_report(request.user, int(pk))
        except Report.DoesNotExist:
            item = None
        if item is None or item.dossier_id != dossier.pk:
            raise NotFound(_("Compte rendu inconnu dans ce dossier."))
        item = services.ensure_report_file(item)
        if not item.document:
            raise NotFound(_("Le PDF du compte rendu n'est pas encore prêt."))
        with refusals():
            services.record_download(report=item, user=request.user)
        return _pdf(item.document.name, f"{dossier.reference}-compte-rendu-v{item.version}.pdf")


# --- Routing and signature verification --------------------------------------------------------------------


class RoutingOverrideSerializer(serializers.Serializer):
    """The routing page's form: another laboratory (by code), and why."""

    laboratory = serializers.CharField(max_length=30, help_text=_("Le laboratoire (son code)."))
    reason = serializers.CharField(max_length=1000, help_text=_("Le motif de l'orientation."))

    def validate_laboratory(self, code: str) -> Laboratory:
        laboratory = Laboratory.objects.filter(code=code).first()
        if laboratory is None:
            raise serializers.ValidationError(_("Laboratoire inconnu : « %(code)s ».") % {"code": code})
        return laboratory


class RoutingView(APIView):
    """``POST /api/v1/dossiers/{reference}/routing/``: the RCP-FMG's coordination or an administrator sends the
    dossier to another laboratory, with a reason (``services.override_routing``), as on the routing page."""

    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(
        request=RoutingOverrideSerializer,
        responses={200: DossierDetailSerializer, **ERRORS},
        description=(
            "Override the dossier's laboratory (submitted, validated or finalised dossiers): the coordination of "
            "its RCP-FMG or an administrator, with a reason. Answers the dossier."
        ),
    )
    def post(self, request: Request, reference: str) -> Response:
        dossier = dossier_for(request, reference)
        if not rules.may_override_routing.test(request.user, dossier):
            raise PermissionDenied(_("Vous ne pouvez pas changer l'orientation de ce dossier."))
        body = RoutingOverrideSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        with refusals():
            services.override_routing(
                dossier=dossier,
                actor=request.user,
                laboratory=body.validated_data["laboratory"],
                reason=body.validated_data["reason"],
            )
        dossier = dossier_for(request, reference)
        return Response(DossierDetailSerializer(dossier, context={"request": request}).data)


class VerifyReportSerializer(serializers.Serializer):
    file = serializers.FileField(help_text=_("Le compte rendu signé (PDF) ; il n'est pas conservé."))


class KnownReportSerializer(serializers.Serializer):
    reference = serializers.CharField(source="dossier.reference")
    version = serializers.IntegerField()
    signed_by = serializers.CharField(source="signed_by.username", allow_null=True, default=None)
    signed_at = serializers.DateTimeField()


class VerificationSerializer(serializers.Serializer):
    """What the verification page shows: the verdict, the signer and the time, and the portal's report the
    file is, only when the user may see that report (``selectors.signed_report_with_digest``)."""

    ok = serializers.BooleanField(help_text=_("Signature valide et d'une autorité de confiance."))
    signed = serializers.BooleanField()
    intact = serializers.BooleanField()
    covers_whole_file = serializers.BooleanField()
    valid = serializers.BooleanField()
    trusted = serializers.BooleanField()
    subject = serializers.CharField(help_text=_("Le certificat du signataire."))
    signer_name = serializers.CharField()
    reason = serializers.CharField()
    signed_at = serializers.DateTimeField(allow_null=True)
    timestamped_at = serializers.DateTimeField(allow_null=True)
    problems = serializers.ListField(child=serializers.CharField())
    sha256 = serializers.CharField()
    report = KnownReportSerializer(
        allow_null=True,
        help_text=_(
            "Le compte rendu du portail que ce fichier est, s'il fait partie de ceux que vous voyez."
        ),
    )


class VerifyErrorSerializer(serializers.Serializer):
    file = serializers.ListField(child=serializers.CharField(), required=False)
    detail = serializers.CharField(required=False)


class VerifyReportView(APIView):
    """``POST /api/v1/reports/verify/``: the verification page, for a program (multipart, field ``file``)."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        request={"multipart/form-data": VerifyReportSerializer},
        responses={200: VerificationSerializer, 400: VerifyErrorSerializer},
        description=(
            "Check a PDF's PAdES signature (integrity, the laboratory's certificate, the signing time). The file "
            "is not kept. `report` names the portal's report it is only to whoever may see that report."
        ),
    )
    def post(self, request: Request) -> Response:
        from .signing import verify_pdf

        body = VerifyReportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        uploaded = body.validated_data["file"]
        try:
            services.check_report_size(uploaded)
        except services.LabActionRefused as exc:
            raise ValidationError({"file": [str(exc)]}) from exc
        result = verify_pdf(uploaded.read())
        known = selectors.signed_report_with_digest(request.user, result.sha256)
        data = {**result.__dict__, "ok": result.ok, "report": known}
        response = Response(VerificationSerializer(data).data)
        response["Cache-Control"] = "private, no-store"
        return response


# --- The laboratory queue ----------------------------------------------------------------------------------


class QueueRowSerializer(serializers.Serializer):
    reference = serializers.CharField()
    status = serializers.ChoiceField(choices=Dossier.Status.choices)
    status_since = serializers.DateTimeField(allow_null=True)
    waiting_days = serializers.IntegerField(source="waiting", allow_null=True)
    laboratory = serializers.CharField(source="laboratory.code")
    pre_indication = serializers.CharField(source="pre_indication_version.name")
    prescriber = serializers.CharField(source="prescriber.username")
    establishment = serializers.CharField(source="establishment.finess", allow_null=True)
    index = serializers.CharField(allow_null=True, help_text=_("Le cas index (NOM Prénoms)."))


class LaboratoryQueuePageSerializer(serializers.Serializer):
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = QueueRowSerializer(many=True)


QUEUE_PARAMETERS = [
    OpenApiParameter(
        "status",
        str,
        enum=[s.value for s in selectors.QUEUE_STATUSES],
        description="Les dossiers à ce statut (par défaut : tous les statuts de travail).",
    ),
    OpenApiParameter(
        "q", str, description="Recherche : début de la référence, du code-barres d'un tube ou d'un run."
    ),
    OpenApiParameter("cursor", str, description="La page suivante ou précédente (liens next / previous)."),
]


class LaboratoryQueueViewSet(viewsets.GenericViewSet):
    """A laboratory's incoming queue, oldest wait first, for its staff (the queue page's selector)."""

    serializer_class = QueueRowSerializer
    pagination_class = None

    def get_queryset(self):  # the schema generator's
        return Dossier.objects.none()

    @extend_schema(
        parameters=QUEUE_PARAMETERS,
        responses={
            200: LaboratoryQueuePageSerializer,
            403: TransitionErrorSerializer,
            404: TransitionErrorSerializer,
        },
    )
    def list(self, request: Request, code: str) -> Response:
        if not rules.is_laboratory_member.test(request.user):
            raise PermissionDenied(_("Cet espace est réservé au personnel des laboratoires."))
        laboratory = next((lab for lab in selectors.laboratories_of(request.user) if lab.code == code), None)
        if laboratory is None:
            raise NotFound(_("Laboratoire inconnu ou dont vous n'êtes pas membre."))
        page, _found = selectors.queue_page(
            request.user,
            status=request.query_params.get("status", ""),
            search=request.query_params.get("q", "").strip()[:100],
            cursor=request.query_params.get("cursor"),
            laboratories=[laboratory],
        )
        links = {}
        for name, cursor in (("next", page.next_cursor), ("previous", page.previous_cursor)):
            links[name] = None
            if cursor:
                query_string = request.query_params.copy()
                query_string["cursor"] = cursor
                links[name] = request.build_absolute_uri(f"{request.path}?{query_string.urlencode()}")
        return Response({**links, "results": QueueRowSerializer(page.object_list, many=True).data})


def register() -> None:
    """Called from ``LabsConfig.ready``: the laboratory transitions' bodies, and this app's refusals."""
    from prescriptions.api_transitions import register_api_transition, register_refusal

    for name, (serializer, handler) in TRANSITIONS.items():
        register_api_transition(name, serializer=serializer, handler=handler)
    register_refusal(services.LabActionRefused, status.HTTP_400_BAD_REQUEST)
    register_refusal(services.RoutingError, status.HTTP_400_BAD_REQUEST)
