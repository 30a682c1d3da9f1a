"""Serve a generated site until interrupted: `python3 -m crawler.sitegen bench|test [...]`.

Prints one JSON line (start URL and sizes) on stdout once the server listens, so a benchmark
can run the site in its own process (the server must not share the crawler's core).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m crawler.sitegen")
    sub = parser.add_subparsers(dest="kind", required=True)
    bench = sub.add_parser("bench", help="the benchmark site (pages of ~130 KB JPEGs)")
    bench.add_argument("--pages", type=int, default=2000)
    bench.add_argument("--images-per-page", type=int, default=5)
    bench.add_argument("--pool-size", type=int, default=200)
    bench.add_argument("--hosts", default="1",
                       help="split the pages into this many sites on 127.0.0.1, 127.0.0.2, "
                            "...; several counts, comma-separated: one such site each (other "
                            "ports), sharing their pictures, all listed under 'sites'")
    sub.add_parser("test", help="the synthetic test site (known images, edits, traps)")
    args = parser.parse_args(argv)
    # The handlers only note the signal: one that called Event.set() while the main thread
    # sat in Event.wait() (or a second signal inside the first handler's set()) deadlocked
    # on the Event's own lock, and the server never stopped.
    signalled: list[int] = []
    signal.signal(signal.SIGTERM, lambda number, _frame: signalled.append(number))
    signal.signal(signal.SIGINT, lambda number, _frame: signalled.append(number))

    def wait_for_a_signal() -> None:
        while not signalled:
            time.sleep(0.1)

    if args.kind == "bench":
        from crawler.sitegen.bench import BenchSite

        sites: list[BenchSite] = []
        for hosts in (int(n) for n in args.hosts.split(",")):
            sites.append(BenchSite(args.pages, args.images_per_page, pool_size=args.pool_size,
                                   hosts=hosts, pool=sites[0].pool if sites else None))
            sites[-1].start()
        first = sites[0]
        info = {"start_url": first.start_url, "start_urls": first.start_urls,
                "pages": first.pages, "images": first.images,
                "sites": [{"hosts": len(site.servers), "start_url": site.start_url,
                           "start_urls": site.start_urls} for site in sites]}
        print(json.dumps(info), flush=True)
        wait_for_a_signal()
        for site in sites:
            site.stop()
    else:
        from crawler.sitegen.site import SyntheticSite

        with SyntheticSite() as test_site:
            print(json.dumps({"start_url": test_site.start_url,
                              "hits": sorted(test_site.expected_hits)}), flush=True)
            wait_for_a_signal()
    return 0


if __name__ == "__main__":
    sys.exit(main())
