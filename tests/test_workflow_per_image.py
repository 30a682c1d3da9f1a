"""The image at a URL is the unit everywhere, through the real CLI on a loopback site.

One exact copy matched by md5, sha256 and PDQ is one item to confirm and one URL in every
notice format; rotated and mirrored copies stay live through a recheck and the next crawl
(the recheck decides with the crawl's matcher, orientations included) while a deleted image
becomes removed; a list imported later adds evidence without re-queueing decided images,
except a rejected one that new high-tier evidence from another list re-opens; line-art
diagrams that collide on pHash stay out of the default queue; counts agree everywhere.
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw

from crawler.cli.main import cli
from crawler.sitegen.images import textured
from crawler.sitegen.server import Reply, RouteServer
from matchers.hashing import hash_image

REPO = Path(__file__).resolve().parents[1]


def jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def flow_chart(seed: int) -> bytes:
    """Three labelled boxes joined by arrows: layouts like this collide on pHash (the same
    coarse structure) while their PDQ hashes stay far apart."""
    rng = random.Random(seed)
    image = Image.new("RGB", (600, 400), "white")
    draw = ImageDraw.Draw(image)
    x = 40
    for box in range(3):
        y = 165 + rng.randint(-6, 6)
        draw.rectangle([x, y, x + 120, y + 70], outline="black", width=2)
        for line in range(2):
            left = x + 15 + rng.randint(0, 10)
            draw.line([left, y + 22 + 20 * line, left + rng.randint(40, 80),
                       y + 22 + 20 * line], fill="black", width=1)
        if box < 2:
            draw.line([x + 120, y + 35, x + 180, y + 35], fill="black", width=2)
        x += 180
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


class Site:
    """Pages on 127.0.0.1; the images they show; what the hotline's lists hold of them."""

    def __init__(self) -> None:
        self.log: list[Any] = []
        self.server = RouteServer("127.0.0.1", self.log)
        photos = {n: textured(40 + n, (480, 360)) for n in range(5)}
        self.images = {
            "exact.jpg": jpeg(photos[0]),
            "rot90.jpg": jpeg(photos[1].transpose(Image.Transpose.ROTATE_90)),
            "mirror.jpg": jpeg(photos[2].transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
            "gone.jpg": jpeg(photos[3]),
            "diagram.png": flow_chart(27),
            "late.jpg": jpeg(photos[4]),
        }
        self.originals = {"rot90.jpg": jpeg(photos[1]), "mirror.jpg": jpeg(photos[2])}
        self.route("/", '<a href="/p1.html">1</a> <a href="/p2.html">2</a>')
        self.route("/p1.html", "".join(f'<img src="/img/{n}">' for n in (
            "exact.jpg", "rot90.jpg", "mirror.jpg", "gone.jpg", "diagram.png")))
        self.route("/p2.html", '<img src="/img/exact.jpg"><img src="/img/late.jpg">')
        for name, data in self.images.items():
            kind = "image/png" if name.endswith(".png") else "image/jpeg"
            self.server.routes[f"/img/{name}"] = (
                lambda _p, _h, data=data, kind=kind: Reply(200, data, kind))

    def route(self, path: str, body: str) -> None:
        html = f"<html><body>{body}</body></html>".encode()
        self.server.routes[path] = lambda _p, _h: Reply(200, html)

    def url(self, name: str) -> str:
        return f"{self.server.base_url}/img/{name}"

    def first_list(self) -> str:
        exact = hash_image(self.images["exact.jpg"], fast=False)
        rows = [("md5", exact.md5, "item-1"), ("sha256", exact.sha256, "item-1"),
                ("pdq", exact.pdq, "item-1")]
        for name, label in (("rot90.jpg", "item-2"), ("mirror.jpg", "item-3")):
            rows.append(("pdq", hash_image(self.originals[name], fast=False).pdq, label))
        rows.append(("sha256", hash_image(self.images["gone.jpg"]).sha256, "item-4"))
        rows.append(("phash", hash_image(flow_chart(5), fast=False).phash, "chart-5"))
        return csv_list(rows)

    def later_list(self) -> str:
        return csv_list([
            ("pdq", hash_image(self.images["exact.jpg"], fast=False).pdq, "item-1-again"),
            ("sha256", hash_image(self.images["late.jpg"]).sha256, "item-6"),
            ("pdq", hash_image(self.images["diagram.png"], fast=False).pdq, "chart-27"),
        ])


def csv_list(rows: list[tuple[str, str | None, str]]) -> str:
    assert all(value for _, value, _ in rows)
    return "hash_type,hash,label\n" + "".join(f"{t},{v},{label}\n" for t, v, label in rows)


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    s.server.start()
    yield s
    s.server.stop()


class Trawl:
    def __init__(self, db_url: str, tmp: Path) -> None:
        self.db_url, self.tmp = db_url, tmp

    def __call__(self, *args: str, actor: str | None = None, env: dict[str, str] | None = None
                 ) -> Any:
        base = ["--db", self.db_url] + (["--as", actor] if actor else [])
        out = CliRunner().invoke(cli, [*base, *args], env={"TRAWL_USER": "", **(env or {})})
        assert out.exit_code == 0, f"{args}: {out.output}"
        return out

    def json(self, *args: str, **kw: Any) -> Any:
        return json.loads(self(*args, **kw).stdout)

    def process(self, *args: str, env: dict[str, str] | None = None) -> Any:
        """Commands that run Scrapy get their own process (Twisted's reactor runs once)."""
        full_env = {**os.environ, "PYTHONPATH": str(REPO), "TRAWL_USER": "",
                    "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "", **(env or {})}
        done = subprocess.run(
            [sys.executable, "-m", "crawler.cli.main", "--db", self.db_url, *args],
            cwd=self.tmp, env=full_env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
        return json.loads(done.stdout)

    def crawl(self, site: Site) -> Any:
        return self.process("crawl", site.server.base_url + "/", "--no-progress", "--depth",
                            "2", "--format", "json")

    def hits(self, *args: str) -> dict[str, Any]:
        rows = self.json("hits", "list", "--format", "json", *args)
        return {row["media_url"].rsplit("/", 1)[1]: row for row in rows}


def test_the_image_at_a_url_is_the_unit_everywhere(db_url: str, site: Site,
                                                    tmp_path: Path) -> None:
    trawl = Trawl(db_url, tmp_path)
    first = tmp_path / "first.csv"
    first.write_text(site.first_list())
    trawl("hashes", "import", str(first), "--list", "hotline", actor="lead")

    # 1. Crawl: one item per image; the exact copy carries its three matches.
    summary = trawl.crawl(site)
    assert summary["hits"] == 5
    queue = trawl.hits()  # the high tier, as the queue shows it
    assert sorted(queue) == ["exact.jpg", "gone.jpg", "mirror.jpg", "rot90.jpg"]
    assert sorted(trawl.hits("--tier", "low")) == ["diagram.png"]
    everything = trawl.hits("--tier", "all")
    assert len(everything) == summary["hits"]
    exact = everything["exact.jpg"]
    assert sorted(m["hash_type"] for m in exact["matches"]) == ["md5", "pdq", "sha256"]
    assert (exact["status"], exact["tier"], exact["distance"]) == ("pending", "high", 0)
    assert exact["hash_type"] in ("md5", "sha256")
    assert exact["page_count"] == 2
    assert {everything[n]["transform"] for n in ("rot90.jpg", "mirror.jpg")} <= {
        "rotate_90", "rotate_270", "flip_left_right"}
    assert everything["rot90.jpg"]["transform"] is not None
    assert everything["mirror.jpg"]["transform"] == "flip_left_right"
    diagram = everything["diagram.png"]
    assert (diagram["tier"], diagram["hash_type"]) == ("low", "phash")
    table = trawl("hits", "list").stdout
    assert table.splitlines()[0].split()[:5] == ["id", "status", "tier", "best_match",
                                                 "transform"]
    assert table.count("exact.jpg") == 1

    # 2. Two analysts never get the same image; one confirm decides all three matches.
    alice = trawl.json("review", "next", "--limit", "2", "--format", "json", actor="alice")
    bob = trawl.json("review", "next", "--limit", "10", "--format", "json", actor="bob")
    assert (len(alice), len(bob)) == (2, 2)
    assert not {i["id"] for i in alice} & {i["id"] for i in bob}
    assert all(item["matches"] for item in alice + bob)
    trawl("review", "confirm", *(str(i["id"]) for i in alice), actor="alice")
    trawl("review", "confirm", *(str(i["id"]) for i in bob), actor="bob")
    low = trawl.json("review", "next", "--tier", "low", "--format", "json", actor="alice")
    assert [i["id"] for i in low] == [diagram["id"]]
    trawl("review", "reject", str(diagram["id"]), "--note", "a different chart", actor="alice")
    statuses = {name: row["status"] for name, row in trawl.hits("--tier", "all").items()}
    assert statuses == {"exact.jpg": "confirmed", "rot90.jpg": "confirmed",
                        "mirror.jpg": "confirmed", "gone.jpg": "confirmed",
                        "diagram.png": "rejected"}

    # 3. Every notice format lists each image once.
    sent = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    at_send = {"TRAWL_NOW": sent.isoformat() + "Z"}
    urls = sorted(site.url(n) for n in ("exact.jpg", "rot90.jpg", "mirror.jpg", "gone.jpg"))
    for fmt in ("csv", "json", "text", "eml"):
        out = tmp_path / f"out-{fmt}"
        trawl("notices", "export", "--format", fmt, "--out", str(out), actor="tina",
              env=at_send)
        (path,) = out.iterdir()
        text = path.read_text()
        for url in urls:
            assert text.count(url) == 1 if fmt != "eml" else url in text, (fmt, url)
        if fmt == "csv":
            assert sorted(r["media_url"] for r in csv.DictReader(io.StringIO(text))) == urls
        if fmt == "json":
            (doc,) = json.loads(text)
            assert sorted(i["media_url"] for i in doc["items"]) == urls
        if fmt == "eml":
            body = email.message_from_string(text, policy=email.policy.default)
            assert body.get_body(("plain",)).get_content().count(site.url("exact.jpg")) == 1
    (notice,) = trawl.json("notices", "list", "--format", "json")
    assert notice["urls"] == 4
    trawl("notices", "mark-sent", notice["reference"], actor="tina", env=at_send)

    # 4. A later list: evidence for decided images, a new image, a rejected one re-opened.
    later = tmp_path / "later.csv"
    later.write_text(site.later_list())
    trawl("hashes", "import", str(later), "--list", "later", actor="lead")
    result = trawl.json("rematch", "--json")
    assert (result["new_hits"], result["reopened"]) == (1, 1)  # late.jpg: crawled, now known
    after = trawl.hits("--tier", "all")
    assert (after["exact.jpg"]["status"], len(after["exact.jpg"]["matches"])) == ("notified", 4)
    assert after["diagram.png"]["status"] == "pending"
    assert after["diagram.png"]["tier"] == "high"  # PDQ of the image itself, another list
    shown = trawl.json("hits", "show", str(diagram["id"]), "--format", "json")
    assert shown["history"][-1]["action"] == "reopen"
    assert "'later'" in shown["history"][-1]["detail"]

    # 5. The site deletes one image; a recheck 25 h later decides with the crawl's matcher.
    del site.server.routes["/img/gone.jpg"]
    later_env = {"TRAWL_NOW": (sent + timedelta(hours=25)).isoformat() + "Z"}
    checked = trawl.process("recheck", "--format", "json", "--allow-address", "127.0.0.1",
                            env=later_env)
    assert [r["hit_id"] for r in checked["removed"]] == [everything["gone.jpg"]["id"]]
    assert sorted(checked["live"]) == sorted(everything[n]["id"] for n in (
        "exact.jpg", "rot90.jpg", "mirror.jpg"))
    reasons = {h["hit_id"]: h for h in checked["removed"]}
    assert reasons  # the removal carries its time to removal
    rot = trawl.json("hits", "show", str(everything["rot90.jpg"]["id"]), "--format", "json")
    assert "still matches (pdq distance" in rot["history"][-1]["detail"]

    # 6. The next crawl finds the turned copies still there: nothing flaps; one removal.
    again = trawl.crawl(site)
    assert again["stats"].get("trawl/reopened_hits", 0) == 0
    final = trawl.hits("--tier", "all")
    assert {n: final[n]["status"] for n in ("rot90.jpg", "mirror.jpg", "gone.jpg")} == {
        "rot90.jpg": "live", "mirror.jpg": "live", "gone.jpg": "removed"}
    assert final["late.jpg"]["status"] == "pending"
    stats = trawl.json("stats", "--format", "json", env=later_env)
    assert stats["hits_by_status"]["removed"] == 1
    assert sum(stats["hits_by_status"].values()) == len(final)
    assert sum(p["removed"] for p in stats["providers"]) == 1
