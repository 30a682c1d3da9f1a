"""SHA-256 of the image bytes (exact match only)."""

from __future__ import annotations

from matchers.hashtypes.base import HashType

SHA256 = HashType(
    name="sha256",
    bits=256,
    kind="exact",
    default_threshold=0,
    description="SHA-256 of the file bytes (exact match only)",
)
