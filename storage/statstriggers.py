"""The triggers that pre-aggregate the team's figures (installed by migration 0008;
migration 0011 widens takedown_hits, see RENOTICE_SQLITE / RENOTICE_POSTGRESQL).

hits -> hit_state_counts: a +1 row for a new hit, -1 for a deleted one, and -1/+1 when its
state or tier changes. hits, notices, notice_items -> takedown_changes: a row whenever a
change can move the takedown figures (since 0011 also a hit's re-notice time, and a hit
inserted already in a takedown state: the re-notices due are read from a snapshot kept at
that version). Both are inserts only, so concurrent writers never wait on each other;
storage.stats sums and folds the deltas.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

TAKEDOWN_STATES = "('notified', 'live', 'removed')"

SQLITE = (
    """CREATE TRIGGER hit_counts_insert AFTER INSERT ON hits BEGIN
         INSERT INTO hit_state_counts (status, tier, n) VALUES (NEW.status, NEW.tier, 1);
       END""",
    """CREATE TRIGGER hit_counts_delete AFTER DELETE ON hits BEGIN
         INSERT INTO hit_state_counts (status, tier, n) VALUES (OLD.status, OLD.tier, -1);
         INSERT INTO takedown_changes (id) VALUES (NULL);
       END""",
    """CREATE TRIGGER hit_counts_update AFTER UPDATE OF status, tier ON hits
       WHEN OLD.status IS NOT NEW.status OR OLD.tier IS NOT NEW.tier BEGIN
         INSERT INTO hit_state_counts (status, tier, n) VALUES (OLD.status, OLD.tier, -1);
         INSERT INTO hit_state_counts (status, tier, n) VALUES (NEW.status, NEW.tier, 1);
       END""",
    f"""CREATE TRIGGER takedown_hits AFTER UPDATE OF status, notified_at, removed_at ON hits
       WHEN OLD.notified_at IS NOT NEW.notified_at OR OLD.removed_at IS NOT NEW.removed_at
         OR (OLD.status IS NOT NEW.status AND (OLD.status IN {TAKEDOWN_STATES}
                                               OR NEW.status IN {TAKEDOWN_STATES})) BEGIN
         INSERT INTO takedown_changes (id) VALUES (NULL);
       END""",
    """CREATE TRIGGER takedown_notices_insert AFTER INSERT ON notices BEGIN
         INSERT INTO takedown_changes (id) VALUES (NULL);
       END""",
    """CREATE TRIGGER takedown_notices_update AFTER UPDATE ON notices BEGIN
         INSERT INTO takedown_changes (id) VALUES (NULL);
       END""",
    """CREATE TRIGGER takedown_notices_delete AFTER DELETE ON notices BEGIN
         INSERT INTO takedown_changes (id) VALUES (NULL);
       END""",
    """CREATE TRIGGER takedown_items_insert AFTER INSERT ON notice_items BEGIN
         INSERT INTO takedown_changes (id) VALUES (NULL);
       END""",
    """CREATE TRIGGER takedown_items_delete AFTER DELETE ON notice_items BEGIN
         INSERT INTO takedown_changes (id) VALUES (NULL);
       END""",
)
SQLITE_NAMES = ("hit_counts_insert", "hit_counts_delete", "hit_counts_update",
                "takedown_hits", "takedown_notices_insert", "takedown_notices_update",
                "takedown_notices_delete", "takedown_items_insert", "takedown_items_delete")

POSTGRESQL = (
    """CREATE FUNCTION trawl_hit_counts() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP = 'UPDATE' AND OLD.status = NEW.status AND OLD.tier = NEW.tier THEN
           RETURN NULL;
         END IF;
         IF TG_OP IN ('UPDATE', 'DELETE') THEN
           INSERT INTO hit_state_counts (status, tier, n) VALUES (OLD.status, OLD.tier, -1);
         END IF;
         IF TG_OP IN ('UPDATE', 'INSERT') THEN
           INSERT INTO hit_state_counts (status, tier, n) VALUES (NEW.status, NEW.tier, 1);
         END IF;
         RETURN NULL;
       END $$""",
    """CREATE TRIGGER hit_counts AFTER INSERT OR DELETE OR UPDATE OF status, tier ON hits
       FOR EACH ROW EXECUTE FUNCTION trawl_hit_counts()""",
    f"""CREATE FUNCTION trawl_takedown_change() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_TABLE_NAME = 'hits' AND TG_OP = 'UPDATE' THEN
           IF OLD.notified_at IS NOT DISTINCT FROM NEW.notified_at
              AND OLD.removed_at IS NOT DISTINCT FROM NEW.removed_at
              AND (OLD.status = NEW.status OR NOT (OLD.status IN {TAKEDOWN_STATES}
                                                   OR NEW.status IN {TAKEDOWN_STATES})) THEN
             RETURN NULL;
           END IF;
         END IF;
         INSERT INTO takedown_changes DEFAULT VALUES;
         RETURN NULL;
       END $$""",
    """CREATE TRIGGER takedown_hits AFTER DELETE OR UPDATE OF status, notified_at, removed_at
       ON hits FOR EACH ROW EXECUTE FUNCTION trawl_takedown_change()""",
    """CREATE TRIGGER takedown_notices AFTER INSERT OR UPDATE OR DELETE ON notices
       FOR EACH STATEMENT EXECUTE FUNCTION trawl_takedown_change()""",
    """CREATE TRIGGER takedown_items AFTER INSERT OR DELETE ON notice_items
       FOR EACH STATEMENT EXECUTE FUNCTION trawl_takedown_change()""",
)
POSTGRESQL_DROP = (
    "DROP TRIGGER IF EXISTS takedown_items ON notice_items",
    "DROP TRIGGER IF EXISTS takedown_notices ON notices",
    "DROP TRIGGER IF EXISTS takedown_hits ON hits",
    "DROP TRIGGER IF EXISTS hit_counts ON hits",
    "DROP FUNCTION IF EXISTS trawl_takedown_change()",
    "DROP FUNCTION IF EXISTS trawl_hit_counts()",
)
# The hits trigger that writes the state deltas, for bulk loads that rebuild them after.
POSTGRESQL_COUNTS_TRIGGER = "hit_counts"
# The hits trigger that marks takedown changes (bulk loads add one change after instead).
POSTGRESQL_TAKEDOWN_HITS_TRIGGER = "takedown_hits"

# Migration 0011: takedown_hits also fires when a hit's renotice_due_at changes and when a
# hit is inserted in a takedown state, so that every change that can move the count of
# re-notices due moves the takedown version (storage.stats keeps that count per version).
RENOTICE_SQLITE = (
    "DROP TRIGGER IF EXISTS takedown_hits",
    f"""CREATE TRIGGER takedown_hits AFTER UPDATE OF status, notified_at, removed_at,
         renotice_due_at ON hits
       WHEN OLD.notified_at IS NOT NEW.notified_at OR OLD.removed_at IS NOT NEW.removed_at
         OR OLD.renotice_due_at IS NOT NEW.renotice_due_at
         OR (OLD.status IS NOT NEW.status AND (OLD.status IN {TAKEDOWN_STATES}
                                               OR NEW.status IN {TAKEDOWN_STATES})) BEGIN
         INSERT INTO takedown_changes (id) VALUES (NULL);
       END""",
    f"""CREATE TRIGGER takedown_hits_insert AFTER INSERT ON hits
       WHEN NEW.status IN {TAKEDOWN_STATES} BEGIN
         INSERT INTO takedown_changes (id) VALUES (NULL);
       END""",
)
RENOTICE_POSTGRESQL = (
    f"""CREATE OR REPLACE FUNCTION trawl_takedown_change() RETURNS trigger LANGUAGE plpgsql
       AS $$
       BEGIN
         IF TG_TABLE_NAME = 'hits' AND TG_OP = 'UPDATE' THEN
           IF OLD.notified_at IS NOT DISTINCT FROM NEW.notified_at
              AND OLD.removed_at IS NOT DISTINCT FROM NEW.removed_at
              AND OLD.renotice_due_at IS NOT DISTINCT FROM NEW.renotice_due_at
              AND (OLD.status = NEW.status OR NOT (OLD.status IN {TAKEDOWN_STATES}
                                                   OR NEW.status IN {TAKEDOWN_STATES})) THEN
             RETURN NULL;
           END IF;
         END IF;
         IF TG_TABLE_NAME = 'hits' AND TG_OP = 'INSERT' THEN
           IF NEW.status NOT IN {TAKEDOWN_STATES} THEN
             RETURN NULL;
           END IF;
         END IF;
         INSERT INTO takedown_changes DEFAULT VALUES;
         RETURN NULL;
       END $$""",
    "DROP TRIGGER IF EXISTS takedown_hits ON hits",
    """CREATE TRIGGER takedown_hits AFTER INSERT OR DELETE
       OR UPDATE OF status, notified_at, removed_at, renotice_due_at
       ON hits FOR EACH ROW EXECUTE FUNCTION trawl_takedown_change()""",
)
# Back to 0008's takedown_hits (migration 0011's downgrade).
RENOTICE_SQLITE_UNDO = ("DROP TRIGGER IF EXISTS takedown_hits_insert",
                        "DROP TRIGGER IF EXISTS takedown_hits", SQLITE[3])
RENOTICE_POSTGRESQL_UNDO = (
    POSTGRESQL[2].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1),
    "DROP TRIGGER IF EXISTS takedown_hits ON hits",
    POSTGRESQL[3],
)


def install(conn: Connection) -> None:
    for sql in POSTGRESQL if conn.dialect.name == "postgresql" else SQLITE:
        conn.execute(text(sql))


def remove(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        for sql in POSTGRESQL_DROP:
            conn.execute(text(sql))
    else:
        for name in (*SQLITE_NAMES, "takedown_hits_insert"):
            conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))


def install_renotice_tracking(conn: Connection) -> None:
    """Migration 0011's takedown_hits (see RENOTICE_SQLITE), and a new takedown version."""
    for sql in RENOTICE_POSTGRESQL if conn.dialect.name == "postgresql" else RENOTICE_SQLITE:
        conn.execute(text(sql))
    conn.execute(text("INSERT INTO takedown_changes DEFAULT VALUES"))


def remove_renotice_tracking(conn: Connection) -> None:
    """0008's takedown_hits again (migration 0011's downgrade)."""
    for sql in (RENOTICE_POSTGRESQL_UNDO if conn.dialect.name == "postgresql"
                else RENOTICE_SQLITE_UNDO):
        conn.execute(text(sql))


def rebuild_counts(conn: Connection) -> None:
    """hit_state_counts from the hits themselves (after a bulk load or the migration)."""
    conn.execute(text("DELETE FROM hit_state_counts"))
    conn.execute(text("INSERT INTO hit_state_counts (status, tier, n) "
                      "SELECT status, tier, count(*) FROM hits GROUP BY status, tier"))
    conn.execute(text("INSERT INTO takedown_changes DEFAULT VALUES"))  # a new version
