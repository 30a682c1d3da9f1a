"""The operations pages in a real browser: a malformed list's line error, a notice
downloaded and marked sent, live crawl counters, seeds and schedules added, the audit
filtered; every page screenshotted into test-artifacts/screenshots/ops-*.png.

As in test_browser.py, dialogs and console errors fail the test and every request the
browser makes must go to the app itself (a crawled URL is never loaded).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import expect

from storage.crawls import start_crawl, update_crawl_stats
from tests.web.helpers import PASSWORD, store_of
from tests.web.ops_helpers import confirmed_hits
from tests.web.test_browser import Watch, browser, server, shoot  # noqa: F401 - fixtures
from tests.web.test_operations_api import BAD_LIST, GOOD_LIST

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser


REFUSED_422 = "Failed to load resource: the server responded with a status of 422"


def expect_refusal(watch: Watch) -> None:
    """A refused form answers 422 (as the API does), which Chromium logs as a console
    error: take exactly that one entry off the watch; anything else still fails."""
    refused = [e for e in watch.errors if e.startswith(REFUSED_422)]
    assert len(refused) == 1, watch.errors
    watch.errors.remove(refused[0])


def sign_in(page: Page, base: str, name: str) -> None:
    page.goto("/login")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def test_lists_seeds_schedules_and_live_crawls(
    browser: Browser, server: tuple[str, Any],  # noqa: F811 - fixtures
) -> None:
    base, app = server
    store = store_of(app)
    running = start_crawl(store, start_urls=["http://127.0.0.1:9/"], seed_ids=[])
    update_crawl_stats(store, running, {"trawl/pages": 4, "trawl/images": 2})
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(origin=base)
    watch.attach(page)
    sign_in(page, base, "ada")

    page.click("nav a:text('Lists')")
    page.set_input_files("#list-file", files=[{"name": "hotline.csv", "mimeType": "text/csv",
                                               "buffer": BAD_LIST.encode()}])
    page.click("#import-list button[type=submit]")
    alert = page.locator("[role=alert]")
    assert "hotline.csv (uploaded), line 3" in alert.inner_text()
    assert "Nothing was imported" in alert.inner_text()
    assert page.locator("#list-file[aria-invalid=true]").count() == 1
    expect_refusal(watch)
    assert "No lists imported yet" in page.locator("table.lists").inner_text()
    shoot(page, "ops-01-lists-line-error")
    page.set_input_files("#list-file", files=[{"name": "hotline.csv", "mimeType": "text/csv",
                                               "buffer": GOOD_LIST.encode()}])
    page.click("#import-list button[type=submit]")
    assert "Imported list hotline: 2 new" in page.locator("[role=status]").inner_text()
    assert "hotline" in page.locator("table.lists").inner_text()
    shoot(page, "ops-02-lists")

    page.click("nav a:text('Seeds')")
    page.fill("#seed-urls", "ftp://example.org/")
    page.click("#add-seeds button[type=submit]")
    assert "ftp://example.org/" in page.locator("[role=alert]").inner_text()
    expect_refusal(watch)
    page.fill("#seed-urls", "https://example.org/forum\nhttps://example.net/")
    page.fill("#seed-tags", "forums")
    page.click("#add-seeds button[type=submit]")
    page.wait_for_url(f"{base}/seeds?done=added")
    assert page.locator("table.seeds tbody tr").count() == 2
    page.locator("table.seeds tbody tr").first.locator("button", has_text="Pause").click()
    assert "paused" in page.locator("table.seeds tbody tr").first.inner_text()
    shoot(page, "ops-03-seeds")

    page.click("nav a:text('Schedules')")
    page.fill("#sch-name", "nightly")
    page.fill("#sch-tag", "forums")
    page.check("input[name=when][value=cron]")
    page.fill("input[name=cron]", "0 2 * * *")
    page.click("#add-schedule button[type=submit]")
    page.wait_for_url(f"{base}/schedules?done=added")
    row = page.locator("table.schedules tbody tr").first
    assert "cron 0 2 * * *" in row.inner_text()
    assert row.locator("td.next-run").inner_text().endswith("02:00:00Z")
    row.locator("button", has_text="Run now").click()
    assert "due now" in page.locator("[role=status]").inner_text()
    shoot(page, "ops-04-schedules")

    page.click("nav a:text('Crawls')")
    cell = page.locator(f"#running-crawls tr[data-crawl-id='{running}'] td[data-field=pages]")
    assert cell.inner_text() == "4"
    update_crawl_stats(store, running, {"trawl/pages": 11, "trawl/images": 5})
    expect(cell).to_have_text("11", timeout=20_000)  # polled by static/crawls.js
    assert f"{base}/api/v1/crawls?outcome=running&limit=100" in watch.requests
    shoot(page, "ops-05-crawls")
    page.click(f"#running-crawls a:text('{running}')")
    assert f"Crawl {running}: running" in page.locator("h1").inner_text()
    shoot(page, "ops-06-crawl-detail")

    watch.assert_clean()
    context.close()


def test_notice_download_and_mark_sent(
    browser: Browser, server: tuple[str, Any], tmp_path: Path,  # noqa: F811 - fixtures
) -> None:
    base, app = server
    confirmed_hits(store_of(app), str(tmp_path))
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900},
                                  accept_downloads=True)
    page = context.new_page()
    watch = Watch(origin=base)
    watch.attach(page)
    sign_in(page, base, "tom")

    page.click("nav a:text('Providers')")
    assert "Big Cloud" in page.locator("table.providers").inner_text()
    shoot(page, "ops-07-providers")

    page.click("nav a:text('Notices')")
    awaiting = page.locator("table.awaiting tbody tr", has_text="Big Cloud")
    assert awaiting.locator("td").nth(2).inner_text() == "2"
    awaiting.locator("button", has_text="Prepare notice").click()
    notice = page.locator("article.notice").first
    reference = notice.get_attribute("data-reference")
    assert reference is not None
    assert reference.startswith("TRAWL-")
    notice.locator("summary").click()
    items = notice.locator("table.items").inner_text()
    assert "<script>alert(2)</script>" in items  # a crawled URL shown as text
    assert page.locator("main img, main iframe, main script").count() == 0
    shoot(page, "ops-08-notices")

    with page.expect_download() as caught:
        notice.locator("a.download", has_text="csv").click()
    download = caught.value
    assert download.suggested_filename == f"{reference}.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    text = saved.read_text()
    assert text.startswith("reference,provider,abuse_email")
    assert reference in text

    notice.locator("button", has_text="Mark sent").click()
    assert f"{reference} marked sent: 2 image(s) notified" in page.locator(
        "[role=status]").inner_text()
    sent = page.locator(f"article.notice[data-reference='{reference}']")
    assert "sent" in sent.locator(".sent").inner_text()
    assert sent.locator("button", has_text="Mark sent").count() == 0
    shoot(page, "ops-09-notice-sent")

    page.click("nav a:text('Audit')")
    page.fill("input[name=actor]", "tom")
    page.fill("input[name=action]", "sent")
    page.click("form.filters button[type=submit]")
    rows = page.locator("table.audit tbody tr")
    assert rows.count() == 1
    assert reference in rows.first.inner_text()
    shoot(page, "ops-10-audit-filtered")

    # The hostile crawled URL's <img src=x> stayed text: nothing asked for /x or the image.
    assert [u for u in watch.requests if u.endswith("/x") or "bigcloud" in u] == []
    watch.assert_clean()
    context.close()
