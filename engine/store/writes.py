"""Mapped objects written, and adopted from rows read, with single prepared statements, staying clean in the session.

The unit of work costs more than the statements it emits on the case-change path (a flush per transaction
was a sixth of a completion), so the hot path writes its rows itself: the objects stay in the identity map with
the stored values as committed state, and the flush at commit finds nothing left to do. Loading them through
the ORM likewise cost more than the query, so the hot path reads the row and adopts it as a loaded object.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import Column, bindparam, inspect, update
from sqlalchemy.orm import Mapper, Session, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_state, manager_of_class

from engine.errors import Conflict
from engine.store.prepared import Prepared

T = TypeVar("T")


@dataclass(frozen=True)
class _Layout:
    """What writing one mapped class needs, worked out once per class."""

    table_name: str
    columns: dict[str, str]                 # attribute key → column name
    loaded: tuple[Column, ...]              # the columns an ORM load reads at once (deferred ones wait)
    defaults: dict[str, Any]                # attribute key → scalar default filled in before an insert
    unwritable: str | None                  # why `insert_row` cannot write the class (a computed default)
    primary_key: str                        # attribute key of the (single-column) primary key
    version: str | None                     # attribute key of the version counter, if the class has one
    insert: Prepared
    update: Prepared


@cache
def _layout(mapper: Mapper) -> _Layout:
    table = mapper.local_table
    columns, defaults, loaded, unwritable = {}, {}, [], None
    for attr in mapper.column_attrs:
        column = attr.columns[0]
        columns[attr.key] = column.key
        if not attr.deferred:
            loaded.append(column)
        if column is mapper.version_id_col:
            defaults[attr.key] = 1
        elif column.default is not None:
            if column.default.is_scalar:
                defaults[attr.key] = column.default.arg
            else:
                unwritable = f"{table.name}.{column.key}: only scalar defaults can be written this way"
    pk_column = table.primary_key.columns[0]
    statement = update(table).where(pk_column == bindparam("_pk"))
    version = mapper.version_id_col
    if version is not None:
        statement = statement.where(version == bindparam("_old"))
    # The SET clause comes from the parameters given; the prepared statement keeps a form per set of columns.
    return _Layout(table.name, columns, tuple(loaded), defaults, unwritable,
                   mapper.get_property_by_column(pk_column).key,
                   mapper.get_property_by_column(version).key if version is not None else None,
                   Prepared(table.insert().returning(pk_column)), Prepared(statement))


def insert_row(session: Session, obj: T) -> T:
    """INSERT a new mapped object's columns and add it to the session as already stored."""
    instance = inspect(obj)
    if instance.key is not None or instance.session_id is not None:
        raise TypeError("insert_row writes a new object, not one already stored or in a session")
    mapper = instance.mapper
    layout = _layout(mapper)
    if layout.unwritable:
        raise TypeError(layout.unwritable)
    # Written straight into the instance dict (through the attributes, each value was a change event): every value
    # is marked stored below, once the row is in.
    state = obj.__dict__
    for key, default in layout.defaults.items():
        # The object must hold what the row holds, or reading the attribute later would cost a query.
        if state.get(key) is None:
            state[key] = default
    values = {name: state.get(key) for key, name in layout.columns.items()
              if key != layout.primary_key or state.get(key) is not None}
    state[layout.primary_key] = layout.insert.rows(session, values)[0][0]
    for key in layout.columns:
        if key not in state:
            state[key] = None
    if mapper.relationships:
        # A new object may carry related objects: `session.add` cascades to them.
        make_transient_to_detached(obj)
        session.add(obj)
        return obj
    # Without relationships there is nothing to cascade to: stored as it is, the way `adopt` attaches a row read.
    instance.key = mapper.identity_key_from_primary_key((state[layout.primary_key],))
    instance._commit_all(state)
    session._update_impl(instance)
    return obj


def loaded_columns(cls: type) -> tuple[Column, ...]:
    """The columns of a mapped class that an ORM load reads (select these to `adopt` the rows)."""
    return _layout(inspect(cls)).loaded


def adopt(session: Session, cls: type[T], values: dict[str, Any]) -> T:
    """The mapped object of a row read with a prepared statement (column name → value), as if the ORM loaded it.

    An object of that row already in the session wins, as with a query; columns not given load when first read.
    """
    manager = manager_of_class(cls)
    layout = _layout(manager.mapper)
    identity = manager.mapper.identity_key_from_primary_key((values[layout.columns[layout.primary_key]],))
    existing = session.identity_map.get(identity)
    if existing is not None:
        return existing
    # Filled the way the ORM's loader fills what it reads: straight into the instance dict, no change events
    # (setting each attribute through its instrumentation cost more than the query), then given its identity.
    # (make_transient_to_detached would derive the same key again and mark what is missing expired: half of an
    # adoption's cost, while deferred columns and relationships load on first access either way.)
    obj = manager.new_instance()
    obj.__dict__.update({key: values[name] for key, name in layout.columns.items() if name in values})
    state = instance_state(obj)
    state.key = identity
    # What `session.add` does for a stored object, without walking the relationships for objects to cascade to:
    # a row just read or written has none loaded.
    session._update_impl(state)
    return obj


def write_through(session: Session, obj: Any) -> None:
    """UPDATE an object's changed columns now (guarded by its version counter, if mapped) and mark them stored."""
    state = instance_state(obj)
    if not state.committed_state:
        return
    layout = _layout(state.mapper)
    values = state.dict
    changed = {key: values[key] for key in state.committed_state if key in layout.columns}
    if len(changed) != len(state.committed_state):
        raise TypeError(f"{layout.table_name}: write_through stores columns; a changed relationship needs the flush")
    params = {layout.columns[key]: value for key, value in changed.items()}
    params["_pk"] = values[layout.primary_key]
    if layout.version is not None:
        params["_old"] = old = state.committed_state.get(layout.version, values[layout.version])
        params[layout.columns[layout.version]] = changed[layout.version] = old + 1
    if layout.update.run(session, params) != 1:
        raise Conflict("someone else changed this case first; reload and try again" if layout.version else
                       f"this {layout.table_name} row was removed by someone else; reload and try again")
    if layout.version is not None:
        values[layout.version] = changed[layout.version]
    # What a flush does once its statements ran: every value held is now the stored one. (Expiring the object and
    # setting each column back as committed cost as much as the UPDATE.)
    state._commit_all(values, session.identity_map)


def stored_in_session(session: Session, cls: type, ident: Any, **values: Any) -> None:
    """Tell a loaded object what a Core statement just stored for its row (nothing to do when it is not loaded)."""
    obj = session.identity_map.get(manager_of_class(cls).mapper.identity_key_from_primary_key((ident,)))
    if obj is not None:
        # What set_committed_value does attribute by attribute, for all of them at once.
        state = instance_state(obj)
        state.dict.update(values)
        state._commit(state.dict, list(values))
