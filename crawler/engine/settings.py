"""Scrapy settings for Trawl: hardened defaults (no cache, no consoles, no disk) and TRAWL_*."""

from __future__ import annotations

BOT_NAME = "trawl"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"
USER_AGENT = "Trawl/0.1 (+hotline crawler; takedown of known abuse images)"

# --- Trawl's own settings -------------------------------------------------------------
TRAWL_DATABASE_URL = None  # database URL, as --db and env TRAWL_DATABASE_URL (run_crawl sets it)
TRAWL_CRAWL_ID = None  # crawl row the writer records into (run_crawl sets it)
TRAWL_DEFAULT_DEPTH = 3  # link depth for ad-hoc URLs (seed rows carry their own)
TRAWL_MAX_PAGES = None  # page limit for ad-hoc URLs
TRAWL_MAX_IMAGE_SIZE = 20 * 1024 * 1024  # bytes; larger image downloads are cancelled
TRAWL_MAX_PIXELS = None  # None: matchers.hashing.DEFAULT_MAX_PIXELS (decompression bombs)
# process: `python3 -m crawler.engine.hashworker` workers fed through pipes by the reactor (measured
# fastest, bench/RESULTS.md); thread/inline hash in the crawl process (run it with
# OPENBLAS_NUM_THREADS=1 then: a multi-threaded BLAS makes hash_image ~25x slower on 2 cores).
TRAWL_HASH_POOL = "process"
TRAWL_HASH_WORKERS = 1  # on 2 cores the reactor needs the other one (measured)
# Images each hash worker process hashes at a time, in threads (0: two while the crawl may
# use more cores than there are workers, else one; crawler.engine.hashpool.auto_threads).
# One by default: on a quiet 2-core machine two threads cost the worker ~1 ms of CPU a photo
# more (GIL hand-offs) and the crawl ran 184 img/s against 208 with one (bench/RESULTS.md,
# "End-to-end crawl", 2026-12-02 08:18); they only won on a machine loaded by other work.
TRAWL_HASH_THREADS = 1
# CPU seconds one image may take in a hash worker; over it the worker is killed and
# replaced and the image recorded with status "timeout" (0: no limit; process pool only).
# Env TRAWL_HASH_TIMEOUT (crawler.engine.process.trawl_settings reads it).
TRAWL_HASH_TIMEOUT = 30.0
# Seconds one image download may take in all, retries and redirects included (Scrapy's
# DOWNLOAD_TIMEOUT is per attempt): a slowloris server cannot hold a crawl for long.
TRAWL_IMAGE_DEADLINE = 30.0
TRAWL_MATCH_THRESHOLDS: dict[str, int] = {}  # per hash type, e.g. {"pdq": 31}; {} = registry
# Match where the bytes are hashed (the workers map the saved matcher file): the reactor only
# routes bytes out and small results back. A re-check decides by itself and turns it off.
TRAWL_MATCH_IN_HASH_POOL = True
# Identical bytes under many URLs: analysed once while among the latest results (LRU by
# sha256, per worker, ~1.4 KB an entry) held in at most this many bytes: a bigger LRU makes
# the crawl's memory grow with the images (1 MB: ~750 results).
TRAWL_DIGEST_CACHE_BYTES = 1_000_000
# Image downloads wait while more than this many bytes of images wait to be hashed (the
# hash workers lag), so bodies wait on the server, not in memory (0: never wait;
# crawler/engine/downloader.py).
TRAWL_HASH_BACKLOG_BYTES = 0
TRAWL_CONDITIONAL_REQUESTS = True  # If-None-Match / If-Modified-Since for hashed image URLs
TRAWL_FLUSH_INTERVAL = 2.0  # seconds between commits of media, observations and hits
TRAWL_WRITE_BATCH = 500
TRAWL_STATS_INTERVAL = 10.0  # seconds between crawl-row stats updates
# seconds between heartbeats of the crawl row (storage.crawls.HEARTBEAT_SECONDS; a crawl
# silent for STALE_AFTER_SECONDS is marked failed by the next command that looks)
TRAWL_HEARTBEAT_INTERVAL = 30.0
# seconds between returns of the crawl process's freed heap memory to the system
# (glibc malloc_trim; crawler/engine/extensions/malloctrim.py says why; 0: never)
TRAWL_MALLOC_TRIM_INTERVAL = 10.0
TRAWL_PROGRESS = False  # a progress line on stderr
TRAWL_PROGRESS_INTERVAL = 5.0
TRAWL_TRAP_MAX_QUERY_VARIANTS = 50  # distinct query strings per host+path (calendars)
TRAWL_TRAP_MAX_SEGMENT_REPEATS = 3  # /a/b/a/b/a/b/a/b
# Internal addresses (loopback, RFC 1918, link-local, metadata, ...) a crawl may connect to
# besides its seeds' own hosts: addresses or CIDR blocks (--allow-address, env
# TRAWL_ALLOW_ADDRESSES; crawler.services.addresses reads both).
TRAWL_ALLOW_ADDRESSES: list[str] = []

# --- politeness and concurrency -------------------------------------------------------
ROBOTSTXT_OBEY = True  # per seed: seeds with obey_robots=False set meta dont_obey_robotstxt
CONCURRENT_REQUESTS = 32
CONCURRENT_REQUESTS_PER_DOMAIN = 8
# Scrapy 2.19 lets a host get up to CONCURRENT_REQUESTS at once; this one holds it to the
# per-host limit (crawler/engine/downloader.py says how).
DOWNLOADER = "crawler.engine.downloader.PoliteDownloader"
DOWNLOAD_DELAY = 0
DOWNLOAD_TIMEOUT = 30
DNS_TIMEOUT = 15
# Every resolved address passes the address policy (crawler.engine.resolver).
TWISTED_DNS_RESOLVER = "crawler.engine.resolver.PolicyResolver"
# Scrapy >= 2.13 starts CONCURRENT_ITEMS asyncio tasks for EVERY response's output, however
# few items it has (scrapy.utils.asyncio._parallel_asyncio): 100 by default cost the bare
# spider of bench/ 1.3 ms of CPU per image. A response here yields at most one item that
# waits (an image's bytes being hashed); requests and observations never wait.
CONCURRENT_ITEMS = 2
# Scrapy checks every generator callback for a `return value` by reading its source (inspect
# + ast) whenever its cache misses, and the cache is keyed by the bound method, which dies
# with its request: parse_image was re-read for nearly every image. Trawl's spiders are ours.
WARN_ON_GENERATOR_RETURN_VALUE = False
SCRAPER_SLOT_MAX_ACTIVE_SIZE = 8_000_000  # bytes of responses awaiting hashing: back-pressure
SCHEDULER_PRIORITY_QUEUE = "scrapy.pqueues.DownloaderAwarePriorityQueue"
# Fingerprints of page requests as 8-byte keys (~16 bytes a page, not ~100).
DUPEFILTER_CLASS = "crawler.engine.dupefilter.CompactDupeFilter"
SCHEDULER_DISK_QUEUE = "scrapy.squeues.PickleFifoDiskQueue"
SCHEDULER_MEMORY_QUEUE = "scrapy.squeues.FifoMemoryQueue"

# --- hardening (docs.scrapy.org/en/2.19/topics/security.html) ---------------------------
HTTPCACHE_ENABLED = False  # rule 1: no response bodies on disk, ever
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False  # 2.19's code-execution HTTP endpoint and its job file
MEMDEBUG_ENABLED = False
DOWNLOAD_HANDLERS = {"ftp": None, "s3": None, "file": None, "data": None}  # http(s) only
DOWNLOAD_MAXSIZE = 20 * 1024 * 1024  # pages; images use TRAWL_MAX_IMAGE_SIZE per request
DOWNLOAD_WARNSIZE = 8 * 1024 * 1024
DOWNLOAD_FAIL_ON_DATALOSS = True
MEMUSAGE_ENABLED = True
MEMUSAGE_LIMIT_MB = 2048  # close the crawl (reason memusage_exceeded) rather than swap
MEMUSAGE_WARNING_MB = 1024
MEMUSAGE_CHECK_INTERVAL_SECONDS = 10.0
RETRY_ENABLED = True
RETRY_TIMES = 2  # initial response + 2 retries
RETRY_GIVE_UP_LOG_LEVEL = "WARNING"  # counted in trawl/errors; one line, not an ERROR
REDIRECT_MAX_TIMES = 5
METAREFRESH_MAXDELAY = 5
COOKIES_ENABLED = False  # no session state: session-id URLs are canonicalised instead
URLLENGTH_LIMIT = 2048
# Scrapy 2.19 has no REQUEST_FINGERPRINTER_IMPLEMENTATION any more: its one fingerprinter
# (REQUEST_FINGERPRINTER_CLASS default) is the stable "2.7" one. Certificates are not
# verified (DOWNLOAD_VERIFY_CERTIFICATES default False): sites to report often have bad TLS.
FEEDS: dict[str, object] = {}
ITEM_PIPELINES = {
    "crawler.engine.pipelines.hashing.HashPipeline": 100,
    "crawler.engine.pipelines.matching.MatchPipeline": 200,
    "crawler.engine.pipelines.store.StorePipeline": 300,
}
# Scrapy's own downloader middlewares, less the ones Trawl never runs: offsite filtering
# (per-seed scopes instead), robots.txt (Trawl's subclass below), the HTTP cache (rule 1)
# and cookies (COOKIES_ENABLED = False). Left out of the base rather than set to None:
# Scrapy 2.19 imports every key to normalise it, and the cookies middleware's module
# imports tldextract with requests, urllib3 and filelock (~0.07 s of every start).
DOWNLOADER_MIDDLEWARES_BASE = {
    "scrapy.downloadermiddlewares.httpauth.HttpAuthMiddleware": 300,
    "scrapy.downloadermiddlewares.downloadtimeout.DownloadTimeoutMiddleware": 350,
    "scrapy.downloadermiddlewares.defaultheaders.DefaultHeadersMiddleware": 400,
    "scrapy.downloadermiddlewares.useragent.UserAgentMiddleware": 500,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": 550,
    "scrapy.downloadermiddlewares.redirect.MetaRefreshMiddleware": 580,
    "scrapy.downloadermiddlewares.httpcompression.HttpCompressionMiddleware": 590,
    "scrapy.downloadermiddlewares.redirect.RedirectMiddleware": 600,
    "scrapy.downloadermiddlewares.httpproxy.HttpProxyMiddleware": 750,
    "scrapy.downloadermiddlewares.stats.DownloaderStats": 850,
}
DOWNLOADER_MIDDLEWARES = {
    "crawler.engine.middlewares.addresses.AddressPolicyMiddleware": 50,  # before robots.txt
    "crawler.engine.middlewares.scope.ScopeMiddleware": 60,
    "crawler.engine.middlewares.deadline.ImageDeadlineMiddleware": 70,
    # Scrapy's robots.txt middleware, with every request waiting for a host's robots.txt
    # getting its answer (Scrapy's own gives it to the first waiter only: the others are
    # let through as if the host had none; crawler/engine/middlewares/robots.py).
    "crawler.engine.middlewares.robots.SharedWaitRobotsTxtMiddleware": 100,
    "crawler.engine.middlewares.conditional.ConditionalImageMiddleware": 560,
}
# Scrapy's own extensions, less the ones Trawl never runs (telnet, memdebug, feed export,
# remote control). Left out of the base rather than set to None in EXTENSIONS: Scrapy 2.19
# imports every key of EXTENSIONS to normalise it, disabled ones too, and the remote
# control's module alone imports aiohttp (~0.4 s of every crawl's start-up).
EXTENSIONS_BASE = {
    "scrapy.extensions.corestats.CoreStats": 0,
    "scrapy.extensions.logcount.LogCount": 0,
    "scrapy.extensions.memusage.MemoryUsage": 0,
    "scrapy.extensions.closespider.CloseSpider": 0,
    "scrapy.extensions.logstats.LogStats": 0,
    "scrapy.extensions.spiderstate.SpiderState": 0,
    "scrapy.extensions.throttle.AutoThrottle": 0,
}
EXTENSIONS = {
    "crawler.engine.extensions.crawlstats.CrawlStatsExtension": 500,
    "crawler.engine.extensions.heartbeat.HeartbeatExtension": 510,
    "crawler.engine.extensions.malloctrim.MallocTrimExtension": 520,
}
SPIDER_MIDDLEWARES = {
    # Depth is per seed (meta trawl_depth), not the global DEPTH_LIMIT.
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
}
STATS_CLASS = "crawler.engine.stats.DirectStatsCollector"  # Scrapy's, minus a per-read hook
LOG_LEVEL = "INFO"
LOG_FORMATTER = "crawler.engine.extensions.logformatter.QuietLogFormatter"
LOGSTATS_INTERVAL = 60.0
STATS_DUMP = False
