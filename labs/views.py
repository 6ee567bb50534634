"""The laboratory workspace (queue, reception, pipeline, signing) and the prescriber's samples and report pages.
Thin: each page reads through ``selectors`` and writes through ``services``."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from people import auth
from pfmg.pagination import with_links
from prescriptions.models import Dossier
from prescriptions.selectors import dossier_detail
from prescriptions.services import TransitionRefused

from . import forms, rules, selectors, services
from .conditions import persons_to_sequence
from .models import Report, Shipment
from .pdf import shipping_manifest_path

S = Dossier.Status


def _dossier(request, pk: int) -> Dossier:
    try:
        return dossier_detail(request.user, pk)
    except Dossier.DoesNotExist:
        raise Http404 from None


def _require(rule, request, dossier, message: str) -> None:
    if not rule.test(request.user, dossier):
        raise PermissionDenied(message)


def _refused(request, exc) -> None:
    messages.error(request, str(exc))


def _back(dossier):
    return redirect("dossier_detail", pk=dossier.pk)


@login_required
def queue(request):
    if not rules.is_laboratory_member.test(request.user):
        raise PermissionDenied(_("Cet espace est réservé au personnel des laboratoires."))
    status = request.GET.get("statut", "")
    search = request.GET.get("q", "").strip()[:100]
    laboratories = list(selectors.laboratories_of(request.user))
    page, found = selectors.queue_page(
        request.user,
        status=status,
        search=search,
        cursor=request.GET.get("curseur"),
        laboratories=laboratories,
    )
    counts = selectors.queue_counts(request.user)
    return render(
        request,
        "labs/queue.html",
        {
            "page": with_links(request, page),
            "search": search,
            "found": found,
            "statuses": [(s.value, s.label, counts[s.value]) for s in selectors.QUEUE_STATUSES],
            "current": status,
            "laboratories": laboratories,
        },
    )


@login_required
def routing(request, pk: int):
    dossier = _dossier(request, pk)
    _require(
        rules.may_override_routing,
        request,
        dossier,
        _("Vous ne pouvez pas changer l'orientation de ce dossier."),
    )
    form = forms.RoutingForm(request.POST or None, initial={"laboratory": dossier.laboratory_id})
    if request.method == "POST" and form.is_valid():
        try:
            services.override_routing(
                dossier=dossier,
                actor=request.user,
                laboratory=form.cleaned_data["laboratory"],
                reason=form.cleaned_data["reason"],
            )
        except services.LabActionRefused as exc:
            _refused(request, exc)
        else:
            messages.success(request, _("Orientation enregistrée : %(lab)s.") % {"lab": dossier.laboratory})
            return _back(dossier)
    territory_lab = None
    try:
        territory_lab = services.laboratory_for(dossier)
    except services.RoutingError:
        pass
    return render(
        request, "labs/routing.html", {"dossier": dossier, "form": form, "territory_lab": territory_lab}
    )


@login_required
def samples(request, pk: int):
    """The prescribing side records each sample, then declares the shipment."""
    dossier = _dossier(request, pk)
    editable = dossier.status == S.FINALISED and rules.may_record_samples.test(request.user, dossier)
    persons = persons_to_sequence(dossier)
    sample_types = services.allowed_sample_types(dossier)
    sample_form = forms.SampleForm(
        request.POST if request.POST.get("action") == "sample" else None,
        persons=persons,
        sample_types=sample_types,
        prefix="sample",
    )
    shipment_form = forms.ShipmentForm(
        request.POST if request.POST.get("action") == "ship" else None, prefix="ship"
    )
    if request.method == "POST":
        if not editable:
            messages.error(
                request,
                _(
                    "Les prélèvements ne peuvent être enregistrés que par le prescripteur (ou son assistant·e) "
                    "d'un dossier finalisé."
                ),
            )
            return redirect("labs_samples", pk=dossier.pk)
        form = sample_form if request.POST.get("action") == "sample" else shipment_form
        if form.is_valid():
            data = form.cleaned_data
            try:
                if form is sample_form:
                    person = next(p for p in persons if p.pk == data["person"])
                    services.record_sample(
                        dossier=dossier,
                        actor=request.user,
                        person=person,
                        sample_type=data["sample_type"],
                        barcode=data["barcode"],
                        collected_on=data["collected_on"],
                        collected_by=data["collected_by"],
                    )
                    messages.success(
                        request, _("Prélèvement %(code)s enregistré.") % {"code": data["barcode"]}
                    )
                    return redirect("labs_samples", pk=dossier.pk)
                services.ship_samples(dossier=dossier, actor=request.user, **data)
            except (services.LabActionRefused, TransitionRefused) as exc:
                _refused(request, exc)
            else:
                messages.success(request, _("Expédition déclarée au laboratoire."))
                return redirect("labs_samples", pk=dossier.pk)
    hide = rules.identities_hidden.test(request.user, dossier)
    samples = selectors.samples_of(dossier)
    return render(
        request,
        "labs/samples.html",
        {
            "dossier": dossier,
            "editable": editable,
            "hide": hide,
            "samples": samples,
            "shipments": selectors.shipments_of(dossier),
            # services.unshipped_samples, counted in the list already read
            "unshipped": sum(
                1 for s in samples if s.shipment_id is None and s.check_result != s.Check.NON_CONFORM
            ),
            "rejections": dossier.events.filter(transition="reject_samples").order_by("-at"),
            "sample_form": sample_form,
            "shipment_form": shipment_form,
        },
    )


@login_required
def manifest_pdf(request, pk: int):
    try:
        shipment = Shipment.objects.select_related("dossier").get(pk=pk)
    except Shipment.DoesNotExist:
        raise Http404 from None
    dossier = _dossier(request, shipment.dossier_id)
    if rules.identities_hidden.test(request.user, dossier):
        raise Http404
    path = shipping_manifest_path(shipment)
    response = FileResponse(
        default_storage.open(path, "rb"),
        content_type="application/pdf",
        as_attachment=True,
        filename=f"{dossier.reference}-bordereau-{shipment.pk}.pdf",
    )
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
def reception(request, pk: int):
    dossier = _dossier(request, pk)
    _require(
        rules.may_check_samples,
        request,
        dossier,
        _("Seul le personnel du laboratoire du dossier contrôle les prélèvements."),
    )
    pending = list(services.samples_to_check(dossier))
    errors = []
    if request.method == "POST":
        results = {}
        for sample in pending:
            answer = request.POST.get(f"check-{sample.pk}", "")
            if answer in ("conform", "non_conform"):
                results[sample.pk] = (answer == "conform", request.POST.get(f"reason-{sample.pk}", ""))
        try:
            event = services.check_samples(dossier=dossier, actor=request.user, results=results)
        except (services.LabActionRefused, TransitionRefused) as exc:
            errors.append(str(exc))
        else:
            if event.transition == "receive":
                messages.success(request, _("Dossier complet reçu."))
            else:
                messages.success(request, _("Non-conformité transmise au prescripteur."))
            return _back(dossier)
    return render(
        request,
        "labs/reception.html",
        {
            "dossier": dossier,
            "pending": pending,
            "errors": errors,
            "posted": request.POST,
            "hide": rules.identities_hidden.test(request.user, dossier),
            "open": dossier.status == S.SAMPLES_SHIPPED,
        },
    )


def _pipeline_step(request, pk: int, *, form, service, open_status, refusal, done, title, button):
    """A pipeline step's page: the form, then the service that records it and fires its transition."""
    dossier = _dossier(request, pk)
    _require(rules.may_run_pipeline, request, dossier, refusal)
    form = form(dossier)
    if request.method == "POST" and form.is_valid():
        try:
            service(dossier=dossier, actor=request.user, **form.cleaned_data)
        except (services.LabActionRefused, TransitionRefused) as exc:
            _refused(request, exc)
        else:
            messages.success(request, done)
            return _back(dossier)
    context = {"dossier": dossier, "form": form, "open": dossier.status == open_status}
    return render(request, "labs/step.html", {**context, "title": title, "button": button})


@login_required
def sequencing(request, pk: int):
    return _pipeline_step(
        request,
        pk,
        form=lambda dossier: forms.SequencingForm(request.POST or None),
        service=services.start_sequencing,
        open_status=S.RECEIVED,
        refusal=_("Seul le personnel du laboratoire du dossier lance le séquençage."),
        done=_("Séquençage lancé."),
        title=_("Lancer le séquençage"),
        button=_("Enregistrer le run et lancer le séquençage"),
    )


@login_required
def analysis(request, pk: int):
    return _pipeline_step(
        request,
        pk,
        form=lambda dossier: forms.AnalysisForm(
            request.POST or None, interpreters=services.interpreters_for(dossier)
        ),
        service=services.start_analysis,
        open_status=S.SEQUENCING,
        refusal=_("Seul le personnel du laboratoire du dossier lance l'analyse."),
        done=_("Analyse lancée."),
        title=_("Lancer l'analyse"),
        button=_("Désigner l'interprète et lancer l'analyse"),
    )


# Where a biologist is sent before signing (people.auth.strong_auth_step), and why.
SIGNING_STEP_MESSAGES = {
    "account_totp": gettext_lazy(
        "Pour signer, activez d'abord la double authentification (code à usage unique)."
    ),
    "reauthenticate": gettext_lazy(
        "Confirmez votre identité pour signer, puis signez à nouveau le compte rendu."
    ),
}


@login_required
def report(request, pk: int):
    """The report's versions (with their integrity), and for the laboratory: deposit, compose, sign, amend."""
    dossier = _dossier(request, pk)
    if rules.identities_hidden.test(request.user, dossier):
        raise Http404
    reports = selectors.reports_of(dossier, request.user)
    latest = reports[0] if reports else None
    may_prepare = rules.may_prepare_report.test(request.user, dossier)
    amending = latest is not None and latest.is_signed
    can_write = may_prepare and (
        dossier.status == S.ANALYSIS or (amending and dossier.status in services.AMENDABLE_STATES)
    )
    upload_form = forms.UploadReportForm(
        request.POST if request.POST.get("action") == "upload" else None,
        request.FILES if request.POST.get("action") == "upload" else None,
        prefix="upload",
    )
    compose_form = forms.ComposeReportForm(
        request.POST if request.POST.get("action") == "compose" else None, prefix="compose"
    )
    if request.method == "POST":
        action = request.POST.get("action")
        amends = latest if amending else None
        try:
            if action == "sign":
                draft = next((r for r in reports if not r.is_signed), None)
                if draft is None:
                    raise services.LabActionRefused(_("Aucun compte rendu à signer."))
                step = auth.strong_auth_step(request)
                if step is not None:
                    messages.info(request, str(SIGNING_STEP_MESSAGES[step]))
                    back = reverse("labs_report", args=[dossier.pk])
                    return redirect(f"{reverse(step)}?{urlencode({'next': back})}")
                services.sign_report(
                    report=draft, actor=request.user, strong_auth_at=auth.strong_auth_at(request)
                )
                messages.success(request, _("Compte rendu signé."))
                return redirect("labs_report", pk=dossier.pk)
            if action == "upload" and upload_form.is_valid():
                services.upload_report(
                    dossier=dossier,
                    actor=request.user,
                    uploaded=upload_form.cleaned_data["file"],
                    amends=amends,
                    reason=upload_form.cleaned_data["reason"],
                )
                messages.success(
                    request, _("Compte rendu déposé : il attend la signature d'un·e biologiste.")
                )
                return redirect("labs_report", pk=dossier.pk)
            if action == "compose" and compose_form.is_valid():
                services.compose_report(
                    dossier=dossier, actor=request.user, amends=amends, **compose_form.cleaned_data
                )
                messages.success(
                    request, _("Compte rendu rédigé : il attend la signature d'un·e biologiste.")
                )
                return redirect("labs_report", pk=dossier.pk)
        except (services.LabActionRefused, TransitionRefused) as exc:
            _refused(request, exc)
    for item in reports:
        item.is_intact = item.intact() if item.file else None
    return render(
        request,
        "labs/report.html",
        {
            "dossier": dossier,
            "reports": reports,
            "latest": latest,
            "can_write": can_write,
            "amending": amending,
            "can_sign": rules.may_sign_report.test(request.user, dossier)
            and any(not r.is_signed for r in reports),
            "upload_form": upload_form,
            "compose_form": compose_form,
        },
    )


@login_required
def report_download(request, pk: int):
    try:
        item = selectors.visible_report(request.user, pk)
    except Report.DoesNotExist:
        raise Http404 from None
    item = services.ensure_report_file(item)
    if not item.document:
        raise Http404
    services.record_download(report=item, user=request.user)
    response = FileResponse(
        default_storage.open(item.document.name, "rb"),
        content_type="application/pdf",
        as_attachment=True,
        filename=f"{item.dossier.reference}-compte-rendu-v{item.version}.pdf",
    )
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
def verify_report(request):
    """Upload a PDF: whether its PAdES signature is valid and trusted, who signed it and when, and whether it
    is a report of the portal that the user may see (and only then)."""
    from .signing import verify_pdf

    form = forms.VerifyReportForm(request.POST or None, request.FILES or None)
    result = known = None
    if request.method == "POST" and form.is_valid():
        uploaded = form.cleaned_data["file"]
        try:
            services.check_report_size(uploaded)
        except services.LabActionRefused as exc:
            form.add_error("file", str(exc))
        else:
            result = verify_pdf(uploaded.read())
            known = selectors.signed_report_with_digest(request.user, result.sha256)
    response = render(request, "labs/verify.html", {"form": form, "result": result, "known": known})
    response["Cache-Control"] = "private, no-store"
    return response
