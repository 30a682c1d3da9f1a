"""Alembic migrations of Trawl's schema, configured from storage.db (no alembic.ini).

HEAD_REVISION names the newest revision in versions/, so opening a current database costs
one query and no Alembic import (tests/test_storage_migrations.py checks it against
Alembic's own view; update it with every new revision).
"""

HEAD_REVISION = "0009"
