"""Re-notices due read from a snapshot: takedown_hits also marks re-notice time changes.

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-01

The dashboard's count of re-notices due (notified or live images whose renotice_due_at
has passed) was an index range over every such image on each request. storage.stats now
keeps it in stats_snapshots per takedown version, with the next re-notice times, so the
count is exact until the version moves or time passes the last time it holds. For that,
every change that can move the count must add a takedown_changes row: the takedown_hits
trigger now also fires when renotice_due_at changes and when a hit is inserted already in
a takedown state (0008's fired on state, notice and removal changes only). Triggers only:
no row is touched; one takedown_changes row is added (a new version).
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from storage import statstriggers

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    statstriggers.install_renotice_tracking(op.get_bind())


def downgrade() -> None:
    statstriggers.remove_renotice_tracking(op.get_bind())
