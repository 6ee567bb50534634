from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from people.models import Role

from . import selectors
from .models import Dossier
from .services import TransitionRefused, actions_for, transition_dossier


@login_required
def home(request):
    user = request.user
    if user.has_role(Role.NATIONAL_COORDINATION) and not user.is_superuser:
        # Aggregates only, never identities.
        counts = dict(Dossier.objects.values_list("status").annotate(n=Count("id")).order_by())
        rows = [(status.label, counts.get(status.value, 0)) for status in Dossier.Status]
        return render(request, "prescriptions/national.html", {"rows": rows, "total": sum(counts.values())})
    dossiers = selectors.dossier_list(user).order_by("-updated_at")
    status = request.GET.get("status", "")
    if status in Dossier.Status.values:
        dossiers = dossiers.filter(status=status)
    page = Paginator(dossiers, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "prescriptions/home.html",
        {"page": page, "statuses": Dossier.Status.choices, "current_status": status},
    )


@login_required
def dossier_detail(request, pk: int):
    try:
        dossier = selectors.dossier_detail(request.user, pk)
    except Dossier.DoesNotExist:
        raise Http404 from None
    return render(
        request,
        "prescriptions/dossier_detail.html",
        {
            "dossier": dossier,
            "events": selectors.timeline(dossier),
            "actions": actions_for(dossier, request.user),
        },
    )


@login_required
@require_POST
def dossier_transition(request, pk: int, name: str):
    try:
        dossier = selectors.dossier_detail(request.user, pk)
    except Dossier.DoesNotExist:
        raise Http404 from None
    try:
        transition_dossier(
            dossier=dossier, name=name, actor=request.user, reason=request.POST.get("reason", "")
        )
    except TransitionRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, Dossier.Status(dossier.status).label)
    return redirect("dossier_detail", pk=dossier.pk)
