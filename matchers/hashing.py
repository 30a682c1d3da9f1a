"""hash_image: bytes in, every digest Trawl keeps out (md5/sha1/sha256, pHash, dHash, PDQ)."""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from typing import Any, Literal

import numpy as np
from PIL import Image

from matchers.decode import (
    FAST_MIN_SIDE,
    Decoded,
    DecodeRefused,
    TruncatedImagesEnabledError,
    has_colour,
    open_and_decode,
)
from matchers.digests import Digests, VariantHashes
from matchers.perceptual import PerceptualHashes, exact_hashes, fast_hashes, reference_hashes
from matchers.sniff import SUPPORTED_LIST, describe_kind, sniff_format, sniff_kind
from matchers.variants import (
    CANON_FLAT,
    Region,
    find_regions,
    list_variant_hashes,
    variant_hashes,
)

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "FAST_MIN_SIDE",
    "hash_image",
    "hash_path",
    "limit_blas_threads",
    "sniff_format",
]

logger = logging.getLogger(__name__)

# How hash_image (fast=True) reached an image's perceptual hashes; see hash_path.
HashPath = Literal["reduced", "graphic", "near_ties", "full"]
# A draft is a graphic (decoded again in full) when at least this share of its pixels fall
# in its GRAPHIC_TONES most common of 32 grey levels. Measured on the drafts of the real
# bench set (bench/realimages.py): photographs 0.23-0.78, except scientific images on flat
# backgrounds (a moon, a deep-sky field, cells: 0.89-0.93); line art, charts, tables and text
# pages 0.83-0.99 (generated ones 0.96-0.99). It is flatness (matchers.confidence) without
# the 64x64 thumbnail, which blurs text into grey.
GRAPHIC_TONE_SHARE = 0.8
GRAPHIC_TONES = 4
# A draft is a graphic too when its single most common of 32 grey levels holds at least this
# share: a page's flat background. On a 4x draft a text page's glyphs blur into greys that
# spread over many levels (the 4 most common hold only 0.75-0.78 of a 1024x768 page), but
# its white still holds 0.66-0.68; photographs on the real bench set measure at most 0.53
# (a grey brick wall) outside the flat-background ones (moon, deep sky, cells: 0.50-0.74),
# which are graphics already. Hashed on the 4x draft, such a page drifted 14 PDQ bits from
# the reference.
GRAPHIC_BACKGROUND_SHARE = 0.6


def tone_shares(luma: Image.Image) -> tuple[float, float]:
    """Shares (0..1) of a greyscale image's pixels in its GRAPHIC_TONES most common grey
    levels (of 32) and in its most common one."""
    hist = luma.histogram()
    levels = sorted(sum(hist[i : i + 8]) for i in range(0, 256, 8))  # plain ints: no arrays
    total = max(1, sum(levels))
    return sum(levels[-GRAPHIC_TONES:]) / total, levels[-1] / total


def is_graphic(luma: Image.Image) -> bool:
    """Whether a draft shows a graphic (line art, chart, text page, flat background), which
    the fast path decodes again in full: see GRAPHIC_TONE_SHARE, GRAPHIC_BACKGROUND_SHARE."""
    tones, background = tone_shares(luma)
    return tones >= GRAPHIC_TONE_SHARE or background >= GRAPHIC_BACKGROUND_SHARE


# A graphic or a draft on near-ties is decoded again in full as its luma channel alone when
# its short side is at least GREY_MIN_SIDE and it has no colour at all (decode.has_colour:
# then the luma channel is exactly the luma of the decoded colours), and in colour (the
# exact path, bit-identical to the reference) otherwise: on 256-511 px line-art JPEGs the
# luma channel moved pHash by up to 4 bits and dHash by 3 from imagehash's luma of the
# decoded colours, and on coloured line art of 512 px and more pHash 4 and dHash 4-5.
GREY_MIN_SIDE = 512

# Variants (a framed or captioned picture's inner part) are hashed on at most a 2x draft:
# a 4x draft's crop is small enough that its PDQ drifts past 10 bits from the picture's own
# (a 1229 x 922 framed photo: 14 bits). Few images have variants; only those are decoded
# again at 2x when the first draft was deeper.
VARIANT_MAX_SCALE = 2
# A graphic's (flatness at least CANON_FLAT) regions get their pHash and dHash from its
# decode reduced (Image.reduce, integer box) to at most this long side: the LANCZOS
# thumbnails of full-size crops were most of what its variants cost. PDQ, the regions and
# the canonical hashes stay at full size (matchers.variants.variant_hashes says why).
# Recall and false hits in bench/bench_variants.py unchanged (bench/RESULTS.md).
GRAPHIC_VARIANT_SIDE = 512

# Images whose header claims more pixels are refused before decoding (status too_large).
# 50 MP covers phone and camera photos (8000 x 6000 is 48 MP) while bounding one decode to
# about 200 MB; Pillow's own bomb limits (89 MP warning, 179 MP error) sit above it.
DEFAULT_MAX_PIXELS = 50_000_000

# Environment variables that set the BLAS's thread count when it loads; a user who set one
# chose the threading, and hash_image leaves it alone.
BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
_blas_lock = threading.Lock()
_blas_checked = False
_blas_limited = False


def limit_blas_threads() -> bool:
    """Limit numpy's BLAS to one thread in this process, once; True if it was limited.

    Why: hash_image's matrix products are small (64 x a few thousand), and a multi-threaded
    BLAS spends more CPU waking and spinning its threads than it saves: measured, about twice
    the CPU per image on 2 cores (bench/RESULTS.md). The CLI and the hash workers set
    OPENBLAS_NUM_THREADS=1 before numpy loads; a program calling hash_image as a library gets
    the same through this, on its first call. It is process-wide (BLAS has one setting per
    process), so it is skipped when the user set any of BLAS_THREAD_VARIABLES: a program that
    wants a multi-threaded BLAS for its own work sets one of them.
    """
    global _blas_checked, _blas_limited
    with _blas_lock:
        if not _blas_checked:
            if not any(os.environ.get(name) for name in BLAS_THREAD_VARIABLES):
                from threadpoolctl import threadpool_limits

                threadpool_limits(limits=1, user_api="blas")
                _blas_limited = True
            _blas_checked = True
        return _blas_limited


def hash_image(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    fast: bool = True,
    variants: bool = True,
    crops: bool = False,
    sha256: bytes | None = None,
) -> Digests:
    """Every digest of one fetched body; the bytes are neither kept nor logged.

    `sha256`: the body's SHA-256 digest when the caller computed it already (a hash
    worker keys its cache by it), so it is not computed twice.

    Why it never raises for bad content: a crawl meets SVGs, HTML error pages, truncated
    downloads and hostile files every day, and each must become a record (status
    unsupported, undecodable or too_large, with a sentence in `error`), not a dead worker.

    The format comes from the magic bytes only; Pillow is limited to that one plugin, the
    claimed pixel count is checked against `max_pixels` before anything is decoded, and an
    animation is hashed on its first frame (`frames` counts them).

    fast=True (the default) hashes large JPEGs decoded at reduced scale (draft mode), never
    below FAST_MIN_SIDE (192) pixels on the short side at 2x (FAST_MIN_SIDE_4X, 192, at 4x;
    FAST_MIN_SIDE_DEEP, 384, at 8x), unless the reduced image cannot decide the bits:
    graphics (see is_graphic) and images whose hash values sit on near-ties are decoded in
    full. Every other image
    (other formats, small JPEGs) gets the reference hashes exactly, computed more cheaply.
    The reduced hashes stay within a few bits of the reference (bench/RESULTS.md has the
    measured distribution). fast=False runs imagehash.phash/dhash and pdqhash.compute on the
    full decode: the reference itself.

    variants=True (the default) also hashes the picture inside a frame, letterbox or caption
    band, when the image has one (matchers.variants; `Digests.variants`), from the same
    decode; most images have none, and cost four edge lines more. A graphic (flatness at
    least CANON_FLAT) also gets the canonical hashes of itself and of those pictures.
    crops=True (with fast=False, for making lists: `trawl hash --variants crops`) puts the
    reference hashes of matchers.variants.LIST_CROPS (and of the trimmed picture, if any),
    and a graphic's canonical hashes, there instead.

    BLAS is limited to one thread on the first call (see limit_blas_threads).
    """
    if crops and fast:
        raise ValueError("hash_image(crops=True) needs fast=False: list hashes are the reference")
    if not _blas_checked:
        limit_blas_threads()
    md5 = hashlib.md5(data).hexdigest()
    sha1 = hashlib.sha1(data).hexdigest()
    sha256_hex = (sha256 or hashlib.sha256(data).digest()).hex()

    def record(**fields: Any) -> Digests:  # the body's digests and `fields`
        return Digests(md5=md5, sha1=sha1, sha256=sha256_hex, size=len(data), **fields)

    fmt = sniff_format(data)
    if fmt is None:
        kind = sniff_kind(data)
        return record(status="unsupported", error=_unsupported(kind, len(data)), format=kind)
    try:
        decoded, hashes, _path = _decode_and_hash(data, fmt, max_pixels=max_pixels, fast=fast)
        inner: tuple[VariantHashes, ...] = ()
        if crops and decoded.rgb is not None:
            inner = list_variant_hashes(decoded.luma, decoded.rgb)
        elif variants:
            inner = _variant_hashes(data, fmt, decoded, max_pixels)
    except DecodeRefused as refused:
        return record(
            status=refused.status,
            error=refused.message,
            format=fmt,
            width=refused.width,
            height=refused.height,
        )
    except TruncatedImagesEnabledError:
        raise
    except Exception as exc:  # a hostile file must not kill the worker; say what failed
        logger.warning("Hashing a %s image failed with %s", fmt, type(exc).__name__)
        return record(
            status="undecodable",
            error=f"Hashing the {fmt.upper()} image failed with {type(exc).__name__}; only the "
            "byte digests were computed.",
            format=fmt,
        )
    return record(
        status="ok",
        format=fmt,
        width=decoded.width,
        height=decoded.height,
        frames=decoded.frames,
        frames_capped=decoded.frames_capped,
        phash=hashes.phash,
        dhash=hashes.dhash,
        pdq=hashes.pdq,
        pdq_quality=hashes.pdq_quality,
        flatness=decoded.flatness,
        pdq_dihedral=hashes.pdq_dihedral,
        variants=inner,
    )


def hash_path(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> HashPath | None:
    """Which way hash_image(data) takes to the perceptual hashes (None: it computes none).

    "reduced": hashed on the JPEG draft; "graphic" and "near_ties": the draft was decoded and
    then the full image, because it showed a graphic or hash values on near-ties;
    "full": decoded in full from the start (other formats, small JPEGs). For tests and the
    bench, which report the fast path's choices per class of image.
    """
    fmt = sniff_format(data)
    if fmt is None:
        return None
    try:
        return _decode_and_hash(data, fmt, max_pixels=max_pixels, fast=True)[2]
    except DecodeRefused:
        return None


def _decode_and_hash(
    data: bytes, fmt: str, *, max_pixels: int, fast: bool
) -> tuple[Decoded, PerceptualHashes, HashPath]:
    """Decode and hash, reduced where the reduced image can decide the bits.

    A draft is trusted only for images that are not graphics: on sharp-edged line art,
    charts and text the JPEG scaled IDCT moves dHash by up to 7 bits and PDQ by up to 8 from
    the reference (bench/RESULTS.md), so those, like drafts whose hash values sit on
    near-ties, are decoded again in full and get the exact hashes.
    """
    decoded = open_and_decode(data, fmt, max_pixels=max_pixels, fast=fast)
    path: HashPath = "full"
    if decoded.scale > 1:
        path = "graphic"
        if not is_graphic(decoded.luma):
            coarse = None if decoded.coarse is None else np.asarray(decoded.coarse)
            size = (decoded.width, decoded.height)
            pixels = np.asarray(decoded.luma) if decoded.pixels is None else decoded.pixels
            hashes = fast_hashes(pixels, size, decoded.scale, coarse)
            if hashes is not None:
                return decoded, hashes, "reduced"
            path = "near_ties"
        # The full image's luma channel, decoded alone, when the picture has no colour
        # (it is then the luma of the colour decode) and is at least GREY_MIN_SIDE: at a
        # third of the cost of the colour decode and exact path, which every other image
        # takes (bench/RESULTS.md).
        grey = min(decoded.width, decoded.height) >= GREY_MIN_SIDE and not has_colour(data)
        decoded = open_and_decode(data, fmt, max_pixels=max_pixels, fast=True, full=True, grey=grey)
    if fast:
        return decoded, exact_hashes(decoded.luma, rgb=decoded.rgb, lum=decoded.pdq_luma), path
    if decoded.rgb is None:
        raise AssertionError("a decode with fast=False always keeps its RGB pixels")
    return decoded, reference_hashes(decoded.luma, decoded.rgb), "full"


def _variant_hashes(
    data: bytes, fmt: str, decoded: Decoded, max_pixels: int
) -> tuple[VariantHashes, ...]:
    """variant_hashes of the decode, or of a 2x draft when `decoded` is deeper and has any
    (VARIANT_MAX_SCALE); a graphic's region thumbnails from a reduction (GRAPHIC_VARIANT_SIDE)."""
    flat = decoded.flatness
    regions: list[Region] | None = find_regions(decoded.luma, decoded.pixels)
    if not regions and (flat is None or flat < CANON_FLAT):
        return ()  # most photos: no region, and no canonical form (graphics only)
    if regions and decoded.scale > VARIANT_MAX_SCALE:
        decoded = open_and_decode(data, fmt, max_pixels=max_pixels, fast=True,
                                  max_scale=VARIANT_MAX_SCALE)
        regions = None  # found again on the finer decode
    luma = decoded.luma
    factor = -(-max(luma.size) // GRAPHIC_VARIANT_SIDE)
    graphic = flat is not None and flat >= CANON_FLAT
    reduced = (luma.reduce(factor), factor) if graphic and factor > 1 else None
    return variant_hashes(luma, decoded.scale, decoded.pdq_luma, regions, flat, reduced=reduced,
                          thumbnail=decoded.flat_thumbnail)


def _unsupported(kind: str | None, size: int) -> str:
    if size == 0:
        return "The body is empty (0 bytes), so there is no image to hash."
    if kind == "html":
        return (
            "The body is an HTML page, not an image (often an error or login page served at the "
            f"image's URL); only {SUPPORTED_LIST} images are hashed perceptually."
        )
    return (
        f"The body is {describe_kind(kind)}, which Trawl does not hash perceptually; only "
        f"{SUPPORTED_LIST} images are. Its byte digests were still computed."
    )
