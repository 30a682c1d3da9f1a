"""Migration 0002 on a database as the previous Trawl left it: one hit per (image, known hash).

The rows are written in the exact shape revision 0001 had, the way the old crawl, review,
notice and recheck code wrote them; the upgrade must keep every decision, notice and audit
entry and end with one hit per image carrying all its matches.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import command

from storage.db import alembic_config, open_store
from storage.evidence import get_hit_detail
from storage.hits import list_hits
from storage.notices import list_notices

T = datetime(2026, 1, 2, 3, 4, 5)


def old_database(url: str) -> None:
    """Schema 0001 with an old crawl's hits and what analysts did with them."""
    store = open_store(url, migrate=False)
    try:
        with store.engine.begin() as conn:
            command.upgrade(alembic_config(connection=conn), "0001")

            def run(sql: str, params: tuple[object, ...] = ()) -> None:
                for n in range(len(params)):  # the driver's own placeholders differ
                    sql = sql.replace("?", f":p{n}", 1)
                conn.execute(sa.text(sql), {f"p{n}": v for n, v in enumerate(params)})

            run("INSERT INTO known_lists (id, name, format, imported_at, entry_count, "
                "duplicate_count) VALUES (1, 'iwf', 'csv', ?, 3, 0), "
                "(2, 'te', 'te', ?, 1, 0)", (T, T))
            run("INSERT INTO known_hashes (id, list_id, hash_type, value, label) VALUES "
                f"(1, 1, 'md5', '{'1' * 32}', 'item-1'), (2, 1, 'sha256', '{'2' * 64}', 'item-1'),"
                f" (3, 1, 'pdq', '{'3' * 64}', 'item-1'), (4, 2, 'pdq', '{'4' * 64}', 'x')")
            run("INSERT INTO crawls (id, started_at, outcome, start_urls, pages, images, "
                "hashed, hits, errors, stats) VALUES (1, ?, 'finished', '[]', 1, 3, 3, 3, 0, "
                "'{}')", (T,))
            for media_id, url in ((1, "http://img.test/copy.jpg"),
                                  (2, "http://img.test/rot.jpg"), (3, "http://img.test/no.jpg")):
                run("INSERT INTO media (id, url, url_key, host, sha256, md5, sha1, "
                    "fetch_status, first_seen, last_seen) VALUES (?, ?, ?, 'img.test', ?, ?, "
                    "?, 'ok', ?, ?)", (media_id, url, f"{media_id:064x}", f"{media_id}" * 64,
                                       f"{media_id}" * 32, f"{media_id}" * 40, T, T))
                run("INSERT INTO observations (crawl_id, media_id, page_url, page_key, "
                    "seen_at) VALUES (1, ?, 'http://site.test/', ?, ?)",
                    (media_id, f"{media_id:064x}", T))
            # Image 1, an exact copy: three hits (md5, sha256, pdq); the sha256 one confirmed
            # and notified, the other two left pending. Image 2: one PDQ hit, removed by a
            # recheck. Image 3: two hits, one rejected, one pending.
            hits = (
                (10, 1, 1, "md5", 0, "pending", None),
                (11, 1, 2, "sha256", 0, "notified", T),
                (12, 1, 3, "pdq", 4, "pending", None),
                (13, 2, 3, "pdq", 9, "removed", T),
                (14, 3, 2, "sha256", 0, "rejected", None),
                (15, 3, 4, "pdq", 30, "pending", None),
            )
            for hit_id, media_id, known_id, hash_type, distance, status, notified in hits:
                run("INSERT INTO hits (id, media_id, known_hash_id, crawl_id, hash_type, "
                    "distance, confidence, tier, status, created_at, updated_at, notified_at, "
                    "removed_at) VALUES (?, ?, ?, 1, ?, ?, 1.0, 'high', ?, ?, ?, ?, ?)",
                    (hit_id, media_id, known_id, hash_type, distance, status, T, T, notified,
                     T if status == "removed" else None))
            run("INSERT INTO hit_votes (hit_id, actor, decision, at) VALUES "
                "(11, 'alice', 'confirm', ?), (10, 'alice', 'confirm', ?), "
                "(14, 'bob', 'reject', ?)", (T, T, T))
            run("INSERT INTO suppressions (sha256, known_hash_id, hit_id, created_at) VALUES "
                "(?, 2, 14, ?)", ("3" * 64, T))
            run("INSERT INTO notices (id, reference, provider_key, created_at, created_by, "
                "sent_at, sent_by, kind) VALUES (1, 'TRAWL-1', 'unattributed:img.test', ?, "
                "'carol', ?, 'carol', 'initial')", (T, T))
            run("INSERT INTO notice_items (notice_id, hit_id) VALUES (1, 11), (1, 13)")
            for hit_id, action, to_state in ((11, "confirm", "confirmed"),
                                             (11, "notify", "notified"),
                                             (13, "recheck", "removed"),
                                             (14, "reject", "rejected")):
                run("INSERT INTO audit (at, actor, action, entity, entity_id, to_state) "
                    "VALUES (?, 'someone', ?, 'hit', ?, ?)", (T, action, hit_id, to_state))
    finally:
        store.close()


def test_hits_of_one_image_merge_keeping_decisions_notices_and_history(
        fresh_db_url: str) -> None:
    old_database(fresh_db_url)
    store = open_store(fresh_db_url)  # migrates to head
    try:
        hits = {h.media_url.rsplit("/", 1)[1]: h for h in list_hits(store)}
        assert sorted(hits) == ["copy.jpg", "no.jpg", "rot.jpg"]
        copy, rot, no = hits["copy.jpg"], hits["rot.jpg"], hits["no.jpg"]
        # One item per image with every old hit as a match; ids are the smallest of each.
        assert (copy.id, copy.status, copy.match_count) == (10, "notified", 3)
        assert {m.hash_type for m in copy.matches} == {"md5", "sha256", "pdq"}
        pdq = next(m for m in copy.matches if m.hash_type == "pdq")
        assert (pdq.distance, pdq.threshold) == (4, 31)
        assert (rot.id, rot.status, rot.match_count) == (13, "removed", 1)
        assert (no.id, no.status, no.match_count) == (14, "pending", 2)  # a match undecided
        # The notice lists each image once.
        (notice,) = list_notices(store)
        assert sorted(i.hit_id for i in notice.items) == [10, 13]
        # History: the merged hits' audit entries belong to the image.
        detail = get_hit_detail(store, 10)
        assert [(h.action, h.to_state) for h in detail.history] == [
            ("confirm", "confirmed"), ("notify", "notified")]
        assert [(v.actor, v.decision) for v in detail.votes] == [("alice", "confirm")]
        assert detail.notified_at == T
        with store.read_session() as session:
            suppressed = session.execute(sa.text(
                "SELECT sha256, known_hash_id, hit_id FROM suppressions")).all()
        assert [tuple(r) for r in suppressed] == [("3" * 64, 2, 14)]
    finally:
        store.close()
