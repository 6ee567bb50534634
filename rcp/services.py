"""Every write of the RCP-FMG's work: meetings and agendas, attendance, decisions, the RCP sheet, RCP d'aval.

Decisions that change the dossier's status go through ``prescriptions.services.transition_dossier`` in the same
transaction as their Decision row. A decision fired elsewhere (the demo's walk, the admin) is recorded by
``on_transition``, the receiver of ``transition_recorded``: every decision transition has its Decision row.
"""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from people.models import RcpBody, User
from pfmg.renders import queue_render
from prescriptions.folding import folded
from prescriptions.models import Dossier, DossierEvent
from prescriptions.rules import REFUSAL_MESSAGES
from prescriptions.services import transition_dossier

from . import rules
from .models import AgendaItem, Decision, DecisionCorrection, DownstreamConclusion, Meeting, SheetEntry

S = Dossier.Status


class RcpRefused(Exception):
    """An RCP action refused; the message says why, in the user's language."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RcpNotPermitted(RcpRefused):
    """Refused because the action is someone else's (not the actor's function in this RCP-FMG, or their own
    dossier): the API answers it with 403, the pages like any other refusal."""


# Set while record_decision fires the transition, so the receiver leaves the Decision row to it.
_recording = contextvars.ContextVar("rcp_recording_decision", default=False)


def _check_manages(actor: User, rcp: RcpBody) -> None:
    if not rules.manages_rcp.test(actor, rcp):
        raise RcpNotPermitted(
            _("Seuls le coordinateur et les suppléants de cette RCP-FMG peuvent organiser ses séances.")
        )


def _touch(meeting: Meeting) -> None:
    meeting.updated_at = timezone.now()
    meeting.save(update_fields=["updated_at"])


# --- Meetings ---------------------------------------------------------------------------------------------


def _check_meeting_fields(*, place: str, video_link: str) -> None:
    if not (place or "").strip() and not (video_link or "").strip():
        raise RcpRefused(_("Indiquez le lieu de la séance ou son lien de visioconférence."))


@transaction.atomic
def create_meeting(
    *,
    rcp: RcpBody,
    actor: User,
    date: dt.date,
    start_time: dt.time,
    kind: str = Meeting.Kind.UPSTREAM,
    place: str = "",
    video_link: str = "",
) -> Meeting:
    _check_manages(actor, rcp)
    _check_meeting_fields(place=place, video_link=video_link)
    return Meeting.objects.create(
        rcp=rcp,
        kind=kind,
        date=date,
        start_time=start_time,
        place=place.strip(),
        video_link=video_link.strip(),
        created_by=actor,
    )


@transaction.atomic
def update_meeting(
    *,
    meeting: Meeting,
    actor: User,
    date: dt.date,
    start_time: dt.time,
    place: str = "",
    video_link: str = "",
) -> Meeting:
    _check_manages(actor, meeting.rcp)
    _check_meeting_fields(place=place, video_link=video_link)
    meeting.date, meeting.start_time = date, start_time
    meeting.place, meeting.video_link = place.strip(), video_link.strip()
    meeting.updated_at = timezone.now()
    meeting.save(update_fields=["date", "start_time", "place", "video_link", "updated_at"])
    return meeting


def _awaited_status(meeting: Meeting) -> str:
    return S.SUBMITTED if meeting.is_upstream else S.REPORT_DELIVERED


def _pending_elsewhere(dossier: Dossier, meeting: Meeting) -> AgendaItem | None:
    from .selectors import pending_item

    item = pending_item(dossier, meeting.kind)
    return item if item and item.meeting_id != meeting.pk else None


@transaction.atomic
def add_to_agenda(*, meeting: Meeting, dossiers: Iterable[Dossier], actor: User) -> list[AgendaItem]:
    """Put dossiers on the agenda, after those already on it. Each must await this kind of meeting, belong to
    its RCP-FMG and not be waiting on another meeting's agenda."""
    _check_manages(actor, meeting.rcp)
    awaited = _awaited_status(meeting)
    position = max((i.position for i in meeting.items.all()), default=0)
    on_agenda = set(meeting.items.values_list("dossier_id", flat=True))
    added = []
    for dossier in dossiers:
        if dossier.pk in on_agenda:
            continue
        if dossier.rcp_id != meeting.rcp_id:
            raise RcpRefused(
                _("Le dossier %(ref)s n'est pas adressé à cette RCP-FMG.") % {"ref": dossier.reference}
            )
        if dossier.status != awaited:
            raise RcpRefused(
                _("Le dossier %(ref)s ne peut pas être inscrit à cette séance : il est au statut « %(s)s ».")
                % {"ref": dossier.reference, "s": dossier.get_status_display()}
            )
        if not meeting.is_upstream and DownstreamConclusion.objects.filter(dossier=dossier).exists():
            raise RcpRefused(
                _("La RCP d'aval a déjà conclu sur le dossier %(ref)s.") % {"ref": dossier.reference}
            )
        other = _pending_elsewhere(dossier, meeting)
        if other is not None:
            raise RcpRefused(
                _("Le dossier %(ref)s est déjà inscrit à la séance du %(date)s.")
                % {"ref": dossier.reference, "date": f"{other.meeting.date:%d/%m/%Y}"}
            )
        position += 1
        added.append(
            AgendaItem.objects.create(meeting=meeting, dossier=dossier, position=position, added_by=actor)
        )
        on_agenda.add(dossier.pk)
    if added:
        _touch(meeting)
    return added


@transaction.atomic
def propose_agenda(*, meeting: Meeting, actor: User, limit: int = 10) -> list[AgendaItem]:
    """Fill the agenda from the queue, oldest first, with the dossiers not yet on an agenda (up to ``limit``)."""
    from .selectors import downstream_candidates, queue

    _check_manages(actor, meeting.rcp)
    room = max(limit - meeting.items.count(), 0)
    candidates = (
        queue(actor, meeting.rcp) if meeting.is_upstream else downstream_candidates(actor, meeting.rcp)
    )
    picked = [d for d in candidates.filter(scheduled=False)[:room]]
    return add_to_agenda(meeting=meeting, dossiers=picked, actor=actor)


@transaction.atomic
def remove_from_agenda(*, item: AgendaItem, actor: User) -> None:
    _check_manages(actor, item.meeting.rcp)
    if Decision.objects.filter(meeting=item.meeting_id, dossier=item.dossier_id).exists():
        raise RcpRefused(_("Une décision est enregistrée pour ce dossier : il reste à l'ordre du jour."))
    meeting = item.meeting
    item.delete()
    _touch(meeting)


@transaction.atomic
def set_attendance(*, meeting: Meeting, present: Iterable[User], actor: User) -> None:
    """Record who attended: members of the meeting's RCP-FMG only."""
    _check_manages(actor, meeting.rcp)
    present = list(present)
    members = set(meeting.rcp.memberships.values_list("user_id", flat=True))
    strangers = [u for u in present if u.pk not in members]
    if strangers:
        raise RcpRefused(
            _("%(who)s n'est pas membre de cette RCP-FMG.") % {"who": ", ".join(str(u) for u in strangers)}
        )
    meeting.present.set(present)
    _touch(meeting)


# --- Decisions --------------------------------------------------------------------------------------------

DECISION_REASON_MISSING: dict[str, str] = {
    Decision.Kind.REJECT: _("Un avis défavorable doit être motivé : indiquez le motif."),
    Decision.Kind.REQUEST_MORE_INFO: _("Indiquez les questions posées au prescripteur."),
}


def _not_awaiting_message(dossier: Dossier) -> str:
    last = dossier.rcp_decisions.select_related("recorded_by").order_by("-recorded_at", "-id").first()
    message = _(
        "Le dossier %(ref)s n'attend plus de décision de la RCP-FMG : il est au statut « %(s)s »."
    ) % {
        "ref": dossier.reference,
        "s": dossier.get_status_display(),
    }
    if last is not None and last.kind != Decision.Kind.POSTPONE:
        message += " " + _("Décision « %(d)s » enregistrée par %(who)s le %(at)s.") % {
            "d": last.get_kind_display(),
            "who": last.recorded_by,
            "at": f"{timezone.localtime(last.recorded_at):%d/%m/%Y %H:%M}",
        }
    return message


def record_decision(
    *,
    dossier: Dossier,
    kind: str,
    actor: User,
    reason: str = "",
    meeting: Meeting | None = None,
    at: dt.datetime | None = None,
) -> Decision:
    """Record the RCP d'amont's decision on ``dossier`` and fire its transition, in one transaction.

    Refused with a clear message (``RcpRefused``, or the state machine's ``TransitionRefused``) when the reason is
    missing, the actor may not decide, or the dossier no longer awaits a decision. Two deciders at once: the row
    lock makes the second wait and then be told that the dossier no longer awaits it."""
    if kind not in Decision.Kind.values:
        raise RcpRefused(_("Choisissez une décision."))
    reason = (reason or "").strip()
    if kind in Decision.REASON_REQUIRED and not reason:
        raise RcpRefused(str(DECISION_REASON_MISSING[kind]))
    at = at or timezone.now()
    with transaction.atomic():
        locked = Dossier.objects.select_for_update().get(pk=dossier.pk)
        if locked.status != S.SUBMITTED:
            raise RcpRefused(_not_awaiting_message(locked))
        if not rules.may_record_decision.test(actor, locked):
            raise RcpNotPermitted(str(REFUSAL_MESSAGES[kind if kind in Decision.TRANSITIONS else "validate"]))
        if meeting is not None:
            if meeting.rcp_id != locked.rcp_id or not meeting.is_upstream:
                raise RcpRefused(_("Cette séance n'est pas une RCP d'amont de la RCP-FMG du dossier."))
            if not meeting.items.filter(dossier=locked).exists():
                raise RcpRefused(_("Le dossier n'est pas inscrit à l'ordre du jour de cette séance."))
        event = None
        if kind in Decision.TRANSITIONS:
            token = _recording.set(True)
            try:
                event = transition_dossier(dossier=locked, name=kind, actor=actor, reason=reason, at=at)
            finally:
                _recording.reset(token)
        decision = Decision.objects.create(
            dossier=locked,
            meeting=meeting,
            kind=kind,
            reason=reason,
            recorded_by=actor,
            recorded_at=at,
            event=event,
        )
        if meeting is not None:
            _touch(meeting)
        transaction.on_commit(
            lambda: queue_minutes_render(dossier_id=locked.pk, meeting_id=getattr(meeting, "pk", None))
        )
    dossier.refresh_from_db()
    return decision


def on_transition(sender, *, dossier: Dossier, event: DossierEvent, **kwargs) -> None:
    """Receiver of ``transition_recorded``: a decision transition fired outside ``record_decision`` (the demo's
    walk, the admin) still gets its Decision row, on the meeting whose agenda awaited it if there is one."""
    if event.transition not in Decision.TRANSITIONS or _recording.get():
        return
    from .selectors import pending_item

    item = pending_item(dossier)
    Decision.objects.create(
        dossier=dossier,
        meeting=item.meeting if item else None,
        kind=event.transition,
        reason=event.reason,
        recorded_by=event.actor,
        recorded_at=event.at,
        event=event,
    )
    if item is not None:
        _touch(item.meeting)


@transaction.atomic
def correct_decision(*, decision: Decision, actor: User, text: str, reason: str) -> DecisionCorrection:
    """A correction of a recorded decision: a new record with its reason, the decision itself unchanged."""
    if not rules.may_correct_decision.test(actor, decision.dossier):
        raise RcpNotPermitted(
            _("Seuls le coordinateur et les suppléants de la RCP-FMG du dossier corrigent ses décisions.")
        )
    text, reason = (text or "").strip(), (reason or "").strip()
    if not text:
        raise RcpRefused(_("Indiquez la correction."))
    if not reason:
        raise RcpRefused(_("Une correction doit être motivée : indiquez pourquoi."))
    correction = DecisionCorrection.objects.create(
        decision=decision, text=text, reason=reason, recorded_by=actor
    )
    if decision.meeting_id:
        _touch(decision.meeting)
    dossier_id, meeting_id = decision.dossier_id, decision.meeting_id
    transaction.on_commit(lambda: queue_minutes_render(dossier_id=dossier_id, meeting_id=meeting_id))
    return correction


# --- The RCP sheet ----------------------------------------------------------------------------------------

SHEET_OPEN = (S.DRAFT, S.SUBMITTED, S.MORE_INFO_REQUESTED)


@transaction.atomic
def prepare_sheet(*, dossier: Dossier, actor: User, note: str, ready: bool) -> SheetEntry:
    """The prescribing side (typically a prescription assistant) prepares the sheet for the meeting."""
    if not rules.may_prepare_sheet.test(actor, dossier):
        raise RcpNotPermitted(
            _("Seuls le prescripteur du dossier et ses assistant·e·s de prescription préparent la fiche RCP.")
        )
    if dossier.status not in SHEET_OPEN:
        raise RcpRefused(_("La fiche RCP n'est plus modifiable : la RCP-FMG s'est prononcée."))
    note = (note or "").strip()
    if not note:
        raise RcpRefused(_("Écrivez la note de préparation."))
    return SheetEntry.objects.create(
        dossier=dossier, kind=SheetEntry.Kind.PREPARATION, text=note, ready=bool(ready), author=actor
    )


@transaction.atomic
def add_sheet_entry(*, dossier: Dossier, actor: User, kind: str, field: str, text: str) -> SheetEntry:
    """A reviewer's correction or addition on the sheet, recorded beside the dossier (never overwriting it)."""
    if not rules.may_review_sheet.test(actor, dossier):
        raise RcpNotPermitted(_("Seuls les membres de la RCP-FMG du dossier annotent sa fiche."))
    if dossier.status != S.SUBMITTED:
        raise RcpRefused(_("La fiche ne s'annote que tant que le dossier attend la décision de la RCP-FMG."))
    if kind not in (SheetEntry.Kind.CORRECTION, SheetEntry.Kind.ADDITION):
        raise RcpRefused(_("Choisissez correction ou ajout."))
    if field not in SheetEntry.Field.values:
        raise RcpRefused(_("Choisissez la rubrique concernée."))
    text = (text or "").strip()
    if not text:
        raise RcpRefused(_("Écrivez la correction ou l'ajout."))
    return SheetEntry.objects.create(dossier=dossier, kind=kind, field=field, text=text, author=actor)


# --- RCP d'aval -------------------------------------------------------------------------------------------


@transaction.atomic
def record_conclusion(
    *,
    dossier: Dossier,
    actor: User,
    interpretation: str,
    care_recommendations: str = "",
    family_recommendations: str = "",
    meeting: Meeting | None = None,
    at: dt.datetime | None = None,
) -> DownstreamConclusion:
    """The RCP d'aval's conclusion on a delivered report; the dossier may be closed afterwards."""
    locked = Dossier.objects.select_for_update().get(pk=dossier.pk)
    if not rules.may_record_conclusion.test(actor, locked):
        raise RcpNotPermitted(
            _("Seuls le coordinateur et les suppléants de la RCP-FMG du dossier enregistrent sa conclusion.")
        )
    if locked.status != S.REPORT_DELIVERED:
        raise RcpRefused(
            _(
                "La conclusion d'une RCP d'aval s'enregistre sur un compte rendu transmis ; "
                "le dossier est au statut « %(s)s »."
            )
            % {"s": locked.get_status_display()}
        )
    if DownstreamConclusion.objects.filter(dossier=locked).exists():
        raise RcpRefused(_("La conclusion de la RCP d'aval est déjà enregistrée pour ce dossier."))
    if meeting is not None and (meeting.rcp_id != locked.rcp_id or meeting.is_upstream):
        raise RcpRefused(_("Cette séance n'est pas une RCP d'aval de la RCP-FMG du dossier."))
    interpretation = (interpretation or "").strip()
    if not interpretation:
        raise RcpRefused(_("Indiquez l'interprétation retenue."))
    conclusion = DownstreamConclusion.objects.create(
        dossier=locked,
        meeting=meeting,
        interpretation=interpretation,
        care_recommendations=(care_recommendations or "").strip(),
        family_recommendations=(family_recommendations or "").strip(),
        recorded_by=actor,
        recorded_at=at or timezone.now(),
    )
    if meeting is not None:
        _touch(meeting)
    meeting_id = getattr(meeting, "pk", None)
    transaction.on_commit(lambda: queue_minutes_render(dossier_id=locked.pk, meeting_id=meeting_id))
    return conclusion


def conclusion_missing(dossier: Dossier) -> list[str]:
    """Requirement of ``close``: a dossier put on an RCP d'aval's agenda is closed once its conclusion is
    recorded (the RCP d'aval is optional: a dossier never put on one closes as before)."""
    if not dossier.pk:
        return []
    items = folded(dossier, "rcp_agenda_items")  # what the dossier page loaded (rcp.panels.FOLDS), or ask
    if items is not None:
        on_downstream = any(i.meeting.kind == Meeting.Kind.DOWNSTREAM for i in items)
        concluded = getattr(dossier, "rcp_conclusion", None) is not None
    else:
        on_downstream = AgendaItem.objects.filter(
            dossier=dossier, meeting__kind=Meeting.Kind.DOWNSTREAM
        ).exists()
        concluded = on_downstream and DownstreamConclusion.objects.filter(dossier=dossier).exists()
    if on_downstream and not concluded:
        return [_("La conclusion de la RCP d'aval n'est pas enregistrée.")]
    return []


# --- Minutes ----------------------------------------------------------------------------------------------


def queue_minutes_render(*, dossier_id: int | None = None, meeting_id: int | None = None) -> None:
    """Render the minutes in the background; a broker that is down costs nothing lasting, since the download
    renders missing or stale minutes itself."""
    from .tasks import render_dossier_minutes, render_meeting_minutes

    if dossier_id is not None:
        queue_render(render_dossier_minutes, dossier_id)
    if meeting_id is not None:
        queue_render(render_meeting_minutes, meeting_id)
