#!/usr/bin/env python3
"""A marketplace web app on its own origin calling the API, in headless Chromium (CORS).

    API_BASE=http://127.0.0.1:9000 ALLOWED_ORIGIN=http://localhost:5173 \
    OTHER_ORIGIN=http://localhost:5174 USER_TOKEN=... SCOUT_ID=s-web-app \
    [CHROMIUM=/usr/bin/chromium] python cors_test.py

The app's page is served at each origin by a small HTTP server on 127.0.0.1 (each
origin is http://localhost:<port>: a page Chromium did not load from a real local
address may not call one, Private Network Access); its script calls the real API
with the user's token, as a scout's page would:
it lists their payouts (a simple GET with Authorization: preflighted) and requests a
payout twice under one Idempotency-Key (a preflighted POST; the replay's
Idempotent-Replayed header must be readable, so it must be exposed). From
ALLOWED_ORIGIN every call must succeed; from OTHER_ORIGIN the browser must refuse
every one (fetch rejects) and no payout may be made. A screenshot of the allowed page
goes to .local/logs/cors.png. Exits 0 with a summary, or 1 with what failed.
"""
import json
import os
import sys
import threading
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from playwright.sync_api import sync_playwright

API = os.environ["API_BASE"]
ALLOWED = os.environ["ALLOWED_ORIGIN"]
OTHER = os.environ["OTHER_ORIGIN"]
TOKEN = os.environ["USER_TOKEN"]
SCOUT = os.environ["SCOUT_ID"]

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Scout payouts</title>
<style>body{font:16px system-ui;margin:2em} pre{background:#f4f4f4;padding:1em}</style>
</head><body><h1>My scout payouts</h1><pre id="out">loading…</pre></body></html>"""

# Runs in the page: the calls a scout's page makes, and what the browser let it read.
SCRIPT = """async ([api, token, scout, key]) => {
  const auth = {Authorization: `Bearer ${token}`};
  const out = {};
  const attempt = async (name, call) => {
    try { out[name] = await call(); } catch (e) { out[name] = {refused: String(e)}; }
  };
  await attempt("list", async () => {
    const r = await fetch(`${api}/payouts/my-payouts?limit=5`, {headers: auth});
    const body = await r.json();
    return {status: r.status, count: body.payouts.length};
  });
  const request = () => fetch(`${api}/scouts/${scout}/request-payout`, {
    method: "POST",
    headers: {...auth, "Content-Type": "application/json", "Idempotency-Key": key},
    body: JSON.stringify({amount_paise: 100}),
  });
  await attempt("request", async () => {
    const r = await request();
    const body = await r.json();
    return {status: r.status, payout_id: body.payout_id, error: body.error};
  });
  await attempt("replay", async () => {
    const r = await request();
    const body = await r.json();
    return {status: r.status, payout_id: body.payout_id, error: body.error,
            replayed: r.headers.get("Idempotent-Replayed")};
  });
  document.getElementById("out").textContent = JSON.stringify(out, null, 2);
  return out;
}"""


def my_payout_ids():
    request = urllib.request.Request(
        f"{API}/payouts/my-payouts?limit=100", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        return {p["payout_id"] for p in json.load(answer)["payouts"]}


class AppPage(BaseHTTPRequestHandler):
    def do_GET(self):
        body = PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def serve_app(origin):
    """The web app's page at `origin` (http://localhost:<port>), until the process ends."""
    port = urllib.parse.urlsplit(origin).port
    server = ThreadingHTTPServer(("127.0.0.1", port), AppPage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run_at(browser, origin, key, screenshot=None):
    server = serve_app(origin)
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{origin}/")
    result = page.evaluate(SCRIPT, [API, TOKEN, SCOUT, key])
    if screenshot:
        page.screenshot(path=screenshot, full_page=True)
    context.close()
    server.shutdown()
    server.server_close()
    return result


def main():
    failures = []
    before = my_payout_ids()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"))
        os.makedirs(".local/logs", exist_ok=True)
        allowed = run_at(browser, ALLOWED, f"cors-{os.getpid()}-allowed", ".local/logs/cors.png")
        other = run_at(browser, OTHER, f"cors-{os.getpid()}-other")
        browser.close()

    if allowed["list"].get("status") != 200:
        failures.append(f"{ALLOWED}: list: {allowed['list']}")
    if allowed["request"].get("status") != 201:
        failures.append(f"{ALLOWED}: request: {allowed['request']}")
    replay = allowed["replay"]
    if replay.get("status") != 200 or replay.get("replayed") != "true" \
            or replay.get("payout_id") != allowed["request"].get("payout_id"):
        failures.append(f"{ALLOWED}: replay (Idempotent-Replayed must be exposed): {replay}")
    for name, outcome in other.items():
        if "refused" not in outcome:
            failures.append(f"{OTHER}: {name} was let through: {outcome}")
    # A refused preflight stops the POST before it reaches the API: nothing was made
    # from the other origin.
    made = my_payout_ids() - before
    if made != {allowed["request"].get("payout_id")}:
        failures.append(f"payouts made: {sorted(made)}, expected only the allowed origin's")

    if failures:
        print("CORS test FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        print(json.dumps({"allowed": allowed, "other": other}, indent=2), file=sys.stderr)
        return 1
    print(f"CORS test passed: {ALLOWED} lists, requests and reads the replay header; "
          f"{OTHER} is refused all three")
    return 0


if __name__ == "__main__":
    sys.exit(main())
