"""A person in a real browser: Debian's chromium via Playwright against `uvicorn` on loopback.

Every page is screenshotted into test-artifacts/screenshots/ for a person to look at.
Throughout, the test listens for dialogs and console errors (none allowed) and records
every request the browser makes (all must go to the app's own origin).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn

from tests.web.helpers import PASSWORD, Seeded, app_for, store_of

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
HOSTILE_ACTOR = '<script>alert("actor")</script>'
HOSTILE_DETAIL = ('"><img src="http://127.0.0.2:9/x.png" onerror="alert(1)"> '
                  'javascript:alert(2) <iframe src="http://127.0.0.2:9/"></iframe>')


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)"
        if os.environ.get("TRAWL_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{message}; TRAWL_REQUIRE_SERVICES=1 says the browser tests must run")
        pytest.skip(f"{message} to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
                                              headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def server(seeded: Seeded) -> Iterator[tuple[str, Any]]:
    """The app under uvicorn in a thread, on 127.0.0.1 and a free port."""
    app = app_for(seeded.db_url)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", proxy_headers=False, lifespan="on")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not running.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start in 30 s"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        running.should_exit = True
        thread.join(30)
        sock.close()


@dataclass
class Watch:
    """What the browser did that a page must never cause."""

    origin: str
    requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("console", lambda msg: self.errors.append(msg.text)
                if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

        def dismiss(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", dismiss)

    def assert_clean(self) -> None:
        assert self.dialogs == []
        assert self.errors == []
        foreign = [url for url in self.requests if not url.startswith(self.origin + "/")]
        assert foreign == []
        assert self.requests, "the watch saw no requests at all"


def shoot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_sign_in_add_a_user_see_it_in_the_audit_and_sign_out(
    browser: Browser, server: tuple[str, Any],
) -> None:
    base, app = server
    from storage.audit import append_audit

    with store_of(app).session() as session:  # a crawled string that got into the trail
        append_audit(session, actor=HOSTILE_ACTOR, action="note", entity="hit",
                     detail=HOSTILE_DETAIL)
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 800})
    context.grant_permissions(["clipboard-write"], origin=base)
    page = context.new_page()
    watch = Watch(origin=base)
    watch.attach(page)

    page.goto("/users")
    assert page.url == f"{base}/login?next=/users"
    shoot(page, "01-login")
    page.fill("#name", "ada")
    page.fill("#password", "wrong password here")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "Wrong name or password."
    page.fill("#name", "ada")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/users")

    page.fill("#new-name", "erin")
    page.select_option("#new-role", "takedown")
    page.fill("#new-password", PASSWORD)
    page.fill("#new-password-confirm", PASSWORD)
    page.click("#add-user button[type=submit]")
    page.wait_for_url(f"{base}/users?added=erin")
    assert page.locator("[role=status]").inner_text() == "Added user erin."
    row = page.locator("tr", has_text="erin").first
    assert "takedown" in row.inner_text()
    row.locator("input[name=label]").fill("erin's laptop")
    row.locator("button", has_text="Issue token").click()
    token_text = page.locator(".issued code").inner_text()
    assert token_text.startswith("trawl_")
    page.locator(".issued button.copy").click()
    page.wait_for_function(
        "document.querySelector('.issued button.copy').textContent === 'Copied'")
    shoot(page, "02-users")

    page.click("nav a:text('Dashboard')")
    assert "Signed in as ada" in page.locator("main").inner_text()
    shoot(page, "03-dashboard")

    page.click("nav a:text('Audit')")
    audit = page.locator("table.audit").inner_text()
    assert HOSTILE_ACTOR in audit  # shown as text, not run
    assert "javascript:alert(2)" in audit
    assert page.locator("table.audit img, table.audit iframe, table.audit script").count() == 0
    shoot(page, "04-audit")
    page.fill("input[name=actor]", "ada")
    page.fill("input[name=action]", "add")
    page.click("form.filters button[type=submit]")
    rows = page.locator("table.audit tbody tr")
    assert rows.count() == 1
    assert "erin" in rows.first.inner_text()
    shoot(page, "05-audit-filtered")

    page.click("header .signout button")
    page.wait_for_url(f"{base}/login")
    shoot(page, "06-signed-out")
    page.goto("/")
    assert page.url.startswith(f"{base}/login")

    watch.assert_clean()
    context.close()


def test_api_docs_render_from_the_app_alone(browser: Browser, server: tuple[str, Any]) -> None:
    base, _ = server
    context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(origin=base)
    watch.attach(page)
    page.goto("/api/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
    page.get_by_text("/api/v1/me", exact=True).wait_for()
    shoot(page, "07-api-docs")
    watch.assert_clean()
    assert f"{base}/api/openapi.json" in watch.requests
    context.close()
