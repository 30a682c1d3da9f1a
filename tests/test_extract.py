"""Link and image extraction: every way a page shows an image, and hostile markup."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from parsel import Selector

from crawler.engine import extract
from crawler.engine.extract import css_urls, extract_refs, parse_srcset

BASE = "http://site.test/dir/page.html"
MARKUP_CHARS = "<>/=\"' abcimgsrcsetahrefstyleurl(),.:#\x00"


def refs_of(html: str, base: str = BASE) -> extract.PageRefs:
    return extract_refs(Selector(text=html), base)


def test_every_image_form_is_found_in_document_order() -> None:
    html = """<html><head>
      <meta property="og:image" content="/og.jpg">
      <meta name="twitter:image" content="https://cdn.test/tw.png">
      <link rel="image_src" href="/linkrel.gif">
      <style>.hero { background: url("/from-style-block.webp") }
             .x { background: url(/font.woff) }</style>
    </head><body>
      <img src="a.jpg" srcset="b.jpg 1x, c.jpg 2x">
      <img class="lazy" data-src="lazy.jpg" data-srcset="lazy-1.jpg 480w, lazy-2.jpg 800w">
      <img data-original="orig.jpg" data-lazy-src="lazysrc.jpg">
      <picture><source srcset="pic.avif" type="image/avif"><source data-srcset="pic-lazy.webp">
        <img src="pic.jpg"></picture>
      <input type="image" src="button.png">
      <video poster="poster.jpg"><source src="movie.mp4"></video>
      <div style="background-image: url('bg.png')"></div>
      <span style='background:url(bg2.jpg) no-repeat'></span>
      <a href="full.JPEG">full size</a> <a href="/page2">next</a>
    </body></html>"""
    refs = refs_of(html)
    d = "http://site.test/dir/"
    assert refs.images == [
        d + "a.jpg", d + "b.jpg", d + "c.jpg",
        d + "lazy.jpg", d + "lazy-1.jpg", d + "lazy-2.jpg",
        d + "orig.jpg", d + "lazysrc.jpg",
        d + "pic.jpg", d + "button.png",
        "http://site.test/dir/pic.avif", d + "pic-lazy.webp",
        d + "poster.jpg",
        "http://site.test/og.jpg", "https://cdn.test/tw.png",
        "http://site.test/linkrel.gif",
        d + "bg.png", d + "bg2.jpg",
        "http://site.test/from-style-block.webp",
        d + "full.JPEG",
    ]
    assert refs.links == ["http://site.test/page2"]


def test_links_resolve_against_base_and_skip_non_http() -> None:
    html = """<base href="http://other.test/root/">
      <a href="x">x</a> <a href="#top">top</a> <a href="x#frag">x again</a>
      <a href="mailto:a@b.test">m</a> <a href="javascript:alert(1)">j</a> <a href="tel:1">t</a>
      <a href="ftp://site.test/f">ftp</a> <a href="">empty</a> <a href="http://[::1">bad v6</a>
      <iframe src="/frame"></iframe> <area href="/map">
      <img src="data:image/png;base64,iVBORw0KGgo="> <img src="  /spaced.png  ">"""
    refs = refs_of(html)
    assert refs.links == [
        "http://other.test/root/x",
        "http://other.test/map",
        "http://other.test/frame",
    ]
    assert refs.images == ["http://other.test/spaced.png"]
    assert refs.data_uris == 1


def test_duplicates_are_reported_once() -> None:
    refs = refs_of('<img src="/a.png"><img src="/a.png" srcset="/a.png 2x"><a href="/a.png">a</a>')
    assert refs.images == ["http://site.test/a.png"]


@pytest.mark.parametrize(
    ("value", "urls"),
    [
        ("a.jpg", ["a.jpg"]),
        ("a.jpg 1x, b.jpg 2x", ["a.jpg", "b.jpg"]),
        ("a.jpg 480w,b.jpg 800w", ["a.jpg", "b.jpg"]),
        (" a.jpg,b.jpg ", ["a.jpg,b.jpg"]),  # per the HTML spec: one URL (no space)
        ("a.jpg, b.jpg", ["a.jpg", "b.jpg"]),
        ("img/a,1.jpg 1x, img/b.jpg 2x", ["img/a,1.jpg", "img/b.jpg"]),
        ("a.jpg (weird, descriptor) 1x, b.jpg", ["a.jpg", "b.jpg"]),
        (",,, ,", []),
        ("", []),
    ],
)
def test_parse_srcset(value: str, urls: list[str]) -> None:
    assert parse_srcset(value) == urls


def test_css_urls() -> None:
    assert css_urls("background: url( 'a.png' ) , url(b.jpg), URL(\"c.gif\"), url()") == [
        "a.png", "b.jpg", "c.gif",
    ]


def test_limits_per_page_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(extract, "MAX_LINKS_PER_PAGE", 3)
    monkeypatch.setattr(extract, "MAX_IMAGES_PER_PAGE", 2)
    html = "".join(f'<a href="/p{i}">p</a><img src="/i{i}.png">' for i in range(5))
    refs = refs_of(html)
    assert (len(refs.links), refs.dropped_links) == (3, 2)
    assert (len(refs.images), refs.dropped_images) == (2, 3)


@pytest.mark.parametrize(
    "markup",
    [
        "",
        "\x00\x00\x00",
        "<<<<>>>><img src=<a href=>",
        "<html>" + "<div>" * 5000 + "<img src='/deep.png'>",
        '<img src="' + "A" * 200_000 + '.png">',
        "<a href='http://%zz%%/'>bad escape</a><img srcset=' 1x, , x'>",
        "<svg><image href='/svg.png'/></svg><img src='/x.png'",
    ],
)
def test_hostile_markup_never_raises(markup: str) -> None:
    refs = refs_of(markup)
    assert isinstance(refs.images, list)
    assert all(url.startswith("http") for url in refs.images + refs.links)


def test_hostile_bytes_from_a_response_never_raise() -> None:
    from scrapy.http import HtmlResponse

    body = b"\xff\xfe<\x00i\x00m\x00g\x00" + bytes(range(256)) * 50 + b"<img src='/ok.png'>"
    response = HtmlResponse(url=BASE, body=body)
    refs = extract_refs(response.selector, response.url)
    assert isinstance(refs.links, list)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(MARKUP_CHARS)), max_size=300))
def test_random_markup_never_raises(markup: str) -> None:
    refs = refs_of(markup)
    assert all(url.startswith("http") for url in refs.images + refs.links)
