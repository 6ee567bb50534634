"""Which URLs touch patient data, and how to find the dossier and patients a request concerned.

Every URL pattern of the project is either in ``ROUTES`` (recorded), matched by the admin rule (recorded), or in
``NOT_PATIENT_DATA`` (not recorded): ``audit/tests/test_registry.py`` enumerates the URL resolver and fails on
a pattern that is none of these, so a new page cannot escape the trail.

Each resolver costs one query whatever the data (a dossier's persons come back as rows of the same query)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, partial

from django.apps import apps

from .models import Action

# --- What a request concerned ----------------------------------------------------------------------------


@dataclass
class Target:
    object_type: str = ""
    object_id: str = ""
    references: set[str] = field(default_factory=set)
    patient_ids: set[int] = field(default_factory=set)

    def add_rows(self, rows) -> Target:
        for reference, patient_id in rows:
            if reference:
                self.references.add(reference)
            if patient_id:
                self.patient_ids.add(patient_id)
        return self


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def dossier(kwargs) -> Target:
    from prescriptions.models import Dossier

    pk = _int(kwargs.get("pk"))
    target = Target("prescriptions.dossier", str(kwargs.get("pk", "")))
    if pk is not None:
        target.add_rows(Dossier.objects.filter(pk=pk).values_list("reference", "persons__patient_id"))
    return target


def dossier_by_reference(kwargs) -> Target:
    """An API or FHIR route that names its dossier by ``reference``."""
    from prescriptions.models import Dossier

    reference = str(kwargs.get("reference", ""))
    target = Target("prescriptions.dossier", reference)
    if reference:
        target.add_rows(
            Dossier.objects.filter(reference=reference).values_list("reference", "persons__patient_id")
        )
    return target


def fhir_resource(kwargs) -> Target:
    """A FHIR resource read by id (``<reference>.<kind>-<pk>``, fhir.ids): its dossier, and of the patients only
    the person it names when it names one (Patient, RelatedPerson, ServiceRequest, Consent)."""
    from interop.ids import person_pk, split_id
    from prescriptions.models import Dossier

    rid = str(kwargs.get("id", ""))
    target = Target(f"fhir.{str(kwargs.get('resource_type', ''))[:40]}".lower(), rid[:64])
    parts = split_id(rid)
    if parts is None:
        return target
    reference, suffix = parts
    rows = Dossier.objects.filter(reference=reference)
    person = person_pk(suffix)
    if person is not None:
        rows = rows.filter(persons__pk=person)
    return target.add_rows(rows.values_list("reference", "persons__patient_id"))


def dossier_person(kwargs) -> Target:
    """A page about one person of a dossier (consent): that person only."""
    from prescriptions.models import DossierPerson

    pk, person_pk = _int(kwargs.get("pk")), _int(kwargs.get("person_pk"))
    target = Target("prescriptions.dossierperson", str(kwargs.get("person_pk", "")))
    if pk is not None and person_pk is not None:
        target.add_rows(
            DossierPerson.objects.filter(pk=person_pk, dossier_id=pk).values_list(
                "dossier__reference", "patient_id"
            )
        )
    return target


def dossier_person_by_reference(kwargs) -> Target:
    """An API route about one person of a dossier named by ``reference`` (consent): that person only."""
    from prescriptions.models import DossierPerson

    reference, person_id = str(kwargs.get("reference", "")), _int(kwargs.get("person_id"))
    target = Target("prescriptions.dossierperson", str(kwargs.get("person_id", "")))
    if reference and person_id is not None:
        target.add_rows(
            DossierPerson.objects.filter(pk=person_id, dossier__reference=reference).values_list(
                "dossier__reference", "patient_id"
            )
        )
    return target


def via(model_label: str, path: str, kwarg: str = "pk") -> Callable[[dict], Target]:
    """An object that belongs to a dossier through ``path`` (e.g. a report: "dossier")."""

    def resolve(kwargs) -> Target:
        model = apps.get_model(model_label)
        pk = kwargs.get(kwarg)
        target = Target(model_label.lower(), str(pk or ""))
        if pk is not None:
            prefix = f"{path}__" if path else ""
            try:
                rows = model._default_manager.filter(pk=pk).values_list(
                    f"{prefix}reference", f"{prefix}persons__patient_id"
                )
                target.add_rows(rows)
            except (ValueError, TypeError):
                pass
        return target

    return resolve


def meeting(kwargs) -> Target:
    """A meeting's pages show the dossiers on its agenda."""
    from rcp.models import AgendaItem

    pk = _int(kwargs.get("pk"))
    target = Target("rcp.meeting", str(kwargs.get("pk", "")))
    if pk is not None:
        target.add_rows(
            AgendaItem.objects.filter(meeting_id=pk).values_list(
                "dossier__reference", "dossier__persons__patient_id"
            )
        )
    return target


def meeting_dossier(kwargs) -> Target:
    """An API route naming a meeting (``pk``) and one dossier on its agenda (``reference``): that dossier."""
    from rcp.models import AgendaItem

    pk, reference = _int(kwargs.get("pk")), str(kwargs.get("reference", ""))
    target = Target("rcp.meeting", str(kwargs.get("pk", "")))
    if pk is not None and reference:
        target.add_rows(
            AgendaItem.objects.filter(meeting_id=pk, dossier__reference=reference).values_list(
                "dossier__reference", "dossier__persons__patient_id"
            )
        )
    return target


def listing(kwargs) -> Target:
    """A list of dossiers (a queue, a home page): recorded, without a single object."""
    return Target("list")


@dataclass(frozen=True)
class Route:
    resolve: Callable[[dict], Target]
    read: str = Action.READ  # the action of a GET
    write: str = Action.WRITE  # the action of any other method


DOWNLOAD = {"read": Action.DOWNLOAD}

ROUTES: dict[str, Route] = {
    # prescriptions
    "home": Route(listing),
    "dossier_detail": Route(dossier),
    "dossier_transition": Route(dossier),
    "document_download": Route(via("prescriptions.DossierDocument", "dossier", "document_pk"), **DOWNLOAD),
    "prescription_summary_pdf": Route(dossier, **DOWNLOAD),
    "prescribe_start": Route(listing),
    "prescribe_resume": Route(dossier),
    "prescribe_step": Route(dossier),
    # rcp (``pk`` is a meeting under seances/, a dossier under dossiers/)
    "rcp:home": Route(listing),
    "rcp:meeting": Route(meeting),
    "rcp:meeting_edit": Route(meeting),
    "rcp:agenda_add": Route(meeting),
    "rcp:agenda_propose": Route(meeting),
    "rcp:agenda_remove": Route(meeting),
    "rcp:attendance": Route(meeting),
    "rcp:meeting_minutes": Route(meeting, **DOWNLOAD),
    "rcp:dossier": Route(dossier),
    "rcp:decide": Route(dossier),
    "rcp:sheet_entry": Route(dossier),
    "rcp:prepare": Route(dossier),
    "rcp:correct": Route(dossier),
    "rcp:conclusion": Route(dossier),
    "rcp:dossier_minutes": Route(dossier, **DOWNLOAD),
    # consent
    "consent:dossier": Route(dossier),
    "consent:record": Route(dossier_person),
    "consent:withdraw": Route(dossier_person),
    "consent:form_pdf": Route(dossier_person, **DOWNLOAD),
    "consent:scan": Route(dossier_person, **DOWNLOAD),
    # labs
    "labs_queue": Route(listing),
    "labs_routing": Route(dossier),
    "labs_samples": Route(dossier),
    "labs_reception": Route(dossier),
    "labs_sequencing": Route(dossier),
    "labs_analysis": Route(dossier),
    "labs_report": Route(dossier),
    "labs_manifest_pdf": Route(via("labs.Shipment", "dossier"), **DOWNLOAD),
    "labs_report_download": Route(via("labs.Report", "dossier"), **DOWNLOAD),
    # a PDF checked against its signature; a known report is named only to whoever may see it
    "labs_verify_report": Route(listing),
    # API
    "research-export-list": Route(listing, read=Action.EXPORT),
    "dossier-list": Route(listing),
    "dossier-detail": Route(dossier_by_reference),
    # labs.apis: a dossier's samples, shipments (manifest PDFs, downloads) and reports (PDFs, downloads)
    "dossier-sample-list": Route(dossier_by_reference),
    "dossier-shipment-list": Route(dossier_by_reference),
    "dossier-shipment-manifest": Route(dossier_by_reference, **DOWNLOAD),
    "dossier-report-list": Route(dossier_by_reference),
    "dossier-report-download": Route(dossier_by_reference, **DOWNLOAD),
    "laboratory-queue-list": Route(listing),
    "dossier-routing": Route(dossier_by_reference),
    # a PDF checked against its signature, as the page: a known report is named only to whoever may see it
    "report-verify": Route(listing),
    "dossier-summary": Route(dossier_by_reference, **DOWNLOAD),
    "dossier-transition": Route(dossier_by_reference),
    "dossier-consent-list": Route(dossier_by_reference),
    "person-consent-record": Route(dossier_person_by_reference),
    "person-consent-withdrawal": Route(dossier_person_by_reference),
    "person-consent-form-pdf": Route(dossier_person_by_reference, **DOWNLOAD),
    "person-consent-scan": Route(dossier_person_by_reference, **DOWNLOAD),
    # FHIR R4 export: a dossier's Bundle, or one of its resources by id
    "fhir:bundle": Route(dossier_by_reference, **DOWNLOAD),
    "fhir:resource": Route(fhir_resource),
    "dossier-hand-over": Route(dossier_by_reference),
    "dossier-person-list": Route(dossier_by_reference),
    "dossier-person-detail": Route(via("prescriptions.DossierPerson", "dossier")),
    "dossier-phenotypes": Route(dossier_by_reference),
    "dossier-document-list": Route(dossier_by_reference),
    "dossier-document-detail": Route(via("prescriptions.DossierDocument", "dossier")),
    "dossier-document-download": Route(via("prescriptions.DossierDocument", "dossier"), **DOWNLOAD),
    # the RCP-FMG's API (``pk``: an RCP body under rcp-bodies/, a meeting under meetings/)
    "rcp-body-queue": Route(listing),
    "meeting-detail": Route(meeting),
    "meeting-agenda": Route(meeting),
    "meeting-agenda-propose": Route(meeting),
    "meeting-agenda-item": Route(meeting_dossier),
    "meeting-attendance": Route(meeting),
    "meeting-minutes": Route(meeting, **DOWNLOAD),
    "dossier-decision-list": Route(dossier_by_reference),
    "dossier-sheet-entry-list": Route(dossier_by_reference),
    "dossier-conclusion-list": Route(dossier_by_reference),
    "dossier-decision-corrections": Route(dossier_by_reference),
    "dossier-sheet-entry-preparation": Route(dossier_by_reference),
    "dossier-minutes-list": Route(dossier_by_reference, **DOWNLOAD),
    # admin pages outside the per-model rule that show patient data
    "admin:autocomplete": Route(listing, read=Action.ADMIN_VIEW, write=Action.ADMIN_CHANGE),
    "admin:auth_user_password_change": Route(
        lambda kwargs: target_for_model(apps.get_model("people.User"), kwargs.get("id")),
        read=Action.ADMIN_VIEW,
        write=Action.ADMIN_CHANGE,
    ),
}

# Declared as holding no patient data: public, reference or account pages.
NOT_PATIENT_DATA: set[str] = {
    "login",
    "logout",
    "set_language",
    "healthz",
    "api-root",
    "api-schema",
    "api-docs",
    "pre-indication-list",
    "pre-indication-detail",
    "hpo-term-list",
    "hpo-term-detail",
    "orpha-disease-list",
    "orpha-disease-detail",
    # the inbox holds dossier references and statuses, never an identity nor clinical content
    "notifications_inbox",
    "notifications_mark_read",
    "notification-list",
    "notification-read",
    "rcp:meeting_create",  # an empty meeting: date, place
    # RCP bodies (name, city, the user's function) and meetings listed without their agendas: no dossier
    "rcp-body-list",
    "rcp-body-detail",
    "meeting-list",
    "consent:notices",  # public information notices
    "consent:notice_pdf",  # blank forms and notices
    # the user's own account and sign-in (people.urls, Pro Santé Connect, API tokens)
    "login_code",
    "account",
    "account_totp",
    "password_change",
    "reauthenticate",
    "oidc_authentication_init",
    "oidc_authentication_callback",
    "oidc_logout",
    "api-token",
    "admin:index",
    "admin:login",
    "admin:logout",
    "admin:password_change",
    "admin:password_change_done",
    "admin:jsi18n",
    "admin:app_list",
    "admin:view_on_site",  # a redirect to the portal's page, itself recorded
}

# Patterns without a name, by their route: the admin's redirect of <object_id>/ to its change page (recorded
# there) and the admin's final catch-all (a redirect to log in, or a 404).
UNNAMED_ALLOWED = ("/<path:object_id>/", "admin/(?P<url>.*)$")


# --- The admin rule: admin:<app>_<model>_<view> --------------------------------------------------------------

ADMIN_READ_VIEWS = {"changelist", "history", "change"}


@cache
def _admin_models() -> dict[str, type]:
    from django.contrib import admin

    return {f"admin:{m._meta.app_label}_{m._meta.model_name}_": m for m in admin.site._registry}


@cache
def dossier_path(model) -> str | None:
    """The lookup from ``model`` to its Dossier ("" for the Dossier itself), following foreign keys."""
    from prescriptions.models import Dossier

    if model is Dossier:
        return ""
    frontier = [(model, "")]
    for _depth in range(3):
        following = []
        for current, prefix in frontier:
            for f in current._meta.get_fields():
                if not (f.many_to_one or f.one_to_one) or not f.concrete or f.related_model is None:
                    continue
                path = f"{prefix}{f.name}"
                if f.related_model is Dossier:
                    return path
                following.append((f.related_model, f"{path}__"))
        frontier = following
    return None


def target_for_model(model, object_id) -> Target:
    """The dossier(s) and patients an object of ``model`` concerns (one query), for the admin."""
    from prescriptions.models import Patient

    label = model._meta.label_lower
    target = Target(label, str(object_id or ""))
    if object_id in (None, ""):
        return target
    try:
        if model is Patient:
            rows = Patient.objects.filter(pk=object_id).values_list("dossier_roles__dossier__reference", "pk")
            target.add_rows(rows)
            target.patient_ids.add(int(object_id))
            return target
        path = dossier_path(model)
        if path is None:
            return target
        prefix = f"{path}__" if path else ""
        target.add_rows(
            model._default_manager.filter(pk=object_id).values_list(
                f"{prefix}reference", f"{prefix}persons__patient_id"
            )
        )
    except (ValueError, TypeError):
        pass
    return target


def _admin_target(model, kwargs) -> Target:
    return target_for_model(model, kwargs.get("object_id"))


def admin_route(url_name: str) -> Route | None:
    for prefix, model in _admin_models().items():
        if url_name.startswith(prefix):
            # A POST to any admin view is an ADMIN_CHANGE request; what it changed is recorded by
            # audit.admin_trail (ADMIN_ADD, ADMIN_EDIT, ADMIN_M2M, ADMIN_DELETE with before/after).
            return Route(
                partial(_admin_target, model),
                Action.ADMIN_VIEW,
                Action.ADMIN_CHANGE,
            )
    return None


def route_for(url_name: str | None) -> Route | None:
    """The route recorded for this URL name, or None (not patient data, or unnamed)."""
    if not url_name:
        return None
    route = ROUTES.get(url_name)
    if route is None and url_name.startswith("admin:"):
        route = admin_route(url_name)
    return route


def is_classified(url_name: str | None, route: str) -> bool:
    if not url_name:
        return route.endswith(UNNAMED_ALLOWED) and route.startswith("admin/")
    return url_name in NOT_PATIENT_DATA or route_for(url_name) is not None
