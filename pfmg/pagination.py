"""Lists that cost the same on page 1 and deep down, with 10,000 dossiers or 2 million.

Two rules, for every list the portal shows (pages, queues, the API):

* **Keyset, not OFFSET.** A page is "the ``size`` rows after (or before) this row, in this order": a range
  condition an index on the order serves, never ``OFFSET n`` (which reads and drops ``n`` rows). The cursor
  is an opaque token holding the boundary row's ordering values (dates and ids, never an identity).
* **Bounded counts.** A count reads at most ``COUNT_LIMIT + 1`` rows and says "more than 1,000" beyond.

``keyset_page(queryset, order=("-updated_at", "-pk"), cursor=request.GET.get("curseur"))`` returns a
``KeysetPage``: ``object_list``, ``has_next``/``next_cursor``, ``has_previous``/``previous_cursor``. The
order's last field must be unique (``pk``), so that the boundary is one row.

**Scopes made of branches.** A queryset filtered by ``A OR B`` (a prescriber's own dossiers or those of the
RCPs they coordinate), ordered and limited, may make PostgreSQL fetch and sort every row of ``A OR B``. Given
``branches=[A, B]`` (conditions whose union the queryset already holds, each served by an index in the list's
order), ``keyset_page`` and ``bounded_count`` ask each branch for its own first rows and merge them: a UNION
of ``ORDER BY … LIMIT n`` subqueries, each one index range. Only where the database takes ordered, limited
parts in a UNION (PostgreSQL); elsewhere the plain filter.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import reduce
from operator import or_
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import connections
from django.db.models import IntegerField, Q, QuerySet, Subquery, Value
from django.utils.dateparse import parse_datetime

COUNT_LIMIT = 1000
PAGE_SIZE = 25


@dataclass(frozen=True)
class BoundedCount:
    """At most ``limit`` counted: ``more`` says there are more than ``value`` (then ``value == limit``)."""

    value: int
    more: bool
    limit: int = COUNT_LIMIT

    def __str__(self) -> str:
        return f"> {self.limit}" if self.more else str(self.value)


def _by_branch(queryset: QuerySet, branches: list[Q] | None) -> bool:
    return (
        bool(branches)
        and len(branches) > 1
        and connections[queryset.db].features.supports_slicing_ordering_in_compound
    )


def bounded_count(
    queryset: QuerySet, limit: int = COUNT_LIMIT, *, branches: list[Q] | None = None
) -> BoundedCount:
    """The number of rows of ``queryset``, reading at most ``limit + 1`` of them (of each branch, if given: the
    union of the branches' first ``limit + 1`` rows exceeds ``limit`` exactly when the whole union does)."""
    if _by_branch(queryset, branches):
        plain = queryset.order_by().prefetch_related(None).select_related(None)
        parts = [plain.filter(branch).values_list("pk")[: limit + 1] for branch in branches]
        n = parts[0].union(*parts[1:]).count()
    else:
        n = queryset.order_by()[: limit + 1].count()
    return BoundedCount(value=min(n, limit), more=n > limit, limit=limit)


@dataclass
class KeysetPage:
    object_list: list[Any]
    has_next: bool = False
    has_previous: bool = False
    next_cursor: str = ""
    previous_cursor: str = ""
    size: int = PAGE_SIZE
    extra: dict[str, Any] = field(default_factory=dict)

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self) -> int:
        return len(self.object_list)


class InvalidCursor(ValueError):
    pass


def _encode(direction: str, values: list[Any]) -> str:
    # Dates and times too (a meeting's): read back as strings, or as a datetime the date field takes.
    plain = [v.isoformat() if isinstance(v, dt.date | dt.time) else v for v in values]
    raw = json.dumps([direction, plain], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str, order: tuple[str, ...]) -> tuple[str, list[Any]]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        direction, values = json.loads(raw)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidCursor(cursor) from exc
    if direction not in ("n", "p") or not isinstance(values, list) or len(values) != len(order):
        raise InvalidCursor(cursor)
    decoded = []
    for value in values:
        if isinstance(value, str):
            when = parse_datetime(value)
            decoded.append(when if when is not None else value)
        elif isinstance(value, int | float) or value is None:
            decoded.append(value)
        else:
            raise InvalidCursor(cursor)
    return direction, decoded


def _typed(queryset: QuerySet, order: tuple[str, ...], values: list[Any]) -> list[Any] | None:
    """The cursor's values as the order's fields take them, or None if one does not fit: a forged cursor (a
    string where a date or an id belongs) is the first page, as an unreadable one is, never a server error."""
    opts = queryset.model._meta
    typed = []
    for spec, value in zip(order, values, strict=True):
        name = _field(spec)[0]
        try:
            field = opts.pk if name == "pk" else opts.get_field(name)
        except FieldDoesNotExist:  # an annotation: taken as the cursor holds it
            typed.append(value)
            continue
        try:
            typed.append(None if value is None else field.to_python(value))
        except ValidationError:
            return None
    return typed


def _field(spec: str) -> tuple[str, bool]:
    return (spec[1:], True) if spec.startswith("-") else (spec, False)


def after(order: tuple[str, ...], values: list[Any]) -> Q:
    """Rows strictly after ``values`` in ``order``. The first field's bound is repeated alone (``<=``/``>=``)
    so that an index on the order starts its scan at the boundary instead of filtering from the top."""
    first, descending = _field(order[0])
    condition = Q()
    for i in range(len(order) - 1, -1, -1):
        name, desc = _field(order[i])
        strict = Q(**{f"{name}__{'lt' if desc else 'gt'}": values[i]})
        condition = strict if i == len(order) - 1 else strict | (Q(**{name: values[i]}) & condition)
    return Q(**{f"{first}__{'lte' if descending else 'gte'}": values[0]}) & condition


def _reverse(order: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(spec[1:] if spec.startswith("-") else f"-{spec}" for spec in order)


def _values(row: Any, order: tuple[str, ...]) -> list[Any]:
    return [getattr(row, _field(spec)[0]) for spec in order]


def _read_cursor(cursor: str | None, order: tuple[str, ...]) -> tuple[str, list[Any] | None]:
    if cursor:
        try:
            return _decode(cursor, order)
        except InvalidCursor:
            pass
    return "n", None


def _page_of(rows: list[Any], direction: str, values: list[Any] | None, order, size: int) -> KeysetPage:
    """The page from ``size + 1`` rows read in the cursor's direction, with its cursors."""
    if values is None:
        page = KeysetPage(object_list=rows[:size], has_next=len(rows) > size, size=size)
    elif direction == "n":
        page = KeysetPage(object_list=rows[:size], has_next=len(rows) > size, has_previous=True, size=size)
    else:
        page = KeysetPage(
            object_list=list(reversed(rows[:size])), has_next=True, has_previous=len(rows) > size, size=size
        )
    if page.object_list:
        if page.has_next:
            page.next_cursor = _encode("n", _values(page.object_list[-1], order))
        if page.has_previous:
            page.previous_cursor = _encode("p", _values(page.object_list[0], order))
    return page


def _rows(
    queryset: QuerySet, condition: Q, order: tuple[str, ...], limit: int, branches: Sequence[Q] | None
) -> list:
    """The first ``limit`` rows of ``queryset`` that meet ``condition``, in ``order``."""
    rows = queryset.filter(condition)
    if _by_branch(queryset, branches):
        assert branches is not None
        # Each branch's first keys (one index range each); the page is the first of their union, by primary
        # key: one query, whose sort reads at most ``limit`` rows per branch.
        plain = rows.order_by(*order).prefetch_related(None).select_related(None)
        parts = [plain.filter(branch).values_list("pk")[:limit] for branch in branches]
        # The keys already meet every condition: the outer query only loads them (with the queryset's joins,
        # annotations and prefetches), so that the planner does not weigh the conditions again against the
        # whole table.
        loaded = queryset.model._default_manager.using(queryset.db).filter(
            pk__in=parts[0].union(*parts[1:], all=True)
        )
        loaded.query.select_related = queryset.query.select_related
        loaded._prefetch_related_lookups = queryset._prefetch_related_lookups
        if queryset.query.annotations:
            loaded = loaded.annotate(**queryset.query.annotations)
        rows = loaded
    return list(rows.order_by(*order)[:limit])


def keyset_page(
    queryset: QuerySet,
    *,
    order: tuple[str, ...],
    cursor: str | None = None,
    size: int = PAGE_SIZE,
    branches: Sequence[Q] | None = None,
) -> KeysetPage:
    """One page of ``queryset`` in ``order``, after or before the row the cursor names (the first page without
    one; an unreadable cursor is the first page too). Costs one query of at most ``size + 1`` rows (per
    branch, when ``branches`` are given; see the module's docstring)."""
    direction, values = _read_cursor(cursor, order)
    if values is not None:
        values = _typed(queryset, order, values)
        direction = direction if values is not None else "n"
    scan = order if direction == "n" else _reverse(order)
    condition = Q() if values is None else after(scan, values)
    rows = _rows(queryset, condition, scan, size + 1, branches)
    return _page_of(rows, direction, values, order, size)


def _compound_limits(queryset: QuerySet) -> bool:
    """Whether the database runs ``(SELECT … LIMIT n) UNION ALL (SELECT … LIMIT n)`` (PostgreSQL: yes;
    SQLite: no, and there a single scan of a small database is as good)."""
    return connections[queryset.db].features.supports_slicing_ordering_in_compound


def partitioned_keyset_page(
    queryset: QuerySet,
    *,
    partitions: Sequence[Q],
    order: tuple[str, ...],
    cursor: str | None = None,
    size: int = PAGE_SIZE,
) -> KeysetPage:
    """``keyset_page`` of the rows of ``queryset`` in any of ``partitions``, when each partition is a
    condition that an index ending with ``order`` serves (one RCP and one status, for an index on
    ``(rcp, status, status_since)``). ``rcp IN (…) AND status IN (…) ORDER BY status_since`` cannot walk
    such an index in order: the database would read every row of every partition and sort them. Here each
    partition reads at most ``size + 1`` rows along the index, the database merges them (``UNION ALL`` of
    ``LIMIT``s) and reads the page's rows by primary key: one query (plus ``queryset``'s prefetches),
    whatever the size of the partitions."""
    if not partitions:
        return KeysetPage(object_list=[], size=size)
    if len(partitions) == 1 or not _compound_limits(queryset):
        return keyset_page(queryset.filter(reduce(or_, partitions)), order=order, cursor=cursor, size=size)
    return keyset_page(queryset, order=order, cursor=cursor, size=size, branches=partitions)


def bounded_counts(
    queryset: QuerySet, partitions: Mapping[Any, Q], limit: int = COUNT_LIMIT
) -> dict[Any, BoundedCount]:
    """``bounded_count`` of each partition of ``queryset`` (per status, per RCP…), in one query where the
    database allows a ``UNION ALL`` of ``LIMIT``s: each partition reads at most ``limit + 1`` index entries."""
    keys = list(partitions)
    if len(keys) < 2:
        return {key: bounded_count(queryset.filter(partitions[key]), limit) for key in keys}
    if _compound_limits(queryset):
        branches = [
            queryset.filter(partitions[key])
            .order_by()
            .values_list(Value(i, output_field=IntegerField()))[: limit + 1]
            for i, key in enumerate(keys)
        ]
    else:
        # SQLite refuses a LIMIT in a UNION's branch but not in a subquery: bound each branch there.
        model = queryset.model._default_manager.using(queryset.db)
        branches = [
            model.filter(pk__in=queryset.filter(partitions[key]).order_by().values("pk")[: limit + 1])
            .order_by()
            .values_list(Value(i, output_field=IntegerField()))
            for i, key in enumerate(keys)
        ]
    seen = Counter(i for (i,) in branches[0].union(*branches[1:], all=True))
    return {
        key: BoundedCount(value=min(seen[i], limit), more=seen[i] > limit, limit=limit)
        for i, key in enumerate(keys)
    }


def with_links(request, page: KeysetPage, param: str = "curseur") -> KeysetPage:
    """Sets ``page.extra["previous"]``/``["next"]``: the request's query string (filters, search, another
    list's cursor) with ``param`` set to the previous or next page's cursor."""
    for name, cursor in (("previous", page.previous_cursor), ("next", page.next_cursor)):
        if cursor:
            query = request.GET.copy()
            query[param] = cursor
            page.extra[name] = f"?{query.urlencode()}"
    return page


class BoundedCountSubquery(Subquery):
    """``bounded_count`` as a column: ``(SELECT COUNT(*) FROM (<queryset> LIMIT limit + 1))``, e.g. one per
    RCP-FMG row with ``OuterRef``. Compare with ``limit`` to say "more than"."""

    template = "(SELECT COUNT(*) FROM (%(subquery)s) _bounded)"
    output_field = IntegerField()

    def __init__(self, queryset: QuerySet, limit: int = COUNT_LIMIT, **extra):
        super().__init__(queryset.order_by().values("pk")[: limit + 1], **extra)


def bounded(value: int, limit: int = COUNT_LIMIT) -> BoundedCount:
    """The ``BoundedCount`` of a ``BoundedCountSubquery`` column."""
    return BoundedCount(value=min(value, limit), more=value > limit, limit=limit)


@dataclass(frozen=True)
class Matches:
    """The primary keys a search names: at most ``limit`` per lookup; ``truncated`` when a lookup had more
    (the term is too short to name a few rows)."""

    ids: list[Any]
    truncated: bool


def bounded_matches(model, lookups: Sequence[QuerySet], limit: int = COUNT_LIMIT) -> Matches:
    """The ``model`` rows whose key one of ``lookups`` (each ``.values(<one key column>)``, read through its own
    index: a reference, a barcode, a name) returns, at most ``limit + 1`` per lookup, all in one query."""
    branches = [
        model._default_manager.filter(pk__in=lookup.order_by()[: limit + 1])
        .order_by()
        .values_list("pk", Value(i, output_field=IntegerField()))
        for i, lookup in enumerate(lookups)
    ]
    rows = list(branches[0].union(*branches[1:], all=True)) if len(branches) > 1 else list(branches[0])
    per_lookup = Counter(i for _, i in rows)
    return Matches(ids=sorted({pk for pk, _ in rows}), truncated=any(n > limit for n in per_lookup.values()))
