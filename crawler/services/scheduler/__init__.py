"""Scheduled crawls: when a schedule is due, and the crawl processes the scheduler supervises."""
