"""hash_image: bytes in, every digest Trawl keeps out (md5/sha1/sha256, pHash, dHash, PDQ)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import replace

import numpy as np

from matchers.decode import (
    FAST_MIN_SIDE,
    Decoded,
    DecodeRefused,
    TruncatedImagesEnabledError,
    open_and_decode,
)
from matchers.digests import Digests
from matchers.perceptual import PerceptualHashes, exact_hashes, fast_hashes, reference_hashes
from matchers.sniff import SUPPORTED_LIST, describe_kind, sniff_format, sniff_kind

__all__ = ["DEFAULT_MAX_PIXELS", "FAST_MIN_SIDE", "hash_image", "sniff_format"]

logger = logging.getLogger(__name__)

# Images whose header claims more pixels are refused before decoding (status too_large).
# 50 MP covers phone and camera photos (8000 x 6000 is 48 MP) while bounding one decode to
# about 200 MB; Pillow's own bomb limits (89 MP warning, 179 MP error) sit above it.
DEFAULT_MAX_PIXELS = 50_000_000


def hash_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, fast: bool = True) -> Digests:
    """Every digest of one fetched body; the bytes are neither kept nor logged.

    Why it never raises for bad content: a crawl meets SVGs, HTML error pages, truncated
    downloads and hostile files every day, and each must become a record (status
    unsupported, undecodable or too_large, with a sentence in `error`), not a dead worker.

    The format comes from the magic bytes only; Pillow is limited to that one plugin, the
    claimed pixel count is checked against `max_pixels` before anything is decoded, and an
    animation is hashed on its first frame (`frames` counts them).

    fast=True (the default) hashes JPEGs decoded at reduced scale (draft mode) and large
    images of other formats after Image.reduce, never below FAST_MIN_SIDE (256) pixels on
    the short side (FAST_MIN_SIDE_DEEP, 384, for reductions of 3x and more); the hashes stay
    within a few bits of the reference (bench/RESULTS.md has the measured distribution).
    Images too small to reduce get the reference hashes, computed more cheaply. fast=False
    runs imagehash.phash/dhash and pdqhash.compute on the full decode: the reference itself.
    """
    base = Digests(
        md5=hashlib.md5(data).hexdigest(),
        sha1=hashlib.sha1(data).hexdigest(),
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
    )
    fmt = sniff_format(data)
    if fmt is None:
        kind = sniff_kind(data)
        return replace(base, status="unsupported", error=_unsupported(kind, len(data)), format=kind)
    try:
        decoded = open_and_decode(data, fmt, max_pixels=max_pixels, fast=fast)
        hashes = _perceptual(decoded, fast=fast)
    except DecodeRefused as refused:
        return replace(
            base,
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
        return replace(
            base,
            status="undecodable",
            error=f"Hashing the {fmt.upper()} image failed with {type(exc).__name__}; only the "
            "byte digests were computed.",
            format=fmt,
        )
    return replace(
        base,
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
    )


def _perceptual(decoded: Decoded, *, fast: bool) -> PerceptualHashes:
    if decoded.rgb is None:  # decoded at 1/scale: the fast operators
        coarse = None if decoded.coarse is None else np.asarray(decoded.coarse)
        size = (decoded.width, decoded.height)
        return fast_hashes(np.asarray(decoded.luma), size, decoded.scale, coarse)
    if fast:
        return exact_hashes(decoded.luma, decoded.rgb)
    return reference_hashes(decoded.luma, decoded.rgb)


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
