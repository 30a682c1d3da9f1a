"""Crawling beyond one machine: `trawl worker` processes sharing one frontier in Redis.

The Scrapy parts of a worker (scheduler, pipelines, politeness middleware, worker
extension) and the Redis frontier they share; storage stays PostgreSQL through
storage.workers. A crawl run in one process (crawler.engine.process) uses none of this.
"""
