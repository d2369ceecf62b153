"""A page rendered by the Django test client, opened in headless Chromium with no server:
every request the page makes is answered from ``answers`` (path → (content type, body)) or
from the repository's static files, so a script can be driven against a real page while the
test does its database work outside the browser (Playwright's loop forbids ORM calls)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
ORIGIN = "http://exolims.test"
STATIC = Path(__file__).resolve().parents[2] / "static"


@contextmanager
def offline_page(html: str, answers: dict[str, tuple[str, str]] | None = None) -> Iterator:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian Chromium not found at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    answers = answers or {}

    def answer(route) -> None:
        path = urlsplit(route.request.url).path
        if path == "/page/":
            route.fulfill(status=200, content_type="text/html", body=html)
        elif path in answers:
            content_type, body = answers[path]
            route.fulfill(status=200, content_type=content_type, body=body)
        elif path.startswith("/static/") and (STATIC / path[len("/static/") :]).is_file():
            kind = "text/javascript" if path.endswith(".js") else "text/css"
            route.fulfill(status=200, content_type=kind, body=(STATIC / path[8:]).read_text())
        else:
            route.fulfill(status=404, body="")

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)
            page.route("**/*", answer)
            page.goto(ORIGIN + "/page/")
            yield page
        finally:
            browser.close()
