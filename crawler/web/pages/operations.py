"""The operations pages: seeds, schedules, crawls, lists, providers, notices."""

from __future__ import annotations

from crawler.web.pages import crawls, lists, notices, providers, schedules, seeds

OPERATIONS_PAGE_ROUTERS = (seeds.router, schedules.router, crawls.router, lists.router,
                           providers.router, notices.router)
