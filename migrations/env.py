"""Alembic environment: runs against the connection OneWindow hands over (or the configured URL)."""
from alembic import context
from sqlalchemy import create_engine

from engine.store.catalogue_models import CatalogueEntry  # noqa: F401  (its table joins Base.metadata)
from engine.store.db import database_url
from engine.store.models import Base
from engine.store.requests_models import ExtensionRequest  # noqa: F401  (its table joins Base.metadata)

target_metadata = Base.metadata


def run() -> None:
    """Run the migrations online on a given or freshly created connection."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        with create_engine(database_url(context.config.get_main_option("sqlalchemy.url"))).connect() as conn:
            context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
            with context.begin_transaction():
                context.run_migrations()
        return
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


run()
