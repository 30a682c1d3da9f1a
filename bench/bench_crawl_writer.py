"""CPU per image of CrawlWriter alone (the crawl's write thread), before/after, rows compared.

2,000 records shaped as the bench site's (400 pages x 5 images; digests of generated JPEGs,
each URL its own sha256/md5/sha1; one image in 66 a hit, committed at once as WriteThread
does, otherwise a flush every 200 images; one image in 5 seen again on a second page) are
written into a fresh database by each tree in turn, rounds alternating, each in its own
process. Reported: CPU ms (time.process_time) per image of the adds and flushes, and
whether every table's rows (ids, timestamps and random instance ids left out) are the same
for every tree.

    python3 bench/bench_crawl_writer.py --trees /tmp/old,. --rounds 3
    python3 bench/bench_crawl_writer.py --trees /tmp/old,. --db postgresql+psycopg2://postgres@127.0.0.1:5432/NAME

With --db, NAME is dropped and created before every run (a PostgreSQL database you own).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

HIT_EVERY, FLUSH_EVERY = 66, 200
LEFT_OUT = {"id", "at", "instance", "first_seen", "last_seen", "seen_at"}


def build(path: Path) -> None:
    """The records (MediaRecord, pages, hit?) as the pipeline builds them; pickled."""
    import dataclasses
    import hashlib
    import io

    import numpy as np
    from PIL import Image

    from crawler.adapter import media_record
    from matchers.hashing import hash_image

    rng = np.random.default_rng(1)
    digests = []
    for i in range(20):
        pixels = (rng.random((96, 128, 3)) * 255).astype("uint8")
        pixels[:, : 10 + i * 5] = 30
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, "JPEG")
        digests.append(hash_image(buf.getvalue()))
    entries = []
    for p in range(400):
        for k in range(5):
            url = f"http://127.0.0.1:8123/img/{p}-{k}.jpg"
            raw = url.encode()
            d = dataclasses.replace(
                digests[(p * 5 + k) % 20], sha256=hashlib.sha256(raw).hexdigest(),
                md5=hashlib.md5(raw).hexdigest(), sha1=hashlib.sha1(raw).hexdigest())
            record = media_record(url, d, content_type="image/jpeg", server_ip="127.0.0.1",
                                  etag=f'"{p}-{k}"', last_modified="Wed, 02 Dec 2026 10:00:00 GMT")
            entries.append((record, [f"http://127.0.0.1:8123/page/{p}.html"],
                            (p * 5 + k) % HIT_EVERY == 7))
    path.write_bytes(pickle.dumps(entries))


def run(entries_path: Path, db_url: str, dump_path: Path) -> None:
    """In a child whose sys.path starts at the tree: write, time, dump."""
    import time

    import sqlalchemy as sa

    from storage.crawls import start_crawl
    from storage.db import open_store
    from storage.known import KnownHashIn, import_known_list, iter_known_hashes
    from storage.media import CrawlWriter, MatchIn

    entries = pickle.loads(entries_path.read_bytes())
    store = open_store(db_url)
    import_known_list(store, name="L", fmt="csv", source_file=None, actor="bench",
                      entries=[KnownHashIn("sha256", r.sha256, label="s")
                               for r, _, hit in entries if hit])
    known = {r.value: r.id for r in iter_known_hashes(store)}
    crawl = start_crawl(store, start_urls=[], seed_ids=[])
    writer = CrawlWriter(store, crawl, flush_interval=3600, batch_size=10**6)
    start = time.process_time()
    for i, (record, pages, hit) in enumerate(entries):
        writer.count({"images": 1, "hashed": 1, "hits": int(hit)})
        matches = [MatchIn(known[record.sha256], "pdq", 12, threshold=31, confidence=0.9)
                   ] if hit else []
        writer.add(record, pages, matches)
        if i % 5 == 4:
            writer.add_observation(entries[i - 3][0].url, pages[0] + "?again")
        if hit or i % FLUSH_EVERY == FLUSH_EVERY - 1:
            writer.flush()
    writer.close()
    cpu = time.process_time() - start
    dump = {}
    with store.engine.connect() as conn:
        for table in sa.inspect(store.engine).get_table_names():
            rows = conn.execute(sa.text(f'SELECT * FROM "{table}"')).mappings().all()
            dump[table] = sorted(json.dumps(
                {k: "-" if (k in LEFT_OUT or k.endswith("_at")) and v is not None else v
                 for k, v in row.items()}, default=str, sort_keys=True) for row in rows)
    store.close()
    dump_path.write_text(json.dumps(dump, sort_keys=True))
    print(cpu / len(entries) * 1000)


def fresh_db(url: str | None, work: Path, name: str) -> str:
    if url is None:
        return f"sqlite:///{work / name}.db"
    import sqlalchemy as sa

    base, _, db = url.rpartition("/")
    admin = sa.create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{db}"'))
    admin.dispose()
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trees", default=".", help="comma-separated source trees")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--db", help="PostgreSQL URL (its database is recreated per run)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--build", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        build(Path(args.build))
        return
    if args.child:
        run(Path(args.child[0]), args.child[1], Path(args.child[2]))
        return
    trees = [str(Path(t).resolve()) for t in args.trees.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        subprocess.run([sys.executable, __file__, "--build", str(work / "e.pkl")], check=True,
                       env={**os.environ, "PYTHONPATH": trees[-1]})
        cpu: dict[str, list[float]] = {t: [] for t in trees}
        dumps: dict[str, str] = {}
        for r in range(args.rounds):
            for t in trees if r % 2 == 0 else trees[::-1]:
                name = f"r{r}-{len(cpu[t])}-{trees.index(t)}"
                db = fresh_db(args.db, work, name)
                out = subprocess.run(
                    [sys.executable, __file__, "--child", str(work / "e.pkl"), db,
                     str(work / f"{name}.json")],
                    check=True, capture_output=True, text=True,
                    env={**os.environ, "PYTHONPATH": t}, cwd=t)
                cpu[t].append(float(out.stdout.strip().splitlines()[-1]))
                dumps.setdefault(t, (work / f"{name}.json").read_text())
        for t in trees:
            runs = sorted(cpu[t])
            print(f"{t}: CPU ms/img min {runs[0]:.3f} median {runs[len(runs) // 2]:.3f} "
                  f"max {runs[-1]:.3f} (rounds {', '.join(f'{x:.3f}' for x in cpu[t])})")
        print("rows identical" if len(set(dumps.values())) == 1 else "ROWS DIFFER")


if __name__ == "__main__":
    main()
