from django.contrib import admin

from pfmg.admin_base import ReadOnlyAdminMixin

from .models import HpoTerm, OntologyRelease, OrphaDisease, normalise


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The loaders own these tables: an edit here would be lost, or worse kept, at the next release."""

    # Counting 19,000 terms on every page of results buys nothing.
    show_full_result_count = False

    def get_search_results(self, request, queryset, search_term):
        # The search columns hold normalised text: "Épilepsie" must find what "epilepsie" finds.
        return super().get_search_results(request, queryset, normalise(search_term))


@admin.register(HpoTerm)
class HpoTermAdmin(ReadOnlyAdmin):
    list_display = ("id", "name", "is_obsolete", "replaced_by", "is_phenotypic_abnormality")
    list_filter = ("is_obsolete", "is_phenotypic_abnormality")
    search_fields = ("id", "search_text")


@admin.register(OrphaDisease)
class OrphaDiseaseAdmin(ReadOnlyAdmin):
    list_display = ("id", "name")
    search_fields = ("id", "search_text")


@admin.register(OntologyRelease)
class OntologyReleaseAdmin(ReadOnlyAdmin):
    list_display = ("source", "version", "loaded_at", "item_count", "created_count", "obsolete_count")
    list_filter = ("source",)
    search_fields = ("version",)
