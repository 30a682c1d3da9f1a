"""Named states and defaults of the workflow (review, takedown, schedules).

A light module (no SQLAlchemy), so interfaces can show the defaults in their help without
loading the database layer.
"""

from __future__ import annotations

from collections.abc import Mapping

# --- review ------------------------------------------------------------------------------
DEFAULT_CLAIM_MINUTES = 30  # an unfinished batch goes back to the queue after this long
DEFAULT_CONFIRMATIONS_REQUIRED = 1  # 2 = two-person rule
DEFAULT_CLAIM_LIMIT = 10

HIT_STATES = ("pending", "confirmed", "rejected", "notified", "live", "removed")
# Allowed transitions. notified -> notified and live -> notified are re-notices;
# live -> live is a later re-check that still finds the image; removed -> live is the
# image served again at its URL after it was taken down (a crawl matched it again);
# rejected -> pending is new, stronger evidence (a high-tier match from a list that had
# not matched the image before) re-opening a rejected image, with the reason audited.
TRANSITIONS: Mapping[str, frozenset[str]] = {
    "pending": frozenset({"confirmed", "rejected"}),
    "confirmed": frozenset({"notified"}),
    "notified": frozenset({"notified", "live", "removed"}),
    "live": frozenset({"live", "notified", "removed"}),
    "rejected": frozenset({"pending"}),
    "removed": frozenset({"live"}),
}
TIERS = ("high", "low")
TIER_CHOICES = (*TIERS, "all")
DEFAULT_TIER = "high"  # the review queue and listings show the high tier unless asked

# --- takedown ----------------------------------------------------------------------------
DEFAULT_RENOTICE_HOURS = 24.0  # Project Arachnid re-sends every 24 h until removal
NOTICEABLE = ("confirmed", "notified", "live")
RECHECKABLE = ("notified", "live")
DEFAULT_OLDEST_LIVE = 10  # how many still-live images the stats list

# --- schedules ---------------------------------------------------------------------------
DEFAULT_TIME_BUDGET_SECONDS = 3600  # the schema default: a crawl may run one hour
