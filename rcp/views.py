"""The RCP-FMG screens: "Mes RCP", meetings (agenda, attendance, decisions), the RCP sheet of a dossier."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from people.models import User
from pfmg.pagination import with_links
from prescriptions.models import Dossier
from prescriptions.selectors import dossiers_visible_to
from prescriptions.services import TransitionRefused

from . import pdf, rules, selectors, services
from .forms import (
    AgendaForm,
    AttendanceForm,
    ConclusionForm,
    CorrectionForm,
    DecisionForm,
    MeetingForm,
    PreparationForm,
    SheetEntryForm,
)
from .models import AgendaItem, Decision, DownstreamConclusion, Meeting

REFUSALS = (services.RcpRefused, TransitionRefused)


def _meeting(request, pk: int, *, manage: bool = False) -> Meeting:
    """The meeting if the user belongs to its RCP (404 otherwise); ``manage``: coordinator or deputy only."""
    try:
        meeting = selectors.meeting_detail(request.user, pk)
    except Meeting.DoesNotExist:
        raise Http404 from None
    if manage and not rules.manages_meeting.test(request.user, meeting):
        raise Http404
    return meeting


def _sheet_dossier(request, pk: int) -> Dossier:
    try:
        dossier = selectors.sheet_dossier(request.user, pk)
    except Dossier.DoesNotExist:
        raise Http404 from None
    if not rules.may_view_sheet.test(request.user, dossier):
        raise Http404
    return dossier


def _back(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, {request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


# The home page's short lists (meetings to come, decisions to record): the first ones, and "more" beyond.
HOME_LIST_LIMIT = 30
DOWNSTREAM_PREVIEW = 10
PAST_MEETINGS = 10
SEARCH_MAX_LENGTH = 100


def _search(request) -> str:
    return request.GET.get("q", "").strip()[:SEARCH_MAX_LENGTH]


def _chosen_rcp(request, rcps: list) -> list:
    """The RCP-FMG picked in the filter (``?rcp=<pk>``), among the user's own; all of them otherwise."""
    chosen = request.GET.get("rcp", "")
    picked = [r for r in rcps if str(r.pk) == chosen]
    return picked or rcps


def _first(queryset, limit: int = HOME_LIST_LIMIT) -> tuple[list, bool]:
    rows = list(queryset[: limit + 1])
    return rows[:limit], len(rows) > limit


@login_required
def home(request):
    """The user's RCP-FMG with how many dossiers wait for each, and one list at a time, a page of it: the
    dossiers submitted (``?liste=amont``, the default) or the reports to discuss downstream (``aval``)."""
    user = request.user
    rcps = selectors.rcps_with_function(user)
    if not rcps:
        raise Http404
    shown = _chosen_rcp(request, rcps)
    search = _search(request)
    downstream = request.GET.get("liste") == "aval"
    list_page = selectors.downstream_page if downstream else selectors.queue_page
    found = selectors.matching_dossiers(user, search) if search else None
    page = list_page(user, shown, found=found, cursor=request.GET.get("curseur"))
    # Beside the queue, the oldest few reports to discuss downstream; all of them under ``?liste=aval``.
    preview = (
        None if downstream else selectors.downstream_page(user, shown, found=found, size=DOWNSTREAM_PREVIEW)
    )
    manages = any(r.manages for r in rcps)
    upcoming, past = selectors.meetings_around(user, HOME_LIST_LIMIT + 1, PAST_MEETINGS)
    upcoming, more_upcoming = upcoming[:HOME_LIST_LIMIT], len(upcoming) > HOME_LIST_LIMIT
    to_record, more_to_record = _first(selectors.decisions_to_record(user)) if manages else ([], False)
    return render(
        request,
        "rcp/home.html",
        {
            "rcps": rcps,
            "shown_rcp": shown[0] if len(shown) == 1 and len(rcps) > 1 else None,
            "search": search,
            "downstream": downstream,
            "manages": manages,
            "upcoming": upcoming,
            "more_upcoming": more_upcoming,
            "past": past,
            "found": found,
            "to_record": to_record,
            "more_to_record": more_to_record,
            "page": with_links(request, page),
            "downstream_preview": preview,
        },
    )


@login_required
def meeting_create(request):
    rcps = selectors.managed_rcps(request.user)
    if not rcps.exists():
        raise Http404
    form = MeetingForm(request.POST or None, rcps=rcps, initial={"kind": request.GET.get("type", "upstream")})
    if request.method == "POST" and form.is_valid():
        try:
            meeting = services.create_meeting(actor=request.user, **form.cleaned_data)
        except services.RcpRefused as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Séance créée."))
            return redirect("rcp:meeting", pk=meeting.pk)
    return render(request, "rcp/meeting_form.html", {"form": form, "meeting": None})


@login_required
def meeting_edit(request, pk: int):
    meeting = _meeting(request, pk, manage=True)
    initial = {k: getattr(meeting, k) for k in ("date", "start_time", "place", "video_link")}
    form = MeetingForm(request.POST or None, initial=initial, editing=True)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_meeting(meeting=meeting, actor=request.user, **form.cleaned_data)
        except services.RcpRefused as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("Séance modifiée."))
            return redirect("rcp:meeting", pk=meeting.pk)
    return render(request, "rcp/meeting_form.html", {"form": form, "meeting": meeting})


@dataclass
class AgendaRow:
    """An agenda item as the meeting page shows it."""

    item: AgendaItem
    decisions: list[Decision]
    concluded: DownstreamConclusion | None
    open: bool
    decision_form: DecisionForm | None
    conclusion_form: ConclusionForm | None
    may_decide: bool
    hide_identities: bool = False

    @property
    def pk(self) -> int:
        return self.item.pk

    @property
    def dossier(self) -> Dossier:
        return self.item.dossier


def _members(meeting: Meeting):
    return User.objects.filter(rcp_memberships__rcp=meeting.rcp).order_by("last_name", "first_name")


@login_required
def meeting_detail(request, pk: int):
    meeting = _meeting(request, pk)
    user = request.user
    manages = rules.manages_meeting.test(user, meeting)
    awaiting = Dossier.Status.SUBMITTED if meeting.is_upstream else Dossier.Status.REPORT_DELIVERED
    agenda = list(meeting.items.all())
    # Only a withdrawn dossier may hide its persons: ask the rule when the agenda holds one.
    withdrawn = any(item.dossier.status == Dossier.Status.WITHDRAWN for item in agenda)
    hidden = selectors.identities_hidden_on_agenda(user, meeting) if withdrawn else set()
    items = []
    for item in agenda:
        dossier = item.dossier
        decisions = [d for d in dossier.rcp_decisions.all() if d.meeting_id == meeting.pk]
        concluded = getattr(dossier, "rcp_conclusion", None) if not meeting.is_upstream else None
        is_open = dossier.status == awaiting and not decisions and not concluded
        prefix = f"d{dossier.pk}"
        items.append(
            AgendaRow(
                item=item,
                decisions=decisions,
                concluded=concluded,
                open=is_open,
                decision_form=DecisionForm(prefix=prefix) if meeting.is_upstream else None,
                conclusion_form=ConclusionForm(prefix=prefix) if not meeting.is_upstream else None,
                # The agenda holds only dossiers of the meeting's RCP, so "decides for the dossier's RCP" is
                # ``manages``: the rest of the decision rule costs no query per dossier.
                may_decide=manages
                and is_open
                and (not meeting.is_upstream or rules.not_author.test(user, dossier)),
                hide_identities=dossier.pk in hidden,
            )
        )
    if manages:
        members = selectors.meeting_members(meeting)
        present = [u for u in members if u.present]
    else:
        present = list(meeting.present.all())
    context = {"meeting": meeting, "items": items, "manages": manages, "present": present}
    if manages:
        search = _search(request)
        found = selectors.matching_dossiers(user, search) if search else None
        shown = selectors.shown_candidates(user, meeting, found=found)
        context["agenda_form"] = AgendaForm(
            candidates=selectors.agenda_candidates(user, meeting), shown=shown.object_list
        )
        context["candidates"] = shown
        context["search"] = search
        context["found"] = found
        context["attendance_form"] = AttendanceForm(
            members=_members(meeting), shown=members, initial={"present": [u.pk for u in present]}
        )
    return render(request, "rcp/meeting_detail.html", context)


@login_required
@require_POST
def meeting_agenda_add(request, pk: int):
    meeting = _meeting(request, pk, manage=True)
    form = AgendaForm(request.POST, candidates=selectors.agenda_candidates(request.user, meeting))
    if not form.is_valid():
        messages.error(request, _("Cochez au moins un dossier de la file d'attente à inscrire."))
    else:
        try:
            added = services.add_to_agenda(
                meeting=meeting, dossiers=form.cleaned_data["dossiers"], actor=request.user
            )
        except services.RcpRefused as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("%(n)d dossier(s) inscrit(s) à l'ordre du jour.") % {"n": len(added)})
    return redirect("rcp:meeting", pk=meeting.pk)


@login_required
@require_POST
def meeting_agenda_propose(request, pk: int):
    meeting = _meeting(request, pk, manage=True)
    try:
        added = services.propose_agenda(meeting=meeting, actor=request.user)
    except services.RcpRefused as exc:
        messages.error(request, exc.message)
    else:
        if added:
            messages.success(
                request,
                _("Ordre du jour proposé : %(n)d dossier(s), les plus anciens d'abord.") % {"n": len(added)},
            )
        else:
            messages.info(request, _("Aucun dossier en attente à inscrire."))
    return redirect("rcp:meeting", pk=meeting.pk)


@login_required
@require_POST
def meeting_agenda_remove(request, pk: int, item_pk: int):
    meeting = _meeting(request, pk, manage=True)
    item = get_object_or_404(meeting.items.all(), pk=item_pk)
    try:
        services.remove_from_agenda(item=item, actor=request.user)
    except services.RcpRefused as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Dossier retiré de l'ordre du jour."))
    return redirect("rcp:meeting", pk=meeting.pk)


@login_required
@require_POST
def meeting_attendance(request, pk: int):
    meeting = _meeting(request, pk, manage=True)
    form = AttendanceForm(request.POST, members=_members(meeting))
    if not form.is_valid():
        messages.error(request, _("Seuls les membres de la RCP-FMG peuvent être déclarés présents."))
    else:
        try:
            services.set_attendance(meeting=meeting, present=form.cleaned_data["present"], actor=request.user)
        except services.RcpRefused as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Présences enregistrées."))
    return redirect("rcp:meeting", pk=meeting.pk)


@login_required
def meeting_minutes_pdf(request, pk: int):
    """The meeting's minutes, to the members of its RCP-FMG (404 to anyone else); rendered now when no stored
    render is as recent as the meeting's last change. One file for every member: refused to a member from whom
    it would reveal a withdrawn dossier's persons."""
    meeting = _meeting(request, pk)
    if selectors.identities_hidden_on_agenda(request.user, meeting):
        raise Http404
    return pdf.attachment(pdf.current_meeting_minutes_path(meeting), f"{meeting.reference}-compte-rendu.pdf")


# --- The dossier's RCP sheet ------------------------------------------------------------------------------


def _sheet_context(request, dossier: Dossier, refusal: str = "", **forms) -> dict:
    user = request.user
    decisions = selectors.decisions_of(dossier)
    pending = selectors.pending_items(dossier)
    item, downstream_item = pending.get(Meeting.Kind.UPSTREAM), pending.get(Meeting.Kind.DOWNSTREAM)
    conclusion = selectors.conclusion_of(dossier)
    awaiting = dossier.status == Dossier.Status.SUBMITTED
    may_decide = awaiting and rules.may_record_decision.test(user, dossier)
    may_correct = bool(decisions) and rules.may_correct_decision.test(user, dossier)
    context = {
        "dossier": dossier,
        "decisions": decisions,
        "entries": selectors.sheet_entries_of(dossier),
        "pending_item": item,
        "conclusion": conclusion,
        "may_decide": may_decide,
        "may_correct": may_correct,
        "decision_refusal": ""
        if may_decide or not awaiting
        else _(
            "Seul le coordinateur ou le suppléant de la RCP-FMG du dossier, qui n'en est ni le prescripteur ni "
            "l'auteur de la saisie, peut enregistrer la décision."
        ),
        "may_review": awaiting and rules.may_review_sheet.test(user, dossier),
        "may_prepare": dossier.status in services.SHEET_OPEN and rules.may_prepare_sheet.test(user, dossier),
        "may_conclude": dossier.status == Dossier.Status.REPORT_DELIVERED
        and conclusion is None
        and rules.may_record_conclusion.test(user, dossier),
        "downstream_item": downstream_item,
        "decision_form": forms.get("decision_form") or DecisionForm(),
        "entry_form": forms.get("entry_form") or SheetEntryForm(),
        "preparation_form": forms.get("preparation_form") or PreparationForm(),
        "conclusion_form": forms.get("conclusion_form") or ConclusionForm(),
        "correction_form": forms.get("correction_form") or CorrectionForm(),
        "next": _back(request, ""),
        "refusal": refusal,
    }
    return context


@login_required
def dossier_sheet(request, pk: int):
    dossier = _sheet_dossier(request, pk)
    return render(request, "rcp/dossier_sheet.html", _sheet_context(request, dossier))


def _meeting_of(request, dossier: Dossier) -> Meeting | None:
    meeting_pk = request.POST.get("meeting")
    if not meeting_pk:
        return None
    try:
        return selectors.meetings_visible_to(request.user).get(pk=int(meeting_pk), rcp_id=dossier.rcp_id)
    except (Meeting.DoesNotExist, ValueError):
        raise Http404 from None


@login_required
@require_POST
def dossier_decide(request, pk: int):
    dossier = _sheet_dossier(request, pk)
    meeting = _meeting_of(request, dossier)
    form = DecisionForm(request.POST, prefix=request.POST.get("prefix") or None)
    refusal = ""
    if form.is_valid():
        try:
            decision = services.record_decision(
                dossier=dossier,
                kind=form.cleaned_data["kind"],
                reason=form.cleaned_data["reason"],
                actor=request.user,
                meeting=meeting,
            )
        except REFUSALS as exc:
            refusal = str(exc)
        else:
            messages.success(
                request,
                _("Décision enregistrée pour le dossier %(ref)s : %(d)s.")
                % {"ref": dossier.reference, "d": decision.get_kind_display()},
            )
            return redirect(_back(request, reverse("rcp:dossier", args=[dossier.pk])))
    dossier = _sheet_dossier(request, pk)  # as stored, not as attempted
    response = render(
        request, "rcp/dossier_sheet.html", _sheet_context(request, dossier, refusal, decision_form=form)
    )
    response.status_code = 400
    return response


@login_required
@require_POST
def dossier_sheet_entry(request, pk: int):
    dossier = _sheet_dossier(request, pk)
    form = SheetEntryForm(request.POST)
    refusal = ""
    if form.is_valid():
        try:
            services.add_sheet_entry(dossier=dossier, actor=request.user, **form.cleaned_data)
        except services.RcpRefused as exc:
            refusal = exc.message
        else:
            messages.success(request, _("Ajouté à la fiche RCP."))
            return redirect("rcp:dossier", pk=dossier.pk)
    response = render(
        request, "rcp/dossier_sheet.html", _sheet_context(request, dossier, refusal, entry_form=form)
    )
    response.status_code = 400
    return response


@login_required
@require_POST
def dossier_prepare(request, pk: int):
    dossier = _sheet_dossier(request, pk)
    form = PreparationForm(request.POST)
    refusal = ""
    if form.is_valid():
        try:
            services.prepare_sheet(dossier=dossier, actor=request.user, **form.cleaned_data)
        except services.RcpRefused as exc:
            refusal = exc.message
        else:
            messages.success(request, _("Préparation de la fiche RCP enregistrée."))
            return redirect("rcp:dossier", pk=dossier.pk)
    response = render(
        request, "rcp/dossier_sheet.html", _sheet_context(request, dossier, refusal, preparation_form=form)
    )
    response.status_code = 400
    return response


@login_required
@require_POST
def dossier_correct(request, pk: int, decision_pk: int):
    dossier = _sheet_dossier(request, pk)
    decision = get_object_or_404(Decision.objects.filter(dossier=dossier), pk=decision_pk)
    form = CorrectionForm(request.POST)
    refusal = ""
    if form.is_valid():
        try:
            services.correct_decision(decision=decision, actor=request.user, **form.cleaned_data)
        except services.RcpRefused as exc:
            refusal = exc.message
        else:
            messages.success(request, _("Correction enregistrée ; la décision d'origine reste visible."))
            return redirect("rcp:dossier", pk=dossier.pk)
    response = render(
        request, "rcp/dossier_sheet.html", _sheet_context(request, dossier, refusal, correction_form=form)
    )
    response.status_code = 400
    return response


@login_required
@require_POST
def dossier_conclusion(request, pk: int):
    dossier = _sheet_dossier(request, pk)
    meeting = _meeting_of(request, dossier)
    if meeting is None:
        item = selectors.pending_item(dossier, Meeting.Kind.DOWNSTREAM)
        meeting = item.meeting if item else None
    form = ConclusionForm(request.POST, prefix=request.POST.get("prefix") or None)
    refusal = ""
    if form.is_valid():
        try:
            services.record_conclusion(
                dossier=dossier,
                actor=request.user,
                meeting=meeting,
                interpretation=form.cleaned_data["interpretation"],
                care_recommendations=form.cleaned_data["care_recommendations"],
                family_recommendations=form.cleaned_data["family_recommendations"],
            )
        except services.RcpRefused as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request, _("Conclusion de la RCP d'aval enregistrée : le dossier peut être clôturé.")
            )
            return redirect(_back(request, reverse("rcp:dossier", args=[dossier.pk])))
    dossier = _sheet_dossier(request, pk)
    response = render(
        request, "rcp/dossier_sheet.html", _sheet_context(request, dossier, refusal, conclusion_form=form)
    )
    response.status_code = 400
    return response


@login_required
def dossier_minutes_pdf(request, pk: int):
    """A dossier's RCP minutes, to whoever may see the dossier, once the RCP has decided something on it."""
    try:
        dossier = dossiers_visible_to(request.user).get(pk=pk)
    except Dossier.DoesNotExist:
        raise Http404 from None
    if not dossier.rcp_decisions.exists() or not rules.may_download_dossier_minutes.test(
        request.user, dossier
    ):
        raise Http404
    return pdf.attachment(
        pdf.current_dossier_minutes_path(dossier), f"{dossier.reference}-compte-rendu-rcp.pdf"
    )
