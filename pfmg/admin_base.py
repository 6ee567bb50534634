"""What several apps' admins share."""

from __future__ import annotations

from typing import ClassVar

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property

from pfmg.pagination import bounded_count

# Rows a big table's changelist counts at most, and so the deepest row it pages to (100 pages of 100): an
# administrator looking further down searches or filters instead.
ADMIN_COUNT_LIMIT = 10_000


class ReadOnlyAdminMixin:
    """Listed and viewed in the admin, never added, changed or deleted there: the rows are written by a service
    (timeline, decisions, consents, tokens), a loader (the ontologies) or the audit trail itself."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class BoundedPaginator(Paginator):
    """A paginator whose count reads at most ``limit + 1`` rows (``SELECT COUNT(*) FROM (… LIMIT 10001)``): no
    full COUNT over millions of rows, and page numbers stop at ``limit / per_page``. ``more`` says that rows
    were left uncounted. A page number past the last is the last page (as ``get_page`` does), so an old
    ``?p=999`` link shows the deepest page reachable instead of an error."""

    limit = ADMIN_COUNT_LIMIT

    @cached_property
    def _bounded(self):
        if isinstance(self.object_list, list | tuple):
            n = len(self.object_list)
            return min(n, self.limit), n > self.limit
        counted = bounded_count(self.object_list, self.limit)
        return counted.value, counted.more

    @cached_property
    def count(self) -> int:
        return self._bounded[0]

    @property
    def more(self) -> bool:
        return self._bounded[1]

    def page(self, number):
        """Past the first page, the rows are fetched by primary key: ``id IN (SELECT id … ORDER BY … LIMIT 100
        OFFSET n)``, so that the offset walks an index alone and the joins of ``list_select_related`` are made
        for the page's rows only, not for the ``n`` rows skipped."""
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        queryset = self.object_list
        if bottom == 0 or not isinstance(queryset, QuerySet) or not queryset.ordered:
            return super().page(number)
        top = min(bottom + self.per_page, self.count)
        if top + self.orphans >= self.count:
            top = self.count
        keys = queryset.values("pk")[bottom:top]
        return self._get_page(queryset.filter(pk__in=keys), number, self)

    def validate_number(self, number):
        try:
            return super().validate_number(number)
        except PageNotAnInteger:
            raise
        except EmptyPage:
            if int(number) < 1:
                raise
            return self.num_pages


class BoundedChangeList(ChangeList):
    def get_results(self, request):
        super().get_results(request)
        # The paginator served the last page for a number past it: say so in the page links too.
        self.page_num = min(self.page_num, max(self.paginator.num_pages, 1))


class LargeTableAdminMixin:
    """For the changelists of tables that grow with the dossiers (millions of rows at national scale): what a
    page costs must not depend on the table's size.

    * a bounded paginator and no full count (``show_full_result_count``), no facet counts;
    * the subclass keeps ``list_select_related`` covering every foreign key it displays, an ``ordering`` and
      ``sortable_by`` on indexed columns, search fields an index serves (exact or prefix lookups, spelled
      ``field__exact``/``field__startswith``: the admin's ``=``/``^`` prefixes mean ``iexact``/``istartswith``,
      which wrap the column in UPPER() on PostgreSQL, and no index serves that), and no ``date_hierarchy`` (it
      reads the distinct years of the whole table) nor a ``list_filter`` over a column without choices (a
      DISTINCT over the whole table)."""

    paginator: ClassVar[type] = BoundedPaginator
    show_full_result_count: ClassVar[bool] = False
    show_facets: ClassVar[admin.ShowFacets] = admin.ShowFacets.NEVER
    date_hierarchy: ClassVar[str | None] = None
    # The query string's search term is upper-cased first where the searched columns are stored upper-case
    # (dossier references), so that an exact or prefix lookup finds them.
    search_term_upper = False

    def get_changelist(self, request, **kwargs):
        return BoundedChangeList

    def get_search_results(self, request, queryset, search_term):
        search_term = search_term.strip()
        if self.search_term_upper:
            search_term = search_term.upper()
        return super().get_search_results(request, queryset, search_term)
