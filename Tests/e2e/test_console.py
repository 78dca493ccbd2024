"""The operator console (/console) in a real browser (Debian's headless Chromium driven by Selenium),
against the real server with two destinations: orders-bus delivers to an EventBridge emulator, and
audit-bus to one that throttles every entry, so its events are dead-lettered, until a healthy emulator
takes its port. The overview's numbers must be GET /v1/stats's; the failing destination's card says
what is wrong; a dead-letter group replayed from the page is delivered; the replay and regulation
forms work; the event story and the live page link to each other; every page is photographed."""
import base64
import os
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

import test_emulator_and_delivery as delivery_tests
from conftest import ADMIN_TOKEN, WRITE_KEY, Server, headless_chromium
from test_emulator_and_delivery import Emulator, wait_for

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
AWS_SECRET = "emulator-secret"

# Written with single braces; `Server` formats the text, so they are doubled below.
TEMPLATE = """
server: { host: 127.0.0.1, port: PORT, adminToken: "${E2E_ADMIN_TOKEN}" }
storage: { path: STORAGE, sync: SYNC }
schemaDiscovery: { flushInterval: 200ms }
trackingPlans:
  - name: web-plan
    events:
      - event: Order Completed
        properties: { type: object, required: [total], properties: { total: { type: number } } }
sources:
  - { name: web, writeKeys: ["${E2E_WEB_KEY}"], trackingPlan: web-plan }
destinations:
  - name: orders-bus
    type: eventbridge
    config: { region: us-east-1, eventBusName: orders, detailType: "{{ event }}", endpoint: "http://127.0.0.1:ORDERS_EMULATOR" }
    delivery: { initialBackoff: 20ms, maxBackoff: 100ms, maxAttempts: 3, linger: 5ms }
  - name: audit-bus
    type: eventbridge
    config: { region: us-east-1, eventBusName: audit, detailType: audit, endpoint: "http://127.0.0.1:AUDIT_EMULATOR" }
    delivery: { initialBackoff: 20ms, maxBackoff: 100ms, maxAttempts: 3, linger: 5ms }
connections:
  - { from: web, to: [orders-bus, audit-bus] }
"""
CONFIG = TEMPLATE.replace("{", "{{").replace("}", "}}").replace("PORT", "{port}").replace("STORAGE", "{storage}").replace("SYNC", "{sync}")


def start(tmp_path, healthy, failing):
    server = Server(tmp_path, config_text=CONFIG.replace("ORDERS_EMULATOR", str(healthy.port)).replace("AUDIT_EMULATOR", str(failing.port)))
    server.env.update(AWS_ACCESS_KEY_ID="AKIDEMULATOR", AWS_SECRET_ACCESS_KEY=AWS_SECRET)
    return server.start()


def api(server, path):
    r = requests.get(server.url + path, headers=AUTH, timeout=10)
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r.json()


@pytest.fixture
def browser(tmp_path):
    driver = headless_chromium(tmp_path / "chrome", 1280, 900, console_log=True)
    viewport(driver, 1280, 900)
    yield driver
    driver.quit()


@pytest.fixture
def stops():
    """What a test starts, stopped at teardown (last started first), even when the test fails."""
    started = []
    yield started
    for thing in reversed(started):
        try:
            thing.stop()
        except Exception:
            pass


def viewport(driver, width, height):
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500})


def screenshot(driver, folder, name):
    """The whole page, not only the window (Chromium's own capture, up to 8,000 pixels tall)."""
    height = driver.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)")
    width = driver.execute_script("return document.documentElement.clientWidth")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"captureBeyondViewport": True, "clip": {"x": 0, "y": 0, "width": width, "height": min(height, 8000), "scale": 1}})
    (folder / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))


def until(browser, predicate, timeout=60, what="the condition"):
    """Waits for the console to show something, pressing its "Refresh now" between looks (it refreshes
    by itself every 10 s); elements replaced by a refresh are looked up again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (NoSuchElementException, StaleElementReferenceException):
            pass
        browser.find_element(By.ID, "refresh").click()
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


def open_page(browser, server, route, ready):
    browser.get(server.url + "/console#" + route)
    WebDriverWait(browser, 20).until(EC.presence_of_element_located((By.CSS_SELECTOR, ready)))


def chart(browser, kind, name):
    key = "data-source" if kind == "source" else "data-destination"
    return browser.find_element(By.CSS_SELECTOR, f'figure[data-chart="{kind}"][{key}="{name}"]')


def test_the_console_shows_the_pipeline_and_replays_dead_letters(tmp_path, browser, monkeypatch, stops):
    folder = Path(os.environ.get("SWITCHYARD_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    healthy = Emulator(tmp_path)
    failing = Emulator(tmp_path, "--throttle-rate", "1")   # every entry throttled, then dead-lettered
    stops += [healthy, failing]
    server = start(tmp_path, healthy, failing)
    stops.append(server)
    wait = WebDriverWait(browser, 20)

    # The console asks for the admin token, and keeps it in the tab for the live page too.
    browser.get(server.url + "/console")
    wait.until(EC.visibility_of_element_located((By.ID, "token"))).send_keys(ADMIN_TOKEN)
    browser.find_element(By.ID, "save-token").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#health .health-card")))
    assert browser.execute_script("return sessionStorage.getItem('switchyard.adminToken')") == ADMIN_TOKEN

    # Real traffic: six orders (one breaks the tracking plan), and a request with a wrong write key.
    ids = [str(uuid.uuid4()) for _ in range(6)]
    for n, message_id in enumerate(ids):
        properties = {"total": 10 + n} if n else {"coupon": "none"}
        r = requests.post(server.url + "/v1/track", auth=(WRITE_KEY, ""), json={"userId": f"u{n}", "event": "Order Completed", "properties": properties, "messageId": message_id})
        assert r.status_code == 200, r.text
    assert requests.post(server.url + "/v1/track", auth=("not-a-write-key", ""), json={"userId": "x", "event": "E"}).status_code == 401
    summary = lambda: api(server, "/v1/summary")["destinations"]
    wait_for(lambda: summary()["orders-bus"]["delivered"] == 6 and summary()["audit-bus"]["deadLetters"] == 6, timeout=60,
             what="orders-bus delivering all six, audit-bus dead-lettering all six")

    # Overview: the healthy destination's chart shows the total GET /v1/stats reports (the same range).
    def delivered_matches():
        stats = api(server, "/v1/stats?from=1h&step=1m")["destinations"]["orders-bus"]["totals"]["delivered"]
        return stats == 6 and chart(browser, "deliveries", "orders-bus").get_attribute("data-total-delivered") == str(stats)
    until(browser, delivered_matches, what="the overview's delivered total for orders-bus to be /v1/stats's")
    stats = api(server, "/v1/stats?from=1h&step=1m")
    figure = chart(browser, "deliveries", "orders-bus")
    assert "delivered 6 events" in figure.find_element(By.CSS_SELECTOR, "svg").get_attribute("aria-label")
    assert figure.find_element(By.CSS_SELECTOR, "svg").get_attribute("role") == "img"
    web = stats["sources"]["web"]["totals"]
    until(browser, lambda: chart(browser, "source", "web").get_attribute("data-total-received") == str(web["received"]) == "6",
          what="the web source's received total")
    assert chart(browser, "source", "web").get_attribute("data-total-violations") == str(web["violations"]) == "1"
    refused = sum(stats["sources"]["(unknown)"]["totals"]["refused"].values())
    assert refused == 1 and chart(browser, "source", "(unknown)").get_attribute("data-total-refused") == "1"

    # The failing destination's card says what is wrong: a failing state, with the reason.
    card = '.health-card[data-destination="audit-bus"]'

    def failing_card_explains():
        c = browser.find_element(By.CSS_SELECTOR, card)
        return c.get_attribute("data-state") in ("retrying", "paused") and "ThrottlingException" in c.text
    until(browser, failing_card_explains, what="audit-bus's card to show its trouble")
    assert browser.find_element(By.CSS_SELECTOR, '.health-card[data-destination="orders-bus"]').get_attribute("data-state") == "delivering"
    screenshot(browser, folder, "console-overview")

    # A phone's width: everything fits, nothing scrolls sideways.
    viewport(browser, 390, 844)
    browser.refresh()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, 'figure[data-chart="deliveries"][data-destination="orders-bus"] svg')))
    assert browser.execute_script("return document.documentElement.scrollWidth <= document.documentElement.clientWidth"), "the page scrolls sideways at 390 px"
    assert chart(browser, "deliveries", "orders-bus").rect["width"] > 300, "charts take the phone's width"
    screenshot(browser, folder, "console-overview-390")
    viewport(browser, 1280, 900)

    # The destination page: its card, waiting count, charts and dead letters.
    open_page(browser, server, "/destinations/audit-bus", "#destination-dead-letters")
    until(browser, lambda: len(browser.find_elements(By.CSS_SELECTOR, "#destination-dead-letters tr.dead-letter")) == 6, what="audit-bus's six dead letters")
    assert {e.get_attribute("data-message-id") for e in browser.find_elements(By.CSS_SELECTOR, "#destination-dead-letters tr.dead-letter")} == set(ids)
    assert browser.find_element(By.ID, "waiting").get_attribute("data-value") == "0"
    assert browser.find_element(By.CSS_SELECTOR, "#destination-dead-letters button.replay-all").get_attribute("data-count") == "6"
    assert chart(browser, "deliveries", "audit-bus").get_attribute("data-total-dead-lettered") == str(stats["destinations"]["audit-bus"]["totals"]["deadLettered"])
    screenshot(browser, folder, "console-destination")

    # Recovery: a healthy emulator takes the failing one's port; then the group is replayed from the page.
    failing.stop()
    monkeypatch.setattr(delivery_tests, "free_port", lambda: failing.port)
    recovered = Emulator(tmp_path)
    stops.append(recovered)
    groups = api(server, "/v1/dead-letters/groups?destination=audit-bus")["groups"]
    assert [(g["errorCode"], g["count"]) for g in groups] == [("ThrottlingException", 6)], groups
    open_page(browser, server, "/dead-letters", 'tr.dl-group[data-destination="audit-bus"]')
    row = browser.find_element(By.CSS_SELECTOR, 'tr.dl-group[data-destination="audit-bus"][data-error-code="ThrottlingException"]')
    assert row.get_attribute("data-count") == "6" and "ThrottlingException" in row.text
    row.find_element(By.CSS_SELECTOR, "button.toggle").click()
    wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "tr.sub tr.dead-letter")) == 6)
    row.find_element(By.CSS_SELECTOR, "button.replay-group").click()
    confirm = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, 'tr.dl-group[data-destination="audit-bus"] button.confirm-replay')))
    assert confirm.text == "Confirm replay of 6 events"
    screenshot(browser, folder, "console-dead-letters")
    confirm.click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "replay-status"), "replayed"))
    status = browser.find_element(By.ID, "replay-status")
    assert status.text == "6 events replayed" and status.get_attribute("role") == "status"
    wait_for(lambda: summary()["audit-bus"]["delivered"] == 6, timeout=60, what="the replayed events delivered")
    assert sorted(e["detail"]["messageId"] for e in recovered.envelopes()) == sorted(ids)
    assert not [g for g in api(server, "/v1/dead-letters/groups")["groups"] if g["destination"] == "audit-bus"]
    until(browser, lambda: browser.find_elements(By.ID, "no-dead-letters"), what="the page to show no dead letters left")
    assert browser.find_element(By.ID, "replay-status").text == "6 events replayed", "the message outlives the refresh"
    screenshot(browser, folder, "console-dead-letters-replayed")

    # The overview follows: audit-bus's delivered total is now /v1/stats's six.
    open_page(browser, server, "/", 'figure[data-chart="deliveries"][data-destination="audit-bus"]')
    until(browser, lambda: chart(browser, "deliveries", "audit-bus").get_attribute("data-total-delivered")
          == str(api(server, "/v1/stats?from=1h&step=1m")["destinations"]["audit-bus"]["totals"]["delivered"]) == "6", what="audit-bus's delivered total")

    # Violations: the order without a total, grouped by source, event and type.
    open_page(browser, server, "/violations", "main h2")
    until(browser, lambda: browser.find_elements(By.CSS_SELECTOR, 'tr.violation-group[data-source="web"][data-event="Order Completed"]'), what="the violation group")
    group = browser.find_element(By.CSS_SELECTOR, 'tr.violation-group[data-source="web"][data-event="Order Completed"]')
    assert group.get_attribute("data-type") == "Required-Missing" and group.get_attribute("data-count") == "1"
    assert browser.find_element(By.CSS_SELECTOR, "tr.violation").get_attribute("data-message-id") == ids[0]
    screenshot(browser, folder, "console-violations")

    # Schemas: the discovered model, its versions and its JSON Schema.
    open_page(browser, server, "/schemas", "main h2")
    model = 'tr.schema-model[data-source="web"][data-type="track"][data-event="Order Completed"]'
    until(browser, lambda: browser.find_elements(By.CSS_SELECTOR, model), what="the discovered schema")
    assert int(browser.find_element(By.CSS_SELECTOR, model).get_attribute("data-versions")) >= 1
    browser.find_element(By.CSS_SELECTOR, model + " button.toggle").click()
    wait.until(EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".schema-json"), "json-schema.org"))
    screenshot(browser, folder, "console-schemas")

    # One event's story (before the replay below stores the events again): each destination's job, the
    # entry's Detail formatted, a link to the live log.
    open_page(browser, server, f"/events/{ids[1]}", "#story-title")
    assert ids[1] in browser.find_element(By.ID, "story-title").text
    assert browser.find_element(By.CSS_SELECTOR, 'tr.story-job-row[data-destination="orders-bus"]').get_attribute("data-state") == "succeeded"
    assert browser.find_element(By.CSS_SELECTOR, 'tr.story-job-row[data-destination="audit-bus"]').get_attribute("data-state") == "succeeded"
    detail = browser.find_element(By.CSS_SELECTOR, '.story-job[data-destination="orders-bus"] .entry-detail-json').text
    assert f'"messageId": "{ids[1]}"' in detail and '"total": 11' in detail, "Detail shows as formatted JSON, not an escaped string"
    audit = browser.find_element(By.CSS_SELECTOR, '.story-job[data-destination="audit-bus"]').text
    assert "attempt 3 → dead" in audit and "error ThrottlingException" in audit and "replayed → waiting" in audit
    assert browser.find_element(By.CSS_SELECTOR, "#story-title button.copy").get_attribute("aria-label") == "Copy message id"
    live_link = browser.find_element(By.CSS_SELECTOR, "a.live-link").get_attribute("href")
    assert live_link == f"{server.url}/live?messageId={ids[1]}"
    screenshot(browser, folder, "console-event")

    # The live page, filtered by that messageId, needs no second login and links back to the story.
    browser.get(live_link)
    wait.until(EC.text_to_be_present_in_element((By.ID, "connection"), "live"))
    assert browser.find_element(By.ID, "filter-message").get_attribute("value") == ids[1]
    rows = wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, f'#records tbody tr[data-message-id="{ids[1]}"]'))
    assert {r.get_attribute("data-message-id") for r in browser.find_elements(By.CSS_SELECTOR, "#records tbody tr")} == {ids[1]}
    rows[0].click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#detail .entry-detail-json")))
    assert '"event": "Order Completed"' in browser.find_element(By.CSS_SELECTOR, "#detail .entry-detail-json").text
    labels = {b.get_attribute("aria-label") for b in browser.find_elements(By.CSS_SELECTOR, "#detail button.copy")}
    assert {"Copy message id", "Copy request id"} <= labels
    browser.find_element(By.CSS_SELECTOR, "#detail h2 a.story-link").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "story-title"), ids[1]))

    # Replays: one started with the form (the last hour, to orders-bus) runs to its end.
    open_page(browser, server, "/replays", "#replay-form")
    browser.find_element(By.CSS_SELECTOR, 'input[name="destination"][value="orders-bus"]').click()
    browser.find_element(By.ID, "replay-events").send_keys("Order Completed")
    browser.find_element(By.ID, "replay-start").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "replay-form-status"), "started"))
    name = browser.find_element(By.ID, "replay-form-status").text.split()[1]
    replay = api(server, f"/v1/replays/{name}")
    assert replay["destinations"] == ["orders-bus"] and replay["filter"] == {"events": ["Order Completed"]}
    until(browser, lambda: browser.find_element(By.CSS_SELECTOR, f'.replay[data-name="{name}"]').get_attribute("data-state") == "COMPLETED", what="the replay to complete")
    assert api(server, f"/v1/replays/{name}")["progress"]["eventsSent"] == 6
    assert browser.find_element(By.CSS_SELECTOR, f'.replay[data-name="{name}"] progress').get_attribute("data-percent") == "100"
    screenshot(browser, folder, "console-replays")

    # Regulations: one recorded with the form is listed.
    open_page(browser, server, "/regulations", "#regulation-form")
    browser.find_element(By.ID, "regulation-ids").send_keys("someone-who-asked")
    browser.find_element(By.ID, "regulation-submit").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "regulation-status"), "recorded"))
    regulations = api(server, "/v1/regulations")["data"]["regulations"]
    assert [(r["regulationType"], r["subjectCount"]) for r in regulations] == [("SUPPRESS_ONLY", 1)]
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f'tr.regulation[data-id="{regulations[0]["id"]}"]')))
    screenshot(browser, folder, "console-regulations")

    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "Failed to load resource" not in e["message"]]
    assert not errors, errors
    page = browser.page_source
    for secret in (WRITE_KEY, AWS_SECRET, ADMIN_TOKEN):
        assert secret not in page


def test_the_console_asks_for_the_token_and_refuses_a_wrong_one(tmp_path, browser, stops):
    emulator = Emulator(tmp_path)
    stops.append(emulator)
    server = start(tmp_path, emulator, emulator)
    stops.append(server)
    for path, kind in (("/console", "text/html"), ("/console/app.js", "javascript"), ("/console/charts.js", "javascript"), ("/console/pages.js", "javascript")):
        r = requests.get(server.url + path, timeout=5)
        assert r.status_code == 200 and kind in r.headers["Content-Type"], (path, r.status_code, r.headers.get("Content-Type"))
    assert requests.get(server.url + "/v1/stats", timeout=5).status_code == 401
    wait = WebDriverWait(browser, 20)
    browser.get(server.url + "/console")
    wait.until(EC.visibility_of_element_located((By.ID, "token"))).send_keys(WRITE_KEY)
    browser.find_element(By.ID, "save-token").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "login-error"), "admin token required"))
    assert not browser.find_element(By.ID, "view").is_displayed()
    token = browser.find_element(By.ID, "token")
    token.clear()
    token.send_keys(ADMIN_TOKEN)
    browser.find_element(By.ID, "save-token").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, '#health .health-card[data-destination="orders-bus"]')))
    assert browser.find_element(By.CSS_SELECTOR, '#nav a[aria-current="page"]').text == "Overview"


def test_markup_in_events_is_shown_as_text_and_never_runs(tmp_path, browser, stops):
    """Event names, ids, properties and a transformation-free entry all come from whoever holds a
    write key: the console and the live page must show them as text, never as markup, since a
    script running there would hold the admin token."""
    healthy = Emulator(tmp_path)
    failing = Emulator(tmp_path, "--throttle-rate", "1")
    stops += [healthy, failing]
    server = start(tmp_path, healthy, failing)
    stops.append(server)
    hostile = '<img src=x onerror="window.__xss=1">'
    message_id = "x-" + uuid.uuid4().hex[:8] + "<b>"
    r = requests.post(server.url + "/v1/track", auth=(WRITE_KEY, ""),
                      json={"userId": hostile, "event": hostile, "messageId": message_id, "properties": {"total": 1, "note": hostile}})
    assert r.status_code == 200, r.text
    wait = WebDriverWait(browser, 30)
    browser.get(server.url + "/console")
    wait.until(EC.visibility_of_element_located((By.ID, "token"))).send_keys(ADMIN_TOKEN)
    browser.find_element(By.ID, "save-token").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, '#health .health-card[data-destination="orders-bus"]')))
    # Discovered schemas name the event; the story shows the event, its entry and its user.
    open_page(browser, server, "/schemas", "#view")
    until(browser, lambda: hostile in browser.find_element(By.ID, "view").text, what="the event's name among the schemas")
    open_page(browser, server, "/events/" + quote(message_id, safe=""), "#story-title")
    wait.until(EC.text_to_be_present_in_element((By.ID, "view"), hostile))
    browser.get(server.url + "/live?messageId=" + quote(message_id, safe=""))
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#records tbody tr")))
    browser.find_element(By.CSS_SELECTOR, "#records tbody tr").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "detail"), hostile))
    assert browser.execute_script("return window.__xss") is None, "markup from an event ran in the operator's browser"
    assert not browser.find_elements(By.CSS_SELECTOR, 'img[src="x"]')
