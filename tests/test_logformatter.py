"""The crawl's log formatter: items named by URL only, and no per-response line built for a
log that would drop it."""

from __future__ import annotations

import pytest
from scrapy import Request
from scrapy.http import Response
from scrapy.utils.test import get_crawler

from crawler.engine.extensions.logformatter import QuietLogFormatter


@pytest.mark.parametrize(
    ("settings", "logged"),
    [
        ({"LOG_LEVEL": "DEBUG"}, True),
        ({"LOG_LEVEL": 10}, True),
        ({"LOG_LEVEL": "INFO"}, False),
        ({"LOG_LEVEL": "DEBUG", "LOG_ENABLED": False}, False),
    ],
)
def test_crawled_lines_only_where_the_log_keeps_them(settings: dict[str, object],
                                                     logged: bool) -> None:
    formatter = QuietLogFormatter.from_crawler(get_crawler(settings_dict=settings))
    request = Request("http://127.0.0.1/img/1.jpg")
    line = formatter.crawled(request, Response(request.url, request=request), None)
    assert (line is not None) is logged
    if line is not None:
        assert line["args"]["status"] == 200
