"""crawler.gctune: a command starts with fewer cyclic collections, then runs with the usual."""

from __future__ import annotations

import gc
import subprocess
import sys

from crawler import gctune


def test_fast_start_raises_the_young_threshold_and_steady_puts_back_what_it_found() -> None:
    gctune.steady()  # this test process may have imported crawler.cli already
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        gctune.fast_start()
        assert gc.get_threshold() == gctune.START_THRESHOLDS
        gctune.fast_start()  # twice: what was found first is kept
        gctune.steady()
        assert gc.get_threshold() == (700, 10, 10)
        gctune.steady()  # without a fast_start: nothing changes
        assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*before)


def test_importing_the_cli_starts_fast_and_steady_gives_cpythons_defaults_back() -> None:
    code = (
        "import gc, crawler.cli.main\n"
        "print(gc.get_threshold())\n"
        "from crawler.gctune import steady\n"
        "steady()\n"
        "print(gc.get_threshold())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == [str(gctune.START_THRESHOLDS), "(700, 10, 10)"]  # CPython's defaults


def test_for_crawl_collects_the_start_then_leaves_its_survivors_out_until_thaw() -> None:
    # In a process of its own: freezing would reach the test session's objects.
    code = (
        "import gc, weakref\n"
        "from crawler import gctune\n"
        "class Node: pass\n"
        "def cycle():\n"
        "    a, b = Node(), Node(); a.b, b.a = b, a\n"
        "    return weakref.ref(a)\n"
        "gctune.fast_start()\n"
        "kept = [Node() for _ in range(1000)]\n"
        "before = cycle()  # garbage made during the start\n"
        "gctune.for_crawl()\n"
        "print(before() is None, gc.get_threshold())\n"
        "print(gc.get_freeze_count() >= 1000)\n"
        "after = cycle()  # garbage made during the crawl: collected as ever\n"
        "gc.collect()\n"
        "print(after() is None)\n"
        "gctune.thaw()\n"
        "print(gc.get_freeze_count(), gc.get_threshold())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["True (700, 10, 10)", "True", "True", "0 (700, 10, 10)"]
