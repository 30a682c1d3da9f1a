"""The triggers that pre-aggregate the team's figures (installed by migration 0008).

hits -> hit_state_counts: a +1 row for a new hit, -1 for a deleted one, and -1/+1 when its
state or tier changes. hits, notices, notice_items -> takedown_changes: a row whenever a
change can move the takedown figures. Both are inserts only, so concurrent writers never
wait on each other; storage.stats sums and folds the deltas.
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


def install(conn: Connection) -> None:
    for sql in POSTGRESQL if conn.dialect.name == "postgresql" else SQLITE:
        conn.execute(text(sql))


def remove(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        for sql in POSTGRESQL_DROP:
            conn.execute(text(sql))
    else:
        for name in SQLITE_NAMES:
            conn.execute(text(f"DROP TRIGGER IF EXISTS {name}"))


def rebuild_counts(conn: Connection) -> None:
    """hit_state_counts from the hits themselves (after a bulk load or the migration)."""
    conn.execute(text("DELETE FROM hit_state_counts"))
    conn.execute(text("INSERT INTO hit_state_counts (status, tier, n) "
                      "SELECT status, tier, count(*) FROM hits GROUP BY status, tier"))
    conn.execute(text("INSERT INTO takedown_changes DEFAULT VALUES"))  # a new version
