"""Writing a prescription: the services behind each step of the prescribing journey.

Each step is saved whole or not at all (``transaction.atomic``); a saved step is never lost, and the dossier
records which steps are done so the prescriber resumes where they stopped. Editing withdraws a previous
attestation: the prescriber attests what they submit, as it is when they submit it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from people.models import RcpBody, User

from . import selectors
from .models import (
    Dossier,
    DossierDocument,
    DossierEvent,
    DossierPerson,
    DossierPhenotype,
    Patient,
    PreIndicationDocument,
    PreIndicationVersion,
    PriorTest,
)
from .rules import may_edit_draft, may_prescribe_for
from .services import (
    EDITABLE_STATES,
    TransitionConflict,
    choose_rcp,
    create_dossier,
    lock_dossier,
    save_dossier,
    transition_dossier,
)

STEPS = ("pre-indication", "patient", "famille", "clinique", "documents", "validation")


def _editable(dossier: Dossier, actor: User) -> None:
    """Called inside the step's transaction: the row lock makes a step saved while the dossier is being
    submitted wait for the submission, then be refused with the conflict message."""
    if not may_edit_draft.test(actor, dossier):
        raise PermissionDenied(_("Vous ne pouvez pas modifier ce dossier."))
    if dossier.status not in EDITABLE_STATES:
        raise PermissionDenied(
            _("Le dossier n'est plus modifiable : il est au statut « %(s)s ».")
            % {"s": dossier.get_status_display()}
        )
    try:
        lock_dossier(dossier)
    except TransitionConflict as exc:
        raise PermissionDenied(exc.message) from None


def ensure_editable(*, dossier: Dossier, actor: User) -> None:
    """The refusal any step would give, asked before a step's content is parsed (the API answers it first).
    Inside the caller's transaction: it takes the dossier's row lock as a step does."""
    _editable(dossier, actor)


def _touch(dossier: Dossier, step: str, *fields: str) -> None:
    if step not in dossier.steps_done:
        dossier.steps_done = [s for s in STEPS if s in {*dossier.steps_done, step}]
    dossier.attested_at = None
    dossier.updated_at = timezone.now()
    save_dossier(dossier, update_fields=[*fields, "steps_done", "attested_at", "updated_at"])


def next_step(dossier: Dossier) -> str:
    """Where the prescriber resumes: the first step not done yet (the review once all are)."""
    return next((s for s in STEPS if s not in dossier.steps_done), "validation")


def checklist_for(version: PreIndicationVersion) -> list[dict]:
    return [{"criterion": c, "met": None, "justification": ""} for c in version.criteria]


@transaction.atomic
def start_prescription(
    *, author: User, prescriber: User, version: PreIndicationVersion, checklist: list[dict]
) -> Dossier:
    if not may_prescribe_for.test(author, prescriber):
        raise PermissionDenied(_("Vous ne pouvez pas prescrire pour ce prescripteur."))
    dossier = create_dossier(prescriber=prescriber, entered_by=author, pre_indication_version=version)
    dossier.criteria_checklist = checklist
    _touch(dossier, "pre-indication", "criteria_checklist")
    return dossier


@transaction.atomic
def save_pre_indication(
    *, dossier: Dossier, actor: User, version: PreIndicationVersion, checklist: list[dict]
) -> None:
    _editable(dossier, actor)
    if dossier.status != Dossier.Status.DRAFT and version != dossier.pre_indication_version:
        raise ValidationError(_("La pré-indication ne peut plus changer une fois le dossier soumis."))
    if not version.is_prescribable:
        raise ValidationError(_("Cette pré-indication n'est plus ouverte à la prescription."))
    dossier.pre_indication_version = version
    dossier.criteria_checklist = checklist
    _touch(dossier, "pre-indication", "pre_indication_version", "criteria_checklist")


IDENTITY_FIELDS = (
    "birth_name",
    "used_name",
    "first_names",
    "date_of_birth",
    "sex",
    "ins",
    "is_fetus",
    "is_deceased",
)


# Neither message says whether the INS exists, nor anything the user did not type: identity vigilance.
INS_REFUSED = gettext_lazy(
    "Cet INS ne peut pas être enregistré avec l'identité saisie. Vérifiez l'identité (pièce d'identité, "
    "téléservice INSi) et, en cas de doute, adressez-vous à la cellule d'identitovigilance de votre "
    "établissement."
)
SHARED_IDENTITY = gettext_lazy(
    "Cette identité est déjà enregistrée et rattachée à d'autres prises en charge : elle ne se corrige pas "
    "depuis un dossier. Signalez la correction à la cellule d'identitovigilance de votre établissement."
)


class IdentityRefused(ValidationError):
    """An identity that may not be saved as typed, with a message per field; ``position`` is the relative's
    rank on the family step (None for the index case)."""

    def __init__(self, errors: dict, position: int | None = None) -> None:
        super().__init__(errors)
        self.position = position


def _identity_values(identity: dict) -> dict:
    return {k: identity.get(k) for k in IDENTITY_FIELDS if k in identity}


def _corrected(patient: Patient, identity: dict, dossier: Dossier) -> Patient:
    """``patient`` with the typed corrections. A patient no other dossier uses is corrected in place; one
    shared with other dossiers is never changed from here (the correction would rewrite those dossiers
    behind their prescribers' backs): the correction is refused at each field, with the reason."""
    shared = patient.dossier_roles.exclude(dossier=dossier).exists() or not patient.dossier_roles.exists()
    if shared:
        # A blank INS or used name means "not known to me" (a patient chosen among those offered), not a
        # correction that would erase them.
        typed = {k: v for k, v in identity.items() if v or k not in ("ins", "used_name")}
        changed = selectors.traits_differing(patient, typed, IDENTITY_FIELDS)
        if changed:
            raise IdentityRefused({k: SHARED_IDENTITY for k in changed})
        return patient
    changed = [k for k in IDENTITY_FIELDS if k in identity and getattr(patient, k) != identity[k]]
    if changed:
        for key in changed:
            setattr(patient, key, identity[key])
        patient.full_clean(validate_unique=False, validate_constraints=False)
        patient.save(update_fields=changed)
    return patient


def _resolve_patient(
    *,
    actor: User,
    dossier: Dossier,
    identity: dict,
    current: Patient | None,
    reuse: Patient | None,
    new: bool,
) -> Patient:
    """The patient record for an identity typed on a dossier, following identity vigilance.

    - ``reuse``: a known patient the user chose among ``selectors.known_patients`` (within their scope, strict
      traits agreeing); typed differences from them are corrections (refused if the patient is shared).
    - A typed INS held by another record: the INS is the national identifier, so the same INS with the same
      traits (birth name, first names, birth date, sex; case, accents and separators aside) is the same person,
      and the dossier is linked to that record. Outside the user's scope every typed field must agree, so that
      linking shows the user nothing they did not type; inside it, the other fields are corrections. If the
      traits disagree, nothing is linked and nothing is revealed: one neutral refusal, whether or not the INS
      exists (a second record with the same INS is never created).
    - Otherwise the current record is corrected (in place, unless shared), or a new one created.
    """
    ins = identity.get("ins") or ""
    if reuse is not None:
        if reuse not in selectors.known_patients(actor, identity):
            raise IdentityRefused({"ins": INS_REFUSED})
        return _corrected(reuse, identity, dossier)
    holder = Patient.objects.filter(ins=ins).first() if ins else None
    if holder is not None and holder != current:
        in_scope = selectors.patients_in_scope(actor).filter(pk=holder.pk).exists()
        fields = selectors.STRICT_TRAITS if in_scope else IDENTITY_FIELDS
        if selectors.traits_differing(holder, identity, fields):
            raise IdentityRefused({"ins": INS_REFUSED})
        return _corrected(holder, identity, dossier)
    if current is not None and not new:
        return _corrected(current, identity, dossier)
    return Patient.objects.create(**_identity_values(identity))


def _drop_if_orphan(patient: Patient | None) -> None:
    if patient is not None and not patient.dossier_roles.exists():
        patient.delete()


@transaction.atomic
def save_index_case(
    *,
    dossier: Dossier,
    actor: User,
    identity: dict,
    affected: str,
    reuse: Patient | None = None,
    new: bool = False,
) -> DossierPerson:
    """Create or correct the index case (see ``_resolve_patient``: a known patient is linked rather than
    duplicated, ``new`` when the user said the person is not the one offered)."""
    _editable(dossier, actor)
    index = (
        dossier.persons.filter(relationship=DossierPerson.Relationship.INDEX)
        .select_related("patient")
        .first()
    )
    previous = index.patient if index else None
    patient = _resolve_patient(
        actor=actor, dossier=dossier, identity=identity, current=previous, reuse=reuse, new=new
    )
    if (
        dossier.persons.filter(patient=patient)
        .exclude(relationship=DossierPerson.Relationship.INDEX)
        .exists()
    ):
        raise ValidationError(_("La même personne figure deux fois dans la famille."))
    if index is None:
        index = DossierPerson.objects.create(
            dossier=dossier, patient=patient, relationship=DossierPerson.Relationship.INDEX, affected=affected
        )
    else:
        index.patient = patient
        index.affected = affected
        index.save(update_fields=["patient", "affected"])
        if previous != patient:
            _drop_if_orphan(previous)
    _touch(dossier, "patient")
    return index


@dataclass
class Relative:
    relationship: str
    affected: str
    identity: dict
    to_be_sequenced: bool = True
    # The relative (DossierPerson) this entry rewrites, when the caller knows it (the API names each person);
    # without it, the earlier relative at the same position (the family page's form rows).
    person_id: int | None = None


@transaction.atomic
def save_family(
    *,
    dossier: Dossier,
    actor: User,
    structure: str,
    relatives: list[Relative],
    trio_exception: str = "",
    trio_exception_reason: str = "",
) -> None:
    """Replace the relatives and the family structure in one go. A relative saved before keeps their patient
    record (corrected in place unless another dossier shares it, see ``_resolve_patient``); one removed leaves
    no orphan record. A refused identity raises ``IdentityRefused`` with the relative's position."""
    _editable(dossier, actor)
    previous = list(
        dossier.persons.exclude(relationship=DossierPerson.Relationship.INDEX)
        .select_related("patient")
        .order_by("id")
    )
    kept: set[int] = set()
    by_id = {p.pk: p for p in previous}
    named = any(r.person_id is not None for r in relatives)
    for position, relative in enumerate(relatives):
        if named:  # a removed relative does not hand its record to the one after it
            earlier = by_id.get(relative.person_id) if relative.person_id is not None else None
        else:
            earlier = previous[position] if position < len(previous) else None
        try:
            patient = _resolve_patient(
                actor=actor,
                dossier=dossier,
                identity=relative.identity,
                current=earlier.patient if earlier else None,
                reuse=None,
                new=False,
            )
        except IdentityRefused as exc:
            raise IdentityRefused(exc.error_dict, position=position) from None
        if patient.pk in kept or dossier.persons.filter(patient=patient, relationship="index").exists():
            raise ValidationError(_("La même personne figure deux fois dans la famille."))
        kept.add(patient.pk)
        DossierPerson.objects.update_or_create(
            dossier=dossier,
            patient=patient,
            defaults={
                "relationship": relative.relationship,
                "affected": relative.affected,
                "to_be_sequenced": relative.to_be_sequenced,
            },
        )
    for person in previous:
        if person.patient_id not in kept:
            person.delete()
            _drop_if_orphan(person.patient)
    dossier.family_structure = structure
    dossier.trio_exception = trio_exception
    dossier.trio_exception_reason = trio_exception_reason.strip()
    _touch(dossier, "famille", "family_structure", "trio_exception", "trio_exception_reason")


@transaction.atomic
def save_clinical_picture(
    *,
    dossier: Dossier,
    actor: User,
    phenotypes: list[tuple[str, bool]],
    age_at_onset: str,
    summary: str,
    prior_tests: list[dict],
    suspected_diagnosis=None,
) -> None:
    _editable(dossier, actor)
    dossier.phenotypes.all().delete()
    DossierPhenotype.objects.bulk_create(
        DossierPhenotype(dossier=dossier, term_id=term_id, present=present) for term_id, present in phenotypes
    )
    dossier.prior_tests.all().delete()
    PriorTest.objects.bulk_create(PriorTest(dossier=dossier, **test) for test in prior_tests)
    dossier.age_at_onset = age_at_onset
    dossier.clinical_summary = summary.strip()
    dossier.suspected_diagnosis = suspected_diagnosis
    _touch(dossier, "clinique", "age_at_onset", "clinical_summary", "suspected_diagnosis")


# File signatures: the type is read from the content, never from the name the browser sends.
SIGNATURES = {
    b"%PDF-": DossierDocument.ContentType.PDF,
    b"\xff\xd8\xff": DossierDocument.ContentType.JPEG,
    b"\x89PNG\r\n\x1a\n": DossierDocument.ContentType.PNG,
}


def sniff_content_type(head: bytes) -> str | None:
    return next((kind for magic, kind in SIGNATURES.items() if head.startswith(magic)), None)


def check_upload(uploaded) -> str:
    """The document's real type, or a ValidationError that says what is wrong with the file."""
    limit = settings.DOCUMENT_MAX_BYTES
    if uploaded.size > limit:
        raise ValidationError(
            _("Le fichier fait %(size).1f Mo : la limite est de %(limit)d Mo.")
            % {"size": uploaded.size / 1_000_000, "limit": limit // 1_000_000}
        )
    if uploaded.size == 0:
        raise ValidationError(_("Le fichier est vide."))
    uploaded.seek(0)
    kind = sniff_content_type(uploaded.read(16))
    uploaded.seek(0)
    if kind is None:
        raise ValidationError(
            _("« %(name)s » n'est ni un PDF, ni une image JPEG ou PNG (type lu dans le contenu du fichier).")
            % {"name": uploaded.name}
        )
    return kind


@transaction.atomic
def add_document(
    *, dossier: Dossier, actor: User, uploaded, expected: PreIndicationDocument | None, label: str = ""
) -> DossierDocument:
    _editable(dossier, actor)
    if expected is not None and expected.version_id != dossier.pre_indication_version_id:
        raise ValidationError(_("Ce document n'est pas attendu pour cette pré-indication."))
    kind = check_upload(uploaded)
    content = uploaded.read()
    document = DossierDocument(
        dossier=dossier,
        expected=expected,
        label=(expected.label if expected else label.strip()) or _("Document complémentaire"),
        original_name=uploaded.name[:255],
        content_type=kind,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        uploaded_by=actor,
    )
    document.file.save("upload", ContentFile(content), save=False)
    document.save()
    DossierEvent.objects.create(
        dossier=dossier,
        kind=DossierEvent.Kind.NOTE,
        actor=actor,
        at=document.uploaded_at,
        reason=_("Document déposé : %(label)s.") % {"label": document.label},
    )
    _touch(dossier, "documents")
    return document


@transaction.atomic
def remove_document(*, dossier: Dossier, actor: User, document: DossierDocument) -> None:
    _editable(dossier, actor)
    if document.dossier_id != dossier.pk:
        raise PermissionDenied
    label = document.label
    document.file.delete(save=False)
    document.delete()
    DossierEvent.objects.create(
        dossier=dossier,
        kind=DossierEvent.Kind.NOTE,
        actor=actor,
        at=timezone.now(),
        reason=_("Document retiré : %(label)s.") % {"label": label},
    )
    _touch(dossier, "documents")


@transaction.atomic
def mark_documents_done(*, dossier: Dossier, actor: User) -> None:
    _editable(dossier, actor)
    _touch(dossier, "documents")


@transaction.atomic
def hand_over(*, dossier: Dossier, assistant: User) -> None:
    """The assistant hands a prepared dossier to the prescriber, who will check, attest and submit it."""
    _editable(dossier, assistant)
    if assistant.pk == dossier.prescriber_id:
        raise PermissionDenied(
            _("Le prescripteur atteste et soumet lui-même : il n'y a rien à lui transmettre.")
        )
    dossier.handed_over_at = timezone.now()
    dossier.updated_at = dossier.handed_over_at
    save_dossier(dossier, update_fields=["handed_over_at", "updated_at"])
    DossierEvent.objects.create(
        dossier=dossier,
        kind=DossierEvent.Kind.NOTE,
        actor=assistant,
        at=dossier.handed_over_at,
        reason=_("Dossier préparé, transmis au prescripteur pour validation."),
    )


def attest_and_submit(
    *, dossier: Dossier, prescriber: User, rcp: RcpBody, at: dt.datetime | None = None
) -> None:
    """The prescriber attests the prescription as it stands and submits it to ``rcp``, atomically: a refused
    submission leaves neither the attestation nor the RCP choice behind."""
    if dossier.prescriber_id != prescriber.pk:
        raise PermissionDenied(_("Seul le prescripteur du dossier atteste et soumet la prescription."))
    try:
        with transaction.atomic():
            # A double click sends the same submission twice: the second waits for the first's row lock, then
            # finds the dossier submitted and is told so (TransitionConflict), never a 500.
            lock_dossier(dossier)
            choose_rcp(dossier=dossier, rcp=rcp)
            dossier.attested_at = at or timezone.now()
            save_dossier(dossier, update_fields=["attested_at"])
            transition_dossier(dossier=dossier, name="submit", actor=prescriber, at=at)
    except Exception:
        dossier.refresh_from_db()  # the page must show what is stored, not what was attempted
        raise
    transaction.on_commit(lambda: queue_summary_render(dossier.pk))


def queue_summary_render(dossier_id: int) -> None:
    """Render the bon de prescription in the background. A broker that is down costs nothing lasting: the
    render sweep (``pfmg.renders``) queues it again once the broker is back, and a download renders a missing or
    stale summary itself."""
    from pfmg.renders import queue_render

    from .tasks import render_prescription_summary

    queue_render(render_prescription_summary, dossier_id)
