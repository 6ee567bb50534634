from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pfmg.admin_base import LargeTableAdminMixin, ReadOnlyAdminMixin

from .models import ConsentRecord, ConsentTemplate, ConsentTemplateVersion, DataDeletion, Withdrawal


class VersionInline(admin.TabularInline):
    model = ConsentTemplateVersion
    fields = ("number", "effective_from", "effective_to")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ConsentTemplate)
class ConsentTemplateAdmin(admin.ModelAdmin):
    list_display = ("title", "kind", "situation", "audience", "reading_level")
    list_filter = ("kind", "situation", "audience", "reading_level")
    search_fields = ("title", "slug")
    inlines = [VersionInline]


@admin.register(ConsentTemplateVersion)
class ConsentTemplateVersionAdmin(admin.ModelAdmin):
    """A version in force is immutable: only its end date may still be set (when a newer one replaces it)."""

    list_display = ("template", "number", "effective_from", "effective_to")
    list_filter = ("template__kind", "template__situation", "template__reading_level")
    search_fields = ("template__title",)

    def get_readonly_fields(self, request, obj=None):
        if obj and obj.effective_from <= timezone.localdate():
            return ("template", "number", "body", "effective_from")
        return ()

    def has_delete_permission(self, request, obj=None):
        return obj is None or obj.effective_from > timezone.localdate()


class WithdrawalInline(admin.TabularInline):
    model = Withdrawal
    fields = ("scope", "withdrawn_on", "reason", "recorded_by", "recorded_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("recorded_by")


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """Read-only: consents are recorded and withdrawn from the dossier's consent page (through the services)."""

    list_display = ("person", "signed_on", "analysis_accepted", "additional_findings", "research_reuse")
    list_filter = ("analysis_accepted", "additional_findings", "research_reuse", "collector_kind")
    search_fields = ("person__dossier__reference__startswith",)
    search_help_text = _("Début de la référence du dossier.")
    search_term_upper = True
    list_select_related = ("person__patient",)
    ordering = ("-pk",)
    sortable_by = ()
    inlines = [WithdrawalInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


@admin.register(DataDeletion)
class DataDeletionAdmin(LargeTableAdminMixin, admin.ModelAdmin):
    list_display = ("dossier", "requested_at", "due_on", "purged_at", "files_deleted")
    list_filter = ("purged_at",)
    readonly_fields = ("dossier", "requested_at", "purged_at", "files_deleted")
    search_fields = ("dossier__reference__startswith",)
    search_help_text = _("Début de la référence du dossier.")
    search_term_upper = True
    list_select_related = ("dossier",)
    ordering = ("due_on", "pk")
    sortable_by = ("due_on",)

    def has_add_permission(self, request):
        return False
