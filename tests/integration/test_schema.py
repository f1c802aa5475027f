"""The migrated schema is the one the models describe: every table, column, index and constraint, on both databases."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

import engine.store.catalogue_models
import engine.store.requests_models  # noqa: F401 (their tables belong to Base.metadata too)
from engine.store.models import Base


def test_the_migrations_build_exactly_the_schema_of_the_models(db_url):
    connectable = create_engine(db_url)
    try:
        with connectable.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    finally:
        connectable.dispose()
    assert differences == []
    assert engine.store.catalogue_models.CatalogueEntry.__tablename__ in Base.metadata.tables
