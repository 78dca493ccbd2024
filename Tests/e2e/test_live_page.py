"""The /live page in a real browser (Debian's headless Chromium driven by Selenium): an event sent
through the API appears in the table, and its failure details show in the detail pane."""
import os
import uuid

import pytest
import requests

from conftest import ADMIN_TOKEN, WRITE_KEY, headless_chromium
from test_emulator_and_delivery import Emulator
from test_live_log import AWS_SECRET, start

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture
def browser(tmp_path):
    driver = headless_chromium(tmp_path / "chrome", 1400, 900)
    yield driver
    driver.quit()


def test_an_event_appears_live_and_its_failure_details_show(tmp_path, browser):
    emulator = Emulator(tmp_path, "--throttle-rate", "1")   # every entry throttled, then dead-lettered
    server = start(tmp_path, emulator)
    wait = WebDriverWait(browser, 20)

    browser.get(server.url + "/live")
    wait.until(EC.visibility_of_element_located((By.ID, "token"))).send_keys(ADMIN_TOKEN)
    browser.find_element(By.ID, "save-token").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "connection"), "live"))

    message_id = str(uuid.uuid4())
    r = requests.post(server.url + "/v1/track", auth=(WRITE_KEY, ""), json={"userId": "browser-user", "event": "Checkout Started", "messageId": message_id})
    assert r.status_code == 200

    row = f'#records tbody tr[data-message-id="{message_id}"]'
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, row)))
    dead = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, row + " .status-dead")))
    assert dead.text == "dead"
    cells = dead.find_element(By.XPATH, "ancestor::tr").find_elements(By.TAG_NAME, "td")
    assert cells[5].text == "Checkout Started" and cells[6].get_attribute("title") == message_id
    assert "ThrottlingException" in cells[8].text
    # Colours follow the status.
    assert dead.value_of_css_property("background-color") == "rgba(198, 40, 40, 1)"

    dead.find_element(By.XPATH, "ancestor::tr").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "detail"), "attempt 3 → dead"))
    detail = browser.find_element(By.ID, "detail").text
    assert f"Event {message_id}" in detail
    assert '"event": "Checkout Started"' in detail
    assert '"DetailType": "Checkout Started"' in detail, "the PutEvents entry shows"
    assert "attempt 1 → failed" in detail and "error ThrottlingException" in detail
    assert "bus: dead after 3 attempt(s)" in detail

    # Summary line, and pause/resume.
    wait.until(EC.text_to_be_present_in_element((By.ID, "summary"), "received: web 1"))
    browser.find_element(By.ID, "pause").click()
    later = str(uuid.uuid4())
    requests.post(server.url + "/v1/track", auth=(WRITE_KEY, ""), json={"userId": "u", "event": "Later", "messageId": later})
    wait.until(EC.text_to_be_present_in_element((By.ID, "paused-count"), "new while paused"))
    assert not browser.find_elements(By.CSS_SELECTOR, f'#records tbody tr[data-message-id="{later}"]')
    browser.find_element(By.ID, "pause").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f'#records tbody tr[data-message-id="{later}"]')))

    # A long pause keeps only what the table can show; the count still tells how many came.
    browser.find_element(By.ID, "pause").click()
    burst = [{"type": "track", "userId": "u", "event": "Burst", "messageId": str(uuid.uuid4())} for _ in range(600)]
    assert requests.post(server.url + "/v1/batch", auth=(WRITE_KEY, ""), json={"batch": burst}).status_code == 200
    wait.until(lambda b: int((b.find_element(By.ID, "paused-count").text.split() or ["0"])[0]) >= 600)
    assert browser.execute_script("return state.held.length") == 500
    browser.find_element(By.ID, "pause").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f'#records tbody tr[data-message-id="{burst[-1]["messageId"]}"]')))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#records tbody tr")) <= 500

    browser.save_screenshot(os.environ.get("LIVE_SCREENSHOT", str(tmp_path / "live.png")))
    page = browser.page_source
    for secret in (WRITE_KEY, AWS_SECRET):
        assert secret not in page
    server.stop()
    emulator.stop()


def test_the_page_asks_for_the_token_and_refuses_a_wrong_one(tmp_path, browser):
    emulator = Emulator(tmp_path)
    server = start(tmp_path, emulator)
    wait = WebDriverWait(browser, 20)
    browser.get(server.url + "/live")
    wait.until(EC.visibility_of_element_located((By.ID, "token"))).send_keys(WRITE_KEY)
    browser.find_element(By.ID, "save-token").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "login-error"), "admin token required"))
    assert browser.find_element(By.ID, "connection").text == "locked"
    server.stop()
    emulator.stop()
