"""pHash, dHash and PDQ from a greyscale image, in the reference implementations' arithmetic.

Three ways in:

* `reference_hashes` runs imagehash and pdqhash themselves on a full decode: the definition
  of the hashes that known lists are made with (hash_image's fast=False).
* `exact_hashes` gives the same values for a full decode more cheaply: Pillow's LANCZOS
  thumbnails that imagehash takes, as fixed-point products, and PDQ's arithmetic as banded
  products on pdqhash's float luma.
* `fast_hashes` computes all three hashes as separable linear operators on a reduced luma
  array. Each hash is "filter then decimate" - Pillow's LANCZOS resize to 32x32 (pHash) and
  9x8 (dHash), PDQ's two-pass Jarosz box filter sampled at 64x64 - so each is an
  (rows x height) matrix on the left and a (width x cols) matrix on the right, built once
  per axis length and cached. When the luma was decoded at 1/s scale (JPEG draft mode),
  each matrix is *folded*: column j of the small image stands for the mean
  of full-resolution columns s*j .. s*j+s-1, so it gets the sum of their weights. The
  result approximates the full-resolution filters on the full-resolution image rather than
  re-deriving filters for the small size, which is what keeps the fast path within a few
  bits of the reference (bench/RESULTS.md has the measured distances).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, get_args

import numpy as np
import numpy.typing as npt
import PIL
from PIL import Image

from matchers.scipyext import CsrRows, dct2

FloatArray = npt.NDArray[np.floating[Any]]

PHASH_SIZE = 8  # imagehash defaults: 8x8 low frequencies of a 32x32 DCT
PHASH_THUMB = 32
DHASH_SIZE = 8
PDQ_GRID = 64  # PDQ samples the filtered image on a 64x64 grid ...
PDQ_DCT = 16  # ... and keeps DCT coefficients 1..16 in each direction
PDQ_MIN_HASHABLE_DIM = 5  # below this Meta's code returns an all-zero hash of quality 0
_LANCZOS_SUPPORT = 3.0
_LUMA_BAND = 32  # rows of float luma computed at once on the exact path
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
    ps, band, p_valid = _jarosz_rows(n)
    n_small = -(-n // scale)
    cells = np.arange(PDQ_GRID)[:, None] * n_small + ps // scale
    m = np.bincount(cells[p_valid], band[p_valid], PDQ_GRID * n_small).astype(np.float64)
    return m.reshape(PDQ_GRID, n_small)


def _jarosz_rows(
    n: int,
) -> tuple[npt.NDArray[np.int64], FloatArray, npt.NDArray[np.bool_]]:
    """jarosz_matrix's rows as runs: for row i, the pixels ps[i] (from the first of its
    band on), their weights band[i], and which of them are in the band (p_valid[i])."""
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
    band: FloatArray = (inside * v[:, :, None]).sum(axis=1)
    return ps, band, p_valid


# The fast path's operators, one per hash and axis: PDQ's filter-and-decimate to 64, pHash's
# Lanczos to 32, dHash's to 8 (its thumbnail's height) and 9 (its width).
OperatorKind = Literal["pdq", "phash", "dhash_height", "dhash_width"]
_LANCZOS_OUT: dict[OperatorKind, int] = {
    "phash": PHASH_THUMB,
    "dhash_height": DHASH_SIZE,
    "dhash_width": DHASH_SIZE + 1,
}


def _build_operator(kind: OperatorKind, n_full: int, scale: int) -> FloatArray:
    if kind == "pdq":
        m = jarosz_matrix(n_full, scale)
    else:
        m = lanczos_matrix(n_full, _LANCZOS_OUT[kind], scale)
    out: FloatArray = m.astype(np.float32)
    out.flags.writeable = False
    return out


_OPERATOR_CACHES = {
    kind: lru_cache(maxsize=128)(_build_operator) for kind in get_args(OperatorKind)
}


def operator(kind: OperatorKind, n_full: int, scale: int = 1) -> FloatArray:
    """One hash's operator along one axis (full size, scale), folded, float32, read-only.

    Cached per axis and kind, since widths and heights recur across images far more than
    (w, h) pairs. Only moderate sizes are cached, so hostile images of ever-new huge sizes
    cannot grow the caches beyond a few tens of MB (128 x 113 x 1536 float32 at most).
    """
    if -(-n_full // scale) <= _CACHE_MAX_SIDE:
        return _OPERATOR_CACHES[kind](kind, n_full, scale)
    return _build_operator(kind, n_full, scale)


# A band wider than this share of the axis is applied as a plain matrix product.
_BAND_MAX_SHARE = 0.25

Band = tuple[npt.NDArray[np.intp], FloatArray]


@lru_cache(maxsize=128)
def _pdq_band(n_full: int, scale: int) -> Band | None:
    """PDQ's operator as (indices, weights), each 64 x B, or None if too wide to pay off.

    Row i of the operator is non-zero only on a short run of pixels (a box of about
    n/128 full-size pixels, applied twice), so `weights[i] . x[indices[i]]` gives the same
    filtered row as the full product at a fraction of the multiply-adds.
    """
    if scale == 1:
        return _pdq_band_full(n_full)
    n_small = -(-n_full // scale)
    dense = operator("pdq", n_full, scale)  # built, not cached, for long axes
    nonzero = dense != 0.0
    if not nonzero.any(axis=1).all():
        return None
    first = nonzero.argmax(axis=1)
    last = n_small - 1 - nonzero[:, ::-1].argmax(axis=1)
    width = int((last - first).max()) + 1
    if width > _BAND_MAX_SHARE * n_small:
        return None
    offsets = first[:, None] + np.arange(width)[None, :]
    inside = offsets < n_small
    indices = np.where(inside, offsets, n_small - 1).astype(np.intp)
    weights = np.where(inside, np.take_along_axis(dense, indices, axis=1), 0.0).astype(np.float32)
    indices.flags.writeable = False
    weights.flags.writeable = False
    return indices, weights


def _pdq_band_full(n: int) -> Band | None:
    """_pdq_band(n, 1) from jarosz_matrix's runs, without its dense 64 x n matrix (whose
    passes cost more than the band itself on the exact path, where every new size builds
    one): the same indices and float32 weights. At scale 1 each pixel of a row is one cell
    of the matrix, so its value is the run's weight rounded to float32."""
    ps, band, p_valid = _jarosz_rows(n)
    values = np.where(p_valid, band, 0.0).astype(np.float32)
    nonzero = values != 0.0
    if not nonzero.any(axis=1).all():
        return None
    first = ps[:, 0] + nonzero.argmax(axis=1)
    last = ps[:, 0] + nonzero.shape[1] - 1 - nonzero[:, ::-1].argmax(axis=1)
    width = int((last - first).max()) + 1
    if width > _BAND_MAX_SHARE * n:
        return None
    offsets = first[:, None] + np.arange(width)[None, :]
    inside = offsets < n
    indices = np.where(inside, offsets, n - 1).astype(np.intp)
    rel = offsets - ps[:, :1]  # column of `values` holding each offset's weight
    held = inside & (rel < values.shape[1])
    weights = np.zeros(offsets.shape, dtype=np.float32)
    weights[held] = np.take_along_axis(values, np.where(held, rel, 0), axis=1)[held]
    indices.flags.writeable = False
    weights.flags.writeable = False
    return indices, weights


def band_down(band: Band, x: npt.NDArray[Any]) -> FloatArray:
    """`dense @ x` for the operator `band` stands for (64 x rows of x).

    Each band is a contiguous run of rows, so each output row is one vector-matrix product
    over a view of x: no gathered copy of the image (which cost more than the products).
    """
    rows, weights = band
    out = np.empty((rows.shape[0], x.shape[1]), dtype=np.float32)
    n = x.shape[0]
    for i, first in enumerate(rows[:, 0].tolist()):
        segment = x[first : first + weights.shape[1]]
        out[i] = weights[i, : min(weights.shape[1], n - first)] @ segment
    return out


@lru_cache(maxsize=128)
def _pdq_sparse(n_full: int, scale: int) -> CsrRows:
    """PDQ's folded operator along one axis as a CSR matrix (64 x ceil(n_full / scale)).

    For the fast path's reduced luma, where the band loop's 64 Python iterations cost more
    than their few multiply-adds: one sparse product (scipy's C loop over the non-zeros)
    gives the same rows up to float32 summation order.
    """
    return CsrRows(operator("pdq", n_full, scale))


def band_across(band: Band, y: FloatArray) -> FloatArray:
    """`y @ dense.T` for the operator `band` stands for (64 x columns of y)."""
    cols, weights = band
    out: FloatArray = np.einsum("ijb,jb->ij", y.take(cols, axis=1), weights)
    return out


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


def _phash_dct_rows() -> FloatArray:
    """Rows 0..7 of scipy.fftpack's unnormalised 32-point DCT-II (2 cos(pi k (2n + 1) / 64)).

    The fast path needs only the 8x8 low band of the thumbnail's DCT, so `D @ thumb @ D.T`
    gives it in two small products instead of two full FFT-based transforms (the values
    agree to ~1e-12; the reduced thumbnail is an approximation anyway). The exact path keeps
    scipy's transform, whose rounding imagehash's bits come from.
    """
    k = np.arange(PHASH_SIZE)[:, None]
    n = np.arange(PHASH_THUMB)[None, :]
    rows: FloatArray = 2.0 * np.cos(math.pi * k * (2 * n + 1) / (2 * PHASH_THUMB))
    return rows


_PHASH_DCT_ROWS = _phash_dct_rows()
_PHASH_DCT_ROWS.flags.writeable = False


# np.median sums a float16 pair in float32; these dtypes it sums in their own.
_EXACT_MEDIAN_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def median(a: npt.NDArray[Any]) -> Any:
    """np.median(a) of a float array, bit for bit, without its per-call overhead (~20 us,
    most of the region search's cost on small images): the middle value, or the mean of
    the middle pair computed as np.median does (their sum in the array's dtype, halved).
    Other dtypes (float16, integers), empty arrays and arrays holding NaN are left to np.median."""
    flat = a.ravel()
    n = flat.size
    if n == 0 or flat.dtype not in _EXACT_MEDIAN_DTYPES:
        return np.median(a)
    k = n // 2
    part = np.partition(flat, (k - 1, k, n - 1) if n > 1 else (0,))
    if np.isnan(part[-1]):
        return np.median(a)
    if n % 2:
        return part[k]
    return flat.dtype.type((part[k - 1] + part[k]) / 2)


def row_medians(a: npt.NDArray[Any]) -> Any:
    """np.median(a, axis=1) of a 2-D float array, bit for bit (see median)."""
    rows, n = a.shape
    if n == 0 or rows == 0 or a.dtype not in _EXACT_MEDIAN_DTYPES:
        return np.median(a, axis=1)
    k = n // 2
    part = np.partition(a, (k - 1, k, n - 1) if n > 1 else (0,), axis=1)
    if np.isnan(part[:, -1]).any():
        return np.median(a, axis=1)
    if n % 2:
        return part[:, k].copy()
    out: npt.NDArray[Any] = (part[:, k - 1] + part[:, k]) / a.dtype.type(2)
    return out


_median_of = median  # for functions whose parameter is called `median`


def phash_from_thumbnail(pixels: npt.NDArray[Any]) -> str:
    """imagehash.phash's tail: DCT-II of the 32x32 thumbnail, 8x8 low band vs its median."""
    return _phash_bits(_phash_low(pixels))


def _phash_low(pixels: npt.NDArray[Any]) -> FloatArray:
    dct = dct2(dct2(pixels, axis=0), axis=1)  # scipy.fftpack.dct's, see matchers/scipyext.py
    low: FloatArray = dct[:PHASH_SIZE, :PHASH_SIZE]
    return low


def _phash_bits(low: FloatArray) -> str:
    return bits_to_hex((low > median(low)).ravel())


def dhash_from_thumbnail(pixels: npt.NDArray[Any]) -> str:
    """imagehash.dhash's tail: is each of the 9x8 thumbnail's pixels brighter than its left?"""
    return bits_to_hex((pixels[:, 1:] > pixels[:, :-1]).ravel())


def pdq_from_grid(grid: FloatArray) -> tuple[str, int]:
    """PDQ hash and quality from the filtered 64x64 luma grid (Meta's arithmetic, float32)."""
    pdq, quality, _ = pdq_dihedral_from_grid(grid, dihedral=False)
    return pdq, quality


# A row/column of the image reversed multiplies DCT coefficient k (1..16) by (-1)^k.
_PDQ_SIGNS = np.where(np.arange(1, PDQ_DCT + 1) % 2 == 0, 1.0, -1.0).astype(np.float32)
# Signs of the coefficients of the image as it is, flipped left-right, rotated 180 and
# flipped top-bottom; then pdq_dihedral_from_grid's order of those four and their transposes.
_PDQ_FLIPS = np.stack([
    np.ones((PDQ_DCT, PDQ_DCT), dtype=np.float32),
    np.broadcast_to(_PDQ_SIGNS[None, :], (PDQ_DCT, PDQ_DCT)),
    _PDQ_SIGNS[:, None] * _PDQ_SIGNS[None, :],
    np.broadcast_to(_PDQ_SIGNS[:, None], (PDQ_DCT, PDQ_DCT)),
])
_PDQ_FLIPS.flags.writeable = False
_DIHEDRAL_ORDER = np.array([0, 5, 2, 7, 3, 1, 4, 6])


def pdq_coefficients(grid: FloatArray) -> FloatArray:
    """PDQ's 16x16 DCT coefficients of the 64x64 grid [vertical freq, horizontal freq]."""
    coeffs: FloatArray = _PDQ_DCT_MATRIX @ grid @ _PDQ_DCT_MATRIX.T
    return coeffs


def pdq_dihedral_from_grid(
    grid: FloatArray, *, dihedral: bool = True, coeffs: FloatArray | None = None
) -> tuple[str, int, tuple[str, ...]]:
    """PDQ hash, quality and the seven other orientations' hashes from the 64x64 grid.

    The orientations come from the one DCT, as Meta's pdqhash.compute_dihedral computes
    them (a flip negates the odd-frequency coefficients along its axis; a transpose
    transposes the coefficient matrix), so they agree bit for bit with it. `coeffs`, if
    given, is pdq_coefficients(grid), already computed by the caller.
    """
    grid = grid.astype(np.float32, copy=False)
    hundred, scale = np.float32(100.0), np.float32(255.0)
    dv = np.trunc((grid[:-1, :] - grid[1:, :]) * hundred / scale)
    dh = np.trunc((grid[:, :-1] - grid[:, 1:]) * hundred / scale)
    quality = min(100, int(np.abs(dv).sum() + np.abs(dh).sum()) // 90)
    if coeffs is None:
        coeffs = pdq_coefficients(grid)
    if not dihedral:
        return _pdq_bits(coeffs), quality, ()
    # The coefficients as they are, flipped left-right, rotated 180 and flipped top-bottom,
    # then each transposed: in compute_dihedral's order (_DIHEDRAL_ORDER) they are the
    # original, rot90, rot180, rot270, flip top-bottom, flip left-right, transpose and
    # transverse.
    signed = coeffs * _PDQ_FLIPS
    flat = np.concatenate((signed, signed.transpose(0, 2, 1)))[_DIHEDRAL_ORDER].reshape(8, -1)
    medians = np.partition(flat, 127, axis=1)[:, 127:128]  # as _pdq_bits, 8 at once
    hexes = np.packbits((flat > medians)[:, ::-1], axis=1).tobytes().hex()
    return hexes[:64], quality, tuple(hexes[i : i + 64] for i in range(64, 512, 64))


def _pdq_bits(coeffs: FloatArray) -> str:
    flat = coeffs.ravel()
    median = np.partition(flat, 127)[127]  # Torben's median of 256 values: the 128th smallest
    # Bit k = i*16 + j of Meta's Hash256; its hex prints bit 255 first.
    return bits_to_hex((flat > median)[::-1])


PDQ_EMPTY = "0" * 64


def _round_u8(a: FloatArray) -> FloatArray:
    """`a` rounded and clipped to 0..255, in place (`a` is a product just made): the values of
    np.clip(np.rint(a), 0, 255) at a fraction of np.clip's per-call cost."""
    # Pillow hands imagehash uint8 thumbnails; rounding ours keeps exact ties (flat areas) tied.
    np.rint(a, out=a)
    np.maximum(a, 0.0, out=a)
    np.minimum(a, 255.0, out=a)
    return a


# Pillow 13 (python-pillow/Pillow#9549) resizes vertically first when the height shrinks
# "significantly more" than the width; earlier versions always start horizontally.
_PILLOW_VERTICAL_FIRST = int(PIL.__version__.split(".")[0]) >= 13


def _vertical_first(size: tuple[int, int], out: tuple[int, int]) -> bool:
    """Whether Pillow's resize of a `size` (width, height) image to `out` starts vertically.

    Probed against Pillow 13.0 (exact float emulations of both orders, compared with
    Pillow's output on random images of 400 sizes): it starts vertically exactly when the
    height loses more than twice as many pixels as the width.
    """
    return _PILLOW_VERTICAL_FIRST and size[1] - out[1] > 2 * (size[0] - out[0])


def _pillow_resize(
    x: FloatArray, rows: FloatArray, cols: FloatArray, vertical_first: bool
) -> FloatArray:
    """Pillow's two-pass resize as two products, rounding to uint8 after each pass as it does.

    On flat graphics whole rows of the intermediate share one rounding error, so rounding
    once at the end (the obvious float version) drifts further from imagehash's thumbnails:
    measured, emulating the passes cut the fast path's dHash p99 on charts from 6 to 3 bits.
    """
    if vertical_first:
        return _round_u8(_round_u8(rows @ x) @ cols.T)
    return _round_u8(rows @ _round_u8(x @ cols.T))


def pdq_grid(x: FloatArray, full_size: tuple[int, int], scale: int = 1) -> FloatArray:
    """PDQ's filtered 64x64 grid of a luma image decoded at 1/scale of `full_size`.

    PDQ's rows and columns are narrow boxes (a few taps each), so they are applied as bands
    (gather + weighted sum) instead of 64 mostly-zero rows of a matrix product: on the full
    decode that is O(pixels), and the same values as the dense product bit for bit in every
    image measured (bench/RESULTS.md).
    """
    full_w, full_h = full_size
    down = _pdq_band(full_h, scale)
    rows: FloatArray = operator("pdq", full_h, scale) @ x if down is None else band_down(down, x)
    across = _pdq_band(full_w, scale)
    if across is None:
        grid: FloatArray = rows @ operator("pdq", full_w, scale).T
        return grid
    return band_across(across, rows)


# The reduced decode decides a bit only when its value is clear of the bit's threshold by more
# than the reduction moves it. Measured on real and generated photos (bench/RESULTS.md), the
# reduced pHash coefficients move by up to ~PHASH_MARGIN from the reference's and PDQ's by up
# to ~PDQ_MARGIN; an image with more near-ties than these counts (thin lines averaging to an
# even grey, where imagehash's own bits are decided by rounding) is hashed on the full decode.
PHASH_MARGIN = 16.0
PHASH_NEAR_TIES = 0  # besides the median pair, which flips 2 bits at worst
PDQ_MARGIN = 2.0
PDQ_NEAR_TIES = 48


def phash_near_ties(low: FloatArray, median: float | None = None) -> int:
    """pHash coefficients (of 64) within PHASH_MARGIN of their median, the median pair aside."""
    centre = _median_of(low) if median is None else median
    # The two smallest gaps (the median pair's) left out, without sorting the gaps.
    near = int(np.count_nonzero(np.abs(low - centre) < PHASH_MARGIN))
    return max(0, near - 2)


def pdq_near_ties(coeffs: FloatArray) -> int:
    """PDQ coefficients (of 256) within PDQ_MARGIN of their median, the median itself aside."""
    flat = coeffs.ravel()
    median = np.partition(flat, 127)[127]
    return int(np.count_nonzero(np.abs(flat - median) < PDQ_MARGIN)) - 1


def reduced_pdq_grid(x: FloatArray, full_size: tuple[int, int], scale: int) -> FloatArray:
    """pdq_grid for the fast path's reduced luma: the rows as one sparse product, the
    columns (64 rows of them by then) as one dense one; the same values up to float32
    summation order, at a fraction of the band loop's fixed cost on a small image."""
    full_w, full_h = full_size
    rows = np.asarray(_pdq_sparse(full_h, scale) @ x)
    grid: FloatArray = rows @ operator("pdq", full_w, scale).T
    return grid


def fast_hashes(
    luma: npt.NDArray[np.uint8],
    full_size: tuple[int, int],
    scale: int,
    coarse: npt.NDArray[np.uint8] | None = None,
) -> PerceptualHashes | None:
    """All three hashes of a luma image decoded at 1/scale of `full_size` (width, height).

    None when the reduced image cannot decide them: too many pHash or PDQ values lie nearer
    their threshold than the reduction can move them (thin lines that average to an even
    grey); the caller then hashes the full decode.

    `coarse`, if given, is `luma` reduced 2x2 once more (1/(2 * scale)), and pHash is taken
    from it: its 32x32 Lanczos filter is tens of pixels wide, so the box moves it less than
    the decode already does (bench/RESULTS.md) while its pass costs a quarter as much.
    dHash stays on `luma`: its bits compare neighbouring cells, which on flat graphics are
    often exactly equal, and the extra box flips such ties.
    """
    full_w, full_h = full_size
    x = luma.astype(np.float32)
    source, source_scale = (x, scale) if coarse is None else (coarse.astype(np.float32), 2 * scale)
    thumb = _pillow_resize(
        source,
        operator("phash", full_h, source_scale),
        operator("phash", full_w, source_scale),
        _vertical_first(full_size, (PHASH_THUMB, PHASH_THUMB)),
    ).astype(np.float64)
    low: FloatArray = _PHASH_DCT_ROWS @ thumb @ _PHASH_DCT_ROWS.T
    middle = np.partition(low.ravel(), (31, 32))[31:33]
    median = float(middle[0] + middle[1]) / 2  # np.median's value, without its overhead
    if phash_near_ties(low, median) > PHASH_NEAR_TIES:
        return None
    if full_w < PDQ_MIN_HASHABLE_DIM or full_h < PDQ_MIN_HASHABLE_DIM:
        pdq, quality = PDQ_EMPTY, 0
        dihedral: tuple[str, ...] = (PDQ_EMPTY,) * 7
    else:
        grid = reduced_pdq_grid(x, full_size, scale)
        coeffs = pdq_coefficients(grid)
        if pdq_near_ties(coeffs) > PDQ_NEAR_TIES:
            return None
        pdq, quality, dihedral = pdq_dihedral_from_grid(grid, coeffs=coeffs)
    dthumb = _pillow_resize(
        x,
        operator("dhash_height", full_h, scale),
        operator("dhash_width", full_w, scale),
        _vertical_first(full_size, (DHASH_SIZE + 1, DHASH_SIZE)),
    )
    return PerceptualHashes(
        phash=bits_to_hex((low > median).ravel()),
        dhash=dhash_from_thumbnail(dthumb),
        pdq=pdq,
        pdq_quality=quality,
        pdq_dihedral=dihedral,
    )


# --- Pillow's LANCZOS resize of a large L image, exactly, as matrix products -----------------

# Pillow's 8-bit resampling works in fixed point: coefficients scaled by 2**22 and rounded to
# integers, sums of uint8 x coefficient in int32, each pass rounded by (s + 2**21) >> 22 and
# clipped to 0..255 (libImaging/Resample.c). Every such sum is an integer far below 2**53, so
# a float64 product of the same integers gives it exactly: the two passes as BLAS products
# give imagehash's thumbnails bit for bit, at less than half Pillow's cost on a large image
# (its horizontal pass reads every pixel once per thumbnail; here one product serves pHash's
# 32 and dHash's 9 columns at once).
_PILLOW_PRECISION = 22
# The exact path's thumbnails are these products at every size whose short side exceeds
# 32 (below, Pillow skips or upsamples a pass): since the horizontal pass multiplies only
# the columns each group of outputs reaches (_ACROSS_GROUP), they cost a quarter to a third
# of Pillow's two resizes from 300 x 300 up, a half with every coefficient built anew
# (bench/RESULTS.md, exactpath13). Coefficients of small sides (icons, thumbnails: at most
# this) are cached apart (_pillow_fixed_small: every side up to this, 3 thumbnail sizes
# each, at most ~6 MB), as a crawl meets many small sizes (bench/RESULTS.md, small12).
SMALL_PRODUCT_MAX_SIDE = 256
_RESIZE_ROWS = 64  # rows converted to float64 at a time (a band stays in cache)


def pillow_lanczos_fixed(n_in: int, n_out: int) -> FloatArray:
    """Pillow's fixed-point LANCZOS coefficients from n_in to n_out along one axis, as a dense
    (n_out x n_in) matrix of integers (precompute_coeffs, normalize_coeffs_8bpc), float32
    (exact: each is below 2**24) and read-only; cached for axes up to _FIXED_CACHE_MAX_SIDE
    (at most 64 x 32 x 4096 x 4 bytes = 32 MB), built each time for longer ones.
    """
    if n_in <= SMALL_PRODUCT_MAX_SIDE:
        return _pillow_fixed_small(n_in, n_out)
    if n_in <= _FIXED_CACHE_MAX_SIDE:
        return _pillow_fixed_cached(n_in, n_out)
    return _build_pillow_fixed(n_in, n_out)


_FIXED_CACHE_MAX_SIDE = 4096


def _build_pillow_fixed(n_in: int, n_out: int) -> FloatArray:
    """pillow_lanczos_fixed, uncached.

    The same double arithmetic in the same order as Pillow's C: centre, support and window
    bounds truncated as C casts do, the filter as sin(pi x) / (pi x) * sin(pi x/3) / (pi x/3),
    each row's weights summed in order (cumsum: sequential), then scaled and rounded half away
    from zero. numpy's float64 sin equals the C library's on this platform (tests check the
    product against Pillow's resize on many sizes).
    """
    scale = float(n_in) / n_out
    filterscale = max(scale, 1.0)
    support = _LANCZOS_SUPPORT * filterscale
    ss = 1.0 / filterscale
    centre = (np.arange(n_out) + 0.5) * scale
    xmin = np.maximum(0, (centre - support + 0.5).astype(np.int64))
    xmax = np.minimum(n_in, (centre + support + 0.5).astype(np.int64)) - xmin
    ksize = math.ceil(support) * 2 + 1
    taps = np.arange(ksize)[None, :]
    valid = taps < xmax[:, None]
    t = ((taps + xmin[:, None]) - centre[:, None] + 0.5) * ss
    inside = valid & (t >= -_LANCZOS_SUPPORT) & (t < _LANCZOS_SUPPORT)
    w = np.zeros_like(t)
    x = t[inside]
    with np.errstate(invalid="ignore", divide="ignore"):
        xp = x * math.pi
        third = x / 3
        tp = third * math.pi
        s1 = np.where(x == 0.0, 1.0, np.sin(xp) / xp)
        s2 = np.where(third == 0.0, 1.0, np.sin(tp) / tp)
    w[inside] = s1 * s2
    total = np.cumsum(w, axis=1)[:, -1:]
    k = np.divide(w, total, out=w.copy(), where=total != 0.0)
    scaled = k * float(1 << _PILLOW_PRECISION)
    fixed = np.trunc(np.where(scaled < 0, scaled - 0.5, scaled + 0.5))
    fixed[~valid] = 0.0
    dense = np.zeros((n_out, n_in), dtype=np.float32)
    rows = np.broadcast_to(np.arange(n_out)[:, None], valid.shape)
    dense[rows[valid], (taps + xmin[:, None])[valid]] = fixed[valid]
    dense.flags.writeable = False
    return dense


_pillow_fixed_cached = lru_cache(maxsize=64)(_build_pillow_fixed)
_pillow_fixed_small = lru_cache(maxsize=3 * SMALL_PRODUCT_MAX_SIDE)(_build_pillow_fixed)


def _fixed_round(s: FloatArray) -> FloatArray:
    """Pillow's clip8((s + 2**21) >> 22) of exact integer sums held in float64."""
    half = float(1 << (_PILLOW_PRECISION - 1))
    out: FloatArray = np.clip(np.floor((s + half) / float(1 << _PILLOW_PRECISION)), 0.0, 255.0)
    return out


# The horizontal pass's output columns are taken this many at a time, each group as one
# product over only the input columns its taps reach: a 32-column LANCZOS row touches about
# 6/32 of the width, so the dense product multiplied mostly zeros. The sums are exact
# integers in any grouping, so the values are the same bit for bit.
_ACROSS_GROUP = 4


AcrossBlocks = tuple[tuple[int, int, int, int, FloatArray], ...]


def _across_blocks(w: int, widths: tuple[int, ...]) -> AcrossBlocks:
    """(first input column, end, first output column, end, float64 weights) per group of
    _ACROSS_GROUP output columns of the thumbnails' horizontal passes (`widths` each);
    cached for widths up to _FIXED_CACHE_MAX_SIDE (~19 w doubles each, 32 x 4096 x 152
    bytes = 20 MB at most)."""
    if w <= _FIXED_CACHE_MAX_SIDE:
        return _across_blocks_cached(w, widths)
    return _build_across_blocks(w, widths)


def _build_across_blocks(w: int, widths: tuple[int, ...]) -> AcrossBlocks:
    across = np.concatenate([pillow_lanczos_fixed(w, out_w) for out_w in widths]).T
    blocks, first = [], 0
    for out_w in widths:
        for c0 in range(first, first + out_w, _ACROSS_GROUP):
            c1 = min(c0 + _ACROSS_GROUP, first + out_w)
            taps = np.flatnonzero(across[:, c0:c1].any(axis=1))
            lo, hi = (int(taps[0]), int(taps[-1]) + 1) if taps.size else (0, 1)
            weights = np.ascontiguousarray(across[lo:hi, c0:c1], dtype=np.float64)
            weights.flags.writeable = False
            blocks.append((lo, hi, c0, c1, weights))
        first += out_w
    return tuple(blocks)


_across_blocks_cached = lru_cache(maxsize=32)(_build_across_blocks)


def lanczos_thumbnails(
    pixels: npt.NDArray[np.uint8], sizes: tuple[tuple[int, int], ...]
) -> list[FloatArray]:
    """Pillow's LANCZOS resizes of an L image (H x W uint8, may be a strided view) to each
    (width, height) of `sizes`, horizontal pass first (the caller checks _vertical_first),
    bit for bit."""
    h, w = pixels.shape
    blocks = _across_blocks(w, tuple(out_w for out_w, _ in sizes))
    sums = np.empty((h, sum(out_w for out_w, _ in sizes)))
    buffer = np.empty((min(h, _RESIZE_ROWS), w))  # reused: no fresh pages per band
    for top in range(0, h, _RESIZE_ROWS):
        band = buffer[: min(_RESIZE_ROWS, h - top)]
        np.copyto(band, pixels[top : top + _RESIZE_ROWS])
        for lo, hi, c0, c1, weights in blocks:
            np.matmul(band[:, lo:hi], weights, out=sums[top : top + _RESIZE_ROWS, c0:c1])
    inter = _fixed_round(sums)
    out, first = [], 0
    for out_w, out_h in sizes:
        part = inter[:, first : first + out_w]
        first += out_w
        out.append(_fixed_round(pillow_lanczos_fixed(h, out_h).astype(np.float64) @ part))
    return out


def _exact_thumbnails(source: Image.Image) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """imagehash's pHash (32x32) and dHash (9x8) thumbnails of `source` (mode L): the same
    values as Pillow's resize, as matrix products (lanczos_thumbnails); a resize that Pillow
    starts vertically (_vertical_first) is the products' horizontal-first resize of the
    transposed image, transposed back (the same passes in the same order). Pillow's resize
    itself for other modes and for a short side of 32 or less."""
    sizes = ((PHASH_THUMB, PHASH_THUMB), (DHASH_SIZE + 1, DHASH_SIZE))
    w, h = source.size
    if source.mode != "L" or min(w, h) <= PHASH_THUMB:
        return (
            np.asarray(source.resize(sizes[0], Image.Resampling.LANCZOS)),
            np.asarray(source.resize(sizes[1], Image.Resampling.LANCZOS)),
        )
    pixels = np.asarray(source)
    down = [_vertical_first(source.size, size) for size in sizes]
    thumbs: list[npt.NDArray[Any]] = [np.empty(0)] * len(sizes)
    across = [i for i, vertical in enumerate(down) if not vertical]
    if across:
        for i, thumb in zip(across, lanczos_thumbnails(pixels, tuple(sizes[i] for i in across)),
                            strict=True):
            thumbs[i] = thumb
    along = [i for i, vertical in enumerate(down) if vertical]
    if along:
        flipped = tuple((sizes[i][1], sizes[i][0]) for i in along)
        for i, thumb in zip(along, lanczos_thumbnails(pixels.T, flipped), strict=True):
            thumbs[i] = thumb.T
    return thumbs[0].astype(np.uint8), thumbs[1].astype(np.uint8)


def exact_hashes(
    luma: Image.Image,
    *,
    rgb: npt.NDArray[np.uint8] | None = None,
    lum: npt.NDArray[np.float32] | None = None,
    thumbs_of: Image.Image | None = None,
) -> PerceptualHashes:
    """The reference hashes of a full-resolution image, computed without the libraries' costs.

    `thumbs_of`: another image (a reduced copy of `luma`) to take pHash's and dHash's
    thumbnails from instead (no longer the reference's bits: matchers.variants).

    pHash/dHash: the thumbnails of Pillow's resizes that imagehash makes, on `luma` (mode L;
    _exact_thumbnails, pixel for pixel). PDQ: from `lum`,
    pdqhash's float luma (pdq_luma_of), or else `rgb` (H x W x 3): Meta's filter, decimation
    and DCT as banded products (agrees bit-for-bit with pdqhash in every case measured; only
    float summation order differs). Images narrower than PDQ's 64x64 grid are handed to
    pdqhash itself (they need `rgb`): there the grid repeats pixels, DCT coefficients tie
    exactly, and which way a tie falls depends on the summation order.
    """
    source = luma if thumbs_of is None else thumbs_of
    thumb, dthumb = _exact_thumbnails(source)
    w, h = luma.size
    if w < PDQ_MIN_HASHABLE_DIM or h < PDQ_MIN_HASHABLE_DIM:
        pdq, quality = PDQ_EMPTY, 0
        dihedral: tuple[str, ...] = (PDQ_EMPTY,) * 7
    elif min(w, h) < PDQ_GRID or lum is None:
        if rgb is None:
            raise ValueError("exact_hashes needs rgb for images smaller than 64 x 64 or no lum")
        if min(w, h) < PDQ_GRID:
            import pdqhash

            vectors, pdq_quality = pdqhash.compute_dihedral(np.ascontiguousarray(rgb))
            hexes = tuple(bits_to_hex(np.asarray(v).astype(bool)) for v in vectors)
            pdq, quality, dihedral = hexes[0], int(pdq_quality), hexes[1:]
        else:
            pdq, quality, dihedral = pdq_dihedral_from_grid(pdq_grid(pdq_luma(rgb), (w, h)))
    else:
        pdq, quality, dihedral = pdq_dihedral_from_grid(pdq_grid(lum, (w, h)))
    return PerceptualHashes(
        phash=phash_from_thumbnail(thumb),
        dhash=dhash_from_thumbnail(dthumb),
        pdq=pdq,
        pdq_quality=quality,
        pdq_dihedral=dihedral,
    )


# pdqhash's luma weights 0.299, 0.587, 0.114, as integers over a common scale.
_LUMA_WEIGHTS = (np.float32(299), np.float32(587), np.float32(114))
_LUMA_SCALE = np.float32(1000)


def pdq_luma(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """pdqhash's luma exactly: float32(0.299 r + 0.587 g + 0.114 b) of a float64 sum.

    Computed as (299 r + 587 g + 114 b) / 1000 in float32: the integer sum is exact in
    float32 (under 2**24) and the division is correctly rounded, which gives the same
    float32 as pdqhash's float64 sum for all 2**24 colours (checked exhaustively in
    tests/test_hashing.py), without float64 temporaries. A band of rows at a time, so the
    temporaries stay in cache; `rgb` may be a strided view (RGBA's first three channels).
    """
    return pdq_luma_planes(rgb[:, :, 0], rgb[:, :, 1], rgb[:, :, 2])


def pdq_luma_planes(
    red: npt.NDArray[np.uint8], green: npt.NDArray[np.uint8], blue: npt.NDArray[np.uint8]
) -> npt.NDArray[np.float32]:
    """pdq_luma of the colour planes given apart (H x W each, views or arrays): the same
    float32 operations in the same order, a band of rows at a time."""
    h, w = red.shape
    out = np.empty((h, w), dtype=np.float32)
    tmp = np.empty((_LUMA_BAND, w), dtype=np.float32)
    for top in range(0, h, _LUMA_BAND):
        rows = slice(top, top + _LUMA_BAND)
        acc = out[rows]
        part = tmp[: acc.shape[0]]
        np.multiply(red[rows], _LUMA_WEIGHTS[0], out=acc, dtype=np.float32)
        np.multiply(green[rows], _LUMA_WEIGHTS[1], out=part, dtype=np.float32)
        acc += part
        np.multiply(blue[rows], _LUMA_WEIGHTS[2], out=part, dtype=np.float32)
        acc += part
        acc /= _LUMA_SCALE
    return out


# Up to this many pixels an RGB(A) image's pdq_luma_of reads its packed pixels in one copy:
# measured against the three plane copies larger images then took (64 x 64: 36 -> 22 us,
# 128 x 128 67 -> 47, even near 200 x 200, worse at 256 x 256; bench/RESULTS.md, small12).
PACKED_LUMA_MAX_PIXELS = 1 << 15


def pdq_luma_of(img: Image.Image, luma: Image.Image) -> npt.NDArray[np.float32]:
    """pdq_luma of img.convert("RGB"), without that copy where the mode allows.

    Grey images: pdqhash's luma of (v, v, v) is exactly v for every v in 0..255, so it is the
    L image itself. Palette images: the luma of each palette entry, looked up. RGB(A): the
    pixels as they are (alpha ignored, as convert("RGB") does). Others: through RGB.
    """
    mode = img.mode
    if mode in ("L", "LA"):
        return np.asarray(luma, dtype=np.float32)
    if mode in ("P", "PA") and img.palette is not None and img.palette.mode in ("RGB", "RGBA"):
        entries = np.zeros((256, 3), dtype=np.uint8)
        palette = np.asarray(img.getpalette("RGB") or [], dtype=np.uint8).reshape(-1, 3)[:256]
        entries[: len(palette)] = palette
        table = pdq_luma(entries[None, :, :])[0]
        indices = np.asarray(img)
        looked_up: npt.NDArray[np.float32] = table[
            indices if indices.ndim == 2 else indices[..., 0]
        ]
        return looked_up
    if mode in ("RGB", "RGBA", "RGBX") and img.width * img.height <= PACKED_LUMA_MAX_PIXELS:
        return pdq_luma(np.asarray(img))  # small: one packed copy beats three plane copies
    if mode in ("RGB", "RGBA", "RGBX"):
        # Pillow's own RGB -> F conversion is this very arithmetic: (float)(299 r + 587 g +
        # 114 b) / 1000.0F (libImaging/Convert.c, rgb2f; alpha ignored), equal to pdq_luma
        # for all 2**24 colours (tests/test_hashing.py). One pass in C and one copy out,
        # about half the cost of three plane copies and pdq_luma_planes' float passes.
        converted: npt.NDArray[np.float32] = np.asarray(img.convert("F"))
        return converted
    return pdq_luma(np.asarray(img.convert("RGB")))
