"""Scrapy spiders: the seed spider (scope-bounded traversal) and the re-check spider."""
