"""A real browser sends the way each SDK does: headless Chromium loads a page from a second origin
(another loopback port) that loads both SDKs' settings from Switchyard and then sends with
analytics.js's standard and batching dispatchers, rudder-sdk-js's XHR and beacon transports, and
RudderStack's pixel. Every request must pass the browser's CORS checks, and every event must be
stored once, enriched, and delivered to the emulator.

The page reproduces the requests as the SDKs' sources build them (analytics-next 1.84:
packages/browser/src/plugins/segmentio/; rudder-sdk-js 3.31: xhrQueue and beaconQueue), since the
SDK bundles come from npm, which this machine cannot reach."""
import http.server
import json
import shutil
import threading
import time

import pytest

from conftest import WRITE_KEY, free_port
from test_emulator_and_delivery import CONFIG as DELIVERY_CONFIG, Emulator, start_server, wait_for

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402

# The delivery tests' configuration, with the quickstart's detail type: other types than track
# must arrive with their type as DetailType.
CONFIG = DELIVERY_CONFIG.replace('detailType: "{{{{ event | \\"unknown\\" }}}}"', 'detailType: "{{{{ event }}}}"')
assert CONFIG != DELIVERY_CONFIG

PAGE = r"""<!doctype html>
<html><head><meta charset="utf-8"><title>Shop</title></head>
<body>
<h1>Shop</h1>
<script>
const server = SERVER_URL;
const writeKey = WRITE_KEY;
const results = {};
window.results = results;
const now = () => new Date().toISOString();
const basic = "Basic " + btoa(writeKey + ":");
const context = {library: {name: "analytics.js", version: "next-1.84.1"}, page: {path: "/", url: location.href, title: document.title}};
const metadata = {bundled: ["Segment.io"], unbundled: [], bundledIds: []};

async function check(name, promise) {
  try { results[name] = await promise; } catch (e) { results[name] = "error: " + e; }
}
async function status(response) { return response.status + " " + (await response.text()).trim(); }

function xhr(method, url, headers, body) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open(method, url, true);
    for (const [name, value] of Object.entries(headers)) request.setRequestHeader(name, value);
    request.onload = () => resolve(request.status + " " + request.responseText.trim());
    request.onerror = () => reject(new Error("network error (CORS?)"));
    request.send(body);
  });
}

function image(src) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve("loaded " + img.naturalWidth + "x" + img.naturalHeight);
    img.onerror = () => reject(new Error("image did not load"));
    img.src = src;
    document.body.appendChild(img);
  });
}

async function analyticsJS() {
  // AnalyticsBrowser.load({writeKey, cdnURL: server}) first reads <cdnURL>/v1/projects/<writeKey>/settings.
  const settings = await (await fetch(`${server}/v1/projects/${writeKey}/settings`)).json();
  const segment = settings.integrations["Segment.io"];
  results.segmentSettings = {apiHost: segment.apiHost, protocol: segment.protocol, apiKey: segment.apiKey === writeKey};
  const remote = `${segment.protocol}://${segment.apiHost}`;
  const normalize = (event) => ({...event, context, writeKey: segment.apiKey, sentAt: now(), _metadata: metadata});

  // The standard dispatcher of 1.84 and later: text/plain, plus Basic auth, so a preflight.
  await check("ajs /t", fetch(`${remote}/t`, {method: "post", keepalive: false,
    headers: {"Content-Type": "text/plain", Authorization: basic},
    body: JSON.stringify(normalize({type: "track", event: "Product Viewed", anonymousId: "anon-ajs",
      properties: {sku: "A-1", price: 9.90}, messageId: "ajs-track-1", timestamp: now()}))}).then(status));
  // Before 1.84: text/plain alone, a simple request with no preflight.
  await check("ajs /i", fetch(`${remote}/i`, {method: "post", headers: {"Content-Type": "text/plain"},
    body: JSON.stringify(normalize({type: "identify", userId: "user-42", anonymousId: "anon-ajs",
      traits: {plan: "pro"}, messageId: "ajs-identify-1", timestamp: now()}))}).then(status));
  // The batching dispatcher: one body to /b, sentAt only at the top, keepalive on page hide.
  const batch = [
    normalize({type: "page", name: "Pricing", anonymousId: "anon-ajs", messageId: "ajs-batch-page", timestamp: now()}),
    normalize({type: "track", event: "Plan Chosen", anonymousId: "anon-ajs", messageId: "ajs-batch-track", timestamp: now()}),
  ].map(({sentAt, ...event}) => event);
  await check("ajs /b", fetch(`${remote}/b`, {method: "post", keepalive: true,
    headers: {"Content-Type": "text/plain", Authorization: basic},
    body: JSON.stringify({writeKey, batch, sentAt: now()})}).then(status));
}

async function rudderJS() {
  // rudderanalytics.load(writeKey, server, {configUrl: server}) reads its source config first.
  const config = JSON.parse((await xhr("GET",
    `${server}/sourceConfig/?p=cdn&v=3.31.6&build=modern&writeKey=${writeKey}&lockIntegrationsVersion=false&lockPluginsVersion=false`,
    {Accept: "application/json", Authorization: basic}, null)).slice(4));
  results.rudderConfig = {id: config.source.id, enabled: config.source.enabled, destinations: config.source.destinations.length};
  const sentAt = now();
  // The XHR queue: JSON with Basic auth and the SDK's own headers, so a preflight.
  await check("rudder xhr /v1/track", xhr("POST", `${server}/v1/track`, {
    Accept: "application/json", "Content-Type": "application/json;charset=UTF-8", Authorization: basic,
    AnonymousId: btoa("anon-rudder"), SentAt: sentAt,
  }, JSON.stringify({type: "track", event: "Signed Up", anonymousId: "anon-rudder", channel: "web",
    context: {library: {name: "RudderLabs JavaScript SDK", version: "3.31.6"}}, messageId: "rudder-xhr-1",
    originalTimestamp: sentAt, sentAt, integrations: {All: true}})));
  // The beacon queue: sendBeacon cannot set headers, so the key rides in the query.
  const beacon = new Blob([JSON.stringify({batch: [{type: "page", name: "Checkout", anonymousId: "anon-rudder",
    channel: "web", messageId: "rudder-beacon-1", originalTimestamp: sentAt}], sentAt})], {type: "text/plain"});
  results["rudder beacon"] = navigator.sendBeacon(`${server}/beacon/v1/batch?writeKey=${writeKey}`, beacon);
}

async function pixels() {
  const q = (params) => new URLSearchParams({writeKey, ...params}).toString();
  await check("pixel page", image(`${server}/pixel/v1/page?` + q({anonymousId: '"anon-pixel"', name: "Newsletter",
    messageId: "pixel-page-1", "context.page.url": "https://mail.example/view?id=7", "properties.campaign": "winter"})));
  await check("pixel track", image(`${server}/pixel/v1/track?` + q({anonymousId: "anon-pixel", event: "Email Opened",
    messageId: "pixel-track-1", "properties.campaign": "winter"})));
}

(async () => {
  try {
    await analyticsJS();
    await rudderJS();
    await pixels();
  } catch (e) {
    results.failure = String(e);
  }
  window.done = true;
})();
</script>
</body></html>
"""

EXPECTED = {
    "ajs-track-1": ("track", "Product Viewed"),
    "ajs-identify-1": ("identify", "identify"),
    "ajs-batch-page": ("page", "page"),
    "ajs-batch-track": ("track", "Plan Chosen"),
    "rudder-xhr-1": ("track", "Signed Up"),
    "rudder-beacon-1": ("page", "page"),
    "pixel-page-1": ("page", "page"),
    "pixel-track-1": ("track", "Email Opened"),
}


class PageServer:
    """The web app's own origin: a static page on another loopback port."""

    def __init__(self, html):
        page = html.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args):
                pass

        self.port = free_port()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/shop.html"

    def stop(self):
        self.httpd.shutdown()


@pytest.fixture
def chromium(tmp_path):
    assert shutil.which("chromium") and shutil.which("chromedriver"), "chromium and chromium-driver come from Debian (.ci/install)"
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'chrome'}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    yield driver
    driver.quit()


def test_a_web_page_sends_with_each_sdk_and_every_event_is_delivered_once(tmp_path, chromium):
    emulator = Emulator(tmp_path)
    server = start_server(tmp_path, emulator, config=CONFIG)
    page = PageServer(PAGE.replace("SERVER_URL", json.dumps(server.url)).replace("WRITE_KEY", json.dumps(WRITE_KEY)))
    try:
        chromium.get(page.url)
        deadline = time.monotonic() + 30
        while not chromium.execute_script("return window.done === true"):
            assert time.monotonic() < deadline, chromium.execute_script("return window.results")
            time.sleep(0.1)
        results = chromium.execute_script("return window.results")
        console = chromium.get_log("browser")
        print("browser results:", json.dumps(results, indent=1))

        # The browser let every request through and reported no error.
        assert "failure" not in results, results
        problems = [e["message"] for e in console if e["level"] in ("SEVERE", "WARNING")]
        assert problems == [], problems
        assert results["segmentSettings"] == {"apiHost": f"127.0.0.1:{server.port}/v1", "protocol": "http", "apiKey": True}
        assert results["rudderConfig"] == {"id": "web", "enabled": True, "destinations": 0}
        for name in ("ajs /t", "ajs /i", "ajs /b", "rudder xhr /v1/track"):
            assert results[name] == "200 ok", (name, results[name])
        assert results["rudder beacon"] is True, "sendBeacon queued the batch"
        assert results["pixel page"] == "loaded 1x1" and results["pixel track"] == "loaded 1x1"

        # Every event was stored once, enriched, and delivered, the identify with its type as DetailType.
        wait_for(lambda: len(server.events()) >= len(EXPECTED), timeout=20, what="every event stored")
        events = server.events()
        assert sorted(e["message_id"] for e in events) == sorted(EXPECTED)
        for e in events:
            p = e["payload"]
            assert p["type"] == EXPECTED[e["message_id"]][0]
            assert p["request_ip"] == "127.0.0.1" and p["receivedAt"] and p["messageId"] == e["message_id"]
            assert "writeKey" not in p, "the write key is not stored"
        stored = {e["message_id"]: e["payload"] for e in events}
        assert stored["ajs-track-1"]["_metadata"] == {"bundled": ["Segment.io"], "unbundled": [], "bundledIds": []}
        assert stored["pixel-page-1"]["anonymousId"] == "anon-pixel" and stored["pixel-page-1"]["context"]["page"]["url"] == "https://mail.example/view?id=7"
        assert stored["rudder-beacon-1"]["sentAt"], "the beacon's batch sentAt reached its event"

        wait_for(lambda: len(emulator.envelopes()) >= len(EXPECTED), timeout=30, what="delivery to the emulator")
        envelopes = emulator.envelopes()
        assert sorted(env["detail"]["messageId"] for env in envelopes) == sorted(EXPECTED), "delivered once each"
        for env in envelopes:
            assert env["detail-type"] == EXPECTED[env["detail"]["messageId"]][1], env
    finally:
        page.stop()
        server.stop()
        emulator.stop()
    assert WRITE_KEY not in server.log(), "the write key in URLs and bodies never reaches the log"
