"""Proof against something we did not write: events sent with the real clients reach moto's
EventBridge (signatures checked) and come out of an SQS rule target as the seed's mapping promises."""
import collections
import time
import uuid

import pytest
import requests
from rudderstack.analytics.client import Client as RudderClient
from segment.analytics.client import Client as SegmentClient

from conftest import SEGMENT_KEY, WRITE_KEY, Server, free_port
from faultproxy import FaultProxy
from moto_harness import Moto

CONFIG = """
server: {{ host: 127.0.0.1, port: {port} }}
storage: {{ path: {storage}, sync: {sync} }}
sources:
  - {{ name: web, writeKeys: ["${{E2E_WEB_KEY}}"] }}
  - {{ name: server, writeKeys: ["${{E2E_SEGMENT_KEY}}"] }}
destinations:
  - name: bus
    type: eventbridge
    config:
      region: us-east-1
      accessKeyID: ${{MOTO_KEY_ID}}
      accessKey: ${{MOTO_SECRET}}
      eventBusName: {bus}
      detailType: "{{{{ event | \\"identify\\" }}}}"
      resourceID: [{{ arn: "arn:aws:events:us-east-1:123456789012:event-bus/{bus}" }}]
      endpoint: {endpoint}
    # A send that times out after moto accepted it is sent again: at least once, as it must be.
    # moto delivering to SQS takes seconds per PutEvents on a busy machine, so the timeout is far
    # above that, or the faults test would count those resends as duplicates.
    delivery: {{ initialBackoff: 50ms, maxBackoff: 400ms, maxAttempts: 30, concurrency: 4, timeout: 60s }}
connections:
  - {{ from: web, to: [bus] }}
  - {{ from: server, to: [bus] }}
"""


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    m = Moto(tmp_path_factory.mktemp("moto"), free_port())
    yield m
    m.stop()


def start(tmp_path, moto, bus, endpoint, secret=None):
    text = CONFIG.replace("{bus}", bus).replace("{endpoint}", endpoint)
    server = Server(tmp_path, config_text=text)
    server.env["MOTO_KEY_ID"] = moto.switchyard_key[0]
    server.env["MOTO_SECRET"] = secret or moto.switchyard_key[1]
    return server.start()


def wait_settled(server, count, timeout=60):
    """Until `count` jobs have reached succeeded or dead."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with server.db() as db:
            settled = db.execute("SELECT COUNT(*) FROM jobs WHERE state IN ('succeeded','dead')").fetchone()[0]
        if settled >= count:
            return
        time.sleep(0.2)
    with server.db() as db:
        states = db.execute("SELECT state, COUNT(*), MAX(last_error) FROM jobs GROUP BY state").fetchall()
    raise AssertionError(f"only {settled} of {count} jobs settled: {states}")


def send_with_clients(server, n):
    rudder = RudderClient(write_key=WRITE_KEY, host=server.url, gzip=True)
    segment = SegmentClient(write_key=SEGMENT_KEY, host=server.url)
    sent = []
    for i in range(n):
        ok, msg = rudder.track(user_id=f"u{i}", event="Order Completed", properties={"order_id": i, "total": 9.5})
        sent.append(msg["messageId"])
        ok, msg = segment.track(user_id=f"s{i}", event="Cart Viewed", properties={"cart": i})
        sent.append(msg["messageId"])
    ok, msg = rudder.identify(user_id="u1", traits={"plan": "pro"})
    sent.append(msg["messageId"])
    for c in (rudder, segment):
        c.flush()
        c.join()
    return sent


def test_events_reach_moto_as_the_seed_mapping_promises(tmp_path, moto):
    bus, bus_arn, queue = moto.bus_with_queue()
    server = start(tmp_path, moto, bus, moto.url)
    sent = send_with_clients(server, 10)
    wait_settled(server, len(sent))

    envelopes = moto.drain_queue(queue, len(sent))
    stored = {e["message_id"]: e["payload"] for e in server.events()}
    by_id = collections.Counter(env["detail"]["messageId"] for env in envelopes)
    assert sorted(by_id) == sorted(sent) and set(by_id.values()) == {1}, "each event arrives exactly once"
    for env in envelopes:
        detail = env["detail"]
        assert env["source"] == "rudderstack"
        assert env["detail-type"] == detail.get("event", "identify")
        assert env["resources"] == [f"arn:aws:events:us-east-1:123456789012:event-bus/{bus}"]
        assert detail == stored[detail["messageId"]], "Detail is the whole enriched event"
    with server.db() as db:
        assert db.execute("SELECT DISTINCT state FROM jobs").fetchall() == [("succeeded",)]
    server.stop()


def test_a_wrong_secret_is_dead_lettered_with_the_signature_error_not_lost(tmp_path, moto):
    bus, _, queue = moto.bus_with_queue()
    server = start(tmp_path, moto, bus, moto.url, secret="not-the-secret")
    ids = [str(uuid.uuid4()) for _ in range(5)]
    for m in ids:
        assert requests.post(server.url + "/v1/track", auth=(WRITE_KEY, ""), json={"userId": "u", "event": "E", "messageId": m}).status_code == 200
    wait_settled(server, len(ids))
    with server.db() as db:
        rows = db.execute("SELECT e.message_id, j.state, j.last_error FROM jobs j JOIN events e ON e.id = j.event_id").fetchall()
    assert sorted(r[0] for r in rows) == sorted(ids)
    for _, state, error in rows:
        assert state == "dead"
        assert error.startswith("SignatureDoesNotMatch (HTTP 403)")
    assert moto.drain_queue(queue, 0, timeout=2) == []
    log = server.log()
    assert "EventBridge refused our credentials" in log
    assert "not-the-secret" not in log and moto.switchyard_key[1] not in log
    server.stop()


def test_faults_are_retried_until_every_event_is_delivered_exactly_once(tmp_path, moto):
    bus, _, queue = moto.bus_with_queue()
    proxy = FaultProxy(moto.url, moto.switchyard_key, plan=["drop", "partial", "throttle", "ok", "error", "slow", "partial", "ok"])
    server = start(tmp_path, moto, bus, proxy.url)
    ids = [str(uuid.uuid4()) for _ in range(60)]
    batch = lambda chunk: {"batch": [{"type": "track", "userId": "u", "event": "Paid", "messageId": m} for m in chunk]}
    for i in range(0, len(ids), 10):
        assert requests.post(server.url + "/v1/batch", auth=(WRITE_KEY, ""), json=batch(ids[i:i + 10])).status_code == 200
    wait_settled(server, len(ids), timeout=120)
    envelopes = moto.drain_queue(queue, len(ids))
    counts = collections.Counter(env["detail"]["messageId"] for env in envelopes)
    assert sorted(counts) == sorted(ids)
    assert set(counts.values()) == {1}, f"duplicates: {[m for m, c in counts.items() if c > 1]}"
    with server.db() as db:
        states = dict(db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
        retried = db.execute("SELECT COUNT(*), MAX(attempts) FROM jobs WHERE attempts > 1").fetchone()
    assert states == {"succeeded": len(ids)}
    assert retried[0] > 0, "retries are visible in the queue"
    for fault in FaultProxy.FAULTS:
        assert proxy.counts[fault] > 0, f"the proxy injected {fault}"
    server.stop()
    proxy.close()
