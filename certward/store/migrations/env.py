"""Alembic environment: migrations always run on a connection certward hands over."""

from alembic import context

from certward.store.models import Base, is_search_index

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,
    # The certificate search index is built by migration 0008 by hand, not from the models.
    include_name=lambda name, _type, _parents: not is_search_index(name),
)
with context.begin_transaction():
    context.run_migrations()
