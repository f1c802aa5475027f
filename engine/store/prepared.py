"""Hot-path Core statements compiled once per dialect and run straight on the driver's cursor.

SQLAlchemy's per-execution work (building an execution context, processing parameters through the compiled
statement, wrapping the cursor in a Result) cost several times what SQLite itself spends on the short
statements a case change runs, and a completion runs a dozen of them. A `Prepared` statement does that work
once: SQLAlchemy compiles it for the session's dialect and hands over the column types' own bind and result
processors, so values are stored and read back exactly as through SQLAlchemy. It runs in the session's
transaction (same driver connection) and driver errors come back as SQLAlchemy's, so callers and the unit of
work see no difference but the time.
"""
from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.dml import ValuesBase

from engine.store.uow import UNIT_CONNECTION

_POSTCOMPILE = re.compile(r"__\[POSTCOMPILE_(\w+)\]")

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class _Form:
    """The statement as one dialect runs it, for one length of each expanding (IN list) parameter."""

    sql: str
    # One entry per placeholder (in order, for positional styles): its name, the caller's parameter and index into
    # it (None: the parameter itself; no parameter: the value bound into the statement) and the type's processor.
    plan: tuple[tuple[str, str | None, int | None, Processor, Any], ...]
    expanding: tuple[str, ...]                  # the IN-list parameters still to expand (none once expanded)
    positional: bool
    row: type | None                            # named tuple of the result columns, None without results
    results: tuple[Processor, ...]


class Prepared:
    """A Core statement ready to run on a session's driver connection (see the module docstring)."""

    def __init__(self, statement: Executable):
        self.statement = statement
        # An INSERT or UPDATE sets the columns its parameters name, so its form depends on their keys.
        self._sets_columns = isinstance(statement, ValuesBase)
        self._forms: dict[tuple[str, tuple[int, ...] | None, tuple[str, ...] | None], _Form] = {}

    def rows(self, session: Session, params: dict[str, Any]) -> list[Any]:
        """Run the statement and return its result rows as named tuples (selects and RETURNING)."""
        cursor, form = self._run(session, params)
        make, processors = form.row._make, form.results
        if not any(processors):
            return [make(r) for r in cursor.fetchall()]
        return [make([p(v) if p else v for p, v in zip(processors, r, strict=True)]) for r in cursor.fetchall()]

    def first(self, session: Session, params: dict[str, Any]) -> Any | None:
        """The first result row, or None."""
        found = self.rows(session, params)
        return found[0] if found else None

    def run(self, session: Session, params: dict[str, Any]) -> int:
        """Run a statement without results; the number of rows it changed."""
        return self._run(session, params)[0].rowcount

    def run_many(self, session: Session, many: Sequence[dict[str, Any]]) -> None:
        """Run the statement once per parameter set (none: nothing runs)."""
        if not many:
            return
        dialect, connection = _driver(session)
        form = self._form(dialect, None, self._keys(many[0]))
        if form.expanding:
            raise TypeError("run_many takes no IN-list parameters")
        values = [_values(form, params) for params in many]
        try:
            connection.cursor().executemany(form.sql, values)
        except dialect.loaded_dbapi.Error as exc:
            raise _wrapped(form, values, exc, dialect) from exc

    def _run(self, session: Session, params: dict[str, Any]) -> tuple[Any, _Form]:
        dialect, connection = _driver(session)
        keys = self._keys(params)
        form = self._form(dialect, None, keys)
        if form.expanding:
            form = self._form(dialect, tuple(len(params[name]) for name in form.expanding), keys)
        values = _values(form, params)
        try:
            cursor = connection.cursor()
            cursor.execute(form.sql, values)
        except dialect.loaded_dbapi.Error as exc:
            raise _wrapped(form, values, exc, dialect) from exc
        return cursor, form

    def _keys(self, params: dict[str, Any]) -> tuple[str, ...] | None:
        return tuple(params) if self._sets_columns else None

    def _form(self, dialect: Dialect, lengths: tuple[int, ...] | None, keys: tuple[str, ...] | None) -> _Form:
        # `lengths` None: the statement as compiled, which runs as it is unless it has IN lists to expand.
        key = (dialect.name, lengths, keys)
        form = self._forms.get(key)
        if form is None:
            form = _compile(self.statement, dialect, lengths, keys)
            self._forms[key] = form
        return form


def _driver(session: Session) -> tuple[Dialect, Any]:
    """The dialect and driver connection of a unit of work's session (engine/store/uow.py), in a transaction."""
    unit = session.info.get(UNIT_CONNECTION)
    if unit is None:
        raise TypeError("prepared statements run in a unit of work (engine.store.uow.writing or reading)")
    connection, dialect, driver = unit
    # In a transaction again if the use case committed one part already.
    if not connection.in_transaction():
        connection.begin()
    return dialect, driver


def _compile(statement: Executable, dialect: Dialect, lengths: tuple[int, ...] | None,
             keys: tuple[str, ...] | None) -> _Form:
    compiled = statement.compile(dialect=dialect, column_keys=list(keys) if keys is not None else None)
    by_name = {name: bind for bind, name in compiled.bind_names.items()}
    positional = compiled.positional
    sql, names = compiled.string, list(compiled.positiontup or by_name)
    binds: dict[str, tuple[str | None, int | None, Processor, Any]] = {}
    for name, bind in by_name.items():
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if bind.expanding:
            continue
        if bind.required:
            binds[name] = (bind.key, None, processor, None)
        else:
            binds[name] = (None, None, None, processor(bind.value) if processor else bind.value)
    if lengths is not None:
        # An IN list of n values becomes n placeholders, named as SQLAlchemy names expanded parameters.
        for name, length in zip(_POSTCOMPILE.findall(sql), lengths, strict=True):
            bind = by_name[name]
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
            expanded = [f"{name}_{i}" for i in range(1, length + 1)]
            for i, item in enumerate(expanded):
                binds[item] = (bind.key, i, processor, None)
            marker = ", ".join("?" if positional else f"%({item})s" for item in expanded)
            sql = sql.replace(f"__[POSTCOMPILE_{name}]", marker or "NULL", 1)
            at = names.index(name)
            names[at:at + 1] = expanded
    columns = list(getattr(statement, "exported_columns", []) or [])
    row = namedtuple("Row", [c.key for c in columns], rename=True) if columns else None  # type: ignore[misc]
    results = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)
    plan = tuple((name, *binds[name]) for name in names if name in binds)
    return _Form(sql, plan, tuple(_POSTCOMPILE.findall(sql)), positional, row, results)


def _values(form: _Form, params: dict[str, Any]) -> Sequence[Any] | dict[str, Any]:
    values = []
    for _, key, index, processor, value in form.plan:
        if key is not None:
            value = params[key] if index is None else params[key][index]
            if processor is not None:
                value = processor(value)
        values.append(value)
    if form.positional:
        return tuple(values)
    return {entry[0]: value for entry, value in zip(form.plan, values, strict=True)}


def _wrapped(form: _Form, values: Iterable[Any], exc: Exception, dialect: Dialect) -> DBAPIError:
    return DBAPIError.instance(form.sql, values, exc, dialect.loaded_dbapi.Error, dialect=dialect)
