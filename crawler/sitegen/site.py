"""The synthetic test site: every way a page shows an image, known images and edited copies,
unrelated images, hostile files and crawler traps, on 127.0.0.1 (pages) and 127.0.0.2 (CDN)."""

from __future__ import annotations

import csv
import hashlib
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from PIL import Image

from crawler.sitegen import images as gen
from crawler.sitegen.server import LAST_MODIFIED, LoggedRequest, Reply, RouteServer, static
from matchers.hashing import hash_image

PDQ_MATCH_THRESHOLD = 31  # matchers.hashtypes' default; edits must stay well inside it
EDIT_MARGIN = 8  # an edited known image is used only if its PDQ distance <= threshold - margin
UNRELATED_MIN_DISTANCE = 2 * PDQ_MATCH_THRESHOLD
UNRELATED_COUNT = 8
DEFAULT_MAX_IMAGE_SIZE = 1_000_000  # crawl the site with this cap: huge.jpg is over it
CSV_HEADER = ("hash_type", "hash", "label", "source", "category")


def _png(image: Image.Image) -> bytes:
    return gen.encode(image, "png", marker=b"-", compress_level=1)


# The edit each known image appears under on the site (layout.py), in known-image order;
# None: the original bytes only.
KNOWN_EDITS: tuple[Callable[[Image.Image], bytes] | None, ...] = (
    None,  # k0: exact copies
    lambda im: gen.encode(im, "webp", marker=b"-", quality=80),  # k1 as WebP
    lambda im: _png(gen.resize50(im)),  # k2 resized to half
    lambda im: gen.encode(im, "jpeg", marker=b"-", quality=40),  # k3 re-encoded
    lambda im: _png(gen.crop3(im)),  # k4 cropped 3%
    lambda im: _png(gen.grayscale(im)),  # k5 grayscale
)


def _pdq_distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


@lru_cache(maxsize=8)
def _pick_seeds(seed: int) -> tuple[list[int], list[int]]:
    """Image seeds for the known images whose site edit stays inside the PDQ threshold with a
    margin, and for unrelated images far from all of them. Generation is seeded, so a site
    seed always gives the same pictures; cached because every test site repeats it."""
    known: list[tuple[int, str]] = []
    candidate = seed * 1000
    for edit in KNOWN_EDITS:
        while True:
            candidate += 1
            image = gen.textured(candidate)
            base = hash_image(_png(image)).pdq
            if base is None:
                continue
            edited = hash_image(edit(image)).pdq if edit is not None else base
            if edited and _pdq_distance(base, edited) <= PDQ_MATCH_THRESHOLD - EDIT_MARGIN:
                known.append((candidate, base))
                break
    unrelated: list[int] = []
    while len(unrelated) < UNRELATED_COUNT:
        candidate += 1
        pdq = hash_image(_png(gen.textured(candidate))).pdq
        if pdq and all(_pdq_distance(pdq, b) >= UNRELATED_MIN_DISTANCE for _, b in known):
            unrelated.append(candidate)
    return [c for c, _ in known], unrelated


@dataclass
class ExpectedImage:
    """What the crawler must record for one image URL."""

    status: str  # fetch_status of its media row
    hit: bool
    has_digests: bool
    pages: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class KnownImage:
    label: str
    md5: str
    sha256: str
    pdq: str


class SyntheticSite:
    """Start with `with SyntheticSite() as site:`; crawl site.start_url with
    max image size site.max_image_size; compare with site.expected (URL -> ExpectedImage)."""

    def __init__(self, *, seed: int = 1, max_image_size: int = DEFAULT_MAX_IMAGE_SIZE) -> None:
        self.token = secrets.token_hex(8)
        self.marker = f"TRAWLMARK-{self.token}".encode()  # in every image; never on disk
        self.max_image_size = max_image_size
        self.log: list[LoggedRequest] = []
        self.main = RouteServer("127.0.0.1", self.log)
        self.cdn = RouteServer("127.0.0.2", self.log)
        self.expected: dict[str, ExpectedImage] = {}
        self.known: list[KnownImage] = []
        self.never_fetched: set[str] = set()  # URLs a correct crawl never requests
        self._flaky_failures = 1
        self._build(seed)

    # --- URLs and expectations --------------------------------------------------------
    @property
    def start_url(self) -> str:
        return self.main.base_url + "/"

    def url(self, path: str, *, cdn: bool = False) -> str:
        return (self.cdn if cdn else self.main).base_url + path

    @property
    def expected_hits(self) -> set[str]:
        return {url for url, e in self.expected.items() if e.hit}

    def requested(self, url: str) -> int:
        """How many times the servers were asked for this exact URL."""
        return sum(1 for r in self.log if r.url == url)

    def _serve(self, server: RouteServer, path: str, data: bytes, ctype: str) -> str:
        tag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        server.routes[path] = static(
            data,
            ctype,
            etag=tag if server is self.cdn else None,
            last_modified=LAST_MODIFIED if server is self.main else None,
        )
        return server.base_url + path

    def _image(
        self, server: RouteServer, path: str, data: bytes, ctype: str, *, page: str,
        status: str = "ok", hit: bool = False,
    ) -> str:
        url = self._serve(server, path, data, ctype)
        self.expected[url] = ExpectedImage(status, hit, has_digests=True, pages={page})
        return url

    def _page(self, server: RouteServer, path: str, body: str) -> str:
        server.routes[path] = static(f"<!doctype html><html><body>{body}</body></html>".encode(),
                                     "text/html; charset=utf-8")
        return server.base_url + path

    def _also_on(self, url: str, page: str) -> str:
        self.expected[url].pages.add(page)
        return url

    # --- images -----------------------------------------------------------------------
    def _pick_images(self, seed: int) -> tuple[list[Image.Image], list[Image.Image]]:
        known_seeds, unrelated_seeds = _pick_seeds(seed)
        return (
            [gen.textured(s) for s in known_seeds],
            [gen.textured(s) for s in unrelated_seeds],
        )

    def _known_bytes(self, index: int, data: bytes) -> bytes:
        digests = hash_image(data)
        assert digests.pdq is not None, "a known image must have a PDQ hash"
        self.known.append(KnownImage(f"synthetic-known-{index}", digests.md5, digests.sha256,
                                     digests.pdq))
        return data

    def known_rows(self) -> list[tuple[str, str, str, str, str]]:
        """The known-hash list (md5, sha256 and PDQ of each original), as CSV rows."""
        rows = []
        for k in self.known:
            for hash_type, value in (("md5", k.md5), ("sha256", k.sha256), ("pdq", k.pdq)):
                rows.append((hash_type, value, k.label, "sitegen", "synthetic-test"))
        return rows

    def write_known_list(self, path: Path) -> Path:
        """Write the known-hash list in Trawl CSV format (header hash_type,hash,label,...)."""
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_HEADER)
            writer.writerows(self.known_rows())
        return path

    def _build(self, seed: int) -> None:
        from crawler.sitegen.layout import build_layout

        known, unrelated = self._pick_images(seed)
        build_layout(self, known, unrelated)

    # --- routes with behaviour --------------------------------------------------------
    def flaky_route(self, body: bytes) -> Callable[[str, dict[str, str]], Reply]:
        def route(path: str, headers: dict[str, str]) -> Reply:
            if self._flaky_failures > 0:
                self._flaky_failures -= 1
                return Reply(500, b"try again")
            return Reply(200, body)

        return route

    @staticmethod
    def closed_port() -> int:
        """A loopback port nothing listens on (bound, then closed)."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        return port

    # --- lifecycle --------------------------------------------------------------------
    def start(self) -> SyntheticSite:
        self.main.start()
        self.cdn.start()
        return self

    def stop(self) -> None:
        self.main.stop()
        self.cdn.stop()

    def __enter__(self) -> SyntheticSite:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
