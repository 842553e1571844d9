#!/usr/bin/env python3
"""Screenshot of the admin dashboard, signed in, with its cards, list and reconciliation
panel loaded (the panel on RECONCILED_DATE if given, else on the default day).

    DASHBOARD_URL=http://127.0.0.1:9000/admin ADMIN_TOKEN=... OUT=docs/dashboard.png \
    [RECONCILED_DATE=YYYY-MM-DD] [WIDTH=1280 HEIGHT=900] [CHROMIUM=/usr/bin/chromium] python screenshot.py

Uses Debian's headless Chromium through Playwright (never downloads a browser).
"""
import os
import sys

from playwright.sync_api import sync_playwright


def need(name, default=None):
    value = os.environ.get(name, default)
    if not value:
        print(f"screenshot: set {name}", file=sys.stderr)
        sys.exit(2)
    return value


def expected_404(message):
    """The default day's reconciliation, when no run has reported on it yet: the panel
    says so, and Chromium logs the 404 it was answered."""
    return "status of 404" in message.text and "admin/reconciliation?" in (message.location or {}).get("url", "")


def main():
    url = need("DASHBOARD_URL")
    token = need("ADMIN_TOKEN")
    out = need("OUT")
    width = int(os.environ.get("WIDTH") or 1280)
    height = int(os.environ.get("HEIGHT") or 900)
    chromium = need("CHROMIUM", "/usr/bin/chromium")
    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
        try:
            context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1,
                                          locale="en-IN", timezone_id="Asia/Kolkata")
            page = context.new_page()
            page.set_default_timeout(60000)
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning") and not expected_404(m) else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.goto(url, wait_until="load")
            page.wait_for_selector("#signin", state="visible")
            page.fill("#token", token)
            page.click("#signin-submit")
            page.wait_for_selector("#stats [data-stat]")
            page.wait_for_selector("#chart svg")
            page.wait_for_selector("#payouts[data-state=ready]")
            page.wait_for_selector("#recon[data-state=ready], #recon[data-state=none]")
            day = os.environ.get("RECONCILED_DATE")
            if day:
                page.fill("#recon-date", day)
                page.click("#recon-show")
                page.wait_for_function("d => document.getElementById('recon-date').value === d"
                                       " && document.getElementById('recon').dataset.state === 'ready'", arg=day)
            page.evaluate("() => { document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0); }")
            os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
            page.screenshot(path=out, full_page=True)
        finally:
            browser.close()
    for line in problems:
        print(f"screenshot: warning: {line}", file=sys.stderr)
    print(f"screenshot: wrote {out} ({width}x{height} viewport, full page)")


if __name__ == "__main__":
    main()
