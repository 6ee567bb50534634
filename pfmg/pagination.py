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
from dataclasses import dataclass, field
from typing import Any

from django.db import connections
from django.db.models import Q, QuerySet
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
    plain = [v.isoformat() if isinstance(v, dt.datetime) else v for v in values]
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


def _rows(
    queryset: QuerySet, condition: Q, order: tuple[str, ...], limit: int, branches: list[Q] | None
) -> list:
    """The first ``limit`` rows of ``queryset`` that meet ``condition``, in ``order``."""
    rows = queryset.filter(condition)
    if _by_branch(queryset, branches):
        # Each branch's first keys (one index range each); the page is the first of their union, by primary
        # key: one query, whose sort reads at most ``limit`` rows per branch.
        plain = rows.order_by(*order).prefetch_related(None).select_related(None)
        parts = [plain.filter(branch).values_list("pk")[:limit] for branch in branches]
        # The keys already meet every condition: the outer query only loads them (with the queryset's joins
        # and prefetches), so that the planner does not weigh the conditions again against the whole table.
        rows = queryset.model._default_manager.filter(pk__in=parts[0].union(*parts[1:]))
        rows.query.select_related = queryset.query.select_related
        rows._prefetch_related_lookups = queryset._prefetch_related_lookups
    return list(rows.order_by(*order)[:limit])


def keyset_page(
    queryset: QuerySet,
    *,
    order: tuple[str, ...],
    cursor: str | None = None,
    size: int = PAGE_SIZE,
    branches: list[Q] | None = None,
) -> KeysetPage:
    """One page of ``queryset`` in ``order``, after or before the row the cursor names (the first page without
    one; an unreadable cursor is the first page too). Costs one query of at most ``size + 1`` rows."""
    direction, values = "n", None
    if cursor:
        try:
            direction, values = _decode(cursor, order)
        except InvalidCursor:
            direction, values = "n", None
    if values is None:
        rows = _rows(queryset, Q(), order, size + 1, branches)
        page = KeysetPage(object_list=rows[:size], has_next=len(rows) > size, size=size)
    elif direction == "n":
        rows = _rows(queryset, after(order, values), order, size + 1, branches)
        page = KeysetPage(object_list=rows[:size], has_next=len(rows) > size, has_previous=True, size=size)
    else:
        backwards = _reverse(order)
        rows = _rows(queryset, after(backwards, values), backwards, size + 1, branches)
        page = KeysetPage(
            object_list=list(reversed(rows[:size])), has_next=True, has_previous=len(rows) > size, size=size
        )
    if page.object_list:
        if page.has_next:
            page.next_cursor = _encode("n", _values(page.object_list[-1], order))
        if page.has_previous:
            page.previous_cursor = _encode("p", _values(page.object_list[0], order))
    return page
