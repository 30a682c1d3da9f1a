"""Alembic migrations of Trawl's schema, configured from storage.db (no alembic.ini).

HEAD_REVISION names the newest revision in versions/, so opening a current database costs
one query and no Alembic import (tests/test_storage_migrations.py checks it against
Alembic's own view; update it with every new revision).

Ids were given out before their work landed, so the chain runs 0001 -> 0005 -> 0008 ->
0010 -> 0006 -> 0007 -> 0009 -> 0011 -> 0012 (each file's down_revision); the next revision
follows 0012.
"""

HEAD_REVISION = "0012"
