"""Multi-index hashing's arithmetic: chunk widths, probe radii and the expected cost of a
search, from which the index picks its chunking and its probe plans."""

from __future__ import annotations

from functools import lru_cache
from itertools import combinations
from math import comb

import numpy as np

from matchers.hamming import I64

MAX_CHUNK_BITS = 24  # a chunk table has 2**width buckets; wider tables cost too much memory
# Per-query cost of one bucket probe relative to verifying one candidate: both are about
# one cache miss on large indexes (bench/bench_matching.py); used to pick the chunk count.
PROBE_COST = 1.0
CANDIDATE_COST = 1.5
# A row in a probed bucket that is only counted (sorted with the others), not verified.
ENTRY_COST = 0.5


@lru_cache(maxsize=64)
def flip_masks(width: int, radius: int) -> I64:
    """Every `width`-bit XOR mask with at most `radius` bits set (one probe each)."""
    masks = [0]
    for flips in range(1, radius + 1):
        masks.extend(sum(1 << b for b in chosen) for chosen in combinations(range(width), flips))
    return np.array(masks, dtype=np.int64)


def ball(width: int, radius: int) -> int:
    return sum(comb(width, k) for k in range(radius + 1))


def chunk_widths(bits: int, chunks: int) -> list[int]:
    """Split `bits` into `chunks` contiguous widths differing by at most one, widest first."""
    base, extra = divmod(bits, chunks)
    return [base + 1] * extra + [base] * (chunks - extra)


def probe_radii(chunks: int, radius: int, min_hits: int = 1) -> list[int]:
    """Per-chunk probe radii s_j such that every code within `radius` is found in at least
    `min_hits` chunks' probes.

    Pigeonhole: a code found in fewer than k chunks has d_j > s_j in m - k + 1 chunks, so
    its distance is at least the sum of the m - k + 1 smallest (s_j + 1); radii for which
    that sum exceeds `radius` make the miss impossible. s_j = -1 means the chunk need not
    be probed at all. The first (widest, emptiest) chunks get the larger radii.
    """
    if not 1 <= min_hits <= chunks:
        raise ValueError(f"min_hits must be between 1 and {chunks}, got {min_hits}")
    counted = chunks - min_hits + 1  # chunks whose (s_j + 1) must add up past the radius
    # Balanced radii (a chunks at t, the rest at t - 1) cost least, as balls grow fast with
    # the radius: the smallest t, then the fewest chunks at t, that satisfy the bound.
    for top in range(radius + 1):
        for wide in range(chunks + 1):
            reach = [top] * wide + [top - 1] * (chunks - wide)
            if sum(sorted(s + 1 for s in reach)[:counted]) >= radius + 1:
                return reach
    raise AssertionError("unreachable: radius + 1 everywhere always satisfies the bound")


def estimate_cost(bits: int, chunks: int, radius: int, n: int) -> tuple[float, float]:
    """(bucket probes, expected candidates) per query if codes were uniformly random."""
    probes = candidates = 0.0
    for width, reach in zip(chunk_widths(bits, chunks), probe_radii(chunks, radius), strict=True):
        if reach >= 0:
            size = ball(width, reach)
            probes += size
            candidates += size * n / 2.0**width
    return probes, candidates


def choose_chunks(bits: int, radius: int, n: int) -> int:
    """The chunk count with the cheapest expected query among those that fit in memory.

    A table over a w-bit chunk has 2**w + 1 offsets; all offsets together may use at most
    8 entries per code (plus 1 Mi), so memory stays proportional to the list.
    """
    fewest = -(-bits // MAX_CHUNK_BITS)
    best, best_cost = bits // 4, float("inf")
    for chunks in range(fewest, bits // 4 + 1):
        if sum(2**w for w in chunk_widths(bits, chunks)) > 8 * n + 2**20:
            continue
        probes, candidates = estimate_cost(bits, chunks, radius, n)
        cost = PROBE_COST * probes + CANDIDATE_COST * candidates
        if cost < best_cost:
            best, best_cost = chunks, cost
    return best
