"""Where Meta's PDQ test images are: outside the repository (they are Meta's files, not ours)."""

from __future__ import annotations

import os
from pathlib import Path


def pdq_reference_dir() -> Path:
    """TRAWL_PDQ_REFERENCE when set, else ../shared/reference/pdq beside the checkout."""
    configured = os.environ.get("TRAWL_PDQ_REFERENCE")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "shared" / "reference" / "pdq"


PDQ_REFERENCE_DIR = pdq_reference_dir()
SKIP_REASON = (
    f"Meta's PDQ reference images are not at {PDQ_REFERENCE_DIR} (../shared/reference/pdq "
    "from the repository root, or set TRAWL_PDQ_REFERENCE); they are kept outside the "
    "repository"
)
