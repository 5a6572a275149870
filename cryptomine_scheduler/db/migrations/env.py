"""Alembic environment: runs on the connection the store hands over."""

from alembic import context

from cryptomine_scheduler.db import models

connection = context.config.attributes['connection']
context.configure(connection=connection, target_metadata=models.metadata,
                  render_as_batch=connection.dialect.name == 'sqlite')
with context.begin_transaction():
    context.run_migrations()
