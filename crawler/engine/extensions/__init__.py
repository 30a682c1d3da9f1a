"""Scrapy extensions: crawl-row stats and progress, and a log formatter that never logs items."""
