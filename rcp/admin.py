"""RCP-FMG meetings and their records in the admin. Decisions, corrections, sheet entries and conclusions are
read-only: they are written by the services (a correction is a new record, never an edit)."""

from typing import ClassVar

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from pfmg.admin_base import LargeTableAdminMixin, ReadOnlyAdminMixin

from .models import AgendaItem, Decision, DecisionCorrection, DownstreamConclusion, Meeting, SheetEntry


class _ReadOnly(ReadOnlyAdminMixin, LargeTableAdminMixin, admin.ModelAdmin):
    """Written by the rcp services only; a row or more per dossier, so millions at national scale: bounded pages,
    newest first on the primary key, searched by the start of the dossier's reference."""

    search_fields = ("dossier__reference__startswith",)
    search_help_text = _("Début de la référence du dossier.")
    search_term_upper = True
    ordering = ("-pk",)
    sortable_by: ClassVar[tuple[str, ...]] = ()


class AgendaItemInline(admin.TabularInline):
    model = AgendaItem
    extra = 0
    fields = ("position", "dossier", "added_by", "added_at")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("dossier", "added_by")


@admin.register(Meeting)
class MeetingAdmin(admin.ModelAdmin):
    list_display = ("date", "start_time", "rcp", "kind", "place")
    list_filter = ("kind", "rcp")
    date_hierarchy = "date"
    fields = (
        "rcp",
        "kind",
        "date",
        "start_time",
        "place",
        "video_link",
        "present",
        "created_by",
        "created_at",
    )
    readonly_fields = ("rcp", "kind", "created_by", "created_at")
    # Searched among the users as one types: a two-box selector would list every account of the country.
    autocomplete_fields = ("present",)
    list_select_related = ("rcp",)
    inlines = [AgendaItemInline]

    def has_add_permission(self, request):
        return False  # a meeting is created from "Mes RCP", by its coordinator

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Decision)
class DecisionAdmin(_ReadOnly):
    list_display = ("dossier", "kind", "meeting", "recorded_by", "recorded_at")
    list_filter = ("kind",)
    list_select_related = ("dossier", "meeting__rcp", "recorded_by")
    ordering = ("-recorded_at",)
    sortable_by = ("recorded_at",)


@admin.register(DecisionCorrection)
class DecisionCorrectionAdmin(_ReadOnly):
    list_display = ("decision", "recorded_by", "recorded_at")
    list_select_related = ("decision__dossier", "recorded_by")
    search_fields = ("decision__dossier__reference__startswith",)


@admin.register(SheetEntry)
class SheetEntryAdmin(_ReadOnly):
    list_display = ("dossier", "kind", "field", "author", "at")
    list_filter = ("kind", "field")
    list_select_related = ("dossier", "author")


@admin.register(DownstreamConclusion)
class DownstreamConclusionAdmin(_ReadOnly):
    list_display = ("dossier", "meeting", "recorded_by", "recorded_at")
    list_select_related = ("dossier", "meeting__rcp", "recorded_by")


@admin.register(AgendaItem)
class AgendaItemAdmin(_ReadOnly):
    list_display = ("meeting", "position", "dossier", "added_by")
    list_select_related = ("meeting__rcp", "dossier", "added_by")
