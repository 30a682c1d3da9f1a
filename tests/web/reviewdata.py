"""Hits for the review tests: benign made-up URLs, some of them hostile strings."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from storage.db import Store
from storage.models import Hit, HitMatch
from storage.notices import RecheckResult, mark_sent, prepare_notices, record_recheck
from storage.review import decide
from tests.takedown_helpers import T0, HitSpec, add_hits

# A crawled URL, page and label an attacker controls: shown as text, never run or loaded.
HOSTILE_URL = 'http://127.0.0.2:9/x.png?"><img src=x onerror=alert(1)><script>alert(2)</script>'
HOSTILE_PAGE = "javascript:alert(3)"
HOSTILE_LABEL = '"><img src=x onerror=alert(4)><script>alert(5)</script>'
CRAWLED_HOST = "127.0.0.2"


def review_hits(store: Store, count: int = 5) -> list[int]:
    """`count` pending high-tier images on 127.0.0.2 (the first hostile), and one low-tier
    image on 127.0.0.3; returns the high-tier ids, oldest first."""
    specs = [HitSpec(HOSTILE_URL, page_urls=(HOSTILE_PAGE, "http://127.0.0.2:9/gallery"),
                     label=HOSTILE_LABEL)]
    specs += [HitSpec(f"http://127.0.0.2:9/img/{n}.png",
                      page_urls=(f"http://127.0.0.2:9/page/{n}",)) for n in range(1, count)]
    ids = add_hits(store, specs)
    (low,) = add_hits(store, [HitSpec("http://127.0.0.3:9/icon.png", hash_type="phash",
                                      distance=4)], at=T0 + timedelta(hours=1))
    with store.session() as s:
        s.execute(sa.update(Hit).where(Hit.id == low).values(tier="low", confidence=0.5))
        s.execute(sa.update(HitMatch).where(HitMatch.hit_id == low).values(tier="low"))
    return ids


def takedown_history(store: Store, ids: list[int], now: datetime) -> None:
    """Two images confirmed, notified and one of them removed 30 h later."""
    decide(store, ids[:2], actor="ann", decision="confirm", now=now)
    refs = [n.reference for n in prepare_notices(store, actor="tom", now=now)]
    mark_sent(store, refs, actor="tom", now=now)
    record_recheck(store, [RecheckResult(ids[0], "gone", "HTTP 404")], actor="tom",
                   now=now + timedelta(hours=30))
