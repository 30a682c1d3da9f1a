"""PDQ (Meta's 256-bit perceptual hash) with Meta's recommended thresholds."""

from __future__ import annotations

from matchers.hashtypes.base import HashType

# Meta (pdq/README.md): match at Hamming distance <= 31; hashes of images with quality
# below 50 are too featureless to match on.
PDQ_MATCH_THRESHOLD = 31
PDQ_QUALITY_THRESHOLD = 50

PDQ = HashType(
    name="pdq",
    bits=256,
    kind="perceptual",
    default_threshold=PDQ_MATCH_THRESHOLD,
    description="Meta PDQ, 256-bit perceptual hash (Hamming distance)",
    quality_threshold=PDQ_QUALITY_THRESHOLD,
)
