"""Reviewing in a real browser: sign in, claim, decide three images with the keyboard, see
the dashboard move; hostile crawled strings never run and no request leaves for a crawled
URL (the Watch of test_browser records every request, dialog and console error).

Screenshots of every page go to $TRAWL_SCREENSHOT_DIR, or a folder under pytest's tmp.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.web.helpers import PASSWORD, store_of
from tests.web.reviewdata import HOSTILE_LABEL, HOSTILE_PAGE, HOSTILE_URL, review_hits
from tests.web.test_browser import Watch, browser, server  # noqa: F401 (fixtures)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser


@pytest.fixture
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("TRAWL_SCREENSHOT_DIR")
    folder = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def figure(page: Page, name: str) -> int:
    return int(page.locator(f"#fig-{name} .number").inner_text())


def state(page: Page, name: str) -> int:
    return int(page.locator(f'#states td[data-state="{name}"]').inner_text())


def test_review_three_images_with_the_keyboard_and_see_the_dashboard_move(
    browser: Browser, server: tuple[str, Any], screenshots: Path,  # noqa: F811
) -> None:
    base, app = server
    ids = review_hits(store_of(app))
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-write"], origin=base)
    page = context.new_page()
    watch = Watch(origin=base)
    watch.attach(page)

    def shoot(name: str) -> None:
        page.screenshot(path=str(screenshots / f"{name}.png"), full_page=True)

    page.goto("/review")
    page.fill("#name", "ann")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/review")
    page.click("nav a:text('Dashboard')")
    assert figure(page, "pending") == len(ids) + 1
    assert state(page, "confirmed") == 0
    assert page.locator("#chart-states svg rect").count() == 6
    shoot("review-01-dashboard-before")

    page.click("nav a:text('Review')")
    items = page.locator("article.item")
    assert items.count() == len(ids)
    first = items.first
    assert first.get_attribute("data-hit") == str(ids[0])
    assert HOSTILE_URL in first.locator(".url code").inner_text()  # text, not markup
    assert HOSTILE_LABEL in first.locator("table.matches").inner_text()
    assert HOSTILE_PAGE in first.locator("ul.pages").inner_text()
    assert first.locator('a[href^="javascript"]').count() == 0
    assert page.locator("main img, main iframe, main video, main object").count() == 0
    first.locator(".url button.copy").click()
    page.wait_for_function(
        "document.querySelector('article.item .url button.copy').textContent === 'Copied'")
    shoot("review-02-queue")

    page.keyboard.press("?")
    assert page.locator("#help-dialog").is_visible()
    shoot("review-03-help")
    page.keyboard.press("Escape")
    assert not page.locator("#help-dialog").is_visible()

    with page.expect_navigation():
        page.keyboard.press("n")  # claim the next batch
    assert page.locator("article.item.mine").count() == len(ids)
    assert "claimed by you for 30 min" in page.locator("article.item").first.inner_text()

    with page.expect_navigation():
        page.keyboard.press("c")  # confirm the first image
    assert page.locator("#decided").inner_text() == f"hit {ids[0]} confirmed"
    page.keyboard.press("j")
    assert page.locator("article.item.selected").get_attribute("data-hit") == str(ids[2])
    page.keyboard.press("k")
    page.keyboard.press("j")
    page.keyboard.press("r")  # reject the second one shown, with a note
    assert page.locator("#reject-dialog").is_visible()
    page.fill("#reject-note", "a company logo")
    shoot("review-04-reject-note")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("#decided").inner_text() == f"hit {ids[2]} rejected"
    with page.expect_navigation():
        page.keyboard.press("c")
    assert page.locator("#decided").inner_text() == f"hit {ids[1]} confirmed"
    assert page.locator("article.item").count() == len(ids) - 3
    shoot("review-05-after-three")

    page.click("nav a:text('Dashboard')")
    assert figure(page, "pending") == len(ids) + 1 - 3
    assert state(page, "confirmed") == 2
    assert state(page, "rejected") == 1
    shoot("review-06-dashboard-after")

    page.click("nav a:text('Hits')")
    page.select_option("select[name=status]", "rejected")
    page.click("form.filters button[type=submit]")
    rows = page.locator("table.hits tbody tr")
    assert rows.count() == 1
    shoot("review-07-hits")
    rows.first.locator("a").first.click()
    page.wait_for_url(f"{base}/hits/{ids[2]}")
    history = page.locator("#history").inner_text()
    assert "reject" in history
    assert "a company logo" in history
    shoot("review-08-image-detail")
    page.goto(f"/hits/{ids[0]}")
    assert HOSTILE_URL in page.locator("main").inner_text()
    links = page.locator("main a.open")
    for n in range(links.count()):
        assert links.nth(n).get_attribute("rel") == "noreferrer noopener"
        assert (links.nth(n).get_attribute("href") or "").startswith("http://")
    shoot("review-09-hostile-detail")

    watch.assert_clean()
    crawled = [url for url in watch.requests if "127.0.0.2" in url or "127.0.0.3" in url]
    assert crawled == []
    context.close()
