"""Helpers for the operations tests: takedown data in a seeded web database."""

from __future__ import annotations

from storage.db import Store
from storage.providers import import_providers, parse_provider_file
from storage.review import decide
from tests.takedown_helpers import T0, HitSpec, add_hits

PROVIDERS_CSV = """name,abuse_email,country,ranges,domains
Big Cloud,abuse@bigcloud.test,US,10.0.0.0/8,bigcloud.test
Tiny Host,abuse@tiny.test,NL,192.0.2.0/24,
"""
HOSTILE_URL = 'http://img.bigcloud.test/"><img src=x onerror=alert(1)><script>alert(2)</script>.png'


def confirmed_hits(store: Store, tmp_folder: str) -> list[int]:
    """Providers imported, three confirmed images (one with a hostile URL) and a pending one."""
    from pathlib import Path

    path = Path(tmp_folder) / "providers.csv"
    path.write_text(PROVIDERS_CSV)
    import_providers(store, parse_provider_file(path), actor="setup")
    ids = add_hits(store, [
        HitSpec("http://img.bigcloud.test/a.png", server_ip="10.1.1.1"),
        HitSpec(HOSTILE_URL, server_ip="10.1.1.2",
                page_urls=("javascript:alert(3)", "http://site.test/<b>x</b>")),
        HitSpec("http://tiny.test/c.png", server_ip="192.0.2.7"),
        HitSpec("http://img.bigcloud.test/pending.png", server_ip="10.1.1.3"),
    ])
    decide(store, ids[:3], actor="ann", decision="confirm", now=T0)
    return ids
