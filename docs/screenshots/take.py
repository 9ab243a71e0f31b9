"""Retake the screenshots in this folder: `python docs/screenshots/take.py` (needs Playwright and Chromium, as the
browser tests do). It starts a server, makes a few jobs, images, requests and fault rules, and photographs each
dashboard page."""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

from mockserver.testing import MockServer, serve_process

HERE = Path(__file__).resolve().parent
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"]
ARGS += ["--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCENARIO = ("scenario-api-key", "scenario-api-secret")


def populate(mock: MockServer) -> str:
    """A small world: finished, running, pending and failed jobs on two surfaces, a fault rule that fired."""
    headers = mock.headers()

    def generate(prompt: str, **body: object) -> None:
        mock.http.post("/v3/images/generate-async", headers=headers, json={"prompt": prompt, **body}).raise_for_status()

    mock.clock.freeze()
    generate("a lighthouse at dusk, oil painting", numVariations=2)
    generate("a red fox in fresh snow", size={"width": 2304, "height": 1792})
    scenario = {"prompt": "a copper kettle on a stove", "numOutputs": 2}
    mock.http.post("/v1/generate/custom/model_imagen4-ultra", auth=SCENARIO, json=scenario).raise_for_status()
    mock.faults.add(effect="job", prompt="glitch", outcome="fail", error_code="runtime_error", at_progress=0.4)
    generate("a glitch in the matrix")
    mock.clock.advance(30)
    generate("a hot-air balloon over hills")
    mock.clock.advance(0.5)
    generate("a paper boat on a puddle")
    mock.faults.add(effect="http", surface="firefly", path="/v3/images/expand-async", status=503, times=3)
    mock.http.post("/v3/images/expand-async", headers=headers, json={"image": {"source": {"uploadId": "x"}}})
    mock.http.get("/api/v3/status/abc")  # a wrong base URL: matches no route, journaled under surface "none"
    return headers["x-api-key"]


def main() -> None:
    command = [sys.executable, "-m", "mockserver", "serve", "--no-access-log", "--seed", "11"]
    with serve_process(command) as (_, base), sync_playwright() as playwright:
        mock = MockServer(base, seed=11)
        populate(mock)
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        for name in ("jobs", "images", "requests", "models", "controls"):
            page.goto(f"{base}/__admin/ui/{name}")
            page.wait_for_load_state("networkidle")
            if name == "images":
                page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
            if name == "requests":
                page.locator("tr[data-surface=firefly]", has_text="generate-async").locator("summary").first.click()
            page.screenshot(path=str(HERE / f"{name}.png"), full_page=name in ("controls", "requests"))
        browser.close()
        mock.close()


if __name__ == "__main__":
    main()
