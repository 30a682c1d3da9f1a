"""Migration 0012 on a database at 0009 (upgraded through 0011) holding known lists:
ix_known_type_value goes, every known hash stays as it was, and imports still count repeats
and present entries."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import command

from storage.db import alembic_config, open_store, schema_revision
from storage.known import KnownHashIn, import_known_list, iter_known_hashes, list_known_lists
from storage.migrations import HEAD_REVISION

T = datetime(2026, 1, 2, 3, 4, 5)


def test_upgrade_from_0009_drops_the_index_and_keeps_the_hashes(fresh_db_url: str) -> None:
    store = open_store(fresh_db_url, migrate=False, create=True)
    try:
        with store.engine.begin() as conn:
            command.upgrade(alembic_config(connection=conn), "0009")
            conn.execute(sa.text(
                "INSERT INTO known_lists (name, format, imported_at, entry_count, "
                "duplicate_count) VALUES ('iwf', 'csv', :t, 4, 0)"), {"t": T})
            for n, hash_type in enumerate(("md5", "md5", "pdq", "sha256"), start=1):
                conn.execute(sa.text(
                    "INSERT INTO known_hashes (list_id, hash_type, value, label, variant) "
                    "VALUES (1, :h, :v, :label, :variant)"),  # ids and list id 1 by default
                    {"h": hash_type, "v": f"{n:x}" * 32, "label": f"item-{n}",
                     "variant": "trim" if n == 3 else None})
        names = {ix["name"] for ix in sa.inspect(store.engine).get_indexes("known_hashes")}
        assert "ix_known_type_value" in names
    finally:
        store.close()

    store = open_store(fresh_db_url)  # migrates to the head
    try:
        assert schema_revision(store) == HEAD_REVISION
        inspector = sa.inspect(store.engine)
        names = {ix["name"] for ix in inspector.get_indexes("known_hashes")}
        assert "ix_known_type_value" not in names
        unique = inspector.get_unique_constraints("known_hashes")
        assert [u["column_names"] for u in unique if u["name"] == "uq_known_hash"] == [
            ["list_id", "hash_type", "value"]]
        assert [(r.id, r.list_name, r.hash_type, r.value, r.label, r.variant)
                for r in iter_known_hashes(store)] == [
            (n, "iwf", h, f"{n:x}" * 32, f"item-{n}", "trim" if n == 3 else None)
            for n, h in enumerate(("md5", "md5", "pdq", "sha256"), start=1)]
        again = import_known_list(
            store, name="iwf", fmt="csv", source_file=None, actor="alice",
            entries=[KnownHashIn("md5", "1" * 32), KnownHashIn("md5", "9" * 32),
                     KnownHashIn("md5", "9" * 32)])
        assert (again.added, again.already_present, again.duplicates) == (1, 1, 1)
        fresh = import_known_list(
            store, name="new", fmt="csv", source_file=None, actor="alice",
            entries=[KnownHashIn("md5", "1" * 32, label="a"), KnownHashIn("md5", "1" * 32)])
        assert (fresh.added, fresh.already_present, fresh.duplicates) == (1, 0, 1)
        assert {i.name: i.entry_count for i in list_known_lists(store)} == {"iwf": 5, "new": 1}
    finally:
        store.close()
