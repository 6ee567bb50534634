"""Every write that matters on a dossier. Views, the API, the admin and tasks all come through here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_fsm import ConcurrentTransition

from people.models import Establishment, User

from .conditions import missing_for, verified
from .models import Dossier, DossierEvent, DossierPerson, Patient, PreIndicationVersion, ReferenceCounter
from .rules import REASON_REQUIRED, REFUSAL_MESSAGES, TRANSITION_RULES

# Sent inside the transition's transaction, so what a receiver writes (notifications, an outbox of messages to
# send) commits or rolls back with the transition itself: (sender=Dossier, dossier, event).
transition_recorded = Signal()

TRANSITION_NAMES = tuple(TRANSITION_RULES)
# A reason is typed by a person (a non-conformity joins one line per tube): long enough for that, bounded.
REASON_MAX_LENGTH = 10_000


class TransitionRefused(Exception):
    """A transition that cannot happen now; ``reasons`` says why, in the user's language."""

    def __init__(self, message: str, reasons: list[str] | None = None) -> None:
        self.reasons = reasons or []
        super().__init__(message if not self.reasons else f"{message} {' '.join(self.reasons)}")
        self.message = message


class TransitionNotPermitted(TransitionRefused):
    pass


class TransitionConflict(TransitionRefused):
    pass


def conflict(dossier: Dossier) -> TransitionConflict:
    """The refusal a concurrent loser gets: someone else changed the dossier during their action."""
    dossier.refresh_from_db()
    return TransitionConflict(
        _(
            "Le dossier %(ref)s a été modifié par quelqu'un d'autre pendant votre action : il est maintenant "
            "au statut « %(status)s ». Rechargez la page et vérifiez avant de recommencer."
        )
        % {"ref": dossier.reference, "status": Dossier.Status(dossier.status).label}
    )


def lock_dossier(dossier: Dossier) -> None:
    """Take the dossier's row lock for the current transaction (the caller is inside ``transaction.atomic``):
    concurrent writers queue behind it, and one that finds the status changed since it read the dossier is
    told so (``TransitionConflict``) instead of failing on the state machine's optimistic lock."""
    stored = (
        Dossier.objects.select_for_update().filter(pk=dossier.pk).values_list("status", flat=True).first()
    )
    if stored != dossier.status:
        raise conflict(dossier)


def save_dossier(dossier: Dossier, *, update_fields: list[str]) -> None:
    """Save fields of a dossier outside a transition; a status changed meanwhile is a conflict, not a 500."""
    try:
        with transaction.atomic():
            dossier.save(update_fields=update_fields)
    except ConcurrentTransition as exc:
        raise conflict(dossier) from exc


def allocate_references(*, year: int, count: int = 1) -> list[str]:
    """Reserve ``count`` consecutive references for ``year``; safe under concurrency (row lock)."""
    with transaction.atomic():
        counter = ReferenceCounter.objects.select_for_update().filter(year=year).first()
        if counter is None:
            try:
                with transaction.atomic():
                    counter = ReferenceCounter.objects.create(year=year, last=0)
            except IntegrityError:
                counter = ReferenceCounter.objects.select_for_update().get(year=year)
        first = counter.last + 1
        counter.last += count
        counter.save(update_fields=["last"])
    return [f"PFMG-{year}-{n:06d}" for n in range(first, first + count)]


@transaction.atomic
def create_dossier(
    *,
    prescriber: User,
    entered_by: User,
    pre_indication_version: PreIndicationVersion,
    establishment: Establishment | None = None,
    at: datetime | None = None,
) -> Dossier:
    establishment = establishment or prescriber.establishment
    if establishment is None:
        raise ValueError(_("Le prescripteur n'est rattaché à aucun établissement."))
    if not pre_indication_version.is_prescribable:
        raise ValueError(_("Cette pré-indication n'est plus ouverte à la prescription."))
    now = at or timezone.now()
    (reference,) = allocate_references(year=timezone.localdate(now).year)
    dossier = Dossier.objects.create(
        reference=reference,
        pre_indication_version=pre_indication_version,
        prescriber=prescriber,
        entered_by=entered_by,
        establishment=establishment,
        created_at=now,
        updated_at=now,
        status_since=now,
    )
    DossierEvent.objects.create(
        dossier=dossier,
        kind=DossierEvent.Kind.CREATED,
        actor=entered_by,
        to_status=Dossier.Status.DRAFT,
        at=now,
    )
    return dossier


@transaction.atomic
def add_person(
    *,
    dossier: Dossier,
    patient: Patient,
    relationship: str,
    affected: str = DossierPerson.Affected.UNKNOWN,
    to_be_sequenced: bool = True,
) -> DossierPerson:
    return DossierPerson.objects.create(
        dossier=dossier,
        patient=patient,
        relationship=relationship,
        affected=affected,
        to_be_sequenced=to_be_sequenced,
    )


EDITABLE_STATES = (Dossier.Status.DRAFT, Dossier.Status.MORE_INFO_REQUESTED)


@transaction.atomic
def choose_rcp(*, dossier: Dossier, rcp) -> Dossier:
    """Set the RCP-FMG the dossier will be submitted to (while the prescriber may still edit it)."""
    if dossier.status not in EDITABLE_STATES:
        raise TransitionRefused(_("Le dossier n'est plus modifiable à ce statut."))
    lock_dossier(dossier)
    dossier.rcp = rcp
    dossier.updated_at = timezone.now()
    save_dossier(dossier, update_fields=["rcp", "updated_at"])
    return dossier


def _transition_meta(dossier: Dossier, name: str):
    """The transition ``name`` from the dossier's status (django-fsm's ``Transition``: conditions, permission,
    target), or None when the status has no such transition."""
    if name not in TRANSITION_NAMES:
        raise TransitionRefused(_("« %(name)s » n'est pas une action sur un dossier.") % {"name": name})
    machine = getattr(Dossier, name)._django_fsm
    if not machine.has_transition(dossier.status):
        return None
    return machine.get_transition(dossier.status)


def _checked_reason(name: str, reason: str) -> str:
    reason = (reason or "").strip()
    if name in REASON_REQUIRED and not reason:
        raise TransitionRefused(_("Un motif est obligatoire pour cette action."))
    if len(reason) > REASON_MAX_LENGTH:
        raise TransitionRefused(
            _("Le motif est trop long : %(max)d caractères au plus (il en compte %(n)d).")
            % {"max": REASON_MAX_LENGTH, "n": len(reason)}
        )
    return reason


def transition_dossier(
    *, dossier: Dossier, name: str, actor: User, reason: str = "", at: datetime | None = None
) -> DossierEvent:
    """Fire transition ``name`` as ``actor``: permission, conditions, the state change and its log entry,
    atomically. Two users acting at once: the second gets ``TransitionConflict`` and nothing changes.

    The permission is tested once, and the conditions are evaluated once, inside the transaction that writes
    (so what they read is what the change is based on); django-fsm's own check of the conditions, when the
    transition method runs right after, does not evaluate them again (``conditions.verified``). What the
    receivers of ``transition_recorded`` must render or send is queued on commit, never done here."""
    meta = _transition_meta(dossier, name)
    if meta is None:
        raise TransitionRefused(
            _("Action « %(name)s » impossible : le dossier %(ref)s est au statut « %(status)s ».")
            % {"name": name, "ref": dossier.reference, "status": Dossier.Status(dossier.status).label}
        )
    if not meta.has_perm(dossier, actor):
        raise TransitionNotPermitted(str(REFUSAL_MESSAGES[name]))

    from_status = dossier.status
    at = at or timezone.now()
    try:
        with transaction.atomic():
            reasons = missing_for(dossier, meta.conditions)
            if reasons:
                raise TransitionRefused(
                    _("Action « %(name)s » impossible pour l'instant :") % {"name": name}, reasons
                )
            reason = _checked_reason(name, reason)
            with verified(dossier, meta.conditions):
                getattr(dossier, name)()
            dossier.updated_at = dossier.status_since = at
            dossier.save(update_fields=["status", "updated_at", "status_since"])
            event = DossierEvent.objects.create(
                dossier=dossier,
                kind=DossierEvent.Kind.TRANSITION,
                actor=actor,
                transition=name,
                from_status=from_status,
                to_status=dossier.status,
                at=at,
                reason=reason,
            )
            transition_recorded.send(sender=Dossier, dossier=dossier, event=event)
    except ConcurrentTransition as exc:
        raise conflict(dossier) from exc
    return event


@dataclass
class Action:
    """A transition as the interface shows it: available, or not and why."""

    name: str
    label: str
    allowed: bool
    reasons: list[str] = field(default_factory=list)
    reason_required: bool = False
    screen: str | None = None  # the page where this transition is done, when it has its own
    permitted: bool = True  # False: not this user's to fire whatever the dossier holds (reasons say whose)


ACTION_LABELS = {
    "submit": gettext_lazy("Soumettre à la RCP-FMG"),
    "request_more_info": gettext_lazy("Demander un complément"),
    "reject": gettext_lazy("Ne pas retenir"),
    "validate": gettext_lazy("Valider"),
    "finalise": gettext_lazy("Finaliser la prescription"),
    "ship_samples": gettext_lazy("Déclarer l'expédition des prélèvements"),
    "receive": gettext_lazy("Enregistrer la réception du dossier complet"),
    "reject_samples": gettext_lazy("Déclarer les prélèvements non conformes"),
    "start_sequencing": gettext_lazy("Lancer le séquençage"),
    "start_analysis": gettext_lazy("Lancer l'analyse"),
    "sign_report": gettext_lazy("Signer le compte rendu"),
    "deliver_report": gettext_lazy("Transmettre le compte rendu"),
    "close": gettext_lazy("Clôturer le dossier"),
    "cancel": gettext_lazy("Annuler le dossier"),
    "withdraw": gettext_lazy("Enregistrer le retrait du consentement"),
}


def actions_for(dossier: Dossier, user: User, skip: tuple[str, ...] = ()) -> list[Action]:
    """The transitions possible from the dossier's status, each with whether ``user`` may fire it now and,
    if not, why (permission first, then what is missing); none of those named in ``skip``."""
    actions = []
    for name in TRANSITION_NAMES:
        if name in skip:
            continue
        meta = _transition_meta(dossier, name)
        if meta is None:
            continue
        permitted = meta.has_perm(dossier, user)
        reasons = missing_for(dossier, meta.conditions) if permitted else [str(REFUSAL_MESSAGES[name])]
        actions.append(
            Action(
                name=name,
                label=str(ACTION_LABELS[name]),
                allowed=not reasons,
                reasons=reasons,
                reason_required=name in REASON_REQUIRED,
                permitted=permitted,
            )
        )
    return actions
