"""SQL for a model written once with its table and column names, for the hottest queries only.

The ORM compiles a query on every call (0.2-0.7 ms of CPU each on the benchmark machine);
a statement that runs for every message sent is cheaper as plain SQL built once per database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from django.db import connection, models
from django.db.models import signals


def model_sql(model: type[models.Model], template: str) -> str:
    """`template` with {table} and {<field name>} replaced by the quoted names for this database."""
    return _model_sql(model, template, connection.vendor)


@lru_cache(maxsize=32)
def _model_sql(model: type[models.Model], template: str, vendor: str) -> str:
    quote = connection.ops.quote_name
    columns = {field.name: quote(field.column) for field in model._meta.concrete_fields}
    return template.format(table=quote(model._meta.db_table), **columns)


# Saving a row through the ORM compiles its INSERT or UPDATE on every call (0.15-0.3 ms of CPU on
# the benchmark machine): the pipeline's hottest rows (each message stored, each reply queued, each
# delivery finished) are written with statements built once per model and field set instead. Same
# values as save(): defaults are already on the instance, auto_now and auto_now_add are applied,
# values are prepared for the database by their fields, and the pre_save and post_save receivers
# (a chat's closing recorded for the dashboard) get what save() sends them. A model that overrides
# save() is saved through it, so no override is skipped.


def row_insert(instance: models.Model) -> None:
    """INSERT ``instance`` as ``instance.save(force_insert=True)`` would, and set its primary key."""
    model = type(instance)
    if _save_overridden(model):
        instance.save(force_insert=True)
        return
    _send(signals.pre_save, instance, update_fields=None)
    sql, fields = _insert_sql(model, connection.vendor)
    params = [field.get_db_prep_save(field.pre_save(instance, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        pk = connection.ops.last_insert_id(cursor, model._meta.db_table, model._meta.pk.column)
    instance.pk = pk
    instance._state.adding = False
    instance._state.db = connection.alias
    _send(signals.post_save, instance, update_fields=None, created=True)


def execute_later(sql: str, params: Sequence[Any]) -> None:
    """Run a write whose row count nobody reads: now, or, inside a transaction on MySQL/MariaDB, in front
    of the connection's next statement or its COMMIT, in the same round trip (whatsapp_ia/db/mysql)."""
    later = getattr(connection, "execute_later", None)
    if later is None or not later(sql, params):
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def row_update(instance: models.Model, fields: Iterable[str], *, later: bool = False) -> None:
    """UPDATE these fields of ``instance`` as ``instance.save(update_fields=fields)`` would (auto_now ones too).

    ``later``: the UPDATE may wait for the connection's next statement (``execute_later``).
    """
    model = type(instance)
    names = tuple(sorted(set(fields) | _auto_now_names(model)))
    if _save_overridden(model):
        instance.save(update_fields=names)
        return
    _send(signals.pre_save, instance, update_fields=frozenset(names))
    sql, update_fields = _update_sql(model, names, connection.vendor)
    params = [field.get_db_prep_save(field.pre_save(instance, False), connection) for field in update_fields]
    if later:
        execute_later(sql, [*params, instance.pk])
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, instance.pk])
    _send(signals.post_save, instance, update_fields=frozenset(names), created=False)


def _send(signal: signals.ModelSignal, instance: models.Model, **kwargs: Any) -> None:
    """Send a save signal with the arguments Model.save_base gives it (nothing to do without receivers)."""
    model = type(instance)
    if signal.has_listeners(model):
        signal.send(sender=model, instance=instance, raw=False, using=connection.alias, **kwargs)


@lru_cache(maxsize=32)
def _save_overridden(model: type[models.Model]) -> bool:
    return model.save is not models.Model.save


@lru_cache(maxsize=16)
def _auto_now_names(model: type[models.Model]) -> frozenset[str]:
    return frozenset(f.name for f in model._meta.concrete_fields if getattr(f, "auto_now", False))


@lru_cache(maxsize=16)
def _insert_sql(model: type[models.Model], vendor: str) -> tuple[str, list[models.Field]]:
    quote = connection.ops.quote_name
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(quote(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders})", fields  # noqa: S608 - quoted names


@lru_cache(maxsize=64)
def _update_sql(model: type[models.Model], names: tuple[str, ...], vendor: str) -> tuple[str, list[models.Field]]:
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in names]
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    table, pk = quote(model._meta.db_table), quote(model._meta.pk.column)
    return f"UPDATE {table} SET {assignments} WHERE {pk} = %s", fields  # noqa: S608 - quoted names, values bound


def model_columns(model: type[models.Model], fields: tuple[str, ...] | None = None) -> str:
    """The concrete columns of ``model`` (or these fields'), table-qualified and quoted, in field order
    (for ``model_from_row``)."""
    return _model_columns(model, fields, connection.vendor)


@lru_cache(maxsize=16)
def _model_columns(model: type[models.Model], fields: tuple[str, ...] | None, vendor: str) -> str:
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    return ", ".join(f"{table}.{quote(f.column)}" for f in _concrete(model, fields))


def model_from_row(
    model: type[models.Model], row: Sequence[Any], offset: int = 0, fields: tuple[str, ...] | None = None
) -> tuple[models.Model, int]:
    """An instance from ``row[offset:]`` as selected by ``model_columns`` (values converted as the ORM
    converts them: dates, booleans, JSON; fields not selected are deferred); also the offset of what
    follows it in the row."""
    converters = _row_converters(model, fields, connection.vendor)
    values = []
    for index, (_, field_converters, column) in enumerate(converters, start=offset):
        value = row[index]
        for converter in field_converters:
            value = converter(value, column, connection)
        values.append(value)
    instance = model.from_db(connection.alias, [attname for attname, _, _ in converters], values)
    return instance, offset + len(converters)


def _concrete(model: type[models.Model], fields: tuple[str, ...] | None) -> list[models.Field]:
    concrete = model._meta.concrete_fields
    return list(concrete) if fields is None else [f for f in concrete if f.name in fields]


@lru_cache(maxsize=16)
def _row_converters(
    model: type[models.Model], fields: tuple[str, ...] | None, vendor: str
) -> list[tuple[str, list[Any], Any]]:
    out = []
    for field in _concrete(model, fields):
        column = field.get_col(model._meta.db_table)
        converters = connection.ops.get_db_converters(column) + field.get_db_converters(connection)
        out.append((field.attname, converters, column))
    return out
