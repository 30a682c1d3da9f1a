"""Match: one known hash an image matched, graded (numpy-free, so a process that only
receives matches, the crawl's reactor, need not import the matching stack)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matchers.confidence import ImageClass, Tier


@dataclass(frozen=True, slots=True)
class Match:
    """One known hash the image matched, with how far to trust it.

    `confidence` orders the analyst queue (1.0 for exact matches; perceptual hits in the
    high tier lie in [0.5, 0.99], low-tier ones below 0.5); `tier` 'low' keeps hits that
    the measurements say are often wrong (flat graphics, icons, tiny images) out of the
    main queue. Matches of the same known item (same list and label) share one grade, and
    `corroborated_by` names the other hash types that matched that item.
    """

    known_id: int
    list_name: str
    hash_type: str
    value: str
    distance: int
    threshold: int
    label: str | None
    category: str | None
    confidence: float
    tier: Tier
    corroborated_by: tuple[str, ...] = ()
    image_class: ImageClass | None = None  # None for exact matches: size and look don't matter
    # How the image was changed to match: a PDQ orientation (decision.PDQ_DIHEDRAL_TRANSFORMS) or a
    # query-side variant (trim, uncaption-top, trim+uncaption-left, ...: matchers.variants).
    transform: str | None = None
    # Which stored variant of the known item matched (e.g. crop-centre-90, from a list made
    # with `trawl hash --variants crops`); None for the item's full-image hash.
    known_variant: str | None = None
