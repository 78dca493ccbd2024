"""Deduplication against real retries: a proxy between the unmodified Python SDKs and Switchyard
forwards every request but drops the answer of some that Switchyard committed (as a load
balancer that resets a connection would), so the SDK sends the same batch again, with the same
message ids. Every event must reach the EventBridge emulator exactly once: on one node, across a
kill -9 between the two sends, and on two PostgreSQL nodes where the retry reaches the other node.
With `dedup: {window: 0}` the same run delivers copies, which shows the proxy's drops are real."""
import collections
import gzip
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from rudderstack.analytics.client import Client as RudderClient
from segment.analytics.client import Client as SegmentClient

from conftest import ADMIN_TOKEN, SEGMENT_KEY, WRITE_KEY, Server
from test_emulator_and_delivery import Emulator, wait_for
from test_multinode import PG_PASSWORD, PG_URL, fresh_database

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

CONFIG = """
server: {{ host: 127.0.0.1, port: {port}, adminToken: "${{E2E_ADMIN_TOKEN}}" }}
storage: {{ path: {storage}, sync: {sync}STORAGE_EXTRA }}
dedup: {{ window: WINDOW }}
sources:
  - {{ name: web, writeKeys: ["${{E2E_WEB_KEY}}"] }}
  - {{ name: server, writeKeys: ["${{E2E_SEGMENT_KEY}}"] }}
destinations:
  - name: bus
    type: eventbridge
    config: {{ region: us-east-1, detailType: "{{{{ event }}}}", endpoint: "http://127.0.0.1:EMULATOR_PORT" }}
    delivery: {{ initialBackoff: 20ms, maxBackoff: 500ms, linger: 5ms }}
connections:
  - {{ from: web, to: [bus] }}
  - {{ from: server, to: [bus] }}
"""


class AnswerDropper:
    """Forwards each ingestion request to the next upstream in turn and relays the answer, except
    for every `drop_every`th request: that one is forwarded and committed, then the client's
    connection is closed without an answer (after `on_drop`, if given, has run)."""

    def __init__(self, upstreams, drop_every=3, on_drop=None):
        self.upstreams = list(upstreams)
        self.drop_every = drop_every
        self.on_drop = on_drop
        self.lock = threading.Lock()
        self.requests = 0
        self.dropped = 0
        self.dropped_events = 0
        self.answers = collections.Counter()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                proxy.handle(self, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def handle(self, handler, body):
        with self.lock:
            n = self.requests
            self.requests += 1
        upstream = self.upstreams[n % len(self.upstreams)]
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "content-length", "connection")}
        answer = requests.post(upstream() + handler.path, data=body, headers=headers, timeout=30)
        with self.lock:
            self.answers[answer.status_code] += 1
        if answer.status_code == 200 and n % self.drop_every == self.drop_every - 1:
            raw = gzip.decompress(body) if handler.headers.get("Content-Encoding") == "gzip" else body
            with self.lock:
                self.dropped += 1
                self.dropped_events += len(json.loads(raw).get("batch", [None]))
            if self.on_drop:
                self.on_drop()
            handler.close_connection = True
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        handler.send_response(answer.status_code)
        handler.send_header("Content-Type", answer.headers.get("Content-Type", "text/plain"))
        handler.send_header("Content-Length", str(len(answer.content)))
        handler.end_headers()
        handler.wfile.write(answer.content)

    def stop(self):
        self.server.shutdown()


def start(tmp_path, emulator, window, storage_extra="", name=None, sync="normal"):
    folder = tmp_path / name if name else tmp_path
    folder.mkdir(exist_ok=True)
    text = CONFIG.replace("EMULATOR_PORT", str(emulator.port)).replace("WINDOW", window).replace("STORAGE_EXTRA", storage_extra)
    server = Server(folder, sync=sync, config_text=text)
    server.env.update(AWS_ACCESS_KEY_ID="AKIDEMULATOR", AWS_SECRET_ACCESS_KEY="emulator-secret", PGPASSWORD=PG_PASSWORD)
    return server.start()


def send(url, n=120):
    """Tracks through both SDKs in small batches; returns the message ids they reported sent."""
    failures, sent = [], []
    for client in (RudderClient(write_key=WRITE_KEY, host=url, upload_size=10, max_retries=6),
                   SegmentClient(write_key=SEGMENT_KEY, host=url, upload_size=10, max_retries=6)):
        client.on_error = lambda error, batch: failures.append(error)
        for i in range(n):
            ok, msg = client.track(user_id=f"user-{i % 7}", event="Order Completed", properties={"n": i})
            assert ok
            sent.append(msg["messageId"])
            if i % 10 == 9:
                client.flush()
        client.flush()
        client.join()
    assert failures == [], "the SDKs gave up on a batch"
    return sent


def delivered_once(emulator, server, sent):
    """Waits until everything sent is delivered and the queue is empty; returns how many times
    each message id reached the emulator."""
    wait_for(lambda: set(sent) <= {e["detail"]["messageId"] for e in emulator.envelopes()}, timeout=90,
             what="every event delivered")
    summary = lambda: requests.get(server.url + "/v1/summary", headers=AUTH, timeout=10).json()
    wait_for(lambda: summary()["destinations"]["bus"]["queueDepth"] == 0, timeout=60, what="the queue drained")
    return collections.Counter(e["detail"]["messageId"] for e in emulator.envelopes())


def metric(server, name, source):
    text = requests.get(server.url + "/metrics", headers=AUTH, timeout=10).text
    for line in text.splitlines():
        if line.startswith(name + "{") and f'source="{source}"' in line:
            return int(float(line.rsplit(" ", 1)[1]))
    return 0


@pytest.mark.parametrize("window", ["24h", "0"])
def test_sdk_retries_after_lost_answers_are_delivered_once(tmp_path, window):
    emulator = Emulator(tmp_path)
    server = start(tmp_path, emulator, window)
    proxy = AnswerDropper([lambda: server.url])
    try:
        sent = send(proxy.url)
        assert proxy.dropped >= 6, "the proxy dropped answers, so the SDKs sent those batches again"
        counts = delivered_once(emulator, server, sent)
        assert set(counts) == set(sent)
        copies = sum(c - 1 for c in counts.values())
        summary = requests.get(server.url + "/v1/summary", headers=AUTH, timeout=10).json()
        if window == "0":
            # Without deduplication every retried batch is stored, and delivered, twice.
            assert copies == proxy.dropped_events, f"{copies} copies for {proxy.dropped} dropped answers"
            assert summary["duplicates"] == {}
            return
        assert copies == 0, f"{copies} events delivered more than once"
        dropped = summary["duplicates"]["web"] + summary["duplicates"]["server"]
        assert dropped == proxy.dropped_events, "each retried batch's events are counted as duplicates"
        assert metric(server, "switchyard_duplicate_events_total", "web") == summary["duplicates"]["web"]
        assert metric(server, "switchyard_events_received_total", "web") == len(sent) // 2
        with server.db() as db:
            assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == len(sent)
            # Each stored event carries its mark (the message index holds it once its run is cut).
            assert db.execute("SELECT COUNT(*) FROM events WHERE dedup_until IS NOT NULL").fetchone()[0] == len(sent)
    finally:
        proxy.stop()
        server.stop()
        emulator.stop()


def test_a_retry_after_kill_9_between_the_two_sends_is_still_a_duplicate(tmp_path):
    emulator = Emulator(tmp_path)
    server = start(tmp_path, emulator, "24h", sync="full")
    restarts = []

    def crash():
        # The batch is committed and its answer lost; the server dies before the SDK tries again.
        # It dies once its deliveries are recorded: a send cut off by a crash is sent again after
        # the restart (at least once), which is delivery's business, not deduplication's.
        summary = lambda: requests.get(server.url + "/v1/summary", headers=AUTH, timeout=10).json()
        wait_for(lambda: summary()["destinations"]["bus"]["queueDepth"] == 0, timeout=30, what="deliveries recorded")
        server.kill()
        server.start()
        restarts.append(server.process.pid)

    proxy = AnswerDropper([lambda: server.url], drop_every=4, on_drop=crash)
    try:
        sent = send(proxy.url, n=60)
        assert len(restarts) >= 3
        counts = delivered_once(emulator, server, sent)
        assert set(counts) == set(sent)
        assert max(counts.values()) == 1, "a retry after the crash was delivered again"
        with server.db() as db:
            assert db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == len(sent), "each event stored once"
    finally:
        proxy.stop()
        server.stop()
        emulator.stop()


@pytest.mark.skipif(not PG_URL, reason="no PostgreSQL cluster: run through .ci/test, which starts one")
def test_on_two_postgresql_nodes_a_retry_that_reaches_the_other_node_is_a_duplicate(tmp_path):
    emulator = Emulator(tmp_path)
    database = fresh_database()
    storage = f', postgres: {{{{ url: "{database}", password: "${{{{PGPASSWORD}}}}" }}}}'
    a = start(tmp_path, emulator, "24h", storage_extra=storage, name="node-a")
    b = start(tmp_path, emulator, "24h", storage_extra=storage, name="node-b")
    # Requests alternate between the nodes: the retry of a dropped answer goes to the other one.
    proxy = AnswerDropper([lambda: a.url, lambda: b.url], drop_every=3)
    try:
        sent = send(proxy.url)
        assert proxy.dropped >= 6
        counts = delivered_once(emulator, a, sent)
        assert set(counts) == set(sent)
        assert max(counts.values()) == 1, "a retry that reached the other node was delivered again"
        duplicates = sum(
            sum(requests.get(n.url + "/v1/summary", headers=AUTH, timeout=10).json()["duplicates"].values()) for n in (a, b)
        )
        assert duplicates == proxy.dropped_events
    finally:
        proxy.stop()
        a.stop()
        b.stop()
        emulator.stop()
