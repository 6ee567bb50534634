"""Laboratory-side writes on a dossier: routing, samples and shipments, reception, the sequencing pipeline,
reports and their signature, downloads. Each write that comes with a transition fires it in the same
transaction (``prescriptions.services.transition_dossier``), so a refusal leaves nothing half-written."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from contextvars import ContextVar
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from people.models import Laboratory, LaboratoryMembership, Territory, User
from pfmg.renders import queue_render
from prescriptions.drafting import sniff_content_type
from prescriptions.models import Category, Dossier, DossierEvent, DossierPerson, SampleType
from prescriptions.rules import REFUSAL_MESSAGES
from prescriptions.services import TransitionNotPermitted, save_dossier, transition_dossier

from . import rules
from .models import AnalysisAssignment, Report, ReportDownload, Sample, SequencingRun, Shipment

S = Dossier.Status
REPORT_MAX_BYTES = 30_000_000

SAMPLE_REASON_MAX_LENGTH = 500


class RoutingError(ValueError):
    pass


class LabActionRefused(ValueError):
    """A laboratory-side action that cannot happen: the message says why, in the user's language."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_report_size(uploaded) -> None:
    """A report PDF, deposited or given to the verification page: not empty, within REPORT_MAX_BYTES."""
    if uploaded.size == 0:
        raise LabActionRefused(_("Le fichier est vide."))
    if uploaded.size > REPORT_MAX_BYTES:
        raise LabActionRefused(
            _("Le fichier fait %(size).1f Mo : la limite est de %(limit)d Mo.")
            % {"size": uploaded.size / 1_000_000, "limit": REPORT_MAX_BYTES // 1_000_000}
        )


# --- Routing --------------------------------------------------------------------------------------------


def laboratory_for(dossier: Dossier) -> Laboratory:
    """The laboratory serving the prescribing establishment's region (the admin-editable territory table)."""
    region = dossier.establishment.department.region
    try:
        return Territory.objects.select_related("laboratory").get(region=region).laboratory
    except Territory.DoesNotExist:
        raise RoutingError(
            _("Aucun laboratoire n'est attribué à la région %(region)s : complétez la table des territoires.")
            % {"region": region.name}
        ) from None


@transaction.atomic
def route_dossier(
    *,
    dossier: Dossier,
    actor: User | None,
    laboratory: Laboratory | None = None,
    reason: str = "",
    at: datetime | None = None,
) -> Laboratory:
    """Assign the dossier's laboratory: by territory, or ``laboratory`` as an override (reason required)."""
    if laboratory is not None and not reason.strip():
        raise RoutingError(_("Un motif est obligatoire pour orienter un dossier hors de son territoire."))
    lab = laboratory or laboratory_for(dossier)
    now = at or timezone.now()
    dossier.laboratory = lab
    dossier.updated_at = now
    save_dossier(dossier, update_fields=["laboratory", "updated_at"])
    DossierEvent.objects.create(
        dossier=dossier,
        kind=DossierEvent.Kind.ROUTED,
        actor=actor,
        at=now,
        reason=reason.strip() or _("Orienté vers %(lab)s selon le territoire.") % {"lab": lab.name},
    )
    return lab


@transaction.atomic
def override_routing(*, dossier: Dossier, actor: User, laboratory: Laboratory, reason: str) -> Laboratory:
    """A coordinator's or an administrator's choice of another laboratory, with its recorded reason."""
    if not rules.may_override_routing.test(actor, dossier):
        raise LabActionRefused(
            _(
                "Seuls la coordination de la RCP-FMG du dossier et un administrateur peuvent changer son orientation."
            )
        )
    if dossier.status not in rules.ROUTABLE_STATES:
        raise LabActionRefused(
            _("Le dossier %(ref)s ne peut plus être orienté : il est au statut « %(status)s ».")
            % {"ref": dossier.reference, "status": Dossier.Status(dossier.status).label}
        )
    try:
        return route_dossier(dossier=dossier, actor=actor, laboratory=laboratory, reason=reason)
    except RoutingError as exc:
        raise LabActionRefused(str(exc)) from exc


def route_on_validation(sender, *, dossier: Dossier, event: DossierEvent, **kwargs) -> None:
    """A validated dossier goes to the laboratory of its territory (inside the validation's transaction). A
    region with no laboratory leaves it unrouted: finalising then says so, and the coordination overrides."""
    if event.transition != "validate" or dossier.laboratory_id:
        return
    try:
        laboratory_for(dossier)
    except RoutingError:
        return
    route_dossier(dossier=dossier, actor=None, at=event.at)


# --- Samples and shipments ----------------------------------------------------------------------------


def allowed_sample_types(dossier: Dossier) -> list[str]:
    """The pre-indication's sample types, plus FFPE for a cancer dossier from an overseas region."""
    version = dossier.pre_indication_version
    allowed = list(version.sample_types or [])
    overseas = dossier.establishment.department.region.overseas
    if version.pre_indication.category == Category.CANCER and overseas and SampleType.FFPE not in allowed:
        allowed.append(SampleType.FFPE.value)
    return allowed


def _refuse_unless(rule, actor: User, dossier: Dossier, transition: str) -> None:
    if not rule.test(actor, dossier):
        raise LabActionRefused(str(REFUSAL_MESSAGES[transition]))


def _refuse_unless_status(dossier: Dossier, statuses, action: str) -> None:
    if dossier.status not in statuses:
        raise LabActionRefused(
            _("%(action)s impossible : le dossier %(ref)s est au statut « %(status)s ».")
            % {"action": action, "ref": dossier.reference, "status": Dossier.Status(dossier.status).label}
        )


@transaction.atomic
def record_sample(
    *,
    dossier: Dossier,
    actor: User,
    person: DossierPerson,
    sample_type: str,
    barcode: str,
    collected_on: dt.date,
    collected_by: str,
    at: datetime | None = None,
) -> Sample:
    _refuse_unless(rules.may_record_samples, actor, dossier, "ship_samples")
    _refuse_unless_status(dossier, [S.FINALISED], _("Enregistrement d'un prélèvement"))
    if person.dossier_id != dossier.pk or not person.to_be_sequenced:
        raise LabActionRefused(_("Cette personne n'est pas à séquencer dans ce dossier."))
    if sample_type not in allowed_sample_types(dossier):
        raise LabActionRefused(
            _("Le type « %(type)s » n'est pas admis pour cette pré-indication.")
            % {"type": SampleType(sample_type).label if sample_type in SampleType.values else sample_type}
        )
    barcode = barcode.strip()
    if not barcode:
        raise LabActionRefused(_("Le code-barres du tube est obligatoire."))
    if Sample.objects.filter(barcode=barcode).exists():
        raise LabActionRefused(_("Le code-barres %(code)s est déjà enregistré.") % {"code": barcode})
    now = at or timezone.now()
    if collected_on > timezone.localdate(now):
        raise LabActionRefused(_("La date du prélèvement ne peut pas être dans le futur."))
    if not collected_by.strip():
        raise LabActionRefused(_("Le nom du préleveur est obligatoire."))
    return Sample.objects.create(
        dossier=dossier,
        person=person,
        sample_type=sample_type,
        barcode=barcode,
        collected_on=collected_on,
        collected_by=collected_by.strip(),
        recorded_by=actor,
        recorded_at=now,
    )


def unshipped_samples(dossier: Dossier):
    return Sample.objects.filter(dossier=dossier, shipment__isnull=True).exclude(
        check_result=Sample.Check.NON_CONFORM
    )


@transaction.atomic
def create_shipment(
    *,
    dossier: Dossier,
    actor: User,
    carrier: str,
    tracking_number: str,
    pickup_date: dt.date,
    at: datetime | None = None,
) -> Shipment:
    """Group the samples recorded and not yet shipped; the manifest is rendered once this commits."""
    from .tasks import render_shipping_manifest

    _refuse_unless(rules.may_record_samples, actor, dossier, "ship_samples")
    _refuse_unless_status(dossier, [S.FINALISED], _("Déclaration d'une expédition"))
    if not carrier.strip() or not tracking_number.strip():
        raise LabActionRefused(_("Le transporteur et le numéro de suivi sont obligatoires."))
    samples = list(unshipped_samples(dossier))
    if not samples:
        raise LabActionRefused(_("Aucun prélèvement à expédier : enregistrez d'abord les prélèvements."))
    shipment = Shipment.objects.create(
        dossier=dossier,
        carrier=carrier.strip(),
        tracking_number=tracking_number.strip(),
        pickup_date=pickup_date,
        created_by=actor,
        created_at=at or timezone.now(),
    )
    Sample.objects.filter(pk__in=[s.pk for s in samples]).update(shipment=shipment)
    transaction.on_commit(lambda pk=shipment.pk: queue_render(render_shipping_manifest, pk))
    return shipment


@transaction.atomic
def ship_samples(
    *,
    dossier: Dossier,
    actor: User,
    carrier: str,
    tracking_number: str,
    pickup_date: dt.date,
    at: datetime | None = None,
) -> Shipment:
    """The shipment and the ``ship_samples`` transition, at once (or neither)."""
    shipment = create_shipment(
        dossier=dossier,
        actor=actor,
        carrier=carrier,
        tracking_number=tracking_number,
        pickup_date=pickup_date,
        at=at,
    )
    transition_dossier(dossier=dossier, name="ship_samples", actor=actor, at=at)
    shipment.refresh_from_db()
    return shipment


def declare_shipments(sender, *, dossier: Dossier, event: DossierEvent, **kwargs) -> None:
    """``ship_samples`` declares the shipments made since the last one (inside the transition's transaction)."""
    if event.transition == "ship_samples":
        Shipment.objects.filter(dossier=dossier, declared_at__isnull=True).update(declared_at=event.at)


# --- Reception ----------------------------------------------------------------------------------------


def samples_to_check(dossier: Dossier):
    return (
        Sample.objects.filter(
            dossier=dossier, shipment__declared_at__isnull=False, check_result=Sample.Check.PENDING
        )
        .select_related("person__patient", "shipment")
        .order_by("id")
    )


@transaction.atomic
def check_samples(
    *, dossier: Dossier, actor: User, results: dict[int, tuple[bool, str]], at: datetime | None = None
) -> DossierEvent:
    """Record each sample's check (``results``: sample id -> (conform, reason)). All conform: the dossier is
    received; any non-conform: it goes back to the prescriber (``reject_samples``) with what to send again."""
    _refuse_unless(rules.may_check_samples, actor, dossier, "receive")
    _refuse_unless_status(dossier, [S.SAMPLES_SHIPPED], _("Contrôle des prélèvements"))
    now = at or timezone.now()
    pending = {s.pk: s for s in samples_to_check(dossier)}
    if not pending:
        raise LabActionRefused(_("Aucun prélèvement à contrôler dans ce dossier."))
    unanswered = [s.barcode for pk, s in pending.items() if pk not in results]
    if unanswered:
        raise LabActionRefused(
            _("Indiquez si chaque prélèvement est conforme : %(codes)s.") % {"codes": ", ".join(unanswered)}
        )
    rejected = []
    for pk, sample in pending.items():
        conform, reason = results[pk]
        reason = (reason or "").strip()
        if len(reason) > SAMPLE_REASON_MAX_LENGTH:
            raise LabActionRefused(
                _("Le motif de non-conformité d'un tube fait au plus %(max)d caractères.")
                % {"max": SAMPLE_REASON_MAX_LENGTH}
            )
        if not conform and not reason:
            raise LabActionRefused(
                _("Indiquez le motif de non-conformité du prélèvement %(code)s.") % {"code": sample.barcode}
            )
        sample.check_result = Sample.Check.CONFORM if conform else Sample.Check.NON_CONFORM
        sample.check_reason = "" if conform else reason
        sample.checked_by = actor
        sample.checked_at = now
        sample.save(update_fields=["check_result", "check_reason", "checked_by", "checked_at"])
        if not conform:
            rejected.append(sample)
    if not rejected:
        return transition_dossier(dossier=dossier, name="receive", actor=actor, at=now)
    lines = [
        _("À envoyer de nouveau — %(who)s, %(type)s (tube %(code)s) : %(reason)s")
        % {
            "who": sample.person.get_relationship_display(),
            "type": sample.get_sample_type_display(),
            "code": sample.barcode,
            "reason": sample.check_reason,
        }
        for sample in rejected
    ]
    return transition_dossier(
        dossier=dossier, name="reject_samples", actor=actor, reason="\n".join(lines), at=now
    )


def conform_on_reception(sender, *, dossier: Dossier, event: DossierEvent, **kwargs) -> None:
    """``receive`` records the samples still unchecked as conform, by whoever received, at that moment."""
    if event.transition == "receive":
        Sample.objects.filter(
            dossier=dossier, shipment__declared_at__isnull=False, check_result=Sample.Check.PENDING
        ).update(check_result=Sample.Check.CONFORM, checked_by=event.actor, checked_at=event.at)


# --- Pipeline -----------------------------------------------------------------------------------------


@transaction.atomic
def start_sequencing(
    *,
    dossier: Dossier,
    actor: User,
    run_identifier: str,
    mean_coverage: Decimal,
    pct_20x: Decimal,
    at: datetime | None = None,
) -> SequencingRun:
    _refuse_unless(rules.may_run_pipeline, actor, dossier, "start_sequencing")
    _refuse_unless_status(dossier, [S.RECEIVED], _("Lancement du séquençage"))
    if not run_identifier.strip():
        raise LabActionRefused(_("L'identifiant du run est obligatoire."))
    if mean_coverage is None or mean_coverage < 0:
        raise LabActionRefused(_("La profondeur moyenne doit être un nombre positif."))
    if pct_20x is None or not 0 <= pct_20x <= 100:
        raise LabActionRefused(_("La part du génome couverte à 20x doit être comprise entre 0 et 100 %."))
    now = at or timezone.now()
    run = SequencingRun.objects.create(
        dossier=dossier,
        run_identifier=run_identifier.strip(),
        mean_coverage=mean_coverage,
        pct_20x=pct_20x,
        recorded_by=actor,
        recorded_at=now,
    )
    transition_dossier(dossier=dossier, name="start_sequencing", actor=actor, at=now)
    return run


def interpreters_for(dossier: Dossier):
    return User.objects.filter(
        laboratory_memberships__laboratory_id=dossier.laboratory_id, is_active=True
    ).order_by("last_name", "first_name")


@transaction.atomic
def start_analysis(
    *, dossier: Dossier, actor: User, interpreter: User, at: datetime | None = None
) -> AnalysisAssignment:
    _refuse_unless(rules.may_run_pipeline, actor, dossier, "start_analysis")
    _refuse_unless_status(dossier, [S.SEQUENCING], _("Lancement de l'analyse"))
    if not LaboratoryMembership.objects.filter(
        user=interpreter, laboratory_id=dossier.laboratory_id
    ).exists():
        raise LabActionRefused(_("L'interprète doit être membre du laboratoire du dossier."))
    now = at or timezone.now()
    assignment = AnalysisAssignment.objects.create(
        dossier=dossier, interpreter=interpreter, assigned_by=actor, assigned_at=now
    )
    transition_dossier(dossier=dossier, name="start_analysis", actor=actor, at=now)
    return assignment


# --- Reports ------------------------------------------------------------------------------------------

AMENDABLE_STATES = (S.REPORT_SIGNED, S.REPORT_DELIVERED, S.CLOSED)


def may_report_additional_findings(person: DossierPerson) -> bool:
    """Whether the person consented to be told of additional findings (the consent app decides; without it,
    nothing is reported: the cautious answer)."""
    try:
        from consent.selectors import may_report_additional_findings as consent_allows
    except ImportError:
        return False
    return bool(consent_allows(person))


def _report_target(
    dossier: Dossier, actor: User, amends: Report | None, reason: str
) -> tuple[int, Report | None]:
    """The version number of a new report, after checking it may be written now."""
    if not rules.may_prepare_report.test(actor, dossier):
        raise LabActionRefused(
            _("Seul le personnel du laboratoire du dossier peut préparer le compte rendu.")
        )
    latest = Report.objects.filter(dossier=dossier).order_by("-version").first()
    if amends is None:
        _refuse_unless_status(dossier, [S.ANALYSIS], _("Préparation du compte rendu"))
        if latest is not None and latest.is_signed:
            raise LabActionRefused(_("Un compte rendu est déjà signé : rédigez une rectification."))
    else:
        _refuse_unless_status(dossier, AMENDABLE_STATES, _("Rectification du compte rendu"))
        if amends.dossier_id != dossier.pk or not amends.is_signed:
            raise LabActionRefused(_("Seul un compte rendu signé de ce dossier peut être rectifié."))
        if latest is not None and latest.pk != amends.pk:
            raise LabActionRefused(_("Rectifiez la dernière version du compte rendu."))
        if not reason.strip():
            raise LabActionRefused(_("Le motif de la rectification est obligatoire."))
    if latest is not None and not latest.is_signed:
        # An unsigned draft is replaced, never kept beside the new one. Its file goes once the new version is
        # committed: a refusal after this point (not a PDF, a conclusion without variants) rolls the row back,
        # and the file must still be there for it.
        if latest.file:
            name = latest.file.name
            transaction.on_commit(lambda: default_storage.delete(name))
        latest.delete()
        latest = Report.objects.filter(dossier=dossier).order_by("-version").first()
    return (latest.version + 1 if latest else 1), amends


@transaction.atomic
def upload_report(
    *,
    dossier: Dossier,
    actor: User,
    uploaded,
    amends: Report | None = None,
    reason: str = "",
    at: datetime | None = None,
) -> Report:
    """A report written elsewhere, deposited as a PDF (the type is read from the content)."""
    version, amends = _report_target(dossier, actor, amends, reason)
    check_report_size(uploaded)
    uploaded.seek(0)
    content = uploaded.read()
    if sniff_content_type(content[:16]) != "application/pdf":
        raise LabActionRefused(
            _("« %(name)s » n'est pas un PDF (type lu dans le contenu du fichier).") % {"name": uploaded.name}
        )
    report = Report(
        dossier=dossier,
        version=version,
        source=Report.Source.UPLOADED,
        amends=amends,
        amendment_reason=reason.strip() if amends else "",
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        created_by=actor,
        created_at=at or timezone.now(),
    )
    report.file.save("report.pdf", ContentFile(content), save=False)
    report.save()
    return report


@transaction.atomic
def compose_report(
    *,
    dossier: Dossier,
    actor: User,
    conclusion: str,
    variants: str = "",
    additional_findings: str = "",
    amends: Report | None = None,
    reason: str = "",
    at: datetime | None = None,
) -> Report:
    """A report composed from structured fields; its PDF is laid out by the ``render_report`` task."""
    from .tasks import render_report

    version, amends = _report_target(dossier, actor, amends, reason)
    if conclusion not in Report.Conclusion.values:
        raise LabActionRefused(_("Choisissez la conclusion du compte rendu."))
    if conclusion in (Report.Conclusion.POSITIVE, Report.Conclusion.UNCERTAIN) and not variants.strip():
        raise LabActionRefused(_("Listez le ou les variants qui fondent cette conclusion."))
    if additional_findings.strip():
        index = dossier.persons.filter(relationship=DossierPerson.Relationship.INDEX).first()
        if index is None or not may_report_additional_findings(index):
            raise LabActionRefused(
                _(
                    "Les données additionnelles ne peuvent pas être rapportées : la personne n'y a pas "
                    "consenti (ou son consentement n'est pas enregistré)."
                )
            )
    report = Report.objects.create(
        dossier=dossier,
        version=version,
        source=Report.Source.COMPOSED,
        conclusion=conclusion,
        variants=variants.strip(),
        additional_findings=additional_findings.strip(),
        amends=amends,
        amendment_reason=reason.strip() if amends else "",
        created_by=actor,
        created_at=at or timezone.now(),
    )
    transaction.on_commit(lambda pk=report.pk: queue_render(render_report, pk))
    return report


def ensure_report_file(report: Report) -> Report:
    """The report with its PDF: laid out now if the task has not done it yet (same code as the task)."""
    from . import pdf

    if not report.file and report.source == Report.Source.COMPOSED:
        report = pdf.store_report_file(pdf.report_for_rendering(report.pk))
    return report


@transaction.atomic
def _record_signature(report: Report, signer: User, at: datetime) -> Report:
    """The laboratory's PAdES signature on the report's PDF, naming ``signer``: the signed PDF is stored beside
    the unsigned one, and the report records both hashes. Refused, leaving the report unsigned, when the
    laboratory has no usable certificate."""
    from . import signing

    # Two biologists signing at once: the second waits here, then finds it signed (one signed file, not two).
    if not Report.objects.select_for_update().filter(pk=report.pk, signed_at__isnull=True).exists():
        raise LabActionRefused(_("Ce compte rendu est déjà signé."))
    digest = report.stored_sha256()
    if digest is None or digest != report.sha256:
        raise LabActionRefused(
            _("Le fichier du compte rendu a été modifié depuis son dépôt : déposez-le à nouveau.")
        )
    with default_storage.open(str(report.file.name), "rb") as stored:
        original = stored.read()
    try:
        signed = signing.sign_pdf(
            original,
            laboratory=report.dossier.laboratory,
            signer_name=signer.get_full_name() or signer.get_username(),
        )
    except signing.SigningUnavailable as exc:
        raise LabActionRefused(exc.message) from exc
    report.signed_by = signer
    report.signed_at = at
    report.signed_sha256 = hashlib.sha256(signed.data).hexdigest()
    report.signature_subject = signed.subject
    report.signed_file.save("signed.pdf", ContentFile(signed.data), save=False)
    report.save(update_fields=["signed_by", "signed_at", "signed_sha256", "signed_file", "signature_subject"])
    return report


# True only while ``sign_report`` (which checked the strong-authentication proof) fires the transition: a
# ``sign_report`` fired any other way (the generic transition page, the admin) has no proof and is refused.
_signing_with_proof: ContextVar[bool] = ContextVar("signing_with_proof", default=False)


def sign_on_transition(sender, *, dossier: Dossier, event: DossierEvent, **kwargs) -> None:
    """``sign_report`` signs the report awaiting signature, as the biologist who fired it, at that moment."""
    if event.transition != "sign_report":
        return
    if not _signing_with_proof.get():
        raise TransitionNotPermitted(
            _("Un compte rendu se signe depuis sa page, après confirmation de votre identité.")
        )
    draft = Report.objects.filter(dossier=dossier, signed_at__isnull=True).order_by("-version").first()
    if draft is not None:
        _record_signature(draft, event.actor, event.at)


def _refuse_without_strong_auth(strong_auth_at: datetime | None, now: datetime) -> None:
    limit = dt.timedelta(seconds=settings.SIGNING_REAUTH_SECONDS)
    if strong_auth_at is None or abs(now - strong_auth_at) > limit:
        raise LabActionRefused(
            _(
                "Signer un compte rendu demande de confirmer votre identité (mot de passe et code à usage "
                "unique, ou Pro Santé Connect) dans les %(minutes)d dernières minutes."
            )
            % {"minutes": math.ceil(limit.total_seconds() / 60)}
        )


@transaction.atomic
def sign_report(
    *, report: Report, actor: User, strong_auth_at: datetime | None, at: datetime | None = None
) -> Report:
    """A biologist of the dossier's laboratory signs: the first report through the ``sign_report``
    transition; an amended report directly, noted on the timeline and told to the prescriber.

    ``strong_auth_at`` is when the signer last proved their identity with two factors (the session's
    ``people.auth.strong_auth_at``): it must be within SIGNING_REAUTH_SECONDS of the signature."""
    from notifications.services import notify

    dossier = report.dossier
    _refuse_unless(rules.may_sign_report, actor, dossier, "sign_report")
    if report.is_signed:
        raise LabActionRefused(_("Ce compte rendu est déjà signé."))
    now = at or timezone.now()
    _refuse_without_strong_auth(strong_auth_at, now)
    report = ensure_report_file(report)
    if report.amends_id is None:
        _refuse_unless_status(dossier, [S.ANALYSIS], _("Signature du compte rendu"))
        token = _signing_with_proof.set(True)
        try:
            transition_dossier(dossier=dossier, name="sign_report", actor=actor, at=now)
        finally:
            _signing_with_proof.reset(token)
        report.refresh_from_db()
        return report
    _refuse_unless_status(dossier, AMENDABLE_STATES, _("Signature de la rectification"))
    _record_signature(report, actor, now)
    DossierEvent.objects.create(
        dossier=dossier,
        kind=DossierEvent.Kind.NOTE,
        actor=actor,
        at=now,
        reason=_("Compte rendu rectifié (version %(v)d) signé : %(reason)s")
        % {"v": report.version, "reason": report.amendment_reason},
    )
    dossier.updated_at = now
    save_dossier(dossier, update_fields=["updated_at"])
    for user in {u.pk: u for u in (dossier.prescriber, dossier.entered_by) if u.is_active}.values():
        notify(
            user=user,
            dossier=dossier,
            at=now,
            describe=lambda v=report.version: (
                _("Dossier %(ref)s : compte rendu rectifié (version %(v)d).")
                % {"ref": dossier.reference, "v": v}
            ),
        )
    return report


@transaction.atomic
def record_download(*, report: Report, user: User, at: datetime | None = None) -> ReportDownload:
    """Record who downloaded the report. The prescriber's first download of the signed report is its
    delivery (``deliver_report``): the timeline then says when the report really reached them."""
    now = at or timezone.now()
    download = ReportDownload.objects.create(report=report, user=user, at=now)
    dossier = report.dossier
    if report.is_signed and dossier.status == S.REPORT_SIGNED and user.pk == dossier.prescriber_id:
        transition_dossier(dossier=dossier, name="deliver_report", actor=user, at=now)
    return download
