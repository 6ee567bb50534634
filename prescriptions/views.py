import secrets
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from people.models import Role
from pfmg.pagination import COUNT_LIMIT, bounded_count, keyset_page

from . import panels, selectors
from .models import Dossier
from .rules import identities_hidden, may_edit_draft
from .services import EDITABLE_STATES, TransitionRefused, actions_for, transition_dossier

S = Dossier.Status
# What each status expects next, seen from the prescribing side and from the others (no query per row).
NEXT_FOR_PRESCRIBER = {
    S.DRAFT: _("Compléter et soumettre la prescription"),
    S.SUBMITTED: _("En attente de la RCP-FMG"),
    S.MORE_INFO_REQUESTED: _("Répondre aux questions de la RCP-FMG"),
    S.RCP_VALIDATED: _("Finaliser la prescription"),
    S.FINALISED: _("Prélever et expédier les échantillons"),
    S.SAMPLES_SHIPPED: _("En attente de réception au laboratoire"),
    S.RECEIVED: _("Au laboratoire"),
    S.SEQUENCING: _("Au laboratoire"),
    S.ANALYSIS: _("Au laboratoire"),
    S.REPORT_SIGNED: _("Compte rendu en cours de transmission"),
    S.REPORT_DELIVERED: _("Lire le compte rendu, puis clôturer"),
}
NEXT_FOR_OTHERS = {
    S.SUBMITTED: _("Décision de la RCP-FMG à enregistrer"),
    S.MORE_INFO_REQUESTED: _("En attente du prescripteur"),
    S.RCP_VALIDATED: _("En attente de finalisation"),
    S.FINALISED: _("En attente des prélèvements"),
    S.SAMPLES_SHIPPED: _("Réception à enregistrer"),
    S.RECEIVED: _("Séquençage à lancer"),
    S.SEQUENCING: _("Analyse à lancer"),
    S.ANALYSIS: _("Compte rendu à signer"),
    S.REPORT_SIGNED: _("Compte rendu à transmettre"),
}


def next_expected(dossier: Dossier, user) -> str:
    prescribing = user.pk in (dossier.prescriber_id, dossier.entered_by_id) or user.has_role(
        Role.PRESCRIPTION_ASSISTANT
    )
    if dossier.status == S.DRAFT and dossier.entered_by_id != dossier.prescriber_id:
        if user.pk == dossier.prescriber_id:
            return str(
                _("Vérifier, attester et soumettre")
                if dossier.handed_over_at
                else _("En préparation par l'assistant·e")
            )
        return str(
            _("Transmis au prescripteur")
            if dossier.handed_over_at
            else _("Compléter puis transmettre au prescripteur")
        )
    table = NEXT_FOR_PRESCRIBER if prescribing else NEXT_FOR_OTHERS
    return str(table.get(dossier.status, "—"))


SEARCHES_KEPT = 20  # searches remembered per session, the oldest forgotten first


def _search_redirect(request):
    """A search by patient name or INS comes by POST and is kept in the session under a random token: the URL
    it redirects to (and every page link after it) carries the token, never the identity, so that no access
    log, browser history or Referer header holds a patient's name or INS."""
    params = {k: request.POST.get(k, "") for k in ("vue", "statut", "pre_indication")}
    query = request.POST.get("q", "").strip()[:100]
    if query:
        token = secrets.token_urlsafe(12)
        searches = [s for s in request.session.get("searches", []) if s[1] != query][-(SEARCHES_KEPT - 1) :]
        request.session["searches"] = [*searches, [token, query]]
        params["recherche"] = token
    return redirect(f"{reverse('home')}?{urlencode({k: v for k, v in params.items() if v})}")


def _stored_search(request) -> str:
    token = request.GET.get("recherche", "")
    return (
        next((query for t, query in request.session.get("searches", []) if t == token), "") if token else ""
    )


HOME_ORDER = ("-updated_at", "-pk")
SEARCH_COUNT_LIMIT = 100


@login_required
def home(request):
    if request.method == "POST":
        return _search_redirect(request)
    user = request.user
    if user.has_role(Role.NATIONAL_COORDINATION) and not user.is_superuser:
        # Aggregates only, never identities.
        counts, counted_at = selectors.national_status_counts()
        rows = [(status.label, counts.get(status.value, 0)) for status in Dossier.Status]
        return render(
            request,
            "prescriptions/national.html",
            {"rows": rows, "total": sum(counts.values()), "counted_at": counted_at},
        )
    # The scope resolved once (memberships to ids), then used for the list, its count and the search: each of
    # its branches is an index range, merged by keyset_page and bounded_count (no full count, no OFFSET).
    scope = selectors.dossier_scope(user)
    branches = scope.branches
    dossiers = scope.dossiers()
    tab = request.GET.get("vue", "")
    to_validate = Q(status=S.DRAFT, prescriber=user, handed_over_at__isnull=False) & ~Q(entered_by=user)
    # Only an assisted prescriber has drafts handed over to validate: no count for the others.
    to_validate_count = (
        bounded_count(dossiers.filter(to_validate))
        if scope.assisted_by_someone and user.has_role(Role.PRESCRIBER)
        else None
    )
    if tab == "a-valider":
        dossiers = dossiers.filter(to_validate)
    status = request.GET.get("statut", "")
    if status in Dossier.Status.values:
        dossiers = dossiers.filter(status=status)
    pre_indication = request.GET.get("pre_indication", "")
    if pre_indication:
        dossiers = dossiers.filter(pre_indication_version__pre_indication__slug=pre_indication)
    query = _stored_search(request)  # never ``?q=``: an identity in a URL ends up in access logs
    if query:
        dossiers = dossiers.filter(selectors.dossier_search_q(user, query, scope))
    # A search's count stops sooner: counting a thousand "MARTIN" means testing every dossier of the scope
    # until a thousand match, while a page needs 26.
    count = bounded_count(dossiers, limit=SEARCH_COUNT_LIMIT if query else COUNT_LIMIT, branches=branches)
    page = keyset_page(
        # Only the join the rows show: each more join in this query costs PostgreSQL's planner more than its
        # execution (80 ms of planning with the six list joins, 0.5 ms to run).
        dossiers.select_related("pre_indication_version").prefetch_related(selectors.index_person_prefetch()),
        order=HOME_ORDER,
        cursor=request.GET.get("curseur"),
        branches=branches,
    )
    # No identity of a withdrawn dossier on the laboratory side: the selector's rule, asked once for the page.
    withdrawn = [d.pk for d in page.object_list if d.status == S.WITHDRAWN]
    withdrawn = withdrawn if scope.laboratory_ids else []  # only laboratories are concerned
    hidden = (
        set(
            Dossier.objects.filter(selectors.identities_hidden_q(user, scope), pk__in=withdrawn).values_list(
                "pk", flat=True
            )
        )
        if withdrawn
        else set()
    )
    for dossier in page.object_list:
        dossier.next_expected = next_expected(dossier, user)
        dossier.index = dossier.index_persons[0].patient if dossier.index_persons else None
        if dossier.pk in hidden:
            dossier.index = None
    # Those in whose name the user may prescribe: themselves if a prescriber (logged in, so active), and the
    # prescribers they assist (read only when they assist someone).
    assisted = list(selectors.prescribers_for(user)) if scope.assisted_ids else []
    params = request.GET.copy()
    for name in ("curseur", "page", "q"):
        params.pop(name, None)
    return render(
        request,
        "prescriptions/home.html",
        {
            "page": page,
            "count": count,
            "statuses": Dossier.Status.choices,
            "pre_indications": selectors.prescribable_versions(with_details=False),
            "current": {
                "statut": status,
                "pre_indication": pre_indication,
                "q": query,
                "vue": tab,
                "recherche": request.GET.get("recherche", "") if query else "",
            },
            "querystring": params.urlencode(),
            "to_validate_count": to_validate_count,
            "can_prescribe": user.has_role(Role.PRESCRIBER) or bool(assisted),
            "assisted": assisted if user.has_role(Role.PRESCRIPTION_ASSISTANT) else None,
        },
    )


def _visible(request, pk: int) -> Dossier:
    try:
        return selectors.dossier_detail(request.user, pk)
    except Dossier.DoesNotExist:
        raise Http404 from None


@login_required
def dossier_detail(request, pk: int):
    # A fixed number of queries whatever the dossier holds: the user's memberships once for every rule the
    # page and its panels ask, the dossier with all its collections in one query (selectors.dossier_page).
    request.user.load_memberships()
    try:
        dossier = selectors.dossier_page(request.user, pk)
    except Dossier.DoesNotExist:
        raise Http404 from None
    # The user's own actions, each available or with what it still needs; not those that belong to others
    # (a laboratory does not need to read that only the prescriber may withdraw). Submitting has its own
    # screen (the prescribing journey's last step): its requirements are not worked out here.
    actions = [a for a in actions_for(dossier, request.user, skip=("submit",)) if a.permitted]
    for action in actions:
        action.screen = panels.dedicated_screen(action.name, dossier)
    return render(
        request,
        "prescriptions/dossier_detail.html",
        {
            "dossier": dossier,
            "events": selectors.timeline(dossier),
            "panels": panels.panels_for(request, dossier),
            "actions": actions,
            "questions": selectors.more_info_questions(dossier),
            "can_edit": dossier.status in EDITABLE_STATES and may_edit_draft.test(request.user, dossier),
            "hide_identities": identities_hidden.test(request.user, dossier),
        },
    )


@login_required
def document_download(request, pk: int, document_pk: int):
    dossier = _visible(request, pk)
    if identities_hidden.test(request.user, dossier):
        raise Http404
    document = get_object_or_404(dossier.documents.all(), pk=document_pk)
    response = FileResponse(
        document.file.open("rb"),
        content_type=document.content_type,
        as_attachment=True,
        filename=f"{dossier.reference}-{document.pk}{document.extension}",
    )
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_POST
def dossier_transition(request, pk: int, name: str):
    dossier = _visible(request, pk)
    try:
        transition_dossier(
            dossier=dossier, name=name, actor=request.user, reason=request.POST.get("reason", "")
        )
    except TransitionRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, Dossier.Status(dossier.status).label)
    return redirect("dossier_detail", pk=dossier.pk)
