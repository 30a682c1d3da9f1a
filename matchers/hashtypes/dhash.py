"""dHash (difference hash, 64 bits) as computed by imagehash.dhash."""

from __future__ import annotations

from matchers.hashtypes.base import HashType

# dHash is weaker than pHash on flat graphics: unrelated single-shape images are within
# 4 bits of each other 24% of the time in the threshold study (16% of short-text pairs),
# so only near-identical copies match by default.
DHASH_MATCH_THRESHOLD = 4

DHASH = HashType(
    name="dhash",
    bits=64,
    kind="perceptual",
    default_threshold=DHASH_MATCH_THRESHOLD,
    description="imagehash dHash, 64-bit gradient hash (Hamming distance)",
)
