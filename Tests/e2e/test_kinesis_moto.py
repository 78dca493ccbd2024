"""Kinesis Data Streams against moto (signatures checked, an IAM user allowed only
kinesis:PutRecords): events from the real Python clients for 50 users are read back from a
4-shard stream as a consumer reads them, each exactly once, byte-identical to the stored event,
and each user's in the order Switchyard accepted them, also when the fault proxy fails 30% of
the records one by one."""
import collections
import json
import sqlite3
import uuid

import pytest
import requests
from rudderstack.analytics.client import Client as RudderClient
from segment.analytics.client import Client as SegmentClient

from conftest import ADMIN_TOKEN, SEGMENT_KEY, WRITE_KEY, Server, free_port
from faultproxy import FaultProxy
from moto_harness import Moto
from test_eventbridge_moto import wait_settled

CONFIG = """
server: {{ host: 127.0.0.1, port: {port}, adminToken: "${{E2E_ADMIN_TOKEN}}" }}
storage: {{ path: {storage}, sync: {sync} }}
sources:
  - {{ name: web, writeKeys: ["${{E2E_WEB_KEY}}"] }}
  - {{ name: server, writeKeys: ["${{E2E_SEGMENT_KEY}}"] }}
destinations:
  - name: agent-stream
    type: kinesis
    config:
      region: us-east-1
      accessKeyID: ${{MOTO_KEY_ID}}
      accessKey: ${{MOTO_SECRET}}
      stream: STREAM
      endpoint: ENDPOINT
    delivery: {{ initialBackoff: 20ms, maxBackoff: 200ms, maxAttempts: 100, concurrency: 4, linger: 5ms }}
connections:
  - {{ from: web, to: [agent-stream] }}
  - {{ from: server, to: [agent-stream] }}
"""


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    m = Moto(tmp_path_factory.mktemp("moto-kinesis"), free_port())
    yield m
    m.stop()


def start(tmp_path, moto, stream, endpoint, secret=None):
    server = Server(tmp_path, config_text=CONFIG.replace("STREAM", stream).replace("ENDPOINT", endpoint))
    server.env["MOTO_KEY_ID"] = moto.kinesis_key[0]
    server.env["MOTO_SECRET"] = secret or moto.kinesis_key[1]
    return server.start()


def send_for_50_users(server):
    """Four tracks and an identify for each of 50 users, half through each real client."""
    rudder = RudderClient(write_key=WRITE_KEY, host=server.url, gzip=True, max_retries=2)
    segment = SegmentClient(write_key=SEGMENT_KEY, host=server.url, max_retries=2)
    sent = []
    for step in range(4):
        for u in range(50):
            client = rudder if u % 2 else segment
            ok, msg = client.track(user_id=f"agent-{u}", event="Agent State Changed", properties={"step": step, "state": "AVAILABLE" if step % 2 else "ON_CALL"})
            assert ok
            sent.append(msg["messageId"])
    for u in range(50):
        ok, msg = (rudder if u % 2 else segment).identify(user_id=f"agent-{u}", traits={"team": u % 5})
        sent.append(msg["messageId"])
    for client in (rudder, segment):
        client.flush()
        client.join()
    return sent


def stored(server):
    """The stored events, raw: message id → (user, payload bytes), and each user's ids in acceptance order."""
    with sqlite3.connect(f"file:{server.storage / 'queue.sqlite'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT message_id, user_id, payload FROM events ORDER BY id").fetchall()
    accepted = collections.defaultdict(list)
    for message_id, user, _ in rows:
        accepted[user].append(message_id)
    return {m: (u, bytes(p)) for m, u, p in rows}, accepted


def check_stream(moto, stream, server, sent):
    records = moto.read_stream(stream)
    events, accepted = stored(server)
    by_id = collections.Counter()
    per_user = collections.defaultdict(list)
    shards_of = collections.defaultdict(set)
    for shard, sequence, key, data in records:
        message_id = json.loads(data)["messageId"]
        by_id[message_id] += 1
        user, payload = events[message_id]
        assert data == payload, "Data is the stored event, byte for byte"
        assert key == user, "the partition key is the userId"
        per_user[key].append((shard, int(sequence), message_id))
        shards_of[key].add(shard)
    assert sorted(by_id) == sorted(sent), "every acknowledged event reached the stream"
    assert set(by_id.values()) == {1}, f"exactly once: {[m for m, c in by_id.items() if c > 1]}"
    for user, got in per_user.items():
        assert len(shards_of[user]) == 1, "one key, one shard"
        in_stream = [m for _, _, m in sorted(got, key=lambda r: r[1])]
        assert in_stream == accepted[user], f"{user}'s records in acceptance order"
    return records


def test_fifty_users_reach_the_stream_once_each_in_order(tmp_path, moto):
    stream = moto.stream(shards=4)
    server = start(tmp_path, moto, stream, moto.url)
    sent = send_for_50_users(server)
    wait_settled(server, len(sent), timeout=90)
    records = check_stream(moto, stream, server, sent)
    assert len({shard for shard, _, _, _ in records}) == 4, "50 users spread over the 4 shards"
    with server.db() as db:
        references = db.execute("SELECT reference FROM delivery_log WHERE kind = 'attempt' AND status = 'succeeded'").fetchall()
    assert len(references) == len(sent)
    assert all(r[0].startswith("shardId-") and "/" in r[0] for r in references), "the log shows each record's shard and sequence number"
    server.stop()


def test_thirty_percent_of_records_throttled_still_once_each_in_order(tmp_path, moto):
    stream = moto.stream(shards=4)
    proxy = FaultProxy(moto.url, moto.kinesis_key, plan=["partial"], service="kinesis", failed_share=0.3)
    server = start(tmp_path, moto, stream, proxy.url)
    sent = send_for_50_users(server)
    wait_settled(server, len(sent), timeout=180)
    check_stream(moto, stream, server, sent)
    assert proxy.counts["failed_entries"] > 0.2 * len(sent), proxy.counts
    with server.db() as db:
        states = dict(db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())
        throttled = db.execute("SELECT COUNT(*) FROM delivery_log WHERE kind = 'attempt' AND status = 'failed' AND error_code = 'ProvisionedThroughputExceededException' AND next_retry_at IS NOT NULL").fetchone()[0]
    assert states == {"succeeded": len(sent)}
    assert throttled == proxy.counts["failed_entries"], "every throttled record shows in the log with its retry"
    # The live API shows them too.
    r = requests.get(server.url + "/v1/deliveries", params={"status": "failed", "limit": 5}, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert all(rec["errorCode"] == "ProvisionedThroughputExceededException" for rec in r.json()["records"]) and r.json()["records"]
    print(f"\nkinesis with 30% of records throttled: {len(sent)} records once each, in order per user, {throttled} retries logged")
    server.stop()
    proxy.close()


def test_a_wrong_secret_is_dead_lettered_with_the_signature_error(tmp_path, moto):
    stream = moto.stream(shards=1)
    server = start(tmp_path, moto, stream, moto.url, secret="not-the-secret")
    ids = [str(uuid.uuid4()) for _ in range(5)]
    for m in ids:
        assert requests.post(server.url + "/v1/track", auth=(WRITE_KEY, ""), json={"userId": "u", "event": "E", "messageId": m}).status_code == 200
    wait_settled(server, len(ids))
    with server.db() as db:
        rows = db.execute("SELECT j.state, j.last_error FROM jobs j").fetchall()
    assert len(rows) == len(ids)
    for state, error in rows:
        assert state == "dead" and "Signature" in error, error
    assert moto.read_stream(stream) == []
    log = server.log()
    assert "Kinesis refused our credentials" in log
    assert "not-the-secret" not in log and moto.kinesis_key[1] not in log
    server.stop()


def test_a_missing_stream_is_dead_lettered_with_resource_not_found(tmp_path, moto):
    server = start(tmp_path, moto, "no-such-stream", moto.url)
    assert requests.post(server.url + "/v1/track", auth=(WRITE_KEY, ""), json={"userId": "u", "event": "E"}).status_code == 200
    wait_settled(server, 1)
    with server.db() as db:
        state, error = db.execute("SELECT state, last_error FROM jobs").fetchone()
    assert state == "dead" and error.startswith("ResourceNotFoundException"), error
    assert "Kinesis refused the request with ResourceNotFoundException" in server.log()
    server.stop()
