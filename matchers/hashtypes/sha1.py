"""SHA-1 of the image bytes (exact match only)."""

from __future__ import annotations

from matchers.hashtypes.base import HashType

SHA1 = HashType(
    name="sha1",
    bits=160,
    kind="exact",
    default_threshold=0,
    description="SHA-1 of the file bytes (exact match only)",
)
