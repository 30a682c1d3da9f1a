"""The pages of the synthetic site and what a correct crawl (default depth 3) finds on them.

index (depth 0) -> gallery/1, gallery/2, session (3 session-id spellings), calendar?month=0
(a trap), flaky (500 then 200), go-away (redirects off scope), private/ (robots.txt), an
off-scope CDN page, view/photo?id=3 (a PNG served as text/html), deep/1 -> deep/4 (too deep).

Decision shown by view/photo: whatever a response's Content-Type says, a body that starts with
an image format's magic bytes is hashed, also when it was reached as a page (viewer URLs
without an extension are common); an image URL serving HTML is recorded as unsupported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PIL import Image

from crawler.sitegen import images as gen
from crawler.sitegen.server import Reply, Route, static
from crawler.sitegen.site import ExpectedImage

if TYPE_CHECKING:
    from crawler.sitegen.site import SyntheticSite

# What the default crawl of the site (depth 3, robots obeyed) must count.
# pages: index, gallery x2, session, calendar months -2..2, flaky, view/photo, deep/1..3.
EXPECTED_PAGES = 14
EXPECTED_DROPS = {
    "trawl/drop/robots": 1,  # private/secret.html
    "trawl/drop/redirect_off_scope": 1,  # go-away -> CDN page
    "trawl/drop/off_scope": 1,  # the link to the CDN's offsite page
    "trawl/drop/depth": 3,  # deep/4, calendar month=3 and month=-3
    "trawl/drop/data_uri": 1,
}


def build_layout(
    site: SyntheticSite, known: list[Image.Image], unrelated: list[Image.Image]
) -> None:
    m, c = site.main, site.cdn

    def mark(name: str) -> bytes:
        return site.marker + b"-" + name.encode()

    def jpeg(image: Image.Image, name: str, quality: int = 90) -> bytes:
        return gen.encode(image, "jpeg", marker=mark(name), quality=quality)

    def png(image: Image.Image, name: str) -> bytes:
        return gen.encode(image, "png", marker=mark(name))

    k0 = site._known_bytes(0, jpeg(known[0], "k0"))
    k1 = site._known_bytes(1, png(known[1], "k1"))
    k2 = site._known_bytes(2, png(known[2], "k2"))
    k3 = site._known_bytes(3, png(known[3], "k3"))
    k4 = site._known_bytes(4, jpeg(known[4], "k4"))
    k5 = site._known_bytes(5, jpeg(known[5], "k5"))
    index, g1, g2 = m.base_url + "/", m.base_url + "/gallery/1", m.base_url + "/gallery/2"

    # gallery/1: the common ways of showing an image, each one a known image or an edit.
    img = site._image
    k0_url = img(c, "/img/k0.jpg", k0, "image/jpeg", page=g1, hit=True)
    k2_half = img(c, "/img/k2-half.jpg", jpeg(gen.resize50(known[2]), "k2h"), "image/jpeg",
                  page=g1, hit=True)
    u0 = img(c, "/img/u0.jpg", jpeg(unrelated[0], "u0"), "image/jpeg", page=g1)
    k3_q40 = img(c, "/img/k3-q40.jpg", jpeg(known[3], "k3q", 40), "image/jpeg", page=g1, hit=True)
    u1 = img(c, "/img/u1.png", png(unrelated[1], "u1"), "image/png", page=g1)
    img(m, "/files/k1.png", k1, "image/png", page=g1, hit=True)
    k4_crop = img(c, "/img/k4-crop.jpg", jpeg(gen.crop3(known[4]), "k4c"), "image/jpeg",
                  page=g1, hit=True)
    k5_gray = img(c, "/img/k5-gray.png", png(gen.grayscale(known[5]), "k5g"), "image/png",
                  page=g1, hit=True)
    gif = gen.encode(unrelated[2].convert("P"), "gif", marker=mark("u2"))
    img(m, "/img/u2.gif", gif, "image/gif", page=g1)
    site._page(m, "/gallery/1", f"""
      <meta property="og:image" content="{k4_crop}">
      <img src="{k0_url}" alt="plain src">
      <img srcset="{k2_half} 1x, {u0} 2x" alt="srcset only">
      <picture><source srcset="{k3_q40}" type="image/jpeg"><img src="{u1}"></picture>
      <a href="/files/k1.png">full size</a>
      <img class="lazy" data-src="{k5_gray}">
      <div style="background-image: url('/img/u2.gif')">bg</div>
      <a href="/">home</a> <a href="/gallery/2#top">next</a>""")

    # gallery/2: lazy srcset, CSS background, identical bytes under a second URL, hostile files.
    u3 = img(c, "/img/u3.webp", gen.encode(unrelated[3], "webp", marker=mark("u3"), quality=80),
             "image/webp", page=g2)
    k1_webp = img(c, "/img/k1.webp", gen.encode(known[1], "webp", marker=mark("k1w"), quality=80),
                  "image/webp", page=g2, hit=True)
    img(m, "/img/k0-copy.jpg", k0, "image/jpeg", page=g2, hit=True)
    # A re-upload turned on its side: found only by PDQ's dihedral search.
    k0_turned = img(c, "/img/k0-turned.jpg",
                    jpeg(gen.rotate90(known[0]), "k0t"), "image/jpeg",
                    page=g2, hit=True)
    img(m, "/img/broken.jpg", gen.truncated(jpeg(unrelated[4], "u4")), "image/jpeg", page=g2,
        status="undecodable")
    big = gen.oversize_blob(site.max_image_size + 200_000, marker=mark("huge"))
    huge = site._serve(m, "/img/huge.jpg", big, "image/jpeg")
    site.expected[huge] = _failed("too_large", g2)
    bomb = gen.png_bomb(30_000, 30_000, forged=False, marker=mark("bomb"))  # 900 Mpx in ~100 KB
    img(m, "/img/bomb.png", bomb, "image/png", page=g2, status="too_large")
    fake = b"<html><body>" + mark("fake") + b" not an image</body></html>"
    img(m, "/img/fake.png", fake, "image/png", page=g2, status="unsupported")
    site.expected[m.base_url + "/img/missing.jpg"] = _failed("http_404", g2)
    gone = f"http://127.0.0.1:{site.closed_port()}/img/gone.jpg"
    site.expected[gone] = _failed("error", g2)
    site._also_on(k0_url, g2)
    site._page(m, "/gallery/2", f"""
      <img data-srcset="{u3} 1x">
      <span style="background-image:url({k1_webp})"></span>
      <img src="/img/k0-copy.jpg"><img src="{k0_url}"><img src="{k0_turned}">
      <img src="/img/broken.jpg"><img src="/img/huge.jpg"><img src="/img/bomb.png">
      <img src="/img/fake.png"><img src="/img/missing.jpg"><img src="{gone}">
      <img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
      <a href="mailto:abuse@example.invalid">mail</a> <a href="javascript:void(0)">js</a>
      <a href="ftp://127.0.0.1/file">ftp</a> <a href="/gallery/1">back</a>""")

    # index, traps and the rest.
    u5 = img(m, "/img/u5.png", png(unrelated[5], "u5"), "image/png", page=index)
    for month in range(-2, 3):
        site._also_on(u5, f"{m.base_url}/calendar?month={month}")
    u6 = img(m, "/img/u6.jpg", jpeg(unrelated[6], "u6"), "image/jpeg",
             page=m.base_url + "/session")
    u7 = img(m, "/img/u7.jpg", jpeg(unrelated[7], "u7"), "image/jpeg",
             page=m.base_url + "/deep/3")
    k4_url = img(c, "/img/k4.jpg", k4, "image/jpeg", page=m.base_url + "/flaky", hit=True)
    photo = m.base_url + "/view/photo?id=3"
    m.routes["/view/photo"] = static(k3, "text/html; charset=utf-8")  # a PNG as a page
    site.expected[photo] = _ok_hit(index)
    offsite = c.base_url + "/offsite/page.html"
    k5_off = site._serve(c, "/img/k5.jpg", k5, "image/jpeg")
    k2_private = site._serve(c, "/img/k2.png", k2, "image/png")
    for path in ("/offsite/page.html", "/offsite/landing.html"):
        site._page(c, path, f'<img src="{k5_off}"><a href="{index}">back</a>')
    site._page(m, "/private/secret.html", f'<img src="{k2_private}">')
    k5_deep = site._serve(m, "/img/k5-deep.jpg", k5, "image/jpeg")
    site.never_fetched |= {offsite, c.base_url + "/offsite/landing.html", k5_off, k2_private,
                           m.base_url + "/private/secret.html", m.base_url + "/deep/4", k5_deep}
    site._page(m, "/", f"""
      <img src="{u5}"> <a href="/gallery/1">g1</a> <a href="/gallery/1#top">g1 again</a>
      <a href="/gallery/2">g2</a> <a href="/calendar?month=0">calendar</a>
      <a href="/session?PHPSESSID=aaaa1111">s1</a> <a href="/session?sid=bbbb2222">s2</a>
      <a href="/session;jsessionid=CCCC3333">s3</a> <a href="/flaky">flaky</a>
      <a href="/go-away">moved</a> <a href="/private/secret.html">private</a>
      <a href="{offsite}">elsewhere</a> <a href="/view/photo?id=3">photo</a>
      <a href="/deep/1">deep</a>""")
    site._page(m, "/session", f'<img src="{u6}"><a href="/?PHPSESSID=dddd4444">home</a>')
    m.routes["/flaky"] = site.flaky_route(f'<html><img src="{k4_url}"></html>'.encode())
    m.routes["/go-away"] = lambda path, headers: Reply(302, b"", headers={"Location": offsite})
    m.routes["/calendar"] = _calendar(u5)
    for depth in range(1, 5):
        shown = {3: f'<img src="{u7}">', 4: f'<img src="{k5_deep}">'}.get(depth, "")
        site._page(m, f"/deep/{depth}", f'{shown}<a href="/deep/{depth + 1}">deeper</a>')
    m.routes["/robots.txt"] = static(b"User-agent: *\nDisallow: /private/\n", "text/plain")
    c.routes["/robots.txt"] = static(b"User-agent: *\nAllow: /\n", "text/plain")


def _calendar(image_url: str) -> Route:
    """?month=N links to N+1 and N-1 forever: only depth, traps or page limits end it."""

    def route(path: str, headers: dict[str, str]) -> Reply:
        try:
            month = int(path.rsplit("month=", 1)[1])
        except (IndexError, ValueError):
            month = 0
        body = (f'<img src="{image_url}"><a href="/calendar?month={month + 1}">next</a>'
                f'<a href="/calendar?month={month - 1}">previous</a>')
        return Reply(200, body.encode())

    return route


def _failed(status: str, page: str) -> ExpectedImage:
    return ExpectedImage(status, hit=False, has_digests=False, pages={page})


def _ok_hit(page: str) -> ExpectedImage:
    return ExpectedImage("ok", hit=True, has_digests=True, pages={page})
