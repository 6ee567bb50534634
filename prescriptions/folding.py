"""A dossier and its collections in one query: each collection comes back as a JSON array computed by a
correlated subquery of the dossier's own row, and is turned back into model instances stored as if prefetched,
so that ``dossier.samples.all()`` answers without a query.

The dossier page shows a dozen collections owned by four apps (persons, phenotypes, documents, the timeline,
RCP decisions, consents, samples, reports…): one ``prefetch_related`` each would cost a dozen queries on every
view, whatever the dossier holds. Folded, they cost none beyond the dossier's own query, and their number does
not grow with their length. Works wherever Django's ``JSONObject`` does (PostgreSQL, SQLite, MySQL, Oracle)."""

from __future__ import annotations

import datetime as dt
import functools
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.db import connections
from django.db.models import Aggregate, F, JSONField, Model, OuterRef, Subquery
from django.db.models.expressions import RawSQL
from django.db.models.functions import JSONObject
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime, parse_time


class JSONArrayAgg(Aggregate):
    """The rows' values as one JSON array (in no particular order: ``Fold.order`` sorts them after loading)."""

    function = "JSON_ARRAYAGG"
    output_field = JSONField()

    def as_postgresql(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, function="JSONB_AGG", **extra)

    def as_sqlite(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, function="JSON_GROUP_ARRAY", **extra)


def _tree(paths: tuple[str, ...]) -> dict:
    tree: dict = {}
    for path in paths:
        node = tree
        for part in path.split("__"):
            node = node.setdefault(part, {})
    return tree


@dataclass(frozen=True)
class Fold:
    """A collection of a model instance (``relation``: a reverse foreign key or one-to-one accessor) loaded with
    its parent. ``related``: forward foreign keys of each row to load with it, as ``select_related`` paths;
    ``nested``: collections of each row, folded the same way; ``order``: the rows' order (``-`` descending)."""

    relation: str
    related: tuple[str, ...] = ()
    order: tuple[str, ...] = ("pk",)
    nested: tuple[Fold, ...] = ()
    on: str = ""  # a forward foreign key of the parent whose object holds the collection (loaded with it)

    @property
    def key(self) -> str:
        return f"fold__{self.on}__{self.relation}" if self.on else f"fold__{self.relation}"

    def rel(self, parent_model: type[Model]):
        if self.on:
            parent_model = parent_model._meta.get_field(self.on).related_model
        return parent_model._meta.get_field(self.relation)

    def expression(self, parent_model: type[Model]) -> Subquery:
        """The JSON array of the collection's rows of the parent row the outer query reads."""
        rel = self.rel(parent_model)
        model = rel.related_model
        fk = rel.field
        outer = OuterRef(parent_model._meta.get_field(self.on).attname if self.on else "pk")
        rows = (
            model._base_manager.filter(**{fk.name: outer})
            .order_by()
            .values(fk.attname)
            .annotate(rows=JSONArrayAgg(self._object(model, "", _tree(self.related), self.nested)))
            .values("rows")
        )
        return Subquery(rows, output_field=JSONField())

    @staticmethod
    def _object(model, prefix: str, related: dict, nested: tuple[Fold, ...]) -> JSONObject:
        values = {f.attname: F(prefix + f.attname) for f in model._meta.concrete_fields}
        for name, subtree in related.items():
            values[name] = Fold._object(
                model._meta.get_field(name).related_model, f"{prefix}{name}__", subtree, ()
            )
        for fold in nested:
            values[fold.key] = fold.expression(model)
        return JSONObject(**values)

    def attach(self, parent: Model, rows) -> None:
        """Store the decoded rows on ``parent`` as its prefetched collection (or its one-to-one object)."""
        rel = self.rel(type(parent))
        if self.on:
            parent = getattr(parent, self.on)  # select_related with the parent, or one query
            if parent is None:
                return
        model = rel.related_model
        if isinstance(rows, str):  # some backends hand a JSON subquery back as text
            rows = json.loads(rows)
        related = _tree(self.related)
        objects = [_instance(model, row, related, self.nested, parent._state.db) for row in rows or []]
        for name in reversed(self.order):
            descending = name.startswith("-")
            name = name.lstrip("-")
            name = model._meta.pk.attname if name == "pk" else name
            objects.sort(key=lambda o, n=name: _sortable(getattr(o, n)), reverse=descending)
        for obj in objects:
            rel.field.set_cached_value(obj, parent)  # row.dossier is the parent, without a query
        if rel.one_to_one:
            rel.set_cached_value(parent, objects[0] if objects else None)
            return
        queryset = getattr(parent, rel.accessor_name).all()
        queryset._result_cache = objects
        queryset._prefetch_done = True
        if not hasattr(parent, "_prefetched_objects_cache"):
            parent._prefetched_objects_cache = {}
        parent._prefetched_objects_cache[rel.cache_name] = queryset


def _sortable(value):
    return (value is None, value)  # nulls last, as PostgreSQL sorts them (first when descending)


def _instance(model, data: dict, related: dict, nested: tuple[Fold, ...], db: str) -> Model:
    fields = model._meta.concrete_fields
    obj = model.from_db(
        db, [f.attname for f in fields], [_decode(f, data.get(f.attname), db) for f in fields]
    )
    for name, subtree in related.items():
        forward = model._meta.get_field(name)
        target = forward.related_model
        sub = data.get(name) or {}
        value = None
        if sub.get(target._meta.pk.attname) is not None:
            value = _instance(target, sub, subtree, (), db)
        forward.set_cached_value(obj, value)
    for fold in nested:
        fold.attach(obj, data.get(fold.key))
    return obj


def _decode(model_field, value, db: str):
    """A column's value as the JSON function wrote it, back to what the field holds."""
    if value is None:
        return None
    kind = model_field.get_internal_type()
    if kind == "DateTimeField":
        moment = parse_datetime(value) if isinstance(value, str) else value
        if moment is not None and timezone.is_naive(moment):
            moment = timezone.make_aware(moment, dt.UTC)
        return moment
    if kind == "DateField":
        return parse_date(value) if isinstance(value, str) else value
    if kind == "TimeField":
        return parse_time(value) if isinstance(value, str) else value
    if kind == "DecimalField":
        return model_field.to_python(Decimal(str(value)))
    if kind == "BooleanField":
        return bool(value)
    if kind == "UUIDField":
        return uuid.UUID(str(value))
    if kind == "JSONField" and isinstance(value, str) and connections[db].vendor != "postgresql":
        return json.loads(value)  # stored as text outside PostgreSQL: embedded as a string
    if kind in ("BinaryField", "DurationField"):
        raise NotImplementedError(f"{model_field} cannot be folded")
    return value


def fold(queryset, folds: list[Fold]):
    """``queryset`` with each fold's JSON array as an annotation (see ``unfold``). The queryset's model must
    be its base table, unaliased (a plain ``Model.objects…`` queryset)."""
    return queryset.annotate(**{f.key: _compiled(f, queryset.model, queryset.db) for f in folds})


@functools.lru_cache(maxsize=128)
def _compiled(f: Fold, model: type[Model], using: str) -> RawSQL:
    """The fold's subquery as SQL, compiled once per process: building the expression tree of a dozen folds
    with every column of their models costs the ORM some 200 ms a page, the database some 10 ms. The
    subquery reads the outer row as ``"<model's table>"."<pk column>"``, the same in every query on it."""
    query = model._base_manager.using(using).all().query
    expression = f.expression(model).resolve_expression(query, allow_joins=True, reuse=None)
    sql, params = expression.as_sql(query.get_compiler(using), connections[using])
    return RawSQL(sql, tuple(params), output_field=JSONField())  # noqa: S611 - the ORM compiled it, params apart


def unfold(instance: Model, folds: list[Fold]) -> Model:
    for f in folds:
        f.attach(instance, getattr(instance, f.key))
        delattr(instance, f.key)
    return instance


def folded(instance: Model, relation: str) -> list | None:
    """The rows of ``instance``'s collection ``relation`` if they were loaded with it (folded or prefetched),
    else None: a requirement or panel reads them instead of asking again."""
    cached = getattr(instance, "_prefetched_objects_cache", {}).get(relation)
    return None if cached is None else list(cached)
