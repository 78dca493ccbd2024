"""Harness for end-to-end tests: runs the real `switchyard` binary that `swift build` made."""
import json
import os
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("SWITCHYARD_BIN", ROOT / ".build" / "debug" / "switchyard"))

WRITE_KEY = "e2e-web-write-key-7f3a"
SEGMENT_KEY = "e2e-segment-write-key-91cc"
ADMIN_TOKEN = "e2e-admin-token-5d21"
AWS_SECRET = "e2e-aws-secret-3b8e"

CONFIG = """
server:
  host: 127.0.0.1
  port: {port}
  adminToken: ${{E2E_ADMIN_TOKEN}}
  limits: {{ maxEventBytes: 32768, maxRequestBytes: 4194304 }}
storage:
  path: {storage}
  sync: {sync}
sources:
  - name: web
    writeKeys: ["${{E2E_WEB_KEY}}"]
  - name: server
    writeKeys: ["${{E2E_SEGMENT_KEY}}"]
destinations:
  - name: orders-bus
    type: eventbridge
    config:
      region: us-east-1
      eventBusName: orders
      detailType: "{{{{ event }}}}"
      accessKeyID: AKIDE2E
      accessKey: ${{E2E_AWS_SECRET}}
      endpoint: http://127.0.0.1:9      # nothing listens: jobs stay queued for these tests to read
    filter:
      types: [track, identify]
  - name: audit-bus
    type: eventbridge
    config:
      region: us-east-1
      detailType: audit
      accessKeyID: AKIDE2E
      accessKey: ${{E2E_AWS_SECRET}}
      endpoint: http://127.0.0.1:9
connections:
  - from: web
    to: [orders-bus, audit-bus]
  - from: server
    to: [orders-bus]
"""



def one_destination_config(server="", delivery="", endpoint="http://127.0.0.1:9"):
    """A configuration template for `Server`: the `web` source (E2E_WEB_KEY) connected to one
    EventBridge destination `bus`. `server` and `delivery` add keys to those mappings, as YAML flow
    text (for example "shutdownGrace: 2s"); the default endpoint has nothing listening."""
    server, delivery, endpoint = (t.replace("{", "{{").replace("}", "}}") for t in (server, delivery, endpoint))
    server_keys = ", ".join(k for k in ("host: 127.0.0.1, port: {port}", server) if k)
    delivery_line = f"\n    delivery: {{{{ {delivery} }}}}" if delivery else ""
    return f"""
server: {{{{ {server_keys} }}}}
storage: {{{{ path: {{storage}}, sync: {{sync}} }}}}
sources:
  - {{{{ name: web, writeKeys: ["${{{{E2E_WEB_KEY}}}}"] }}}}
destinations:
  - name: bus
    type: eventbridge
    config: {{{{ region: us-east-1, detailType: x, accessKeyID: AKIDE2E, accessKey: secret, endpoint: "{endpoint}" }}}}{delivery_line}
connections:
  - {{{{ from: web, to: [bus] }}}}
"""

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One switchyard process on a loopback port with its own queue folder."""

    def __init__(self, workdir: Path, sync="normal", config_text=None):
        self.workdir = workdir
        self.port = free_port()
        self.storage = workdir / "queue"
        self.config_path = workdir / "switchyard.yaml"
        text = config_text or CONFIG
        self.config_path.write_text(text.format(port=self.port, storage=self.storage, sync=sync))
        self.log_path = workdir / "server.log"
        self.env = dict(os.environ, E2E_WEB_KEY=WRITE_KEY, E2E_SEGMENT_KEY=SEGMENT_KEY, E2E_ADMIN_TOKEN=ADMIN_TOKEN,
                        E2E_AWS_SECRET=AWS_SECRET, LOG_LEVEL="info")
        self.process = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=20):
        assert BINARY.exists(), f"{BINARY} is missing: run `swift build` first"
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([str(BINARY), "serve", "--config", str(self.config_path)],
                                        stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server did not become healthy:\n{self.log()}")

    def stop(self, timeout=15):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise
        return self.process.returncode if self.process else None

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def db(self):
        """A read-only connection to the queue, as an operator's sqlite3 would open it."""
        return sqlite3.connect(f"file:{self.storage / 'queue.sqlite'}?mode=ro", uri=True)

    def events(self):
        with self.db() as db:
            rows = db.execute("SELECT message_id, source, type, name, payload FROM events ORDER BY id").fetchall()
        return [dict(message_id=r[0], source=r[1], type=r[2], name=r[3], payload=json.loads(r[4])) for r in rows]

    def jobs(self):
        with self.db() as db:
            return db.execute("SELECT e.message_id, j.destination, j.state FROM jobs j JOIN events e ON e.id = j.event_id ORDER BY j.id").fetchall()


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path).start()
    yield s
    s.stop()
    for secret in (WRITE_KEY, SEGMENT_KEY, ADMIN_TOKEN, AWS_SECRET):
        assert secret not in s.log(), "a secret reached the log"


@pytest.fixture
def make_server(tmp_path):
    servers = []

    def make(**kwargs):
        s = Server(tmp_path, **kwargs)
        servers.append(s)
        return s

    yield make
    for s in servers:
        if s.process and s.process.poll() is None:
            s.process.kill()
            s.process.wait()


def headless_chromium(profile, width, height, console_log=False):
    """Debian's Chromium, headless, driven by Selenium, with a profile of its own."""
    import shutil
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    assert shutil.which("chromium") and shutil.which("chromedriver"), "chromium and chromium-driver come from Debian (.ci/install)"
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    if console_log:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
