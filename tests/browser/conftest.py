"""Shared set-up for the browser tests: Debian's headless Chromium driven by Playwright,
and a page already logged in to the live server.

Both fixtures hand back context managers rather than an open page: Playwright's event loop
makes Django refuse ORM calls from this thread while it runs, so each test does its database
work before and after the `with` block, never inside it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest
from django.urls import reverse

from tests.conftest import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PAGE_TIMEOUT_MS = 15_000


@pytest.fixture
def browser_page() -> Callable[[], AbstractContextManager]:
    """`with browser_page() as page:` opens a fresh page in headless Chromium."""
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian Chromium not found at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")

    @contextmanager
    def open_page() -> Iterator:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                page = browser.new_page()
                page.set_default_timeout(PAGE_TIMEOUT_MS)
                yield page
            finally:
                browser.close()

    return open_page


@pytest.fixture
def logged_in_page(browser_page, live_server) -> Callable[..., AbstractContextManager]:
    """`with logged_in_page(user) as page:` opens a page on the dashboard, logged in as user
    (whose password is tests.conftest.PASSWORD)."""
    base = live_server.url

    @contextmanager
    def open_page(user) -> Iterator:
        with browser_page() as page:
            page.goto(base + reverse("login"))
            page.fill("#id_username", user.username)
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(base + reverse("samples:dashboard"))
            yield page

    return open_page
