"""A large generated site for benchmarks: N pages, M images per page, ~130 KB JPEGs.

Only `pool_size` distinct pictures are generated; each image URL serves one of them with its
own JPEG comment, so every URL has distinct bytes (nothing is deduplicated by sha256) while
generation stays fast.

With `hosts` > 1 the pages are split into that many sites, each on its own loopback address
(127.0.0.1, 127.0.0.2, ...: one port each, all served by this process), with its own index,
lists, pages and images: a crawl seeded with every `start_urls` spans several hosts, as a
hotline's crawl does, so a per-host politeness limit does not bound it as it bounds one host.

For a benchmark's own use, every server answers `/_bench/served?since=T` with the
time.monotonic() times (a system-wide clock on Linux, comparable across processes) at which
images were served since T: a crawl's steady rate can be read off them without its start
and end. No page links there.
"""

from __future__ import annotations

import ipaddress
import json
import time
from functools import partial
from urllib.parse import parse_qs, urlsplit

from crawler.sitegen.images import encode, grain, textured, with_jpeg_comment
from crawler.sitegen.server import LoggedRequest, Reply, RouteServer

LINKS_PER_LIST = 100
NOISE_SIGMA = 5.0  # texture that brings a 1024x768 JPEG (quality 90) to ~130 KB


def pool_jpeg(seed: int, size: tuple[int, int] = (1024, 768)) -> bytes:
    image = grain(textured(10_000 + seed, size), seed, NOISE_SIGMA)
    return encode(image, "jpeg", quality=90)


class BenchSite:
    """index -> /list/K (100 page links each) -> /p/I (images /img/I-J.jpg), on each of
    `hosts` loopback addresses from `address` on (host k holds the k-th share of the pages;
    list numbers are per host, page and image numbers global)."""

    def __init__(self, pages: int, images_per_page: int, *, pool_size: int = 200,
                 address: str = "127.0.0.1", hosts: int = 1,
                 pool: list[bytes] | None = None) -> None:
        if hosts < 1 or hosts > pages:
            raise ValueError(f"hosts must be 1..pages ({pages}), not {hosts}")
        first = ipaddress.IPv4Address(address)
        if not first.is_loopback or not (first + hosts - 1).is_loopback:
            raise ValueError("the bench site serves on loopback addresses only")
        self.pages = pages
        self.images_per_page = images_per_page
        # `pool`: another site's pictures (generating them is most of a site's start)
        self.pool = pool or [pool_jpeg(i) for i in range(pool_size)]
        self.log: list[LoggedRequest] = []
        self.served: list[float] = []  # time.monotonic() of every image served
        self.servers: list[RouteServer] = []
        for k in range(hosts):
            lo, hi = pages * k // hosts, pages * (k + 1) // hosts
            server = RouteServer(str(first + k), self.log)
            server.prefix_routes = {
                "/list/": partial(self._list, lo, hi),
                "/p/": partial(self._page, lo, hi),
                "/img/": partial(self._image, lo, hi),
            }
            lists = (hi - lo + LINKS_PER_LIST - 1) // LINKS_PER_LIST
            index = _html("".join(f'<a href="/list/{m}">list {m}</a>\n' for m in range(lists)))
            server.routes["/"] = partial(_static, index)
            server.routes["/_bench/served"] = self._served
            self.servers.append(server)

    @property
    def server(self) -> RouteServer:
        """The first host's server (the only one of a one-host site)."""
        return self.servers[0]

    @property
    def start_url(self) -> str:
        return self.server.base_url + "/"

    @property
    def start_urls(self) -> list[str]:
        """One start URL per host: seed a crawl with all of them."""
        return [server.base_url + "/" for server in self.servers]

    @property
    def images(self) -> int:
        return self.pages * self.images_per_page

    def start(self) -> None:
        for server in self.servers:
            server.start()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def _list(self, lo: int, hi: int, path: str, headers: dict[str, str]) -> Reply | None:
        m = int(path.rsplit("/", 1)[1])
        first, last = lo + m * LINKS_PER_LIST, min(hi, lo + (m + 1) * LINKS_PER_LIST)
        return Reply(200, _html("".join(f'<a href="/p/{i}">page {i}</a>\n'
                                        for i in range(first, last))))

    def _page(self, lo: int, hi: int, path: str, headers: dict[str, str]) -> Reply | None:
        i = int(path.rsplit("/", 1)[1])
        if not lo <= i < hi:
            return None
        tags = "".join(f'<img src="/img/{i}-{j}.jpg">\n' for j in range(self.images_per_page))
        return Reply(200, _html(f"<h1>page {i}</h1>\n{tags}<a href=\"/\">home</a>"))

    def _image(self, lo: int, hi: int, path: str, headers: dict[str, str]) -> Reply | None:
        name = path.rsplit("/", 1)[1].removesuffix(".jpg")
        i, j = (int(part) for part in name.split("-"))
        if not lo <= i < hi:
            return None
        base = self.pool[(i * self.images_per_page + j) % len(self.pool)]
        self.served.append(time.monotonic())
        return Reply(200, with_jpeg_comment(base, name.encode()), "image/jpeg")

    def _served(self, path: str, headers: dict[str, str]) -> Reply:
        since = float(parse_qs(urlsplit(path).query).get("since", ["0"])[0])
        times = [round(t, 4) for t in list(self.served) if t >= since]
        return Reply(200, json.dumps(times).encode(), "application/json")


def _static(body: bytes, path: str, headers: dict[str, str]) -> Reply:
    return Reply(200, body)


def _html(body: str) -> bytes:
    return f"<!doctype html><html><body>\n{body}</body></html>".encode()
