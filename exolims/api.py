"""Shared REST API machinery: error mapping, serializers that run model validation, the
study-scoped base viewset (with a cheap ``.values()`` read path for hot lists, whose page
SQL can be kept per request shape) and the caller's own API tokens. Pagination and
renderers live in their own modules because DRF imports them from settings while this
module is still loading."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar, NamedTuple

import orjson
from django.core.exceptions import EmptyResultSet, FieldError, FullResultSet
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError, connections, transaction
from django.db.models import JSONField, ProtectedError, QuerySet, RestrictedError
from django.db.models.query import BaseIterable
from django.http import Http404, StreamingHttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, filters, mixins, serializers, status, viewsets
from rest_framework.permissions import SAFE_METHODS
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .models import ApiToken
from .renderers import rows_to_csv

# --- Errors ----------------------------------------------------------------------------


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The change conflicts with the current state of the records."
    default_code = "conflict"


def exception_handler(exc, context):
    """Map model validation and integrity errors onto 400/409 so bad input never gives a 500."""
    if isinstance(exc, Http404):
        # One wording for every miss, so a foreign id is indistinguishable from a missing one.
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoValidationError):
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        if "__all__" in detail:
            detail["non_field_errors"] = detail.pop("__all__")
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, (ProtectedError, RestrictedError)):
        blockers = sorted(
            {obj._meta.verbose_name_plural for obj in exc.protected_objects}
            if isinstance(exc, ProtectedError)
            else {obj._meta.verbose_name_plural for obj in exc.restricted_objects}
        )
        return Response(
            {
                "detail": "Cannot delete: other records depend on it ("
                + ", ".join(str(b) for b in blockers)
                + "). Delete or move those first.",
                "code": "protected",
            },
            status=status.HTTP_409_CONFLICT,
        )
    elif isinstance(exc, DataError):
        # e.g. a NUL character inside JSON text: the database refuses a value validation let by.
        return Response(
            {
                "detail": "A value could not be stored (invalid characters or out of range).",
                "code": "invalid",
            },
            status=status.HTTP_400_BAD_REQUEST,
        )
    elif isinstance(exc, IntegrityError):
        return Response(
            {
                "detail": "The change conflicts with existing records (duplicate or dependent data).",
                "code": "conflict",
            },
            status=status.HTTP_409_CONFLICT,
        )
    return drf_exception_handler(exc, context)


# --- Serializers -----------------------------------------------------------------------


class AwareDateTimeField(serializers.DateTimeField):
    """ISO-8601 with an explicit offset or ``Z``; a naive time is refused, not guessed."""

    default_error_messages = {
        "naive": "Give the time zone, e.g. 2026-03-01T09:30:00+01:00 or 2026-03-01T08:30:00Z.",
    }

    def to_internal_value(self, value):
        if isinstance(value, str):
            try:
                parsed = parse_datetime(value.strip())
            except ValueError:
                parsed = None
            if parsed is not None and timezone.is_naive(parsed):
                self.fail("naive")
        return super().to_internal_value(value)


class ValidatedModelSerializer(serializers.ModelSerializer):
    """Runs ``Model.full_clean()`` (DRF does not), so forms, API and import share one set of
    rules. Model errors come back as DRF field errors (``__all__`` as non_field_errors)."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        model = self.Meta.model
        if self.instance is not None:
            instance = model(
                **{
                    f.attname: getattr(self.instance, f.attname)
                    for f in model._meta.concrete_fields
                }
            )
            instance._state.adding = False
            # Reuse related objects the view already loaded instead of fetching them again.
            for field in model._meta.concrete_fields:
                if field.is_relation and field.is_cached(self.instance):
                    field.set_cached_value(instance, field.get_cached_value(self.instance))
        else:
            instance = model()
        many_to_many = {f.name for f in model._meta.many_to_many}
        for name, value in attrs.items():
            if name not in many_to_many:
                setattr(instance, name, value)
        try:
            instance.full_clean(exclude=self._clean_exclusions(), validate_unique=True)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(_as_drf_errors(exc)) from None
        # clean() may normalise values (e.g. centrifugation steps); keep what it produced.
        for name in list(attrs):
            if name not in many_to_many and hasattr(instance, name):
                attrs[name] = getattr(instance, name)
        return attrs

    def _clean_exclusions(self) -> list[str]:
        return []


def _as_drf_errors(exc: DjangoValidationError) -> dict[str, Any]:
    errors = serializers.as_serializer_error(exc)
    if "__all__" in errors:
        errors.setdefault("non_field_errors", []).extend(errors.pop("__all__"))
    return errors


# orjson reads integers beyond 64 bits as floats (json keeps them exact), and jsonb writes
# huge numbers out in full; such text goes to json so values match Django's to the digit.
_LONG_DIGIT_RUN = re.compile(r"\d{19}")


def _load_json_text(text: str) -> Any:
    """``JSONField.from_db_value`` for a column without a custom decoder, several times
    faster: orjson where it reads exactly what ``json`` reads, ``json`` otherwise; text that
    is not JSON at all stays text, as Django leaves it."""
    if _LONG_DIGIT_RUN.search(text) is None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _is_plain_json(converters: list) -> bool:
    """True for a column whose only ORM converter is ``JSONField.from_db_value`` without a
    custom decoder: plain ``json.loads``, which orjson does several times faster."""
    if len(converters) != 1:
        return False
    (converter,) = converters
    return (
        getattr(converter, "__func__", None) is JSONField.from_db_value
        and converter.__self__.decoder is None
    )


def _use_c_timestamp_loader(cursor: Any) -> None:
    """psycopg's C loader for ``timestamptz`` on this cursor only. Django registers a
    Python-level one (it re-attaches the connection's time zone to each value); both give
    the same aware datetimes because Django sets the session time zone to that same zone,
    and the C one is several times cheaper per value."""
    from psycopg.types.datetime import TimestamptzLoader

    adapters = getattr(cursor, "adapters", None)
    if adapters is not None:
        adapters.register_loader("timestamptz", TimestamptzLoader)


class CompiledRows(NamedTuple):
    """A ``.values()`` query compiled by the ORM, with what is needed to read its rows."""

    alias: str
    sql: str
    params: tuple
    names: tuple[str, ...]
    json_names: tuple[str, ...]  # plain JSONField columns, decoded with orjson
    conversions: tuple  # (name, ORM converters, expression) for any other column


def compile_rows(queryset: QuerySet) -> CompiledRows | None:
    """Compile a ``.values()`` queryset; None when it can match nothing (EmptyResultSet)."""
    query = queryset.query
    compiler = query.get_compiler(queryset.db)
    if query.selected:
        names = list(query.selected)
    else:
        names = [*query.extra_select, *query.values_select, *query.annotation_select]
    try:
        sql, params = compiler.as_sql()
        if not sql:
            raise EmptyResultSet
    except EmptyResultSet:
        return None
    fields = [column[0] for column in compiler.select[: compiler.col_count]]
    json_names: list[str] = []
    conversions: list[tuple[str, list, Any]] = []
    for index, (converters, expression) in compiler.get_converters(fields).items():
        if _is_plain_json(converters):
            json_names.append(names[index])
        else:
            conversions.append((names[index], converters, expression))
    return CompiledRows(
        queryset.db, sql, tuple(params), tuple(names), tuple(json_names), tuple(conversions)
    )


def read_rows(compiled: CompiledRows, *, chunk_size: int | None = None) -> Iterator[dict[str, Any]]:
    """Run compiled SQL through Django's cursor and yield one dict per row; with
    ``chunk_size``, stream through a server-side cursor as ``QuerySet.iterator()`` does."""
    connection = connections[compiled.alias]
    names, json_names, conversions = compiled.names, compiled.json_names, compiled.conversions
    cursor = connection.chunked_cursor() if chunk_size else connection.cursor()
    try:
        _use_c_timestamp_loader(cursor.cursor)
        cursor.execute(compiled.sql, compiled.params)
        while rows := (cursor.fetchmany(chunk_size) if chunk_size else cursor.fetchall()):
            for row in rows:
                # strict=False: zip drops any column added only for ordering
                values = dict(zip(names, row, strict=False))
                for name in json_names:
                    text = values[name]
                    if text is not None:
                        values[name] = _load_json_text(text)
                for name, converters, expression in conversions:
                    value = values[name]
                    for converter in converters:
                        value = converter(value, expression, connection)
                    values[name] = value
                yield values
            if not chunk_size:
                break
    finally:
        cursor.close()


class DriverValuesIterable(BaseIterable):
    """``QuerySet.values()`` rows with the value conversion left to the driver.

    Same SQL, same dicts as Django's ``ValuesIterable``, but timestamps are decoded by
    psycopg's C loader and JSON by orjson instead of per-value Python converters (a third of
    the Python time of a 100-row sample page); any other ORM converter still runs. The
    query goes through Django's cursor wrapper, so execute wrappers, query logging and
    ``assertNumQueries`` see it, and ``.iterator()`` still streams (server-side cursor).
    """

    def __iter__(self) -> Iterator[dict[str, Any]]:
        compiled = compile_rows(self.queryset)
        if compiled is None:
            return iter(())
        return read_rows(compiled, chunk_size=self.chunk_size if self.chunked_fetch else None)


# --- List plans: page SQL compiled once per request shape ---------------------------------

_MAX_LIST_PLANS = 512
# (view key, ordering, position lookup, slice) -> (compiled page SQL without the cursor
# position's parameters, the position condition's SQL as compiled on its own)
_list_plans: dict[tuple, tuple[CompiledRows, str]] = {}
# View keys whose query string has passed the filters' validation before.
_validated_list_keys: dict[tuple, bool] = {}


def _remember(store: dict, key: tuple, value: Any) -> None:
    if len(store) >= _MAX_LIST_PLANS:
        store.clear()  # rare: that many distinct users x filters within one process
    store[key] = value


class PlannedRows:
    """What ``KeysetPagination`` needs of the page queryset (``order_by()``, ``filter()``
    with the cursor position, a slice, iteration), served from a list plan.

    The first request of a shape builds the real queryset (scoping, filters, ordering),
    the ORM compiles it and the SQL is kept; later requests of that shape skip building and
    compiling it, and only the cursor position's condition is compiled, by the ORM's own
    lookup, and its parameters appended (the plan checks that they are the query's last).
    """

    def __init__(self, *, view_key: tuple, model: type, build, queryset: QuerySet | None):
        self.view_key = view_key
        self.model = model
        self.build = build  # () -> the scoped, filtered values() queryset
        self.queryset = queryset  # already built (and validated) by the view, or None
        self.ordering: tuple[str, ...] = ()
        self.position: dict[str, Any] = {}
        self.bounds: tuple[int | None, int | None] = (None, None)

    def order_by(self, *fields: str) -> PlannedRows:
        self.ordering = fields
        return self

    def filter(self, **position: Any) -> PlannedRows:
        self.position = position
        return self

    def __getitem__(self, bounds: slice) -> PlannedRows:
        self.bounds = (bounds.start, bounds.stop)
        return self

    def __iter__(self) -> Iterator[dict[str, Any]]:
        position_sql, position_params = self._compile_position()
        key = (self.view_key, self.ordering, tuple(self.position), self.bounds)
        planned = _list_plans.get(key) if position_sql is not None else None
        if planned is not None and planned[1] == position_sql:
            plan = planned[0]
            return read_rows(plan._replace(params=plan.params + position_params))
        queryset = self.queryset if self.queryset is not None else self.build()
        queryset = queryset.order_by(*self.ordering)
        start, stop = self.bounds
        page = (queryset.filter(**self.position) if self.position else queryset)[start:stop]
        compiled = compile_rows(page)
        if compiled is None:
            return iter(())
        without_position = compile_rows(queryset[start:stop]) if self.position else compiled
        if (
            position_sql is not None
            and without_position is not None
            and compiled.params == without_position.params + position_params
            and position_sql in compiled.sql
        ):
            _remember(_list_plans, key, (without_position._replace(sql=compiled.sql), position_sql))
        return read_rows(compiled)

    def _compile_position(self) -> tuple[str | None, tuple]:
        """The cursor condition alone, e.g. ``"samples_sample"."id" < %s`` with its
        parameters, through the ORM lookup (a forged position fails here just as it would
        in the full query). None when it cannot be compiled without the view's annotations."""
        if not self.position:
            return "", ()
        manager = self.model._default_manager
        try:
            query = manager.filter(**self.position).query
            sql, params = query.get_compiler(manager.db).compile(query.where)
        except (FieldError, EmptyResultSet, FullResultSet):
            # Needs the view's annotations, or the ORM folds the condition away (a
            # position beyond the column's range): no plan; the full query handles it.
            return None, ()
        return sql, tuple(params)


class ValuesReadSerializerMixin:
    """Read path for hot list endpoints: rows come from ``QuerySet.values()`` over explicit
    columns and are shaped in place by ``shape_rows``, skipping per-field serializer objects
    (several times cheaper per row, PERF-RELIABILITY §1.1). Single objects go through the
    very same code, so list, detail and write responses can never drift apart.

    ``read_renames`` maps query aliases to output keys (an annotation may not reuse a model
    field's name); the cursor paginator is told about them so it can order by them.
    """

    read_columns: ClassVar[tuple[str, ...]] = ()
    read_expressions: ClassVar[dict[str, Any]] = {}
    read_renames: ClassVar[dict[str, str]] = {}
    detail_view_name: ClassVar[str] = ""

    @classmethod
    def read_values(cls, queryset: QuerySet) -> QuerySet:
        values = queryset.values(*cls.read_columns, **cls.read_expressions)
        values._iterable_class = DriverValuesIterable  # kept by every later clone
        return values

    @classmethod
    def all_read_values(cls) -> QuerySet:
        """``read_values`` over every row of the model, not yet scoped (add ``visible_to``).

        Built once per serializer class and cloned per call: naming ~40 columns and their
        joins costs the ORM more than the scoping, filters and ordering together."""
        prototype = cls.__dict__.get("_read_values_prototype")
        if prototype is None:
            prototype = cls.read_values(cls.Meta.model._default_manager.all())
            cls._read_values_prototype = prototype  # never evaluated itself, only cloned
        return prototype.all()

    @classmethod
    def position_columns(cls) -> dict[str, str]:
        """Output key -> query alias, for ordering fields that were renamed."""
        return {name: alias for alias, name in cls.read_renames.items()}

    @classmethod
    def represent_rows(cls, rows: list[dict[str, Any]], *, context: dict[str, Any]) -> list:
        renames = list(cls.read_renames.items())
        if renames:
            for row in rows:
                for alias, name in renames:
                    row[name] = row.pop(alias)
        return cls.shape_rows(rows, context=context)

    @classmethod
    def shape_rows(cls, rows: list[dict[str, Any]], *, context: dict[str, Any]) -> list[dict]:
        return rows

    @classmethod
    def detail_url_prefix(cls, context: dict[str, Any]) -> str:
        """``…/api/v1/samples/`` once per response; reversing per row would cost more than
        the rest of the row."""
        try:
            path = reverse(cls.detail_view_name, args=[0])
        except NoReverseMatch:  # pragma: no cover - URLconf not loaded (e.g. scripts)
            return ""
        path = path[: -len("0/")]
        request = context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    def to_representation(self, instance) -> dict[str, Any]:
        rows = list(self.read_values(type(instance)._base_manager.filter(pk=instance.pk)))
        return self.represent_rows(rows, context=self.context)[0]


# --- Viewsets --------------------------------------------------------------------------


class StrictOrderingFilter(filters.OrderingFilter):
    """``?ordering=`` limited to the view's whitelist of indexed fields; anything else is a
    400 naming the allowed values instead of being silently ignored."""

    def get_ordering(self, request, queryset, view):
        params = request.query_params.get(self.ordering_param)
        if params:
            fields = [param.strip() for param in params.split(",") if param.strip()]
            allowed = self.get_valid_fields(queryset, view, {"request": request})
            allowed_names = {name for name, _label in allowed}
            unknown = [f for f in fields if f.lstrip("-") not in allowed_names]
            if unknown:
                raise exceptions.ValidationError(
                    {
                        self.ordering_param: [
                            f"Cannot order by {', '.join(unknown)}; use one of "
                            f"{', '.join(sorted(allowed_names))} (prefix '-' for descending)."
                        ]
                    }
                )
        return super().get_ordering(request, queryset, view)


_CSV_PARAMETER = OpenApiParameter(
    "format",
    OpenApiTypes.STR,
    enum=["json", "csv"],
    description="`csv` streams every row matching the filters as CSV (no pagination).",
)


def document_list_with_csv(serializer_class: type[serializers.Serializer]):
    """Class decorator: document ``?format=csv`` on a list endpoint, which schema
    auto-detection cannot see."""
    return extend_schema_view(
        list=extend_schema(
            parameters=[_CSV_PARAMETER],
            responses={
                (200, "application/json"): serializer_class(many=True),
                (200, "text/csv"): OpenApiResponse(
                    OpenApiTypes.STR,
                    description="Every matching row, one per line, after a header line.",
                ),
            },
        )
    )


class StudyScopedViewSet(viewsets.ModelViewSet):
    """CRUD over records that belong to a study.

    Reads are limited to the user's studies; writes need ``write_role`` in the record's
    study. An object from another study is a 404, never a 403, so IDs do not leak what
    exists. A serializer with ``ValuesReadSerializerMixin`` gets the ``.values()`` read
    path for list, retrieve and CSV.
    """

    write_role = "editor"
    csv_fields: list[str] | None = None
    # Keep each list shape's compiled page SQL (see list_plan_key for what that asserts).
    plan_list_queries = False
    ordering = ("-id",)
    ordering_fields: tuple[str, ...] = ("id",)
    filter_backends = [DjangoFilterBackend, StrictOrderingFilter]
    lookup_value_regex = r"[0-9]+"

    # -- scoping ------------------------------------------------------------------------

    def get_queryset(self) -> QuerySet:
        return self.queryset.model.objects.visible_to(self.request.user)

    def study_of(self, instance) -> Any:
        return instance.study

    def role_in(self, study) -> str | None:
        return study.role_of(self.request.user)

    def check_write(self, study) -> None:
        """403 unless the user holds ``write_role`` in ``study``; 404 if they cannot see it."""
        from samples.choices import ROLE_RANK  # exolims wires apps together only at call time

        role = self.role_in(study)
        if role is None:
            raise Http404
        if ROLE_RANK[role] < ROLE_RANK[self.write_role]:
            raise exceptions.PermissionDenied(
                f"You need the {self.write_role} role in study {study.code} for this."
            )

    def check_can_create(self) -> None:
        """Refuse early (before validating the body) when the user cannot write anywhere."""
        from samples.models import Study

        user = self.request.user
        if user.is_superuser:
            return
        studies = Study.objects.all()
        studies = (
            studies.managed_by(user) if self.write_role == "manager" else studies.editable_by(user)
        )
        if not studies.exists():
            plural = self.queryset.model._meta.verbose_name_plural
            raise exceptions.PermissionDenied(
                f"You need the {self.write_role} role in a study to create {plural}."
            )

    def get_object(self):
        obj = super().get_object()
        # Check the role before validating a body, as DRF's object permissions would.
        if self.request.method not in SAFE_METHODS:
            self.check_write(self.study_of(obj))
        return obj

    # -- writes -------------------------------------------------------------------------

    def create(self, request, *args, **kwargs):
        self.check_can_create()
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer) -> None:
        self.check_write(serializer.validated_data["study"])
        with transaction.atomic():
            serializer.save()

    def perform_update(self, serializer) -> None:
        with transaction.atomic():
            serializer.save()

    def perform_destroy(self, instance) -> None:
        # The savepoint keeps the request's transaction usable if the delete is refused.
        with transaction.atomic():
            instance.delete()

    # -- reads --------------------------------------------------------------------------

    def uses_values_path(self) -> bool:
        return issubclass(self.get_serializer_class(), ValuesReadSerializerMixin)

    def get_read_queryset(self) -> QuerySet:
        """Scoped ``.values()`` rows for the read path (list, detail, CSV). A view may start
        from ``all_read_values().visible_to(user)`` instead, which is cheaper, as long as
        that scopes exactly like its ``get_queryset``."""
        return self.get_serializer_class().read_values(self.get_queryset())

    def list(self, request, *args, **kwargs):
        if getattr(request.accepted_renderer, "format", None) == "csv":
            return self.stream_csv()
        if not self.uses_values_path():
            return super().list(request, *args, **kwargs)
        serializer_class = self.get_serializer_class()
        view_key = self.list_plan_key()
        if view_key is None:
            rows_source = self.filter_queryset(self.get_read_queryset())
        else:
            queryset = None
            if view_key not in _validated_list_keys:
                # First time for this query string: build it now, so a bad filter is a 400.
                queryset = self.filter_queryset(self.get_read_queryset())
                _remember(_validated_list_keys, view_key, True)
            rows_source = PlannedRows(
                view_key=view_key,
                model=serializer_class.Meta.model,
                build=lambda: self.filter_queryset(self.get_read_queryset()),
                queryset=queryset,
            )
        if self.paginator is not None:
            self.paginator.position_columns = serializer_class.position_columns()
        page = self.paginate_queryset(rows_source)
        if page is None:  # pragma: no cover - every list is paginated
            page = list(rows_source)
        rows = serializer_class.represent_rows(page, context=self.get_serializer_context())
        return self.get_paginated_response(rows)

    def list_plan_key(self) -> tuple | None:
        """What a list page's SQL depends on, but for the cursor position, when this view
        lets its list SQL be kept (``plan_list_queries``); None otherwise.

        Opting in asserts that ``get_read_queryset`` depends on nothing but the user's id,
        superuser and active flags, and that the filters' validation and conditions depend
        on nothing but the query string (no database look-ups, no clock)."""
        request = self.request
        if (
            not self.plan_list_queries
            or self.paginator is None
            or getattr(request.accepted_renderer, "format", None) != "json"
        ):
            return None
        user = request.user
        cursor_param = getattr(self.paginator, "cursor_query_param", None)
        query_string = tuple(
            sorted(
                (name, tuple(values))
                for name, values in request.query_params.lists()
                if name != cursor_param
            )
        )
        return (
            type(self),
            self.get_serializer_class(),
            user.pk,
            user.is_superuser,
            user.is_active,
            query_string,
        )

    def retrieve(self, request, *args, **kwargs):
        if not self.uses_values_path():
            return super().retrieve(request, *args, **kwargs)
        serializer_class = self.get_serializer_class()
        lookup_url_kwarg = self.lookup_url_kwarg or self.lookup_field
        queryset = self.filter_queryset(self.get_read_queryset()).filter(
            **{self.lookup_field: self.kwargs[lookup_url_kwarg]}
        )
        rows = list(queryset[:1])
        if not rows:
            raise Http404
        context = self.get_serializer_context()
        return Response(serializer_class.represent_rows(rows, context=context)[0])

    def stream_csv(self) -> StreamingHttpResponse:
        values_path = self.uses_values_path()
        queryset = self.filter_queryset(
            self.get_read_queryset() if values_path else self.get_queryset()
        )
        serializer_class = self.get_serializer_class()
        context = self.get_serializer_context()
        serializer = serializer_class(context=context)
        fields = self.csv_fields or [
            name for name, field in serializer.fields.items() if not field.write_only
        ]

        if values_path:

            def rows() -> Iterator[dict[str, Any]]:
                values = queryset.iterator(chunk_size=2000)
                for chunk in _chunks(values, 2000):
                    yield from serializer_class.represent_rows(chunk, context=context)

        else:

            def rows() -> Iterator[dict[str, Any]]:
                for obj in queryset.iterator(chunk_size=2000):
                    yield serializer.to_representation(obj)

        response = StreamingHttpResponse(
            rows_to_csv(rows(), fields), content_type="text/csv; charset=utf-8"
        )
        name = self.queryset.model._meta.verbose_name_plural.replace(" ", "_")
        response["Content-Disposition"] = f'attachment; filename="{name}.csv"'
        return response


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- The caller's API tokens -------------------------------------------------------------


class ApiTokenSerializer(serializers.ModelSerializer):
    expires_in_days = serializers.IntegerField(
        write_only=True,
        required=False,
        allow_null=True,
        min_value=0,
        max_value=3650,
        help_text="Days until the token expires; 0 for never; leave out for the site default.",
    )
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
            "is_active",
            "expires_in_days",
        ]
        read_only_fields = [
            "prefix",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
        ]


class NewApiTokenSerializer(ApiTokenSerializer):
    key = serializers.CharField(
        read_only=True,
        help_text="The secret. Shown only in this response; only its digest is stored.",
    )

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "key"]


@extend_schema(tags=["tokens"])
class ApiTokenViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """The caller's own API tokens. Send one as ``Authorization: Token <key>``."""

    serializer_class = ApiTokenSerializer
    queryset = ApiToken.objects.all()
    filter_backends: list = []
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> QuerySet:
        return ApiToken.objects.filter(user=self.request.user)

    @extend_schema(
        request=ApiTokenSerializer,
        responses={201: NewApiTokenSerializer},
        summary="Create a token; the key is returned once",
    )
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, key = ApiToken.issue(
            user=request.user,
            name=serializer.validated_data["name"],
            days=serializer.validated_data.get("expires_in_days"),
        )
        token.key = key
        data = NewApiTokenSerializer(token, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Revoke a token (it stays listed with revoked_at)")
    def destroy(self, request, *args, **kwargs):
        self.get_object().revoke()
        return Response(status=status.HTTP_204_NO_CONTENT)
