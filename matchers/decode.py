"""Decode untrusted image bytes: only the sniffed plugin, pixel count checked before decoding."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import GifImagePlugin, Image, ImageFile, TiffImagePlugin

from matchers.confidence import flatness, flatness_of_thumbnail, flatness_thumbnail
from matchers.digests import DigestStatus
from matchers.jpegtail import ends_early
from matchers.perceptual import PDQ_GRID, pdq_luma_of
from matchers.sniff import RASTER_FORMATS, describe_kind, header_size

# The fast path decodes JPEGs at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling, which averages
# 2x2, 4x4 or 8x8 blocks). It never goes below FAST_MIN_SIDE pixels on the short side, and
# reductions of 4x or more keep FAST_MIN_SIDE_DEEP: measured on line art, PDQ drifts up to 8
# bits from the reference at 2x down to ~300 px, but up to 10 bits at 4x down to ~270 px and
# 18-24 bits at 8x down to ~135 px (bench/RESULTS.md). Other formats are never reduced: their
# decoders have no reduced mode, so a reduction saves only the hashing after a full decode,
# and on real line art (PNG, GIF) it moved pHash by up to 12 bits and PDQ by up to 14. They,
# and JPEGs too small to reduce, get the reference hashes exactly.
# 2x went down from 256 to 192 px (JPEGs with short side 384-511 drafted too): photographs
# stay within the bounds there (PDQ <= 4, pHash and dHash <= 2 bits on the real bench set),
# and graphics and near-ties of that size are decoded again in colour, exactly
# (hashing.GREY_MIN_SIDE). 128 px was measured and rejected: a 256 x 256 gravel thumbnail's
# PDQ drifted 18 bits on its 2x draft.
FAST_MIN_SIDE = 192
FAST_MIN_SIDE_DEEP = 384
# 4x is allowed down to FAST_MIN_SIDE_4X: the limits above were measured on line art, which
# the fast path now decodes in full whatever the draft (a graphic: hashing.is_graphic), and
# on the real bench set's photographs 4x down to 192 px stays within the fidelity bounds
# (pHash/dHash p99 2, PDQ p99 6 in every size class) at a quarter of 2x's pixels to hash.
# 8x down to 192 px does not (PDQ 12, dHash 7 on a 3000 px JPEG graphic at 8x), so 8x
# keeps FAST_MIN_SIDE_DEEP.
FAST_MIN_SIDE_4X = 192
# pHash resizes to 32x32 with a filter tens of pixels wide, so on the fast path it (and
# flatness's 64x64 box thumbnail) is computed from a further 2x2 box reduction of the
# reduced luma whenever its short side stays at or above COARSE_MIN_SIDE: a quarter of the
# pixels for the same bits (bench/RESULTS.md, "Hashing"). dHash stays on the reduced luma.
COARSE_MIN_SIDE = 128
# Frames are counted for the record only (the first frame is hashed). Counting stops at this
# many; `frames_capped` then says the animation has more (count_frames).
MAX_COUNTED_FRAMES = 1_000


class TruncatedImagesEnabledError(RuntimeError):
    """Pillow's global LOAD_TRUNCATED_IMAGES was switched on: a programming error, not content."""


class DecodeRefused(Exception):
    """Why bytes were not hashed perceptually: a Digests status and a sentence for the user.

    The sentence names the format, the sizes and what happened - never any of the bytes.
    """

    def __init__(
        self,
        status: DigestStatus,
        message: str,
        *,
        width: int | None = None,
        height: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.width = width
        self.height = height


@dataclass(frozen=True, slots=True)
class Decoded:
    """The first frame of an image, as the hashes need it."""

    width: int  # of the full image, as its header claims
    height: int
    frames: int
    luma: Image.Image  # mode L, 1/scale of the full size (scale 1: exactly img.convert("L"))
    scale: int
    # Full-size H x W x 3, when scale == 1 and the hashes need it: always with fast=False
    # (the reference libraries take RGB), on the fast path only for images smaller than PDQ's
    # 64 x 64 grid (handed to pdqhash itself).
    rgb: npt.NDArray[np.uint8] | None
    flatness: float | None = None  # matchers.confidence.flatness of the first frame
    # luma reduced 2x2 once more (1/(2 * scale) of the full size), for pHash and flatness;
    # None when that would fall below COARSE_MIN_SIDE or scale == 1.
    coarse: Image.Image | None = None
    frames_capped: bool = False  # frames stopped at MAX_COUNTED_FRAMES; there are more
    # pdqhash's float luma of the full image (perceptual.pdq_luma_of), on the fast path at
    # scale 1 when rgb is not kept.
    pdq_luma: npt.NDArray[np.float32] | None = None
    # `luma` as an array, when scale > 1 (the fast path hashes it; one copy out of Pillow).
    pixels: npt.NDArray[np.uint8] | None = None
    # confidence.flatness_thumbnail(luma), when flatness was measured on `luma` itself (not
    # transparent, no coarse image): the canonical form's box thumbnail too.
    flat_thumbnail: Image.Image | None = None


def _min_side(scale: int) -> int:
    return {2: FAST_MIN_SIDE, 4: FAST_MIN_SIDE_4X}.get(scale, FAST_MIN_SIDE_DEEP)


def draft_scale(width: int, height: int, max_scale: int = 8) -> int:
    """The JPEG DCT scale (8, 4, 2 or 1, at most `max_scale`) the fast path decodes an image
    of this size at."""
    short = min(width, height)
    return next((s for s in (8, 4, 2) if s <= max_scale and short // s >= _min_side(s)), 1)


def count_frames(img: Image.Image, cap: int = MAX_COUNTED_FRAMES) -> tuple[int, bool]:
    """Frames in an animation (1 for a still), counted up to `cap`, and whether it stopped
    there; (1, False) when later frames are too broken to count.

    GIF and TIFF have no frame count in their header: Pillow's n_frames walks every frame,
    which costs seconds for a GIF of 800,000 tiny frames. Those two are walked here only up
    to the cap (GIF with Pillow's own no-decode step, as n_frames does); APNG, WebP and MPO
    declare their count, which is only capped.
    """
    try:
        if isinstance(img, GifImagePlugin.GifImageFile | TiffImagePlugin.TiffImageFile):
            frames = _walk_frames(img, cap + 1)
        else:
            frames = int(getattr(img, "n_frames", 1))
        img.seek(0)
    except Exception:
        return 1, False
    frames = max(1, frames)
    return min(frames, cap), frames > cap


def _walk_frames(img: Image.Image, limit: int) -> int:
    """Frames of a GIF or TIFF, stopping at `limit`; the image is left on a later frame."""
    frames = 1
    while frames < limit:
        try:
            if isinstance(img, GifImagePlugin.GifImageFile):
                img._seek(frames, False)  # reads the frame's header, decodes nothing
            else:
                img.seek(frames)  # TIFF: reads the next IFD only
        except EOFError:
            break
        frames += 1
    return frames


def _convert(img: Image.Image, mode: str) -> Image.Image:
    try:
        return img.convert(mode)
    except ValueError:
        # A few modes (LAB, La) have no direct conversion; go through RGB.
        return img.convert("RGB").convert(mode)


def _check_pixels(name: str, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise DecodeRefused(
            "too_large",
            f"The body is {name} of {width} x {height} = {width * height:,} pixels, over the "
            f"limit of {max_pixels:,} (max_pixels, TRAWL_MAX_PIXELS in a crawl); it was refused "
            "before decoding.",
            width=width,
            height=height,
        )


def _transparent(img: Image.Image) -> bool:
    """Whether some pixel of the (loaded) image is not fully opaque.

    matplotlib and many tools write RGBA PNGs whose alpha is 255 everywhere; compositing
    those onto white changes nothing and costs a full-size RGBA pass, so it is skipped.
    """
    if img.mode in ("RGBA", "LA", "PA"):
        low = img.getchannel("A").getextrema()[0]
        return isinstance(low, int | float) and low < 255
    return "transparency" in img.info


def open_and_decode(
    data: bytes,
    fmt: str,
    *,
    max_pixels: int,
    fast: bool,
    full: bool = False,
    grey: bool = False,
    max_scale: int = 8,
) -> Decoded:
    """Decode the first frame of `data` (already sniffed as `fmt`) for hashing.

    fast=True decodes large JPEGs at reduced scale unless `full`, and prepares PDQ's luma
    without an RGB copy where the mode allows; fast=False decodes in full and keeps RGB for
    the reference libraries. `grey` (with fast and full) decodes a JPEG's luma channel alone
    at full size: no colour conversion, and the hashes read it in place of the luma of the
    decoded colours, within a few bits of them (bench/RESULTS.md). `max_scale` caps the
    reduction (matchers.hashing hashes variants on at most a 2x draft). Raises DecodeRefused
    (too_large before any pixel is decoded; undecodable for broken data).
    """
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        # A truncated file must fail, never hash as a half-grey picture: someone switched
        # Pillow's global on, and every hash after that would be suspect.
        raise TruncatedImagesEnabledError(
            "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on; Trawl will not hash images with it, "
            "because truncated files would hash as partly grey pictures. Find the module that "
            "sets it and remove that line."
        )
    name = describe_kind(fmt)
    claimed = header_size(data, fmt)
    if claimed is not None:
        _check_pixels(name, *claimed, max_pixels)
    img = _open(data, fmt, name)
    with img:
        width, height = img.size
        if width <= 0 or height <= 0:
            raise DecodeRefused(
                "undecodable", f"The body is {name} whose header claims {width} x {height} pixels."
            )
        _check_pixels(name, width, height, max_pixels)
        frames, frames_capped = count_frames(img)
        scale, draft = (
            _draft(img, fast=fast, full=full, grey=grey, max_scale=max_scale)
            if fmt == "jpeg"
            else (1, None)
        )
        try:
            img.load()
            luma = _convert(img, "L")
            rgb, lum = None, None
            if scale == 1 and fast and min(width, height) >= PDQ_GRID:
                lum = pdq_luma_of(img, luma)
            elif scale == 1:
                rgb = np.asarray(_convert(img, "RGB"))
            pixels, coarse = _reduced_arrays(luma, scale)
            flat, thumb = _flatness(img, luma, coarse)
        except MemoryError:
            raise DecodeRefused(
                "too_large",
                f"Decoding {name} of {width} x {height} pixels ran out of memory.",
                width=width,
                height=height,
            ) from None
        except Exception as exc:
            problem = "is truncated" if "truncat" in str(exc).lower() else "is corrupt"
            raise DecodeRefused(
                "undecodable",
                f"The body is {name} of {width} x {height} pixels that {problem}: decoding "
                f"stopped with {type(exc).__name__}, so only the byte digests were computed.",
                width=width,
                height=height,
            ) from None
        jpeg = fmt == "jpeg" and img.mode in ("L", "RGB")
        if jpeg and _jpeg_ends_early(data, np.asarray(luma) if pixels is None else pixels,
                                     scale, draft):
            raise DecodeRefused(
                "undecodable",
                f"The body is {name} whose header claims {width} x {height} pixels, but its "
                "compressed data ends before the picture does (the decoder would fill the "
                "rest with grey), so only the byte digests were computed.",
                width=width,
                height=height,
            )
    return Decoded(width, height, frames, luma, scale, rgb, flat, coarse,
                   frames_capped=frames_capped, pdq_luma=lum, pixels=pixels,
                   flat_thumbnail=thumb)


def _flatness(
    img: Image.Image, luma: Image.Image, coarse: Image.Image | None
) -> tuple[float, Image.Image | None]:
    """The first frame's flatness, and its thumbnail when it is that of `luma` itself.

    Transparent pixels count as the white a page shows them on; otherwise the smallest luma
    decoded is enough (the measure is a 64x64 box-filtered thumbnail). The thumbnail of
    `luma` is kept (Decoded.flat_thumbnail): a graphic's canonical form is the same box
    thumbnail (matchers.variants.canonical_variant), one full-size pass less."""
    if _transparent(img):
        return flatness(img), None
    if coarse is not None:
        return flatness(coarse), None
    thumb = flatness_thumbnail(luma)
    return flatness_of_thumbnail(thumb), thumb


def has_colour(data: bytes) -> bool:
    """Whether a JPEG (already sniffed and decodable) shows any colour, judged on a cheap 1/8
    decode of its YCbCr planes as stored, without colour conversion: True unless every block
    of both chroma planes sits exactly on neutral (128).

    Why: the fast path decodes a large graphic again at full size as its luma channel alone
    (hashing.GREY_MIN_SIDE), which is exactly the luma of the decoded colours when the
    chroma is neutral everywhere (R = G = B = Y, and Pillow's L of a grey is that grey), but
    not on coloured lines and fills, where libjpeg's colour conversion and Pillow's luma
    round differently: there pHash moved up to 4 bits and dHash 4-5 from imagehash's
    (bench/RESULTS.md, hashfid9). Files that do not decode to YCbCr (grey, CMYK, Adobe RGB)
    or fail count as coloured: the caller then takes the exact colour decode.
    """
    try:
        with Image.open(io.BytesIO(data), formats=[RASTER_FORMATS["jpeg"]]) as img:
            if img.mode == "L":
                return False
            width, height = img.size
            img.draft("YCbCr", (max(1, width // 8), max(1, height // 8)))
            if img.mode != "YCbCr":
                return True
            img.load()
            for channel in ("Cb", "Cr"):
                low, high = img.getchannel(channel).getextrema()
                if low != 128 or high != 128:
                    return True
            return False
    except Exception:
        return True


def _reduced_arrays(
    luma: Image.Image, scale: int
) -> tuple[npt.NDArray[np.uint8] | None, Image.Image | None]:
    """For a reduced decode (scale > 1): the luma as an array (copied out of Pillow once,
    for the hashes and the truncation check) and its further 2x2 reduction (Decoded.coarse,
    None below COARSE_MIN_SIDE); (None, None) at scale 1."""
    if scale == 1:
        return None, None
    coarse = luma.reduce(2) if min(luma.size) // 2 >= COARSE_MIN_SIDE else None
    return np.asarray(luma), coarse


def _open(data: bytes, fmt: str, name: str) -> Image.Image:
    """Pillow's lazy open of the body (header only), its refusals as DecodeRefused."""
    try:
        return Image.open(io.BytesIO(data), formats=[RASTER_FORMATS[fmt]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecodeRefused(
            "too_large",
            f"The body is {name} whose header claims more pixels than Pillow's own "
            f"decompression-bomb limit ({type(exc).__name__}); it was not decoded.",
        ) from None
    except Exception as exc:
        raise DecodeRefused(
            "undecodable",
            f"The body starts like {name}, but its header could not be read "
            f"({type(exc).__name__}): the file is truncated or corrupt.",
        ) from None


def _draft(
    img: Image.Image, *, fast: bool, full: bool, grey: bool, max_scale: int
) -> tuple[int, tuple[int, int] | None]:
    """Set a JPEG's decoder draft before loading: the DCT scale it will decode at, and the
    size the draft asked for in mode L (None: no draft), which a second decode of the same
    file must ask for too to get the same pixels."""
    width, height = img.size
    if fast and full and grey:
        img.draft("L", (width, height))  # scale 1; CMYK files stay in colour
        return 1, (width, height)
    if not fast or full:
        return 1, None
    scale = draft_scale(width, height, max_scale)
    if scale == 1:
        return 1, None
    # Pillow picks the largest scale s with width // s and height // s at least the request,
    # while the decoded size is rounded up (1001 px at 1/2 is 501): asking for the decoded
    # size would get scale 1 for an odd side, so the request is the rounded-down size.
    request = (width // scale, height // scale)
    drafted = img.draft("L", request)
    return (round(width / drafted[1][2]), request) if drafted else (1, None)


def _jpeg_ends_early(
    data: bytes, luma: npt.NDArray[np.uint8], scale: int, draft: tuple[int, int] | None
) -> bool:
    """Truncated data must never hash, and libjpeg decodes a JPEG whose data stops at a
    marker before its last block without an error (matchers.jpegtail tells them apart).
    The second decode repeats the first one's draft exactly (`draft`: the size it asked
    for in mode L, or None): a different DCT scale, or colour converted to L where libjpeg
    gave its luma channel alone, would differ from `luma` in a whole file too."""

    def redecode(padded: bytes) -> npt.NDArray[np.uint8]:
        with Image.open(io.BytesIO(padded), formats=[RASTER_FORMATS["jpeg"]]) as again:
            if draft is not None:
                again.draft("L", draft)
            again.load()
            return np.asarray(_convert(again, "L"))

    return ends_early(data, luma, scale, redecode)
