from typing import ClassVar

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from pfmg.admin_base import LargeTableAdminMixin, ReadOnlyAdminMixin

from .catalogue import CatalogueError, revise_pre_indication
from .models import (
    Dossier,
    DossierDocument,
    DossierEvent,
    DossierPerson,
    DossierPhenotype,
    Patient,
    PreIndication,
    PreIndicationDocument,
    PreIndicationVersion,
    PriorTest,
    ReferenceCounter,
)
from .services import TransitionRefused, actions_for, transition_dossier


def _submitted(dossier) -> bool:
    return dossier is not None and dossier.status != Dossier.Status.DRAFT


class ClinicalContentAdmin(admin.ModelAdmin):
    """A dossier's clinical content is read-only here once the dossier has left draft: it changes only through
    the services, which record the change on the timeline with its author and reason."""

    def dossier_of(self, obj):
        return obj.dossier if obj is not None else None

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not _submitted(self.dossier_of(obj))

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not _submitted(self.dossier_of(obj))


class PreIndicationVersionInline(admin.TabularInline):
    model = PreIndicationVersion
    fk_name = "pre_indication"
    fields = ("number", "name", "status", "effective_from", "effective_to")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(PreIndication)
class PreIndicationAdmin(admin.ModelAdmin):
    list_display = ("slug", "current_name", "category")
    list_filter = ("category", "versions__status", "versions__filiere")
    search_fields = ("slug", "versions__name", "versions__filiere")
    filter_horizontal = ("rcp_bodies",)
    inlines = [PreIndicationVersionInline]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("versions").distinct()

    @admin.display(description=_("nom (dernière version)"))
    def current_name(self, obj):
        latest = max(obj.versions.all(), key=lambda v: v.number, default=None)
        return latest.name if latest else "—"


class VersionRevisionForm(forms.ModelForm):
    """Editing a version writes a new one: the version a dossier was prescribed under never changes."""

    documents_text = forms.CharField(
        label=_("Documents à joindre"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("Un document par ligne ; ajoutez « (recommandé) » à la fin s'il n'est pas obligatoire."),
    )
    new_effective_from = forms.DateField(
        label=_("Nouvelle version en vigueur à partir du"),
        required=False,
        help_text=_("Par défaut : aujourd'hui."),
    )

    class Meta:
        model = PreIndicationVersion
        fields = [
            "name",
            "filiere",
            "validation_year",
            "status",
            "merged_into",
            "conditional",
            "presentation",
            "criteria",
            "genome_place",
            "family_structures",
            "trio_mandatory",
            "trio_exceptions",
            "sample_types",
            "sources",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["documents_text"].initial = "\n".join(
                d.label + ("" if d.required else " (recommandé)") for d in self.instance.documents.all()
            )

    def documents(self) -> list[dict]:
        docs = []
        for line in self.cleaned_data.get("documents_text", "").splitlines():
            line = line.strip()
            if line:
                recommended = line.endswith("(recommandé)")
                docs.append({"label": line.removesuffix("(recommandé)").strip(), "required": not recommended})
        return docs


@admin.register(PreIndicationVersion)
class PreIndicationVersionAdmin(admin.ModelAdmin):
    form = VersionRevisionForm
    list_display = ("name", "pre_indication", "number", "status", "filiere", "effective_from", "effective_to")
    list_filter = ("status", "pre_indication__category", "filiere", "conditional", "trio_mandatory")
    search_fields = ("name", "pre_indication__slug", "filiere")
    list_select_related = ("pre_indication",)
    readonly_fields = ("pre_indication", "number", "effective_from", "effective_to")

    def has_add_permission(self, request):
        # New pre-indications arrive through `manage.py catalogue import`; new versions through this form.
        return False

    def save_model(self, request, obj, form, change):
        content = {name: form.cleaned_data.get(name) for name in form.Meta.fields}
        content["merged_into"] = content["merged_into"].slug if content["merged_into"] else None
        content["documents"] = form.documents()
        try:
            new = revise_pre_indication(
                pre_indication=obj.pre_indication,
                content=content,
                effective_from=form.cleaned_data.get("new_effective_from"),
            )
        except CatalogueError as exc:
            raise PermissionDenied(str(exc)) from exc
        self._saved = new
        messages.info(
            request, _("Version %(n)s créée ; la version précédente reste inchangée.") % {"n": new.number}
        )

    def save_related(self, request, form, formsets, change):
        pass

    def response_change(self, request, obj):
        return redirect(reverse("admin:prescriptions_preindicationversion_change", args=[self._saved.pk]))


@admin.register(PreIndicationDocument)
class PreIndicationDocumentAdmin(admin.ModelAdmin):
    list_display = ("label", "version", "required")
    search_fields = ("label", "version__name")
    list_select_related = ("version",)

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(Patient)
class PatientAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    """An identity linked to a dossier that has left draft is read-only (identity corrections go through the
    portal, which records them)."""

    def _locked(self, obj) -> bool:
        # Asked by every permission check of the page (the form, each field, the buttons): answered once for
        # the object the request loaded.
        if obj is None:
            return False
        if "_admin_locked" not in obj.__dict__:
            obj._admin_locked = obj.dossier_roles.exclude(dossier__status=Dossier.Status.DRAFT).exists()
        return obj._admin_locked

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and not self._locked(obj)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and not self._locked(obj)

    list_display = (
        "birth_name",
        "used_name",
        "first_names",
        "date_of_birth",
        "sex",
        "is_fetus",
        "is_deceased",
    )
    # Fetuses and deceased persons are a few in millions: filtering on those unindexed columns would read the
    # whole table to find a page (and the bounded count) of them.
    list_filter = ("sex",)
    ordering = ("-pk",)
    sortable_by = ()
    # No search by name or INS: the admin's search is a GET, and an identity in a URL ends up in access logs.
    # A patient is reached from their dossier (search dossiers and persons by reference); the auditor's "who
    # accessed this patient" asks for an INS by POST.


class DossierPersonInline(admin.TabularInline):
    model = DossierPerson
    fields = ("relationship", "patient", "affected", "to_be_sequenced")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("patient")


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False


class DossierPhenotypeInline(_ReadOnlyInline):
    model = DossierPhenotype
    fields = ("term", "present")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("term")


class PriorTestInline(_ReadOnlyInline):
    model = PriorTest
    fields = ("kind", "performed_on", "result", "details")


class DossierDocumentInline(_ReadOnlyInline):
    model = DossierDocument
    fields = ("label", "content_type", "size", "sha256", "uploaded_by", "uploaded_at")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("uploaded_by")


class DossierEventInline(admin.TabularInline):
    model = DossierEvent
    verbose_name_plural = _("Chronologie")
    fields = ("at", "actor", "transition", "from_status", "to_status", "reason")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("at", "id")

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


class TransitionForm(forms.Form):
    reason = forms.CharField(label=_("Motif"), widget=forms.Textarea(attrs={"rows": 3}), required=False)


def _reference_prefix(term: str) -> Q:
    """Dossiers whose reference starts with ``term``: what the reference's unique index (and on PostgreSQL its
    ``varchar_pattern_ops`` twin) serves. References are stored upper-case."""
    return Q(reference__startswith=term.upper())


@admin.register(Dossier)
class DossierAdmin(LargeTableAdminMixin, ClinicalContentAdmin):
    change_form_template = "admin/prescriptions/dossier/change_form.html"
    list_display = (
        "reference",
        "status",
        "pre_indication_version",
        "prescriber",
        "establishment",
        "laboratory",
        "created_at",
    )
    list_filter = ("status", "laboratory", "pre_indication_version__pre_indication__category", "rcp")
    # Never a patient's name: see PatientAdmin. See get_search_results for what is searched, and how.
    search_fields = ("reference",)
    search_help_text = _("Début de la référence du dossier, ou début du nom de famille du prescripteur.")
    list_select_related = ("pre_indication_version", "prescriber", "establishment", "laboratory")
    # Newest first by the primary key: created_at has no index, and sorting millions of rows on it for each
    # page is what made deep pages slow. The reference (unique) is the one other column sorted through an index.
    ordering = ("-pk",)
    sortable_by = ("reference",)
    # 4,000 ORPHA diseases: searched as one types, not shipped as a <select> on every draft's page.
    autocomplete_fields = ("suspected_diagnosis",)
    change_page_related = (
        "pre_indication_version",
        "prescriber",
        "entered_by",
        "establishment",
        "rcp",
        "laboratory",
        "suspected_diagnosis",
    )
    # Read-only: a dossier changes through its services (the transitions below, routing with a reason),
    # so that every change leaves its trace in the timeline.
    readonly_fields = (
        "reference",
        "status",
        "pre_indication_version",
        "prescriber",
        "entered_by",
        "establishment",
        "rcp",
        "laboratory",
        "created_at",
        "updated_at",
    )
    inlines = [
        DossierPersonInline,
        DossierPhenotypeInline,
        PriorTestInline,
        DossierDocumentInline,
        DossierEventInline,
    ]

    def get_search_results(self, request, queryset, search_term):
        """Each word is the start of a reference or of a prescriber's family name. The prescribers are looked up
        first (the users table is small), so that the dossiers' condition is an OR of two indexed columns of
        the same table, ``reference LIKE 'X%' OR prescriber_id IN (…)``, instead of an OR across a join that
        no index serves (a scan of every dossier)."""
        for word in search_term.split():
            prescribers = list(
                get_user_model().objects.filter(last_name__istartswith=word).values_list("pk", flat=True)
            )
            queryset = queryset.filter(_reference_prefix(word) | Q(prescriber__in=prescribers))
        return queryset, False

    def get_object(self, request, object_id, from_field=None):
        # The change page shows every foreign key read-only: one query for the dossier and what it points to,
        # asked once per request although change_view (for the actions) and the form both want it.
        cache = request.__dict__.setdefault("_pfmg_admin_dossier", {})
        key = (object_id, from_field)
        if key not in cache:
            queryset = self.get_queryset(request).select_related(*self.change_page_related)
            field = Dossier._meta.pk if from_field is None else Dossier._meta.get_field(from_field)
            try:
                cache[key] = queryset.get(**{field.name: field.to_python(object_id)})
            except (Dossier.DoesNotExist, ValidationError, ValueError):
                cache[key] = None
        return cache[key]

    def has_add_permission(self, request):
        # A dossier is created by its prescriber (or their assistant) in the portal, never from the admin.
        return False

    def dossier_of(self, obj):
        return obj

    def has_delete_permission(self, request, obj=None):
        # Health data with an audit trail: cancel or withdraw, never delete.
        return False

    def get_urls(self):
        return [
            path(
                "<int:object_id>/transition/<str:name>/",
                self.admin_site.admin_view(self.transition_view),
                name="prescriptions_dossier_transition",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if obj is not None:
            extra_context["dossier_actions"] = actions_for(obj, request.user)
        return super().change_view(request, object_id, form_url, extra_context)

    def transition_view(self, request, object_id, name):
        dossier = self.get_object(request, str(object_id))
        if dossier is None or not self.has_view_or_change_permission(request, dossier):
            raise Http404
        action = next((a for a in actions_for(dossier, request.user) if a.name == name), None)
        if action is None or not action.allowed:
            reasons = action.reasons if action else [_("Action impossible au statut actuel.")]
            messages.error(request, " ".join(str(r) for r in reasons))
            return redirect(reverse("admin:prescriptions_dossier_change", args=[dossier.pk]))
        form = TransitionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                transition_dossier(
                    dossier=dossier, name=name, actor=request.user, reason=form.cleaned_data["reason"]
                )
            except TransitionRefused as exc:
                form.add_error("reason", str(exc))
            else:
                messages.success(request, _("Action « %(label)s » enregistrée.") % {"label": action.label})
                return redirect(reverse("admin:prescriptions_dossier_change", args=[dossier.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "original": dossier,
            "action": action,
            "form": form,
            "title": action.label,
        }
        return TemplateResponse(request, "admin/prescriptions/dossier/transition.html", context)


class ByDossierReferenceAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    """A table of a dossier's parts, searched by the start of the dossier's reference (an index range on the
    dossier, then the part's index on its dossier)."""

    search_fields = ("dossier__reference__startswith",)
    search_help_text = _("Début de la référence du dossier.")
    search_term_upper = True
    ordering = ("-pk",)
    sortable_by: ClassVar[tuple[str, ...]] = ()


@admin.register(DossierEvent)
class DossierEventAdmin(ReadOnlyAdminMixin, ByDossierReferenceAdmin):
    list_display = ("dossier", "at", "actor", "transition", "from_status", "to_status")
    # Not the transition's name: a field without choices is filtered through a DISTINCT over the whole
    # timeline. The status reached says the same, from a short list of choices.
    list_filter = ("to_status", "kind")
    list_select_related = ("dossier", "actor")
    # Newest recorded first, by primary key: a deep page's OFFSET then walks the primary key's index alone.
    # (The date's index serves sorting on it too, but reads the table's rows to break its ties.)
    ordering = ("-pk",)
    sortable_by = ("at",)


@admin.register(DossierPerson)
class DossierPersonAdmin(ByDossierReferenceAdmin, ClinicalContentAdmin):
    list_display = ("dossier", "relationship", "patient", "affected", "to_be_sequenced")
    list_filter = ("relationship", "affected", "to_be_sequenced")
    # Searched by the dossier's reference only, never a patient's name: see PatientAdmin.
    list_select_related = ("dossier", "patient")
    raw_id_fields = ["dossier", "patient"]


@admin.register(ReferenceCounter)
class ReferenceCounterAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only: references are allocated by the dossier service, never typed."""

    list_display = ("year", "last")


@admin.register(DossierDocument)
class DossierDocumentAdmin(ByDossierReferenceAdmin, ClinicalContentAdmin):
    """Listed for the audit; the files are downloaded from the dossier page, where access is checked."""

    list_display = ("label", "dossier", "content_type", "size", "uploaded_by", "uploaded_at")
    list_filter = ("content_type",)
    list_select_related = ("dossier", "uploaded_by")
    readonly_fields = (
        "dossier",
        "expected",
        "label",
        "file",
        "original_name",
        "content_type",
        "size",
        "sha256",
        "uploaded_by",
        "uploaded_at",
    )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(DossierPhenotype)
class DossierPhenotypeAdmin(ByDossierReferenceAdmin, ClinicalContentAdmin):
    list_display = ("dossier", "term", "present")
    list_filter = ("present",)
    search_help_text = _("Début de la référence du dossier, ou identifiant HPO (HP:0001250).")
    list_select_related = ("dossier", "term")
    readonly_fields = ("dossier", "term", "present")

    def get_search_results(self, request, queryset, search_term):
        # One indexed condition per word, chosen by its shape: an OR across the join (reference or term) would
        # be served by no index.
        for word in search_term.upper().split():
            if word.startswith("HP:"):
                queryset = queryset.filter(term_id=word)
            else:
                queryset = queryset.filter(dossier__reference__startswith=word)
        return queryset, False

    def has_add_permission(self, request):
        return False


@admin.register(PriorTest)
class PriorTestAdmin(ByDossierReferenceAdmin, ClinicalContentAdmin):
    list_display = ("dossier", "kind", "performed_on", "result")
    list_filter = ("kind", "result")
    list_select_related = ("dossier",)
    readonly_fields = ("dossier", "kind", "performed_on", "result", "details")

    def has_add_permission(self, request):
        return False
