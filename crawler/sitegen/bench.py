"""A large generated site for benchmarks: N pages, M images per page, ~130 KB JPEGs.

Only `pool_size` distinct pictures are generated; each image URL serves one of them with its
own JPEG comment, so every URL has distinct bytes (nothing is deduplicated by sha256) while
generation stays fast.
"""

from __future__ import annotations

from crawler.sitegen.images import encode, grain, textured, with_jpeg_comment
from crawler.sitegen.server import LoggedRequest, Reply, RouteServer

LINKS_PER_LIST = 100
NOISE_SIGMA = 5.0  # texture that brings a 1024x768 JPEG (quality 90) to ~130 KB


def pool_jpeg(seed: int, size: tuple[int, int] = (1024, 768)) -> bytes:
    image = grain(textured(10_000 + seed, size), seed, NOISE_SIGMA)
    return encode(image, "jpeg", quality=90)


class BenchSite:
    """index -> /list/K (100 page links each) -> /p/I (images /img/I-J.jpg)."""

    def __init__(self, pages: int, images_per_page: int, *, pool_size: int = 200,
                 address: str = "127.0.0.1") -> None:
        self.pages = pages
        self.images_per_page = images_per_page
        self.pool = [pool_jpeg(i) for i in range(pool_size)]
        self.log: list[LoggedRequest] = []
        self.server = RouteServer(address, self.log)
        self.server.prefix_routes = {"/list/": self._list, "/p/": self._page, "/img/": self._image}
        lists = (pages + LINKS_PER_LIST - 1) // LINKS_PER_LIST
        index = "".join(f'<a href="/list/{k}">list {k}</a>\n' for k in range(lists))
        self.server.routes["/"] = lambda path, headers: Reply(200, _html(index))

    @property
    def start_url(self) -> str:
        return self.server.base_url + "/"

    @property
    def images(self) -> int:
        return self.pages * self.images_per_page

    def _list(self, path: str, headers: dict[str, str]) -> Reply | None:
        k = int(path.rsplit("/", 1)[1])
        first, last = k * LINKS_PER_LIST, min(self.pages, (k + 1) * LINKS_PER_LIST)
        return Reply(200, _html("".join(f'<a href="/p/{i}">page {i}</a>\n'
                                        for i in range(first, last))))

    def _page(self, path: str, headers: dict[str, str]) -> Reply | None:
        i = int(path.rsplit("/", 1)[1])
        if not 0 <= i < self.pages:
            return None
        tags = "".join(f'<img src="/img/{i}-{j}.jpg">\n' for j in range(self.images_per_page))
        return Reply(200, _html(f"<h1>page {i}</h1>\n{tags}<a href=\"/\">home</a>"))

    def _image(self, path: str, headers: dict[str, str]) -> Reply | None:
        name = path.rsplit("/", 1)[1].removesuffix(".jpg")
        i, j = (int(part) for part in name.split("-"))
        base = self.pool[(i * self.images_per_page + j) % len(self.pool)]
        return Reply(200, with_jpeg_comment(base, name.encode()), "image/jpeg")


def _html(body: str) -> bytes:
    return f"<!doctype html><html><body>\n{body}</body></html>".encode()
