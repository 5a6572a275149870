"""Load history storage (SQLAlchemy 2.0, schema managed by alembic)."""
