"""Consent screens: the dossier's consents, recording a consent, a withdrawal, the pre-filled form, and the
public "Patients et familles" page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.storage import default_storage
from django.db.models import Q
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from prescriptions import selectors as dossier_selectors
from prescriptions.models import Dossier, DossierPerson
from prescriptions.services import TransitionRefused

from . import pdf, selectors, services
from .forms import ConsentForm, WithdrawalForm
from .models import Audience, ConsentTemplate, ConsentTemplateVersion, PersonStatus, ReadingLevel, Situation
from .rules import cares_for_dossier


def panel_context(request, dossier: Dossier) -> dict | None:
    """The consents section of the dossier page, for those who care for the dossier only."""
    if dossier.status == Dossier.Status.DRAFT:
        return None
    if not cares_for_dossier.test(request.user, dossier):
        return None  # consent data are not shown to laboratories nor to RCP members
    # ``selectors.consents_for`` from what the page loaded with the dossier (selectors.PANEL_FOLD).
    persons = [p for p in dossier.persons.all() if p.to_be_sequenced]
    for person in persons:
        person.consent_record = getattr(person, "consent", None)
    return {"persons": persons, "url": reverse("consent:dossier", args=[dossier.pk])}


def _dossier(request, pk: int) -> Dossier:
    """The dossier if the user may see it (else 404) and cares for it (else 403: a laboratory or an RCP member
    sees the dossier, never its consents)."""
    try:
        dossier = dossier_selectors.dossier_detail(request.user, pk)
    except Dossier.DoesNotExist:
        raise Http404 from None
    if not cares_for_dossier.test(request.user, dossier):
        raise PermissionDenied(
            _("Les consentements ne sont visibles que de l'équipe qui prend en charge le dossier.")
        )
    return dossier


def _person(request, dossier: Dossier, person_pk: int) -> DossierPerson:
    person = selectors.person_for(request.user, dossier, person_pk)
    if person is None:
        raise Http404
    return person


@login_required
def dossier_consents(request, pk: int):
    dossier = _dossier(request, pk)
    persons = selectors.consents_for(request.user, dossier)
    withdrawable = [p for p in persons if p.consent_record and not p.consent_record.fully_withdrawn]
    return render(
        request,
        "consent/dossier.html",
        {
            "dossier": dossier,
            "persons": persons,
            "missing": selectors.finalise_requirement(dossier),
            "withdrawable": withdrawable,
            "open": dossier.status not in Dossier.FINAL_STATES,
        },
    )


def _initial_status(person: DossierPerson) -> str:
    audience = selectors.audience_for_form(person)
    return {
        Audience.MINOR: PersonStatus.MINOR,
        Audience.RELATIVE_OF_DECEASED: PersonStatus.DECEASED,
    }.get(audience, PersonStatus.ADULT)


@login_required
def record_consent(request, pk: int, person_pk: int):
    dossier = _dossier(request, pk)
    person = _person(request, dossier, person_pk)
    if selectors.consent_of(person) is not None:
        messages.info(request, _("Le consentement de cette personne est déjà enregistré."))
        return redirect("consent:dossier", pk=dossier.pk)
    form_kwargs = {
        "versions": selectors.form_versions(dossier),
        "collectors": services.collectors_for(dossier),
    }
    if request.method == "POST":
        form = ConsentForm(request.POST, request.FILES, **form_kwargs)
        if form.is_valid():
            try:
                services.record_consent(
                    person=person,
                    actor=request.user,
                    scan=request.FILES.get("scan"),
                    **{k: v for k, v in form.service_arguments().items() if k != "scan"},
                )
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    for field, errors in exc.message_dict.items():
                        form.add_error(field if field in form.fields else None, errors)
                else:
                    form.add_error(None, exc.messages)
            else:
                messages.success(
                    request, _("Consentement enregistré : %(person)s.") % {"person": person.patient}
                )
                return redirect("consent:dossier", pk=dossier.pk)
    else:
        version = selectors.current_form_version(dossier, selectors.audience_for_form(person))
        collector = request.user if form_kwargs["collectors"].filter(pk=request.user.pk).exists() else None
        form = ConsentForm(
            initial={
                "template_version": version,
                "person_status": _initial_status(person),
                "signed_on": timezone.localdate(),
                "collected_by": collector,
                "signed_by_person": _initial_status(person) == PersonStatus.ADULT,
            },
            **form_kwargs,
        )
    return render(request, "consent/record.html", {"dossier": dossier, "person": person, "form": form})


@login_required
def record_withdrawal(request, pk: int, person_pk: int):
    dossier = _dossier(request, pk)
    person = _person(request, dossier, person_pk)
    consent = selectors.consent_of(person)
    if consent is None:
        raise Http404
    if request.method == "POST":
        form = WithdrawalForm(request.POST)
        if form.is_valid():
            try:
                services.record_withdrawal(consent=consent, actor=request.user, **form.cleaned_data)
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    for field, errors in exc.message_dict.items():
                        form.add_error(field if field in form.fields else None, errors)
                else:
                    form.add_error(None, exc.messages)
            except TransitionRefused as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, _("Retrait enregistré : %(person)s.") % {"person": person.patient})
                return redirect("consent:dossier", pk=dossier.pk)
    else:
        form = WithdrawalForm(initial={"withdrawn_on": timezone.localdate()})
    return render(
        request,
        "consent/withdrawal.html",
        {"dossier": dossier, "person": person, "consent": consent, "form": form},
    )


@login_required
def consent_form_pdf(request, pk: int, person_pk: int):
    """The person's pre-filled consent form, to print and have signed."""
    dossier = _dossier(request, pk)
    person = _person(request, dossier, person_pk)
    path = pdf.current_consent_form_path(person)
    response = FileResponse(
        default_storage.open(path, "rb"),
        content_type="application/pdf",
        as_attachment=True,
        filename=f"{dossier.reference}-consentement-{person.pk}.pdf",
    )
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
def scan_download(request, pk: int, person_pk: int):
    dossier = _dossier(request, pk)
    person = _person(request, dossier, person_pk)
    consent = selectors.consent_of(person)
    if consent is None or not consent.scan:
        raise Http404
    extension = {"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png"}[
        consent.scan_content_type
    ]
    response = FileResponse(
        consent.scan.open("rb"),
        content_type=consent.scan_content_type,
        as_attachment=True,
        filename=f"{dossier.reference}-consentement-signe-{person.pk}{extension}",
    )
    response["Cache-Control"] = "private, no-store"
    return response


def notices(request):
    """Public: the information notices and blank forms in force, by situation, person and reading level."""
    versions = selectors.notices_in_force()
    sections = []
    for kind, kind_label in ConsentTemplate.Kind.choices:
        for situation, situation_label in Situation.choices:
            rows = []
            for audience, audience_label in Audience.choices:
                cells = {
                    v.template.reading_level: v
                    for v in versions
                    if v.template.kind == kind
                    and v.template.situation == situation
                    and v.template.audience == audience
                }
                if cells:
                    rows.append(
                        {
                            "audience": audience_label,
                            "cells": [cells.get(level) for level in ReadingLevel.values],
                        }
                    )
            if rows:
                sections.append(
                    {
                        "kind": kind_label,
                        "situation": situation_label,
                        "rows": rows,
                        "id": f"{kind}-{situation}",
                    }
                )
    return render(request, "consent/notices.html", {"sections": sections, "levels": ReadingLevel.choices})


def notice_pdf(request, pk: int):
    today = timezone.localdate()
    version = get_object_or_404(
        ConsentTemplateVersion.objects.select_related("template")
        .filter(effective_from__lte=today)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=today)),
        pk=pk,
    )
    return FileResponse(
        default_storage.open(pdf.notice_path(version), "rb"),
        content_type="application/pdf",
        as_attachment=True,
        filename=f"{version.template.slug}-v{version.number}.pdf",
    )
