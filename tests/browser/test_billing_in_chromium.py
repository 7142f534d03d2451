"""A real browser (headless Debian Chromium driven by Playwright) through the billing flow.

Signs in with a development sign-in link, clicks the pencil, raises seats, checks the review
figures, presses Update and finds the invoice; and checks a User gets "Page not found".
Skips with a reason where Chromium is not installed, except when
``SEATGATE_TEST_REQUIRE_BROWSER=1`` (CI), where that is a failure.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.db import Database
from app.dev_sign_in import create_link
from app.models import Role
from app.organizations import get_member, get_organization
from app.proration import months_remaining
from tests.app.conftest import TERM_START, TODAY
from tests.factories import OPERATOR, add_users, make_org
from tests.peers import find_program, free_port, require_peer

CHROMIUM = find_program("chromium", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture
def chromium() -> str:
    """Debian's Chromium (checked before the server starts, so a skip costs nothing)."""
    require_peer("BROWSER", None if CHROMIUM else "no Chromium (Debian package chromium)")
    assert CHROMIUM is not None
    return CHROMIUM


@pytest.fixture
def live_server(database_url: str, tmp_path: Path) -> Iterator[str]:
    """seatgate under gunicorn on 127.0.0.1, in development mode, on the test's database."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "SEATGATE_ENV": "development",
        "SEATGATE_DATABASE_URL": database_url,
        "SEATGATE_BASE_URL": base,
        "SEATGATE_ALERTS_DELIVER_IN_BACKGROUND": "false",
    }
    seatgate = str(Path(sys.executable).parent / "seatgate")
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [seatgate, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("seatgate did not start: " + (tmp_path / "server.log").read_text())
        yield base
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def _login_path(database: Database, email: str) -> str:
    with database.unit_of_work() as session:
        member = get_member(session, get_organization(session, "acme"), email)
        return f"/dev/login/{create_link(session, member, actor=OPERATOR).token}"


def test_primary_owner_adds_seats_and_a_user_finds_nothing(
    chromium: str, database: Database, live_server: str
) -> None:
    from playwright.sync_api import expect, sync_playwright

    make_org(database, "acme", seats=10, term_start=TERM_START)
    add_users(database, "acme", ["user@acme.example.com"], Role.USER)
    months = months_remaining(TERM_START, TODAY)
    expected_total = f"${5 * 30 * months:,}.00"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            owner = browser.new_page()
            owner.goto(live_server + _login_path(database, "owner@acme.example.com"))
            expect(owner.locator("h1")).to_have_text("Billing")
            expect(owner.locator("#seats-purchased")).to_have_text("10")
            owner.get_by_role("link", name="Change seats").click()
            owner.get_by_label("New number of seats").fill("15")
            owner.get_by_role("button", name="Review").click()
            expect(owner.locator("h1")).to_have_text("Review seat increase")
            expect(owner.locator("#new-total")).to_have_text("15")
            cells = owner.locator("#review-lines tbody tr td")
            expect(cells.nth(1)).to_have_text("5")
            expect(cells.nth(2)).to_have_text("$30.00")
            expect(cells.nth(3)).to_have_text(str(months))
            expect(owner.locator("#review-total")).to_have_text(expected_total)
            owner.get_by_role("button", name="Update").click()
            expect(owner.locator("h1")).to_have_text("Invoice ACME-00001")
            expect(owner.locator("#invoice-total")).to_have_text(expected_total)
            owner.get_by_role("link", name="Billing").click()
            expect(owner.locator("#seats-purchased")).to_have_text("15")

            user = browser.new_context().new_page()
            user.goto(live_server + _login_path(database, "user@acme.example.com"))
            expect(user.locator("h1")).to_have_text("Page not found")
            assert user.url.endswith("/settings/billing")
        finally:
            browser.close()
