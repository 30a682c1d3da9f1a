"""The operations side of the API: seeds, schedules, crawls, lists, providers, notices."""

from __future__ import annotations

from crawler.web.api import crawls, lists, notices, providers, recheck, schedules, seeds

OPERATIONS_API_ROUTERS = (seeds.router, schedules.router, crawls.router, lists.router,
                          providers.router, notices.router, recheck.router)
