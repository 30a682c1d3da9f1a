"""The dashboard: the team's figures (the same as `trawl stats`) with server-drawn charts."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from crawler.web.auth import User, require_signed_in, store_of
from crawler.web.charts import bar_chart
from crawler.web.reviewing import now_of
from crawler.web.templating import render
from storage.stats import takedown_stats

router = APIRouter(include_in_schema=False)


@router.get("/")
def dashboard(request: Request, user: User = Depends(require_signed_in())) -> Response:
    stats = takedown_stats(store_of(request), now=now_of(request))
    charts = {
        "states": bar_chart("Images per state",
                            [(state, [n]) for state, n in stats.hits_by_status.items()]),
        "crawls": bar_chart("Crawls started per day (UTC)",
                            [(f"{d.day:%a %d %b}", [d.crawls]) for d in stats.crawls_by_day]),
        "removal": bar_chart(
            "Hours from first notice to removal, per provider",
            [(p.provider, [p.median_hours, p.p90_hours]) for p in stats.providers],
            series=("median", "p90"), unit=" h"),
    }
    return render(request, "dashboard.html", {"stats": stats, "charts": charts})
