"""pHash, dHash and PDQ from a greyscale image, in the reference implementations' arithmetic.

Three ways in:

* `reference_hashes` runs imagehash and pdqhash themselves on a full decode: the definition
  of the hashes that known lists are made with (hash_image's fast=False).
* `exact_hashes` gives the same values for a full decode more cheaply: the very Pillow calls
  imagehash makes, and PDQ's arithmetic as matrix products.
* `fast_hashes` computes all three hashes as separable linear operators on a reduced luma
  array. Each hash is "filter then decimate" - Pillow's LANCZOS resize to 32x32 (pHash) and
  9x8 (dHash), PDQ's two-pass Jarosz box filter sampled at 64x64 - so each is an
  (rows x height) matrix on the left and a (width x cols) matrix on the right, built once
  per axis length and cached. When the luma was decoded at 1/s scale (JPEG draft mode, or
  Image.reduce), each matrix is *folded*: column j of the small image stands for the mean
  of full-resolution columns s*j .. s*j+s-1, so it gets the sum of their weights. The
  result approximates the full-resolution filters on the full-resolution image rather than
  re-deriving filters for the small size, which is what keeps the fast path within a few
  bits of the reference (bench/RESULTS.md has the measured distances).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.fftpack
from PIL import Image

FloatArray = npt.NDArray[np.floating[Any]]

PHASH_SIZE = 8  # imagehash defaults: 8x8 low frequencies of a 32x32 DCT
PHASH_THUMB = 32
DHASH_SIZE = 8
PDQ_GRID = 64  # PDQ samples the filtered image on a 64x64 grid ...
PDQ_DCT = 16  # ... and keeps DCT coefficients 1..16 in each direction
PDQ_MIN_HASHABLE_DIM = 5  # below this Meta's code returns an all-zero hash of quality 0
_LANCZOS_SUPPORT = 3.0
_LUMA_BAND = 512  # rows of float luma computed at once on the exact path
_CACHE_MAX_SIDE = 1536  # operators for longer (reduced) sides are rebuilt, not cached


@dataclass(frozen=True, slots=True)
class PerceptualHashes:
    phash: str
    dhash: str
    pdq: str
    pdq_quality: int
    # PDQ of the other seven orientations, pdqhash.compute_dihedral order (rot90, rot180,
    # rot270, flip top-bottom, flip left-right, transpose, transverse); () when not computed.
    pdq_dihedral: tuple[str, ...] = ()


def bits_to_hex(bits: npt.NDArray[np.bool_]) -> str:
    """Hex of a bit vector, first bit most significant (imagehash's and PDQ's convention)."""
    return np.packbits(bits.astype(np.uint8)).tobytes().hex()


# --- reference: the libraries themselves --------------------------------------------------


def reference_hashes(luma: Image.Image, rgb: npt.NDArray[np.uint8]) -> PerceptualHashes:
    """imagehash.phash/dhash of `luma` (mode L) and pdqhash.compute of `rgb` (H x W x 3)."""
    import imagehash
    import pdqhash

    vectors, quality = pdqhash.compute_dihedral(rgb)
    hexes = tuple(bits_to_hex(np.asarray(v).astype(bool)) for v in vectors)
    return PerceptualHashes(
        phash=str(imagehash.phash(luma)),
        dhash=str(imagehash.dhash(luma)),
        pdq=hexes[0],
        pdq_quality=int(quality),
        pdq_dihedral=hexes[1:],
    )


# --- the operators ---------------------------------------------------------------------------


def _lanczos(t: FloatArray) -> FloatArray:
    """Pillow's lanczos_filter: sinc(t) * sinc(t/3) on [-3, 3)."""
    out = np.zeros_like(t)
    inside = (t >= -_LANCZOS_SUPPORT) & (t < _LANCZOS_SUPPORT)
    x = t[inside] * math.pi
    with np.errstate(invalid="ignore", divide="ignore"):
        s1 = np.where(x == 0.0, 1.0, np.sin(x) / x)
        s2 = np.where(x == 0.0, 1.0, np.sin(x / 3) / (x / 3))
    out[inside] = s1 * s2
    return out


def lanczos_matrix(n_in: int, n_out: int, scale: int = 1) -> FloatArray:
    """The weights of Pillow's LANCZOS resize from n_in to n_out along one axis.

    Same construction as Pillow's precompute_coeffs: support 3 * scale, taps rounded to
    pixel bounds, each row normalised to sum 1. With scale > 1, folded for an axis reduced
    to ceil(n_in / scale) (see the module docstring): n_out x ceil(n_in / scale).
    """
    ratio = n_in / n_out
    filterscale = max(ratio, 1.0)
    support = _LANCZOS_SUPPORT * filterscale
    center = (np.arange(n_out) + 0.5) * ratio
    xmin = np.maximum(0, (center - support + 0.5).astype(np.int64))
    xmax = np.minimum(n_in, (center + support + 0.5).astype(np.int64))
    taps = xmin[:, None] + np.arange(int(np.max(xmax - xmin, initial=0)))[None, :]
    valid = taps < xmax[:, None]
    w = np.where(valid, _lanczos((taps - center[:, None] + 0.5) * (1.0 / filterscale)), 0.0)
    total = w.sum(axis=1, keepdims=True)
    w = np.divide(w, total, out=w.copy(), where=total != 0.0)
    n_small = -(-n_in // scale)
    cells = np.arange(n_out)[:, None] * n_small + taps // scale
    m = np.bincount(cells[valid], w[valid], n_out * n_small).astype(np.float64)
    return m.reshape(n_out, n_small)


def jarosz_matrix(n: int, scale: int = 1) -> FloatArray:
    """(64 x n) weights of PDQ's two box-filter passes along one axis, then its decimation.

    Meta's box1DFloat averages a window of `w = ceil(n / 128)` samples, clipped (and
    re-normalised) at the ends; two passes make a tent. decimateFloat then samples index
    int((i + 0.5) * n / 64). For n == 64 Meta's code skips filtering: the window is 1 here,
    so this is the identity too. With scale > 1, folded like lanczos_matrix.
    """
    full = (n + 2 * PDQ_GRID - 1) // (2 * PDQ_GRID)
    half = (full + 2) // 2
    idx = np.arange(n)
    lo = np.maximum(0, idx - (full - half))
    hi = np.minimum(n - 1, idx + half - 1)
    count = hi - lo + 1
    samples = ((np.arange(PDQ_GRID) + 0.5) * n / PDQ_GRID).astype(np.int64)
    # Row i is row samples[i] of B @ B: the mean over k in window(samples[i]) of row k of B,
    # which is 1/count[k] on lo[k]..hi[k]. Only a band of about 2w pixels is non-zero.
    ks = lo[samples][:, None] + np.arange(full)[None, :]  # 64 x w
    k_valid = ks <= hi[samples][:, None]
    ks = np.minimum(ks, n - 1)
    v = np.where(k_valid, 1.0 / (count[samples][:, None] * count[ks]), 0.0)
    first, last = lo[ks[:, 0]], hi[ks.max(axis=1)]
    ps = first[:, None] + np.arange(2 * full + 1)[None, :]  # 64 x band
    p_valid = ps <= last[:, None]
    inside = (lo[ks][:, :, None] <= ps[:, None, :]) & (ps[:, None, :] <= hi[ks][:, :, None])
    band = (inside * v[:, :, None]).sum(axis=1)
    n_small = -(-n // scale)
    cells = np.arange(PDQ_GRID)[:, None] * n_small + ps // scale
    m = np.bincount(cells[p_valid], band[p_valid], PDQ_GRID * n_small).astype(np.float64)
    return m.reshape(PDQ_GRID, n_small)


def _jarosz32(n: int) -> FloatArray:
    return _jarosz32_cached(n) if n <= _CACHE_MAX_SIDE else _jarosz32_build(n)


def _jarosz32_build(n: int) -> FloatArray:
    m = jarosz_matrix(n).astype(np.float32)
    m.flags.writeable = False
    return m


_jarosz32_cached = lru_cache(maxsize=16)(_jarosz32_build)


# Rows of an axis's operator stack: PDQ's 64, pHash's 32, then dHash's 8 (its thumbnail's
# height) and 9 (its width). The vertical pass uses rows [0, 104) in one product.
_PDQ_ROWS = slice(0, PDQ_GRID)
_PHASH_ROWS = slice(PDQ_GRID, PDQ_GRID + PHASH_THUMB)
_DHASH_HEIGHT_ROWS = slice(PDQ_GRID + PHASH_THUMB, PDQ_GRID + PHASH_THUMB + DHASH_SIZE)
_DHASH_WIDTH_ROWS = slice(_DHASH_HEIGHT_ROWS.stop, _DHASH_HEIGHT_ROWS.stop + DHASH_SIZE + 1)
_VERTICAL_ROWS = slice(0, _DHASH_HEIGHT_ROWS.stop)


def _axis_operators(n_full: int, scale: int, n_small: int) -> FloatArray:
    """All operators for one axis (full size, scale), folded, float32, read-only.

    Cached per axis, since widths and heights recur across images far more than (w, h)
    pairs. Only moderate sizes are cached, so hostile images of ever-new huge sizes cannot
    grow the cache beyond a few tens of MB (128 x 113 x 1536 float32 at most).
    """
    if n_small <= _CACHE_MAX_SIDE:
        return _axis_operators_cached(n_full, scale, n_small)
    return _build_axis_operators(n_full, scale, n_small)


def _build_axis_operators(n_full: int, scale: int, n_small: int) -> FloatArray:
    stack = np.vstack(
        [
            jarosz_matrix(n_full, scale),
            lanczos_matrix(n_full, PHASH_THUMB, scale),
            lanczos_matrix(n_full, DHASH_SIZE, scale),
            lanczos_matrix(n_full, DHASH_SIZE + 1, scale),
        ]
    ).astype(np.float32)
    stack.flags.writeable = False
    return stack


_axis_operators_cached = lru_cache(maxsize=128)(_build_axis_operators)


# A band wider than this share of the axis is applied as a plain matrix product.
_BAND_MAX_SHARE = 0.25


@lru_cache(maxsize=128)
def _pdq_band(
    n_full: int, scale: int, n_small: int
) -> tuple[npt.NDArray[np.intp], FloatArray] | None:
    """PDQ's vertical operator as (row indices, weights), each 64 x B, or None if too wide.

    Row i of the operator is non-zero only on a short run of pixels (a box of about
    n/128 full-size pixels, applied twice), so `weights[i] . x[rows[i]]` gives the same
    filtered row as the full product at a fraction of the multiply-adds.
    """
    if n_small > _CACHE_MAX_SIDE:
        return None
    dense = _axis_operators(n_full, scale, n_small)[_PDQ_ROWS]
    spans = [np.flatnonzero(row) for row in dense]
    if any(len(s) == 0 for s in spans):
        return None
    first = np.array([s[0] for s in spans])
    width = max(int(s[-1]) - int(s[0]) + 1 for s in spans)
    if width > _BAND_MAX_SHARE * n_small:
        return None
    offsets = first[:, None] + np.arange(width)[None, :]
    inside = offsets < n_small
    rows = np.where(inside, offsets, n_small - 1).astype(np.intp)
    weights = np.where(inside, np.take_along_axis(dense, rows, axis=1), 0.0).astype(np.float32)
    rows.flags.writeable = False
    weights.flags.writeable = False
    return rows, weights


def _pdq_dct_matrix() -> FloatArray:
    """Meta's dct_matrix_64: rows 1..16 of the 64-point DCT-II, scaled by sqrt(2/64)."""
    i = np.arange(1, PDQ_DCT + 1)[:, None]
    j = np.arange(PDQ_GRID)[None, :]
    scale = math.sqrt(2.0 / PDQ_GRID)
    matrix: FloatArray = (scale * np.cos(math.pi / 2.0 / PDQ_GRID * i * (2 * j + 1))).astype(
        np.float32
    )
    return matrix


_PDQ_DCT_MATRIX = _pdq_dct_matrix()
_PDQ_DCT_MATRIX.flags.writeable = False


# --- the hashes from their small images -----------------------------------------------------


def phash_from_thumbnail(pixels: npt.NDArray[Any]) -> str:
    """imagehash.phash's tail: DCT-II of the 32x32 thumbnail, 8x8 low band vs its median."""
    dct = scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=0), axis=1)
    low = dct[:PHASH_SIZE, :PHASH_SIZE]
    return bits_to_hex((low > np.median(low)).ravel())


def dhash_from_thumbnail(pixels: npt.NDArray[Any]) -> str:
    """imagehash.dhash's tail: is each of the 9x8 thumbnail's pixels brighter than its left?"""
    return bits_to_hex((pixels[:, 1:] > pixels[:, :-1]).ravel())


def pdq_from_grid(grid: FloatArray) -> tuple[str, int]:
    """PDQ hash and quality from the filtered 64x64 luma grid (Meta's arithmetic, float32)."""
    pdq, quality, _ = pdq_dihedral_from_grid(grid, dihedral=False)
    return pdq, quality


# A row/column of the image reversed multiplies DCT coefficient k (1..16) by (-1)^k.
_PDQ_SIGNS = np.where(np.arange(1, PDQ_DCT + 1) % 2 == 0, 1.0, -1.0).astype(np.float32)


def pdq_dihedral_from_grid(
    grid: FloatArray, *, dihedral: bool = True
) -> tuple[str, int, tuple[str, ...]]:
    """PDQ hash, quality and the seven other orientations' hashes from the 64x64 grid.

    The orientations come from the one DCT, as Meta's pdqhash.compute_dihedral computes
    them (a flip negates the odd-frequency coefficients along its axis; a transpose
    transposes the coefficient matrix), so they agree bit for bit with it.
    """
    grid = grid.astype(np.float32, copy=False)
    hundred, scale = np.float32(100.0), np.float32(255.0)
    dv = np.trunc((grid[:-1, :] - grid[1:, :]) * hundred / scale)
    dh = np.trunc((grid[:, :-1] - grid[:, 1:]) * hundred / scale)
    quality = min(100, int(np.abs(dv).sum() + np.abs(dh).sum()) // 90)
    coeffs = _PDQ_DCT_MATRIX @ grid @ _PDQ_DCT_MATRIX.T  # [vertical freq, horizontal freq]
    if not dihedral:
        return _pdq_bits(coeffs), quality, ()
    vflip = coeffs * _PDQ_SIGNS[:, None]  # image flipped top-bottom
    hflip = coeffs * _PDQ_SIGNS[None, :]  # flipped left-right
    both = vflip * _PDQ_SIGNS[None, :]  # rotated 180
    stack = np.stack((coeffs, hflip.T, both, vflip.T, vflip, hflip, coeffs.T, both.T))
    flat = stack.reshape(8, -1)
    medians = np.partition(flat, 127, axis=1)[:, 127:128]  # as _pdq_bits, 8 at once
    packed = np.packbits((flat > medians)[:, ::-1], axis=1)
    hexes = [row.tobytes().hex() for row in packed]
    return hexes[0], quality, tuple(hexes[1:])


def _pdq_bits(coeffs: FloatArray) -> str:
    flat = coeffs.ravel()
    median = np.partition(flat, 127)[127]  # Torben's median of 256 values: the 128th smallest
    # Bit k = i*16 + j of Meta's Hash256; its hex prints bit 255 first.
    return bits_to_hex((flat > median)[::-1])


PDQ_EMPTY = "0" * 64


def _round_u8(a: FloatArray) -> FloatArray:
    # Pillow hands imagehash uint8 thumbnails; rounding ours keeps exact ties (flat areas) tied.
    return np.clip(np.rint(a), 0.0, 255.0)


def fast_hashes(
    luma: npt.NDArray[np.uint8], full_size: tuple[int, int], scale: int
) -> PerceptualHashes:
    """All three hashes of a luma image decoded at 1/scale of `full_size` (width, height)."""
    h, w = luma.shape
    full_w, full_h = full_size
    down, across = _axis_operators(full_h, scale, h), _axis_operators(full_w, scale, w)
    x = luma.astype(np.float32)
    # The vertical filters are one pass over the pixels; the rest is on small matrices.
    # PDQ's 64 rows are narrow boxes (a few taps each), so they are applied as a band
    # (gather + weighted sum) instead of 64 mostly-zero rows of the matrix product.
    band = _pdq_band(full_h, scale, h)
    if band is None:
        stacked = down[_VERTICAL_ROWS] @ x  # (64 + 32 + 8) x w
        pdq_rows, lanczos_rows = stacked[_PDQ_ROWS], stacked[PDQ_GRID:]
    else:
        rows, weights = band
        pdq_rows = np.einsum("ib,ibw->iw", weights, x[rows])
        lanczos_rows = down[PDQ_GRID : _VERTICAL_ROWS.stop] @ x  # (32 + 8) x w
    pdq_grid = pdq_rows @ across[_PDQ_ROWS].T
    thumb = _round_u8(lanczos_rows[:PHASH_THUMB] @ across[_PHASH_ROWS].T)
    dthumb = _round_u8(lanczos_rows[PHASH_THUMB:] @ across[_DHASH_WIDTH_ROWS].T)
    if full_w < PDQ_MIN_HASHABLE_DIM or full_h < PDQ_MIN_HASHABLE_DIM:
        pdq, quality = PDQ_EMPTY, 0
        dihedral: tuple[str, ...] = (PDQ_EMPTY,) * 7
    else:
        pdq, quality, dihedral = pdq_dihedral_from_grid(pdq_grid)
    return PerceptualHashes(
        phash=phash_from_thumbnail(thumb.astype(np.float64)),
        dhash=dhash_from_thumbnail(dthumb),
        pdq=pdq,
        pdq_quality=quality,
        pdq_dihedral=dihedral,
    )


def exact_hashes(luma: Image.Image, rgb: npt.NDArray[np.uint8]) -> PerceptualHashes:
    """The reference hashes of a full-resolution image, computed without the libraries' costs.

    pHash/dHash: the very Pillow calls imagehash makes. PDQ: pdqhash's float luma, then
    Meta's filter/decimate/DCT as matrix products (agrees bit-for-bit with pdqhash in every
    case measured; only float summation order differs).
    """
    thumb = np.asarray(luma.resize((PHASH_THUMB, PHASH_THUMB), Image.Resampling.LANCZOS))
    dthumb = np.asarray(luma.resize((DHASH_SIZE + 1, DHASH_SIZE), Image.Resampling.LANCZOS))
    h, w = rgb.shape[:2]
    if w < PDQ_MIN_HASHABLE_DIM or h < PDQ_MIN_HASHABLE_DIM:
        pdq, quality = PDQ_EMPTY, 0
        dihedral: tuple[str, ...] = (PDQ_EMPTY,) * 7
    else:
        rows = _jarosz32(h)
        filtered = np.zeros((PDQ_GRID, w), dtype=np.float32)
        # pdqhash's luma exactly (a float64 weighted sum, then float32), a band of rows at a
        # time so a long thin image never needs several float64 copies of itself at once.
        for top in range(0, h, _LUMA_BAND):
            band = rgb[top : top + _LUMA_BAND]
            r, g, b = band[:, :, 0], band[:, :, 1], band[:, :, 2]
            lum = (r * 0.299 + g * 0.587 + b * 0.114).astype(np.float32)
            filtered += rows[:, top : top + _LUMA_BAND] @ lum
        pdq, quality, dihedral = pdq_dihedral_from_grid(filtered @ _jarosz32(w).T)
    return PerceptualHashes(
        phash=phash_from_thumbnail(thumb),
        dhash=dhash_from_thumbnail(dthumb),
        pdq=pdq,
        pdq_quality=quality,
        pdq_dihedral=dihedral,
    )
