"""Alembic's environment: always run on a connection the ledger's store passes in (in its transaction)."""

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, transactional_ddl=True)  # SQLite and PostgreSQL both roll DDL back
with context.begin_transaction():
    context.run_migrations()
