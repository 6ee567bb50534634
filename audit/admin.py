"""The trail in the admin: read-only for everyone, and the auditor's two questions with their CSV exports —
who accessed this patient's data, what did this user access — over a period."""

from __future__ import annotations

import csv
import datetime as dt
from functools import reduce
from operator import or_

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pfmg.admin_base import LargeTableAdminMixin, ReadOnlyAdminMixin

from .forms import PatientQueryForm, UserQueryForm
from .models import AuditEntry
from .registry import Target

RESULTS_SHOWN = 500
CSV_COLUMNS = (
    "seq",
    "at",
    "actor_id",
    "actor_username",
    "source",
    "action",
    "method",
    "path",
    "url_name",
    "status_code",
    "object_type",
    "object_id",
    "dossier_reference",
    "patient_ids",
    "ip",
    "user_agent",
)


class _Echo:
    def write(self, value):
        return value


def _cell(value) -> str:
    text = "" if value is None else str(value)
    # A spreadsheet must not execute what a client sent (a user agent starting with "=").
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_response(entries, filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(CSV_COLUMNS)
        for entry in entries.iterator(chunk_size=2000):
            values = {**entry, "at": entry["at"].isoformat()}
            yield writer.writerow([_cell(values[c]) for c in CSV_COLUMNS])

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


def _period(form) -> Q:
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(form.cleaned_data["date_from"], dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(form.cleaned_data["date_to"] + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return Q(at__gte=start, at__lt=end)


def patient_filter(*, ins: str = "", reference: str = "") -> tuple[Q, Target]:
    """The entries about a patient (by INS: every dossier they are in) or about a dossier's persons."""
    from prescriptions.models import DossierPerson, Patient

    target = Target("audit.query")
    if ins:
        target.patient_ids |= set(Patient.objects.filter(ins=ins.strip()).values_list("pk", flat=True))
    if reference:
        reference = reference.strip()
        target.references.add(reference)
        target.patient_ids |= set(
            DossierPerson.objects.filter(dossier__reference=reference).values_list("patient_id", flat=True)
        )
    clauses = [Q(patient_ids__contains=f",{pk},") for pk in sorted(target.patient_ids)]
    clauses += [Q(dossier_reference=r) for r in target.references]
    return (reduce(or_, clauses) if clauses else Q(pk__in=[])), target


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    list_display = (
        "seq",
        "at",
        "actor_username",
        "source",
        "action",
        "url_name",
        "dossier_reference",
        "status_code",
        "ip",
    )
    list_filter = ("source", "action")
    # A dossier's reference or a username, exactly (see get_search_results). No date hierarchy: it reads the
    # distinct years of the whole trail; the auditor's two queries below take a period.
    search_fields = ("dossier_reference", "actor_username")
    search_help_text = _("Référence exacte d'un dossier (PFMG-…) ou identifiant exact d'un utilisateur.")
    ordering = ("-seq",)
    sortable_by = ("seq",)
    change_list_template = "admin/audit/auditentry/change_list.html"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def get_search_results(self, request, queryset, search_term):
        """Each word is a reference or a username, told apart by shape, and matched exactly (``=``), so that one
        index serves each: ``iexact`` would wrap the column in UPPER() (no index), and an OR of the two columns
        would read both indexes in full for a busy user."""
        for word in search_term.split():
            if word.upper().startswith("PFMG-"):
                queryset = queryset.filter(dossier_reference=word.upper())
            else:
                queryset = queryset.filter(actor_username=word)
        return queryset, False

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("patient/", wrap(self.by_patient_view), name="audit_auditentry_by_patient"),
            path("utilisateur/", wrap(self.by_user_view), name="audit_auditentry_by_user"),
            *super().get_urls(),
        ]

    def _query_page(self, request, form, entries, title, filename):
        if not self.has_view_permission(request):
            raise PermissionDenied
        results = None
        if form.is_bound and form.is_valid():
            entries = entries.order_by("seq")
            if "csv" in request.POST:
                return _csv_response(entries.values(*CSV_COLUMNS), filename)
            results = list(entries.select_related(None)[:RESULTS_SHOWN])
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "form": form,
            "results": results,
            "limit": RESULTS_SHOWN,
        }
        return TemplateResponse(request, "admin/audit/auditentry/query.html", context)

    def by_patient_view(self, request):
        form = PatientQueryForm(request.POST or None)
        entries = AuditEntry.objects.none()
        if form.is_bound and form.is_valid():
            clause, target = patient_filter(
                ins=form.cleaned_data["ins"], reference=form.cleaned_data["reference"]
            )
            # The auditor's own query is in the trail, with the patients it concerned.
            request.audit_target = target
            entries = AuditEntry.objects.filter(clause & _period(form))
        return self._query_page(
            request, form, entries, _("Qui a accédé aux données de ce patient ?"), "acces-patient.csv"
        )

    def by_user_view(self, request):
        form = UserQueryForm(request.POST or None)
        entries = AuditEntry.objects.none()
        if form.is_bound and form.is_valid():
            entries = AuditEntry.objects.filter(Q(actor=form.cleaned_data["user"]) & _period(form))
        return self._query_page(
            request, form, entries, _("À quoi cet utilisateur a-t-il accédé ?"), "acces-utilisateur.csv"
        )
