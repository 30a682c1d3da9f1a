"""MD5 of the image bytes: the form most hotline and NCMEC-style lists still come in."""

from __future__ import annotations

from matchers.hashtypes.base import HashType

MD5 = HashType(
    name="md5",
    bits=128,
    kind="exact",
    default_threshold=0,
    description="MD5 of the file bytes (exact match only)",
)
