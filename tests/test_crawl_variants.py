"""A crawl of a loopback site serving framed, captioned, letterboxed and cropped copies of
known images, and unrelated images with the same borders: the copies are found, each hit
naming its item and how it was found; the decoys are not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from crawler.cli.main import cli
from crawler.sitegen.images import caption, crop_sides, encode, frame, letterbox, photo
from crawler.sitegen.server import Reply, RouteServer

REPO = Path(__file__).resolve().parents[1]


class VariantSite:
    """One page of edited copies and decoys on 127.0.0.1; the originals a hotline holds."""

    def __init__(self) -> None:
        self.server = RouteServer("127.0.0.1", [])
        self.originals = {f"item-{n}.png": photo(n).convert("RGB") for n in (1, 2, 3, 4)}
        self.later = photo(5).convert("RGB")  # in a list imported after the crawl
        one, two, three, four = self.originals.values()
        self.copies = {  # name -> (label, how the hit says it was found)
            "framed.jpg": ("item-1.png", "trim"),
            "captioned.jpg": ("item-2.png", "uncaption-top"),
            "letterboxed.jpg": ("item-3.png", "trim"),
            "cropped.jpg": ("item-4.png", "crop-centre-90"),
        }
        images = {
            "framed.jpg": frame(one, 0.1, (245, 245, 245)),
            "captioned.jpg": caption(two, 0.15, "top", text="example.test reposted"),
            "letterboxed.jpg": letterbox(three),
            "cropped.jpg": crop_sides(four, 0.05),
            "later-captioned.jpg": caption(self.later, 0.12, "bottom", fill=(20, 20, 20),
                                           ink=(250, 250, 250)),
            # Unrelated pictures wrapped the same ways.
            "decoy-framed.jpg": frame(photo(11), 0.1, (245, 245, 245)),
            "decoy-captioned.jpg": caption(photo(12), 0.15, "top", text="example.test"),
            "decoy-letterboxed.jpg": letterbox(photo(13)),
            "decoy-black-frame.jpg": frame(photo(14), 0.06, (0, 0, 0)),
        }
        page = "".join(f'<img src="/img/{name}">' for name in images)
        html = f"<html><body>{page}</body></html>".encode()
        self.server.routes["/"] = lambda _p, _h: Reply(200, html)
        for name, image in images.items():
            data = encode(image, "jpeg", quality=85)
            self.server.routes[f"/img/{name}"] = (
                lambda _p, _h, data=data: Reply(200, data, "image/jpeg"))

    def url(self, name: str) -> str:
        return f"{self.server.base_url}/img/{name}"


@pytest.fixture
def site() -> Iterator[VariantSite]:
    started = VariantSite()
    started.server.start()
    yield started
    started.server.stop()


def trawl(db_url: str, *args: str) -> str:
    out = CliRunner().invoke(cli, ["--db", db_url, "--as", "alice", *args],
                             catch_exceptions=False)
    assert out.exit_code == 0, out.output
    return out.output


@pytest.mark.slow
def test_crawl_finds_edited_copies_and_not_decoys(
    db_url: str, site: VariantSite, tmp_path: Path
) -> None:
    held = tmp_path / "held"
    held.mkdir()
    for name, image in site.originals.items():
        (held / name).write_bytes(encode(image, "png"))
    made = CliRunner().invoke(cli, ["hash", "--format", "csv", "--variants", "crops", str(held)],
                              catch_exceptions=False)
    assert made.exit_code == 0
    (tmp_path / "held.csv").write_text(made.output, encoding="utf-8")
    trawl(db_url, "hashes", "import", str(tmp_path / "held.csv"), "--list", "held")

    env = {**os.environ, "PYTHONPATH": str(REPO), "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": ""}
    done = subprocess.run(
        [sys.executable, "-m", "crawler.cli.main", "--db", db_url, "crawl",
         site.server.base_url + "/", "--no-progress", "--format", "json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["images"] == 9

    hits = json.loads(trawl(db_url, "hits", "list", "--tier", "all", "--format", "json"))
    found = {row["media_url"]: row for row in hits}
    assert set(found) == {site.url(name) for name in site.copies}
    for name, (label, how) in site.copies.items():
        row = found[site.url(name)]
        assert row["label"] == label, name
        assert row["tier"] == "high", name
        best = row["matches"][0]
        assert how in (best["transform"], best["known_variant"]), (name, best)
    # The evidence of the cropped copy names the stored crop it matched.
    detail = trawl(db_url, "hits", "show", str(found[site.url("cropped.jpg")]["id"]))
    assert "item-4.png (crop-centre-90)" in detail

    # A list imported after the crawl: the rematch finds the captioned copy from the stored
    # variant hashes, without fetching the image again.
    (held / "later").mkdir()
    (held / "later" / "item-5.png").write_bytes(encode(site.later, "png"))
    later = CliRunner().invoke(cli, ["hash", "--format", "csv", str(held / "later")],
                               catch_exceptions=False)
    (tmp_path / "later.csv").write_text(later.output, encoding="utf-8")
    trawl(db_url, "hashes", "import", str(tmp_path / "later.csv"), "--list", "later")
    trawl(db_url, "rematch")
    hits = json.loads(trawl(db_url, "hits", "list", "--tier", "all", "--format", "json"))
    found = {row["media_url"]: row for row in hits}
    assert set(found) == {site.url(name) for name in [*site.copies, "later-captioned.jpg"]}
    late = found[site.url("later-captioned.jpg")]
    assert (late["label"], late["transform"], late["tier"]) == (
        "item-5.png", "uncaption-bottom", "high")
