"""Persistence: SQLAlchemy 2 models, database set-up and the unit of work."""
