"""pHash (DCT perceptual hash, 64 bits) as computed by imagehash.phash."""

from __future__ import annotations

from matchers.hashtypes.base import HashType

# pHash puts unrelated flat graphics (logos, text, a few solid shapes) only a few bits
# apart, and perceptually empty images (one solid colour) at distance 0, so the default
# stays tight. Measured on generated images (bench/bench_matching.py --threshold-study,
# bench/RESULTS.md): at 6 bits 92% of edits of photo-like images still match, no
# unrelated multi-shape graphic does and 3% of unrelated short-text pairs do; at 8 recall
# is 96% but text collisions double (5.7%) and unrelated graphics start to collide. PDQ
# is the primary perceptual signal; the decision layer may widen this per list.
PHASH_MATCH_THRESHOLD = 6

PHASH = HashType(
    name="phash",
    bits=64,
    kind="perceptual",
    default_threshold=PHASH_MATCH_THRESHOLD,
    description="imagehash pHash, 64-bit DCT hash (Hamming distance)",
)
