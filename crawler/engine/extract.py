"""Find page links and image URLs in an HTML page (every common way a page shows an image)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from parsel import Selector

# a[href] pointing at one of these is an image reference, not a page to walk.
IMAGE_EXTENSIONS = (
    ".jpg",
    ".jpeg",
    ".jpe",
    ".jfif",
    ".png",
    ".gif",
    ".webp",
    ".bmp",
    ".tif",
    ".tiff",
    ".avif",
    ".heic",
    ".heif",
    ".ico",
)
# Lazy-loading libraries keep the real URL in one of these until the image scrolls into view.
LAZY_SRC_ATTRS = ("data-src", "data-original", "data-lazy-src", "data-lazy", "data-url")
LAZY_SRCSET_ATTRS = ("data-srcset", "data-lazy-srcset")
OG_IMAGE_PROPERTIES = ("og:image", "og:image:url", "og:image:secure_url", "twitter:image")
MAX_LINKS_PER_PAGE = 5000
MAX_IMAGES_PER_PAGE = 5000

_CSS_URL_RE = re.compile(r"""url\(\s*(['"]?)([^'")]*?)\1\s*\)""", re.IGNORECASE)
_SKIP_SCHEMES = ("javascript:", "mailto:", "tel:", "about:", "blob:", "#")


@dataclass(slots=True)
class PageRefs:
    """What one page points at, as absolute URLs in document order, without duplicates."""

    links: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    data_uris: int = 0  # inline data: images (skipped: their URL is the image itself)
    dropped_links: int = 0  # over MAX_LINKS_PER_PAGE
    dropped_images: int = 0  # over MAX_IMAGES_PER_PAGE


def parse_srcset(value: str) -> list[str]:
    """The URLs of a srcset attribute ("a.jpg 1x, b.jpg 2x"), per the HTML parsing rules:
    a URL is a run of non-space characters; trailing commas end it; descriptors follow."""
    urls: list[str] = []
    pos, end = 0, len(value)
    while pos < end:
        while pos < end and (value[pos].isspace() or value[pos] == ","):
            pos += 1
        start = pos
        while pos < end and not value[pos].isspace():
            pos += 1
        url = value[start:pos]
        if url.endswith(","):
            url = url.rstrip(",")
        else:
            depth = 0  # skip descriptors up to the next comma outside parentheses
            while pos < end and (value[pos] != "," or depth > 0):
                depth += {"(": 1, ")": -1}.get(value[pos], 0)
                pos += 1
        if url:
            urls.append(url)
    return urls


def css_urls(style: str) -> list[str]:
    """URLs in url(...) of an inline style or a <style> block."""
    return [m.group(2).strip() for m in _CSS_URL_RE.finditer(style) if m.group(2).strip()]


def is_image_path(url: str) -> bool:
    return urlsplit(url).path.lower().endswith(IMAGE_EXTENSIONS)


class _Collector:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.refs = PageRefs()
        self._seen_links: set[str] = set()
        self._seen_images: set[str] = set()

    def _absolute(self, raw: str) -> str | None:
        raw = raw.strip()
        if not raw or raw.lower().startswith(_SKIP_SCHEMES):
            return None
        if raw[:5].lower() == "data:":
            self.refs.data_uris += 1
            return None
        try:
            url = urljoin(self.base_url, raw)
        except ValueError:  # e.g. an invalid IPv6 literal
            return None
        return url if url[:4].lower() == "http" else None

    def image(self, raw: str) -> None:
        url = self._absolute(raw)
        if url is None or url in self._seen_images:
            return
        if len(self.refs.images) >= MAX_IMAGES_PER_PAGE:
            self.refs.dropped_images += 1
            return
        self._seen_images.add(url)
        self.refs.images.append(url)

    def link(self, raw: str) -> None:
        url = self._absolute(raw)
        if url is None:
            return
        if is_image_path(url):
            self.image(url)
            return
        url = url.split("#", 1)[0]
        if url in self._seen_links:
            return
        if len(self.refs.links) >= MAX_LINKS_PER_PAGE:
            self.refs.dropped_links += 1
            return
        self._seen_links.add(url)
        self.refs.links.append(url)


def _image_urls(selector: Selector) -> Iterator[str]:
    """Raw image references in the order a reader meets their kinds (see extract_refs)."""
    for img in selector.xpath("//img|//input[@type='image']"):
        yield from _attrs(img, ("src", *LAZY_SRC_ATTRS))
        yield from _srcsets(img)
    # lxml's HTML parser does not know <source> is void, so later siblings nest inside it.
    for source in selector.xpath("//source"):
        yield from _srcsets(source)
    yield from selector.xpath("//picture//source/@src").getall()  # elsewhere: audio/video
    yield from selector.xpath("//video/@poster").getall()
    for meta in selector.xpath("//meta[@content]"):
        key = (meta.attrib.get("property") or meta.attrib.get("name") or "").strip().lower()
        if key in OG_IMAGE_PROPERTIES:
            yield meta.attrib["content"]
    yield from selector.xpath("//link[@rel='image_src']/@href").getall()
    for style in selector.xpath("//*[@style]/@style").getall():
        yield from css_urls(style)
    for block in selector.xpath("//style/text()").getall():
        yield from (url for url in css_urls(block) if is_image_path(url))


def _attrs(element: Selector, names: tuple[str, ...]) -> Iterator[str]:
    for name in names:
        value = element.attrib.get(name)
        if value:
            yield value


def _srcsets(element: Selector) -> Iterator[str]:
    for value in _attrs(element, ("srcset", *LAZY_SRCSET_ATTRS)):
        yield from parse_srcset(value)


def extract_refs(selector: Selector, base_url: str) -> PageRefs:
    """Links to walk and image URLs to fetch from a parsed page.

    Images: img src/srcset and lazy-load attributes, picture source srcset, input[type=image],
    video poster, a/area href to image files, og:image and twitter:image meta, link
    rel=image_src, inline style and <style> url(...). Links: a/area href (non-image) and
    frame/iframe src. Never raises on odd markup; hostile attribute values are skipped.
    """
    base = selector.xpath("//base/@href").get()
    collector = _Collector(urljoin(base_url, base.strip()) if base else base_url)
    for raw in _image_urls(selector):
        collector.image(raw)
    for xpath in ("//a/@href|//area/@href", "//frame/@src|//iframe/@src"):
        for href in selector.xpath(xpath).getall():
            collector.link(href)
    return collector.refs
