"""The `trawl` command-line interface."""

import os

from crawler.gctune import fast_start

# Fewer cyclic collections while the command imports and builds its objects (crawler.gctune).
fast_start()

# Before numpy is imported anywhere: `trawl hash`, the inline/thread hash pools and rematch
# run hash_image in this process, and a multi-threaded BLAS makes it ~25x slower on a
# 2-core machine (bench/RESULTS.md). A value the user set is kept.
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")
