"""Re-check from the web: POST /api/v1/recheck starts `trawl recheck` as the caller in a
process of its own; its outcomes land in the database and the audit trail as that person.
The images' URLs are on a loopback server that now answers 404 (taken down)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from storage.audit import list_audit
from storage.notices import mark_sent, prepare_notices
from storage.review import decide
from tests.takedown_helpers import T0, HitSpec, add_hits
from tests.web.helpers import Seeded, app_for, client, store_of


class Gone(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def gone_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Gone)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_recheck_runs_as_the_caller_in_its_own_process(
    seeded: Seeded, gone_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRAWL_CRAWL_LOG_DIR", str(tmp_path / "logs"))
    # The images are on loopback: the server's own allowance reaches the re-check it starts
    # (without it the address policy leaves them undecided, never "removed").
    monkeypatch.setenv("TRAWL_ALLOW_ADDRESSES", "127.0.0.1")
    app = app_for(seeded.db_url)
    store = store_of(app)
    ids = add_hits(store, [HitSpec(f"{gone_server}/a.png", server_ip="127.0.0.1"),
                           HitSpec(f"{gone_server}/b.png", server_ip="127.0.0.1")])
    decide(store, ids, actor="ann", decision="confirm", now=T0)
    [notice] = prepare_notices(store, actor="tom", now=T0)
    mark_sent(store, [notice.reference], actor="tom", now=T0)
    with client(app) as web:
        r = web.post("/api/v1/recheck", json={},
                     headers={"Authorization": f"Bearer {seeded.tokens['tom']}"})
        assert r.status_code == 202, r.text
        assert r.json()["hits"] == 2
        again = web.post("/api/v1/recheck", json={},
                         headers={"Authorization": f"Bearer {seeded.tokens['tom']}"})
        # Refused while the first runs (a Scrapy process takes seconds just to start).
        assert again.status_code == 422
        assert "already running" in again.json()["detail"]
    deadline = time.monotonic() + 120
    rechecked: list[tuple[int | None, str | None]] = []
    while time.monotonic() < deadline:
        rechecked = [(e.entity_id, e.to_state) for e in list_audit(
            store, actor="tom", action="recheck", entity="hit")]
        if len(rechecked) == 2:
            break
        time.sleep(0.5)
    logs = "\n".join(p.read_text() for p in (tmp_path / "logs").glob("recheck-*.log"))
    assert sorted(rechecked) == [(ids[0], "removed"), (ids[1], "removed")], logs
    [started] = list_audit(store, action="recheck_started")
    assert started.actor == "tom"
    assert started.entity == "recheck"
