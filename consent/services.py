"""Every write of the consent app: recording a consent, a withdrawal, the deletion it leads to, and the notices."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from people.models import AssistantAssignment, CounsellorSupervision, Role, User
from pfmg.renders import queue_render
from prescriptions.drafting import check_upload
from prescriptions.models import Dossier, DossierDocument, DossierEvent, DossierPerson
from prescriptions.rules import TRANSITION_RULES
from prescriptions.services import transition_dossier

from . import notices
from .models import (
    Agreement,
    Choice3,
    CollectorKind,
    ConsentRecord,
    ConsentTemplate,
    ConsentTemplateVersion,
    DataDeletion,
    PersonStatus,
    RelativesChoice,
    ResearchChoice,
    Withdrawal,
)
from .rules import cares_for_dossier
from .selectors import deletions_due, situation_of

logger = logging.getLogger(__name__)

CLOSED_STATES = Dossier.FINAL_STATES


def _event(dossier: Dossier, actor: User, text: str, at: dt.datetime) -> None:
    # The timeline is seen by the laboratory too: it names the person's place in the family, never their name.
    DossierEvent.objects.create(dossier=dossier, kind=DossierEvent.Kind.NOTE, actor=actor, at=at, reason=text)
    # Not the status: an update of the activity time alone, which no concurrent transition can conflict with.
    Dossier.objects.filter(pk=dossier.pk, updated_at__lt=at).update(updated_at=at)


def collector_kind_of(user: User, dossier: Dossier) -> tuple[str, User | None]:
    """In what capacity ``user`` collected a consent on ``dossier``, and the geneticist responsible when a
    genetic counsellor did; a ValidationError says why they could not have."""
    if user.pk == dossier.prescriber_id:
        return CollectorKind.PRESCRIBER, None
    if user.has_role(Role.GENETIC_COUNSELLOR) and user.establishment_id == dossier.establishment_id:
        supervision = (
            CounsellorSupervision.objects.filter(counsellor=user).select_related("geneticist").first()
        )
        if supervision is None:
            raise ValidationError(
                {
                    "collected_by": _(
                        "%(name)s, conseiller·ère en génétique, n'a pas de généticien·ne responsable "
                        "désigné·e : un administrateur doit l'indiquer avant qu'il ou elle recueille des "
                        "consentements."
                    )
                    % {"name": user}
                }
            )
        return CollectorKind.GENETIC_COUNSELLOR, supervision.geneticist
    if AssistantAssignment.objects.filter(assistant=user, prescribers=dossier.prescriber_id).exists():
        return CollectorKind.ASSISTANT, None
    raise ValidationError(
        {
            "collected_by": _(
                "%(name)s ne peut pas avoir recueilli ce consentement : seuls le prescripteur, ses assistant·e·s "
                "de prescription et les conseiller·ère·s en génétique de l'établissement recueillent un "
                "consentement."
            )
            % {"name": user}
        }
    )


def collectors_for(dossier: Dossier) -> QuerySet[User]:
    """Who may have collected a consent on ``dossier`` (the form offers them)."""
    scope = (
        Q(pk=dossier.prescriber_id)
        | Q(assistant_assignment__prescribers=dossier.prescriber_id)
        | Q(groups__name=Role.GENETIC_COUNSELLOR, establishment_id=dossier.establishment_id)
    )
    ids = User.objects.filter(scope, is_active=True).values("pk")
    return User.objects.filter(pk__in=ids).order_by("last_name", "first_name")


def _check_signatories(
    *,
    person: DossierPerson,
    person_status: str,
    signed_by_person: bool,
    parent_signatory_1: str,
    legal_representative: str,
    relative_signatory: str,
    person_agreement: str,
    analysis_accepted: bool,
) -> dict[str, str]:
    errors: dict[str, str] = {}
    if person_status == PersonStatus.ADULT and not signed_by_person:
        errors["signed_by_person"] = _("Une personne majeure signe elle-même son consentement.")
    if person_status == PersonStatus.MINOR:
        if not parent_signatory_1:
            errors["parent_signatory_1"] = _(
                "Pour une personne mineure, au moins un titulaire de l'autorité parentale doit signer."
            )
        if not person.patient.is_fetus and person_agreement == Agreement.NOT_APPLICABLE:
            errors["person_agreement"] = _(
                "Indiquez si la personne mineure a donné son accord (son avis est recherché)."
            )
    if person_status == PersonStatus.PROTECTED_ADULT:
        if not legal_representative:
            errors["legal_representative"] = _(
                "Pour un·e majeur·e protégé·e, le représentant légal doit signer."
            )
        if person_agreement == Agreement.NOT_APPLICABLE:
            errors["person_agreement"] = _(
                "Indiquez si la personne protégée a donné son accord (son avis est recherché)."
            )
    if person_status == PersonStatus.DECEASED and not relative_signatory:
        errors["relative_signatory"] = _("Pour une personne décédée, indiquez le proche qui signe.")
    if person_agreement == Agreement.REFUSED and analysis_accepted:
        errors["analysis_accepted"] = _(
            "La personne elle-même a refusé : son refus est respecté, l'analyse ne peut pas être acceptée."
        )
    return errors


@transaction.atomic
def record_consent(
    *,
    person: DossierPerson,
    actor: User,
    template_version: ConsentTemplateVersion | None,
    person_status: str,
    analysis_accepted: bool | None,
    additional_findings: str,
    research_reuse: str,
    relatives_information: str,
    signed_on: dt.date | None,
    collected_by: User | None,
    scan,
    signed_by_person: bool = False,
    parent_signatory_1: str = "",
    parent_signatory_2: str = "",
    legal_representative: str = "",
    relative_signatory: str = "",
    person_agreement: str = Agreement.NOT_APPLICABLE,
    at: dt.datetime | None = None,
) -> ConsentRecord:
    """Record the signed consent of one person to be sequenced. Every refusal is a ValidationError whose
    messages say, field by field, what is wrong; nothing is written unless all is right."""
    dossier = (
        Dossier.objects.select_for_update()
        .select_related("pre_indication_version__pre_indication")
        .get(pk=person.dossier_id)
    )
    if not cares_for_dossier.test(actor, dossier):
        raise PermissionDenied(
            _("Seuls ceux qui prennent en charge le dossier enregistrent un consentement.")
        )
    if dossier.status in CLOSED_STATES:
        raise ValidationError(
            _("Le dossier est au statut « %(status)s » : on n'y enregistre plus de consentement.")
            % {"status": Dossier.Status(dossier.status).label}
        )
    if not person.to_be_sequenced:
        raise ValidationError(
            _("Cette personne ne sera pas séquencée : son consentement n'est pas recueilli ici.")
        )
    if ConsentRecord.objects.filter(person=person).exists():
        raise ValidationError(
            _(
                "Un consentement est déjà enregistré pour cette personne ; un changement s'enregistre comme un retrait."
            )
        )
    parent_signatory_1, parent_signatory_2 = parent_signatory_1.strip(), parent_signatory_2.strip()
    legal_representative, relative_signatory = legal_representative.strip(), relative_signatory.strip()
    errors: dict[str, str] = {}
    today = timezone.localdate(at) if at else timezone.localdate()
    if template_version is None:
        errors["template_version"] = _("Indiquez la version du formulaire signé.")
    elif (
        template_version.template.kind != ConsentTemplate.Kind.FORM
        or template_version.template.situation != situation_of(dossier)
    ):
        errors["template_version"] = _("Ce formulaire ne correspond pas à la situation du dossier.")
    if signed_on is None:
        errors["signed_on"] = _("Indiquez la date de signature.")
    elif signed_on > today:
        errors["signed_on"] = _("La date de signature ne peut pas être dans le futur.")
    elif template_version is not None and signed_on < template_version.effective_from:
        errors["signed_on"] = _(
            "La date de signature (%(signed)s) précède l'entrée en vigueur de la version %(number)s de ce "
            "formulaire (%(since)s) : vérifiez la date ou la version."
        ) % {
            "signed": date_format(signed_on, "SHORT_DATE_FORMAT"),
            "number": template_version.number,
            "since": date_format(template_version.effective_from, "SHORT_DATE_FORMAT"),
        }
    if person_status not in PersonStatus.values:
        errors["person_status"] = _("Indiquez la situation de la personne.")
    if person_agreement not in Agreement.values:
        errors["person_agreement"] = _("Choix invalide.")
    if analysis_accepted is None:
        errors["analysis_accepted"] = _("Indiquez si la personne accepte l'analyse pour l'indication.")
    for name, value, choices in (
        ("additional_findings", additional_findings, Choice3),
        ("research_reuse", research_reuse, ResearchChoice),
        ("relatives_information", relatives_information, RelativesChoice),
    ):
        if value not in choices.values:
            errors[name] = _("Indiquez le choix de la personne (ou « question non posée »).")
    errors.update(
        _check_signatories(
            person=person,
            person_status=person_status,
            signed_by_person=signed_by_person,
            parent_signatory_1=parent_signatory_1,
            legal_representative=legal_representative,
            relative_signatory=relative_signatory,
            person_agreement=person_agreement,
            analysis_accepted=bool(analysis_accepted),
        )
    )
    kind, geneticist = CollectorKind.PRESCRIBER, None
    if collected_by is None:
        errors["collected_by"] = _("Indiquez qui a recueilli le consentement.")
    else:
        try:
            kind, geneticist = collector_kind_of(collected_by, dossier)
        except ValidationError as exc:
            errors.update({k: v[0] for k, v in exc.message_dict.items()})
    content_type = None
    if scan is None:
        errors["scan"] = _("Joignez le formulaire signé numérisé (PDF, JPEG ou PNG) : il est obligatoire.")
    else:
        try:
            content_type = check_upload(scan)
        except ValidationError as exc:
            errors["scan"] = exc.messages[0]
    if errors:
        raise ValidationError(errors)

    content = scan.read()
    record = ConsentRecord(
        person=person,
        template_version=template_version,
        person_status=person_status,
        signed_by_person=signed_by_person,
        parent_signatory_1=parent_signatory_1,
        parent_signatory_2=parent_signatory_2,
        legal_representative=legal_representative,
        relative_signatory=relative_signatory,
        person_agreement=person_agreement,
        analysis_accepted=bool(analysis_accepted),
        additional_findings=additional_findings,
        research_reuse=research_reuse,
        relatives_information=relatives_information,
        signed_on=signed_on,
        collector_kind=kind,
        collected_by=collected_by,
        supervising_geneticist=geneticist,
        scan_content_type=content_type,
        scan_sha256=hashlib.sha256(content).hexdigest(),
        recorded_by=actor,
        recorded_at=at or timezone.now(),
    )
    record.scan.save("scan", ContentFile(content), save=False)
    record.save()
    _event(
        dossier,
        actor,
        _("Consentement enregistré : %(who)s.") % {"who": person.get_relationship_display()},
        record.recorded_at,
    )
    return record


@transaction.atomic
def record_withdrawal(
    *,
    consent: ConsentRecord,
    actor: User,
    scope: str,
    withdrawn_on: dt.date | None,
    reason: str,
    at: dt.datetime | None = None,
) -> Withdrawal:
    """A person withdraws their whole consent or a part of it. A full withdrawal moves the dossier to
    ``withdrawn`` in the same transaction (the laboratory is told, every laboratory action is refused from
    then on) and marks its data for deletion."""
    person = consent.person
    # Locked and read afresh: the status decides whether the dossier is withdrawn with the consent.
    dossier = Dossier.objects.select_for_update().get(pk=person.dossier_id)
    if not cares_for_dossier.test(actor, dossier):
        raise PermissionDenied(_("Seuls ceux qui prennent en charge le dossier enregistrent un retrait."))
    existing = {w.scope for w in consent.withdrawals.all()}
    if Withdrawal.Scope.ALL in existing:
        raise ValidationError(_("Cette personne a déjà retiré l'ensemble de son consentement."))
    reason = (reason or "").strip()
    errors: dict[str, str] = {}
    today = timezone.localdate(at) if at else timezone.localdate()
    if scope not in Withdrawal.Scope.values:
        errors["scope"] = _("Indiquez ce que la personne retire.")
    elif scope in existing:
        errors["scope"] = _("Ce retrait est déjà enregistré.")
    elif scope == Withdrawal.Scope.RESEARCH and consent.research_reuse == ResearchChoice.OBJECTS:
        errors["scope"] = _(
            "La personne s'est déjà opposée à la réutilisation pour la recherche à la signature."
        )
    elif scope == Withdrawal.Scope.ADDITIONAL_FINDINGS and consent.additional_findings != Choice3.YES:
        errors["scope"] = _("La personne n'avait pas consenti aux données additionnelles : rien à retirer.")
    elif scope == Withdrawal.Scope.ALL and not TRANSITION_RULES["withdraw"].test(actor, dossier):
        errors["scope"] = _(
            "Un retrait complet arrête le dossier : seuls le prescripteur, le ou la conseiller·ère en "
            "génétique de l'établissement et un administrateur peuvent l'enregistrer."
        )
    if withdrawn_on is None:
        errors["withdrawn_on"] = _("Indiquez la date du retrait.")
    elif withdrawn_on > today:
        errors["withdrawn_on"] = _("La date du retrait ne peut pas être dans le futur.")
    elif withdrawn_on < consent.signed_on:
        errors["withdrawn_on"] = _("La date du retrait précède la signature du consentement.")
    if not reason:
        errors["reason"] = _("Indiquez les circonstances du retrait (demande écrite, consultation…).")
    if errors:
        raise ValidationError(errors)

    at = at or timezone.now()
    withdrawal = Withdrawal.objects.create(
        consent=consent,
        scope=scope,
        withdrawn_on=withdrawn_on,
        reason=reason,
        recorded_by=actor,
        recorded_at=at,
    )
    _event(
        dossier,
        actor,
        _("%(scope)s : %(who)s.")
        % {"scope": withdrawal.get_scope_display(), "who": person.get_relationship_display()},
        at,
    )
    if scope == Withdrawal.Scope.ALL:
        if dossier.status in Dossier.WITHDRAWABLE_STATES:
            transition_dossier(
                dossier=dossier,
                name="withdraw",
                actor=actor,
                reason=_("Retrait du consentement (%(who)s) : %(reason)s")
                % {"who": person.get_relationship_display(), "reason": reason},
                at=at,
            )  # the transition_recorded receiver marks the data for deletion
        else:
            mark_for_deletion(dossier=dossier, at=at)
    return withdrawal


@transaction.atomic
def mark_for_deletion(*, dossier: Dossier, at: dt.datetime | None = None) -> DataDeletion:
    """Record that a withdrawn dossier's data are to be deleted after ``CONSENT_WITHDRAWAL_RETENTION_DAYS``."""
    at = at or timezone.now()
    due = timezone.localdate(at) + dt.timedelta(days=settings.CONSENT_WITHDRAWAL_RETENTION_DAYS)
    deletion, _created = DataDeletion.objects.get_or_create(
        dossier=dossier, defaults={"requested_at": at, "due_on": due}
    )
    return deletion


def on_transition_recorded(sender, dossier: Dossier, event: DossierEvent, **kwargs) -> None:
    """However a dossier is withdrawn, its data are marked for deletion in the same transaction. Once the RCP
    validates a dossier, the consent forms are pre-filled in the background, ready to print."""
    if event.transition == "withdraw":
        mark_for_deletion(dossier=dossier, at=event.at)
    elif event.transition == "validate":
        transaction.on_commit(lambda: queue_consent_forms(dossier.pk))


def queue_consent_forms(dossier_id: int) -> None:
    """Pre-render the forms on a worker. Without one (eager tasks: ``make run``, the tests) nothing is queued:
    rendering inline would only slow the transition, and the download renders a missing form itself, as it does
    when the broker is down."""
    from pfmg.celery import app

    from .tasks import render_consent_form

    if app.conf.task_always_eager:
        return

    persons = DossierPerson.objects.filter(dossier_id=dossier_id, to_be_sequenced=True).values_list(
        "pk", flat=True
    )
    for person_id in persons:
        if not queue_render(render_consent_form, person_id):
            return  # the broker is down: the download renders the forms


def _delete_file(name: str) -> int:
    if name and default_storage.exists(name):
        default_storage.delete(name)
        return 1
    return 0


@transaction.atomic
def purge(*, deletion: DataDeletion, at: dt.datetime | None = None) -> DataDeletion:
    """Delete the stored files of a withdrawn dossier: its documents, the consent scans and every rendered PDF.
    The dossier's timeline and the consent records (with their withdrawals) stay, as the proof of what was
    done; the files that carry the medical content are gone."""
    deletion = DataDeletion.objects.select_for_update().select_related("dossier").get(pk=deletion.pk)
    if deletion.purged_at:
        return deletion
    dossier = deletion.dossier
    at = at or timezone.now()
    deleted = 0
    for document in DossierDocument.objects.filter(dossier=dossier):
        deleted += _delete_file(document.file.name)
    DossierDocument.objects.filter(dossier=dossier).delete()
    for record in ConsentRecord.objects.filter(person__dossier=dossier).exclude(scan=""):
        deleted += _delete_file(record.scan.name)
        record.scan = ""
        record.save(update_fields=["scan"])
    folder = f"renders/{dossier.reference}"
    try:
        _folders, files = default_storage.listdir(folder)
    except FileNotFoundError:
        files = []
    for name in files:
        deleted += _delete_file(f"{folder}/{name}")
    deletion.purged_at = at
    deletion.files_deleted = deleted
    deletion.save(update_fields=["purged_at", "files_deleted"])
    DossierEvent.objects.create(
        dossier=dossier,
        kind=DossierEvent.Kind.NOTE,
        at=at,
        reason=_("Données supprimées après le retrait du consentement (%(n)d fichier(s)).") % {"n": deleted},
    )
    return deletion


def purge_due(*, on: dt.date | None = None) -> list[DataDeletion]:
    """Purge every deletion that is due; each in its own transaction (one failure does not block the others)."""
    done = []
    for deletion in deletions_due(on):
        try:
            done.append(purge(deletion=deletion))
        except Exception:
            logger.exception("Purge of dossier %s failed", deletion.dossier_id)
    return done


@transaction.atomic
def load_consent_templates() -> int:
    """Seed the consent forms and information notices (demonstration texts, see ``consent.notices``) for every
    situation, person and reading level. Idempotent: returns how many versions were created."""
    if ConsentTemplateVersion.objects.filter(
        template__slug__in=[s.slug for s in notices.SPECS]
    ).count() >= len(notices.SPECS):
        return 0
    created = 0
    for spec in notices.SPECS:
        template, _new = ConsentTemplate.objects.get_or_create(
            slug=spec.slug,
            defaults={
                "kind": spec.kind,
                "situation": spec.situation,
                "audience": spec.audience,
                "reading_level": spec.reading_level,
                "title": spec.title,
            },
        )
        if not template.versions.exists():
            ConsentTemplateVersion.objects.create(
                template=template, number=1, body=spec.body, effective_from=notices.EFFECTIVE_FROM
            )
            created += 1
    return created
