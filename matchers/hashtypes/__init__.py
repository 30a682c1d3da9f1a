"""Hash-type registry: every hash Trawl can parse, store and match, by name.

What a type is: its name, width, kind (exact or perceptual), default threshold and quality
gate, and how to parse, format and compare values (`HashType`). Names are checked for
uniqueness when this package is imported.

Adding a type that is only MATCHED (values arrive in lists and in digests computed
elsewhere) is one module defining a `HashType` plus one entry in `_BUILTIN`: list parsing,
the indexes and the match decision take every registered type.

Adding a type that Trawl also COMPUTES from images is more, deliberately: hashing is not
part of the type. hash_image decodes an image once and computes pHash, dHash and PDQ
together from that one decode (they share the reduced luma and the DCT work, which is where
its speed comes from; matchers/perceptual.py), so a new computed type adds (1) its module
here, (2) its computation in matchers/perceptual.py (or a separate pass in hashing.py),
(3) a field on `matchers.digests.Digests`, and (4) a media column with a migration in
storage. The adapter (crawler/adapter.py) is the one place that maps digests to columns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from matchers.hashtypes.base import HashKind, HashType
from matchers.hashtypes.dhash import DHASH, DHASH_MATCH_THRESHOLD
from matchers.hashtypes.md5 import MD5
from matchers.hashtypes.pdq import PDQ, PDQ_MATCH_THRESHOLD, PDQ_QUALITY_THRESHOLD
from matchers.hashtypes.phash import PHASH, PHASH_MATCH_THRESHOLD
from matchers.hashtypes.sha1 import SHA1
from matchers.hashtypes.sha256 import SHA256

_BUILTIN = (MD5, SHA1, SHA256, PHASH, DHASH, PDQ)


def build_registry(types: Iterable[HashType]) -> dict[str, HashType]:
    """Index hash types by name, refusing two types that claim the same name."""
    registry: dict[str, HashType] = {}
    for hash_type in types:
        if hash_type.name in registry:
            raise ValueError(f"two hash types are registered under the name {hash_type.name!r}")
        if hash_type.name != hash_type.name.lower() or not hash_type.name.isidentifier():
            raise ValueError(f"hash type name {hash_type.name!r} must be a lowercase identifier")
        registry[hash_type.name] = hash_type
    return registry


HASH_TYPES: dict[str, HashType] = build_registry(_BUILTIN)
EXACT_TYPES: tuple[str, ...] = tuple(n for n, t in HASH_TYPES.items() if t.kind == "exact")
PERCEPTUAL_TYPES: tuple[str, ...] = tuple(
    n for n, t in HASH_TYPES.items() if t.kind == "perceptual"
)
# Raw value bytes a matcher keeps per known hash: room for the widest type (PDQ, 32 bytes).
VALUE_BYTES = max(t.bits for t in HASH_TYPES.values()) // 8


def get_hash_type(name: str) -> HashType:
    """The registered type called `name` (case-insensitive), or ValueError listing the known."""
    found = HASH_TYPES.get(name.strip().lower())
    if found is None:
        known = ", ".join(HASH_TYPES)
        raise ValueError(f"unknown hash type {name!r}; known types are: {known}")
    return found


def match_thresholds(overrides: Mapping[str, int]) -> dict[str, int]:
    """Every perceptual type's match threshold: its default, or the override given
    (ValueError naming a type that has no threshold or a value out of its range)."""
    limits = {name: HASH_TYPES[name].default_threshold for name in PERCEPTUAL_TYPES}
    for name, value in overrides.items():
        hash_type = get_hash_type(name)
        if hash_type.kind != "perceptual":
            raise ValueError(f"{hash_type.name} is an exact hash type; it has no threshold to set")
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"the {hash_type.name} threshold must be an integer, got {value!r}")
        if not 0 <= value < hash_type.bits:
            raise ValueError(
                f"the {hash_type.name} threshold must be between 0 and {hash_type.bits - 1} "
                f"bits, got {value}"
            )
        limits[hash_type.name] = value
    return limits


__all__ = [
    "DHASH_MATCH_THRESHOLD",
    "EXACT_TYPES",
    "HASH_TYPES",
    "PDQ_MATCH_THRESHOLD",
    "PDQ_QUALITY_THRESHOLD",
    "PERCEPTUAL_TYPES",
    "PHASH_MATCH_THRESHOLD",
    "VALUE_BYTES",
    "HashKind",
    "HashType",
    "build_registry",
    "get_hash_type",
    "match_thresholds",
]
