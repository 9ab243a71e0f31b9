"""The dashboard in a real browser: Debian's Chromium driven by Playwright against `mockserver serve` in a
subprocess, with an admin token (so every test also goes through the login cookie).

Time moves only through the fake's clock; waits are Playwright's own polling with generous deadlines. Without
Chromium (`chromium` on PATH, /usr/bin/chromium, or MOCKSERVER_CHROMIUM) these tests skip locally and fail in CI
(`CI` set), where `.ci/run` installs it."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mockserver.testing import MockServer, serve_process

if not os.environ.get("CI"):
    pytest.importorskip("playwright")  # in CI it is installed (the test extra): a missing one must fail there
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright  # noqa: E402

CHROMIUM = os.environ.get("MOCKSERVER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Headless, and nothing that reaches for the network on its own (the machine may have none).
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "dashboard-secret"
UI = "/__admin/ui"
WAIT_MS = 30_000  # a busy 2-core machine: generous, since expectations poll and return as soon as they hold
expect.set_options(timeout=WAIT_MS)


@pytest.fixture(scope="module")
def mock() -> Iterator[MockServer]:
    command = [sys.executable, "-m", "mockserver", "serve", "--no-access-log", "--admin-token", TOKEN, "--seed", "5"]
    with serve_process(command) as (_, base):
        handle = MockServer(base, admin_token=TOKEN, seed=5)
        try:
            yield handle
        finally:
            handle.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        message = f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def log_in(context: BrowserContext, base: str) -> Page:
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    page.goto(f"{base}{UI}/jobs")
    page.fill("#token", TOKEN)
    page.click("button:has-text('Log in')")
    expect(page.locator("h1")).to_have_text("Jobs")
    return page


@pytest.fixture(scope="module")
def context(browser: Browser, mock: MockServer) -> Iterator[BrowserContext]:
    """One logged-in browser context for the module (the login cookie is shared by its pages)."""
    ctx = browser.new_context()
    log_in(ctx, mock.base_url).close()
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext, mock: MockServer) -> Iterator[Page]:
    mock.reset()
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    yield opened
    opened.close()


def generate(mock: MockServer, prompt: str, **body: Any) -> str:
    response = mock.http.post("/v3/images/generate-async", headers=mock.headers(), json={"prompt": prompt, **body})
    assert response.status_code == 202, response.text
    return str(response.json()["jobId"])


def scenario(mock: MockServer, prompt: str) -> str:
    response = mock.http.post(
        "/v1/generate/custom/model_imagen4-ultra",
        auth=("scenario-api-key", "scenario-api-secret"),
        json={"prompt": prompt, "numOutputs": 1},
    )
    assert response.status_code == 200, response.text
    return str(response.json()["job"]["jobId"])


def _bearer() -> dict[str, str]:
    return {"authorization": f"Bearer {TOKEN}"}


def clock(mock: MockServer) -> dict[str, Any]:
    response = mock.http.get("/__admin/clock", headers=_bearer())
    response.raise_for_status()
    return dict(response.json())


def test_admin_token_is_enforced(browser: Browser, mock: MockServer) -> None:
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        page.set_default_timeout(WAIT_MS)
        response = page.goto(f"{mock.base_url}{UI}/controls")
        assert response is not None and response.status == 401
        expect(page.locator("#token")).to_be_visible()
        # the control API refuses the page's script too until the browser has logged in
        status = page.evaluate(
            """async () => (await fetch('/__admin/faults', {method: 'POST',
                 headers: {'content-type': 'application/json', 'x-mockserver-dashboard': '1'},
                 body: JSON.stringify({effect: 'drop'})})).status"""
        )
        assert status == 401 and mock.faults.list() == []
        page.fill("#token", "not-it")
        page.click("button:has-text('Log in')")
        expect(page.locator("#login-problem")).to_have_text("That is not the admin token.")
        page.fill("#token", TOKEN)
        page.click("button:has-text('Log in')")
        expect(page.locator("h1")).to_have_text("Controls")  # back where it wanted to go
        cookie = next(c for c in ctx.cookies() if c["name"] == "mockserver_admin")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and TOKEN not in cookie["value"]
        assert "mockserver_admin" not in page.evaluate("document.cookie")  # scripts cannot read it
        page.click("button:has-text('Log out')")
        expect(page.locator("#token")).to_be_visible()
        assert page.goto(f"{mock.base_url}{UI}/jobs").status == 401  # type: ignore[union-attr]
    finally:
        ctx.close()


def test_jobs_appear_and_finish_live(page: Page, mock: MockServer) -> None:
    mock.clock.freeze()
    page.goto(f"{mock.base_url}{UI}/jobs")
    page.evaluate("window.stillTheSamePage = true")
    firefly_job = generate(mock, "a lighthouse at dusk")
    scenario_job = scenario(mock, "a copper kettle")
    rows = {job: page.locator(f'tr[data-job="{job}"]') for job in (firefly_job, scenario_job)}
    for row in rows.values():
        expect(row).to_have_attribute("data-status", "pending")  # appeared without a reload
    expect(rows[scenario_job]).to_contain_text("scenario")
    mock.clock.advance(60)
    for row in rows.values():
        expect(row).to_have_attribute("data-status", "succeeded")
        expect(row.locator(".steps li")).to_have_count(3)  # pending → running → succeeded on the fake clock
    assert page.evaluate("window.stillTheSamePage") is True  # updated in place, never reloaded


def test_freeze_and_advance_the_clock_from_the_ui(page: Page, context: BrowserContext, mock: MockServer) -> None:
    page.goto(f"{mock.base_url}{UI}/controls")
    page.click("button[data-action=freeze]")
    expect(page.locator("#clock-state")).to_have_text("frozen")
    assert clock(mock)["frozen"] is True
    job = generate(mock, "a job the clock moves")
    jobs = context.new_page()
    try:
        jobs.goto(f"{mock.base_url}{UI}/jobs")
        row = jobs.locator(f'tr[data-job="{job}"]')
        expect(row).to_have_attribute("data-status", "pending")
        before = clock(mock)["now"]
        page.bring_to_front()
        page.fill("#advance-seconds", "120")
        page.click("button[data-action=advance]")
        expect(page.locator("#message")).to_have_text("The clock moved forward 120 s.")
        assert clock(mock)["now"] == pytest.approx(before + 120, abs=0.01)
        jobs.bring_to_front()
        expect(row).to_have_attribute("data-status", "succeeded")
    finally:
        jobs.close()


def test_fault_added_in_the_ui_fails_the_next_call(page: Page, mock: MockServer) -> None:
    page.goto(f"{mock.base_url}{UI}/controls")
    form = page.locator("#fault-form")
    form.locator("select[name=surface]").select_option("firefly")
    form.locator("input[name=path]").fill("/v3/images/generate-async")
    form.locator("select[name=effect]").select_option("http")
    form.locator("input[name=status]").fill("503")
    form.locator("input[name=times]").fill("1")
    form.locator("button[type=submit]").click()
    expect(page.locator("#message")).to_contain_text("Added fault rule")
    row = page.locator("tr[data-fault]")
    expect(row).to_have_count(1)
    failed = mock.http.post("/v3/images/generate-async", headers=mock.headers(), json={"prompt": "x"})
    assert failed.status_code == 503
    page.reload()
    expect(row.locator(".fired")).to_have_text("1")
    expect(row.locator(".matched")).to_have_text("1")
    row.locator("button[data-action=delete-fault]").click()
    expect(page.locator("tr[data-fault]")).to_have_count(0)
    assert mock.faults.list() == []
    # a refused rule is explained on the page, not a silent failure
    form.locator("select[name=effect]").select_option("latency")
    form.locator("button[type=submit]").click()
    expect(page.locator("#message.bad")).to_be_visible()


def test_images_render(page: Page, mock: MockServer) -> None:
    mock.clock.freeze()
    generate(mock, "a red fox in snow", numVariations=2, size={"width": 1024, "height": 1024})
    mock.clock.advance(60)
    page.goto(f"{mock.base_url}{UI}/images")
    thumbs = page.locator("img.thumb")
    expect(thumbs).to_have_count(2)
    page.wait_for_function(
        "() => [...document.querySelectorAll('img.thumb')].every(i => i.complete && i.naturalWidth > 0)"
    )
    assert page.evaluate("document.querySelector('img.thumb').naturalWidth") == 256
    page.locator(".card").first.click()
    expect(page.locator("#prompt")).to_have_text("a red fox in snow")
    expect(page.locator("#size")).to_contain_text("1024×1024")
    page.wait_for_function("() => document.querySelector('#full').naturalWidth === 1024")


def test_requests_show_unrouted_calls_and_copy_as_curl(page: Page, mock: MockServer) -> None:
    headers = mock.headers()
    token = headers["authorization"].split()[1]
    assert mock.http.post("/v3/images/generate-async", headers=headers, json={"prompt": "curl"}).status_code == 202
    mock.http.get("/v9/typo")
    page.goto(f"{mock.base_url}{UI}/requests")
    row = page.locator('tr[data-surface="none"]')
    expect(row).to_contain_text("/v9/typo")
    generated = page.locator('tr[data-surface="firefly"]').first
    generated.locator("summary").click()
    curl = generated.locator("pre.curl")
    expect(curl).to_contain_text("curl -X POST")
    expect(curl).to_contain_text("x-api-key: <redacted>")
    assert token not in page.content()
    row.locator("button[data-action=copy]").click()
    expect(page.locator("#message")).to_contain_text(f"curl -X GET {mock.base_url}/v9/typo")
    # the page's own calls (and its polling of the clock) are not in the journal, nor is a favicon request
    paths = [r["path"] for r in mock.requests()]
    assert "/v9/typo" in paths and not [p for p in paths if p.startswith("/__admin") or p == "/favicon.ico"]


def test_profile_export_reset_and_import_from_the_ui(page: Page, mock: MockServer, tmp_path: Path) -> None:
    page.goto(f"{mock.base_url}{UI}/controls")
    page.select_option("#profile", "instant")
    page.click("button[data-action=profile]")
    expect(page.locator("#profile-now")).to_have_text("current: instant")
    assert mock.profile() == "instant"
    job = generate(mock, "a job to keep")
    with page.expect_download() as download:
        page.click("#export")
    saved = tmp_path / "state.json"
    download.value.save_as(saved)
    assert job in saved.read_text()
    page.once("dialog", lambda dialog: dialog.accept())  # "Forget every job…?"
    page.click("button[data-action=reset]")
    expect(page.locator("#message")).to_have_text("The fake is back to its fresh state.")
    assert mock.profile() == "fast" and job not in mock.http.get(f"{UI}/jobs", headers=_bearer()).text
    page.set_input_files("#import-file", str(saved))
    page.click("button[data-action=import]")
    expect(page.locator("#message")).to_contain_text("Imported")
    assert mock.profile() == "instant" and job in mock.http.get(f"{UI}/jobs", headers=_bearer()).text
    page.set_input_files("#import-file", {"name": "bad.json", "mimeType": "application/json", "buffer": b"{}"})
    page.click("button[data-action=import]")
    expect(page.locator("#message.bad")).to_contain_text("objects")  # the control API's own reason
