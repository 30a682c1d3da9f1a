"""Benign images generated at run time, the one generator for tests, benchmarks and the demo.

Every function is a pure function of its arguments (numpy PCG64 + Pillow drawing, no disk,
no network): a seed names the same pixels on every run with the same library versions.

Kinds, each `kind(seed, size=<its default>) -> Image` (`KINDS`, `FLAT_KINDS`; `sample(kind,
seed, index)` gives image number `index` of a set in the kind's usual range of sizes):
`photo` (a photo-like landscape, ~130 KB as a 1024x768 JPEG at quality 85), `line_art`,
`diagram`, `chart`, `pie_chart`, `text_card`, `banner`, `screenshot`, `icon` (RGBA), and
`textured`, the test site's picture. Edits, each `edit(image, <choices>) -> Image` (`EDITS`,
`ORIENTATION_EDITS`, `VARIANT_EDITS`): `resize50`, `jpeg60`, `crop3`, `grayscale`,
`text_overlay`, `rotate90`, `mirror`, `grain`, `frame`, `letterbox`, `caption`, `crop_sides`.
Bytes: `encode` (with an optional `marker` the no-raw-content test looks
for), `photo_jpeg`, `encode_as_served`, `with_jpeg_comment`. Awkward and hostile bodies:
`animated`, `cmyk_jpeg`, `png_bomb`, `truncated`, `oversize_blob`, `SVG_DOCUMENT`,
`HTML_DOCUMENT`.

Made from three generators (crawler/sitegen/images.py, tests/imagegen.py,
bench/imagesets.py). Where two drew the same kind, the one more like the real thing stayed:
- photo: tests/imagegen.py's scene (sky, a ridge, textured ground with grass strokes, soft
  objects, sensor grain, vignette) has a photograph's structure, 1/f texture and JPEG size;
  bench/imagesets.py's (1/f colour clouds over two flat halves under hard blobs) looked like
  neither a photo nor a graphic, and the site's (sinusoid stripes) like no photo at all.
- chart: tests/imagegen.py's: its y axis is labelled 0-100 in order, where
  bench/imagesets.py labelled gridlines with random unordered numbers. The pie charts only
  bench/imagesets.py drew are kept as `pie_chart` (in the plotting palette it used).
- icon: tests/imagegen.py's, on a transparent background as icons on the web are (and as
  the crawler must handle), where bench/imagesets.py painted white corners.
- text: tests/imagegen.py's `text_card` (a block of prose) and bench/imagesets.py's
  `banner` (one to six large lines, light or dark, often centred) are different things on
  real pages, and hash differently (banners collide far more), so both are kept.
- line art: tests/imagegen.py's `line_art` (free strokes) and bench/imagesets.py's
  `diagram` (labelled boxes joined by arrows) likewise; `screenshot` (an app window) and
  `textured` each came from one generator only.
- edits: tests/imagegen.py's; `crop3` gained the choice of split that bench/imagesets.py
  drew at random, and the site's `cropped` (1.5% per side, rounded down) became `crop3`.
"""

from __future__ import annotations

from crawler.sitegen.images.base import Size
from crawler.sitegen.images.edits import (
    EDITS,
    ORIENTATION_EDITS,
    VARIANT_EDITS,
    Edit,
    caption,
    crop3,
    crop_sides,
    frame,
    grain,
    grayscale,
    jpeg60,
    letterbox,
    mirror,
    resize50,
    rotate90,
    text_overlay,
)
from crawler.sitegen.images.encode import (
    MARKER_KEY,
    encode,
    encode_as_served,
    photo_jpeg,
    with_jpeg_comment,
)
from crawler.sitegen.images.graphics import (
    banner,
    chart,
    diagram,
    icon,
    line_art,
    pie_chart,
    screenshot,
    text_card,
)
from crawler.sitegen.images.hostile import (
    HTML_DOCUMENT,
    SVG_DOCUMENT,
    animated,
    cmyk_jpeg,
    oversize_blob,
    png_bomb,
    truncated,
)
from crawler.sitegen.images.kinds import FLAT_KINDS, KINDS, SIZE_RANGES, Kind, sample
from crawler.sitegen.images.scenes import PHOTO_SIZE, photo, textured

__all__ = [
    "EDITS",
    "FLAT_KINDS",
    "HTML_DOCUMENT",
    "KINDS",
    "MARKER_KEY",
    "ORIENTATION_EDITS",
    "PHOTO_SIZE",
    "SIZE_RANGES",
    "SVG_DOCUMENT",
    "VARIANT_EDITS",
    "Edit",
    "Kind",
    "Size",
    "animated",
    "banner",
    "caption",
    "chart",
    "cmyk_jpeg",
    "crop3",
    "crop_sides",
    "diagram",
    "encode",
    "encode_as_served",
    "frame",
    "grain",
    "grayscale",
    "icon",
    "jpeg60",
    "letterbox",
    "line_art",
    "mirror",
    "oversize_blob",
    "photo",
    "photo_jpeg",
    "pie_chart",
    "png_bomb",
    "resize50",
    "rotate90",
    "sample",
    "screenshot",
    "text_card",
    "text_overlay",
    "textured",
    "truncated",
    "with_jpeg_comment",
]
