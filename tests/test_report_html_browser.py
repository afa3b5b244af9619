"""The HTML incident report in a real browser: no errors, no network, everything visible.

Needs Debian's chromium (``apt-get install chromium``) and the ``playwright``
Python package (no ``playwright install``: we launch the system chromium).
Without them the test is skipped, except under ``CI=true`` where it fails, so CI
can never pass without having looked at the page.  It leaves a full-page
screenshot in ``tests/artifacts/report.png`` (used by the README).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from pipeline.report import render

HERE = Path(__file__).parent
FIXTURE = HERE / "fixtures" / "findings_example.json"
SCREENSHOT = HERE / "artifacts" / "report.png"
CHROMIUM = os.environ.get("FLOWLOGS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _browser_or_skip():
    missing = []
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
        missing.append("the playwright Python package (pip install playwright)")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)) and not shutil.which(CHROMIUM):
        missing.append(f"chromium at {CHROMIUM} (apt-get install chromium)")
    if missing:
        reason = "browser test needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(reason + "; CI=true, so this is an error, not a skip")
        pytest.skip(reason)
    return sync_playwright


def test_report_in_a_browser(tmp_path):
    check_in_browser(json.loads(FIXTURE.read_text(encoding="utf-8")), tmp_path, SCREENSHOT)


def test_sample_account_report_in_a_browser(sample_lake, tmp_path):
    """The report of the bundled sample account: every finding shows (its screenshot is in the README)."""
    from pipeline.analysis.reports import findings_document

    doc = findings_document(sample_lake)
    assert len(doc["findings"]) >= 5
    check_in_browser(doc, tmp_path, SCREENSHOT.with_name("sample-report.png"))


def check_in_browser(doc: dict, tmp_path: Path, screenshot: Path) -> None:
    sync_playwright = _browser_or_skip()
    report = tmp_path / "incident.html"
    render(doc, "html", report)
    url = report.resolve().as_uri()

    console_errors: list[str] = []
    page_errors: list[str] = []
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: page_errors.append(str(exc)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url, wait_until="load")
            page.wait_for_load_state("networkidle")

            text = page.inner_text("body")
            from pipeline.analysis.document import sort_findings

            for i, f in enumerate(sort_findings(doc["findings"]), 1):
                assert f["service"] in text and f["task_id"] in text
                assert f["likely_causes"][0]["cause"] in text
                assert f["likely_causes"][0]["fix"] in page.inner_text(f"#fix-{i}")
                assert page.locator(f"#finding-{i}").is_visible()
            for heading in ("Summary", "Timeline", "Services × destinations", "What flow logs cannot show"):
                assert heading in text
            assert page.locator("#timeline svg rect").count() > 50
            # the copy button works or falls back without throwing
            page.locator("button.copy").first.click()
            page.wait_for_timeout(100)
            assert page.locator("button.copy").first.inner_text() in ("Copied", "Select and copy", "Copy")
            # nothing is wider than the laptop viewport
            overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0

            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
            page.screenshot(path=str(screenshot.with_name(screenshot.stem + "-top.png")),
                            full_page=True, clip={"x": 0, "y": 0, "width": 1280, "height": 1400})

            # print layout: still readable, nothing spills off an A4 page
            page.emulate_media(media="print")
            page.set_viewport_size({"width": 720, "height": 1000})
            assert page.locator("button.copy").first.is_hidden()
            wide = page.evaluate(
                "Array.from(document.querySelectorAll('table, svg, pre'))"
                ".filter(el => el.getBoundingClientRect().right > document.documentElement.clientWidth + 1)"
                ".map(el => el.className.baseVal ?? el.className).slice(0, 5)"
            )
            assert wide == []
            assert len(page.pdf(format="A4", print_background=True)) > 10_000
        finally:
            browser.close()

    assert console_errors == []
    assert page_errors == []
    assert requests == [url]
    assert screenshot.stat().st_size > 50_000
