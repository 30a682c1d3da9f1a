"""The roles a Trawl account can have (importable without loading SQLAlchemy)."""

from __future__ import annotations

ANALYST_ROLE = "analyst"  # review queue, hits, seeds, schedules, crawls
TAKEDOWN_ROLE = "takedown"  # providers, notices, recheck, stats
ADMIN_ROLE = "admin"  # everything, plus accounts and hash-list imports
ROLES = (ANALYST_ROLE, TAKEDOWN_ROLE, ADMIN_ROLE)
