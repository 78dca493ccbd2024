"""The reliability drills for a Kinesis destination (the local emulator): kill -9 under load and a
destination outage lose nothing that got a 200, and each user's records stay in acceptance order
(at least once: a record in flight when the process died may come again, right after itself)."""
import collections
import json
import subprocess
import time

import requests

from conftest import ADMIN_TOKEN, BINARY, Server, free_port
from test_drills import SCALE, Load, crash_repeatedly
from test_emulator_and_delivery import wait_for

CONFIG = """
server: {{ host: 127.0.0.1, port: {port}, adminToken: "${{E2E_ADMIN_TOKEN}}" }}
storage: {{ path: {storage}, sync: {sync} }}
sources:
  - {{ name: web, writeKeys: ["${{E2E_WEB_KEY}}"] }}
destinations:
  - name: stream
    type: kinesis
    config: {{ region: us-east-1, stream: drill, endpoint: "http://127.0.0.1:EMULATOR_PORT" }}
    delivery: {{ initialBackoff: 20ms, maxBackoff: 1s, maxAttempts: 1000, linger: 5ms }}
connections:
  - {{ from: web, to: [stream] }}
"""


class KinesisEmulator:
    def __init__(self, workdir, *args, port=None, name="records"):
        self.port = port or free_port()
        self.records_path = workdir / f"{name}-{self.port}.jsonl"
        self.process = subprocess.Popen(
            [str(BINARY), "emulate", "kinesis", "--port", str(self.port), "--records-out", str(self.records_path), "--streams", "drill:4",
             "--access-key-id", "AKIDEMULATOR", "--secret-access-key", "emulator-secret", *args],
            stdout=open(workdir / f"kinesis-emulator-{self.port}.log", "ab"), stderr=subprocess.STDOUT)
        wait_for(lambda: self.healthy(), timeout=20, what="the Kinesis emulator")

    def healthy(self):
        try:
            return requests.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code == 200
        except requests.ConnectionError:
            return False

    def records(self):
        if not self.records_path.exists():
            return []
        return [json.loads(line) for line in self.records_path.read_text().split("\n")[:-1] if line]

    def stop(self):
        self.process.terminate()
        self.process.wait(10)


def start(tmp_path, emulator):
    server = Server(tmp_path, sync="full", config_text=CONFIG.replace("EMULATOR_PORT", str(emulator.port)))
    server.env.update(AWS_ACCESS_KEY_ID="AKIDEMULATOR", AWS_SECRET_ACCESS_KEY="emulator-secret")
    return server.start()


def delivered(*emulators):
    return collections.Counter(json.loads(r["data"])["messageId"] for e in emulators for r in e.records())


def assert_in_order(server, *emulators):
    """Each user's records, in each shard's sequence, are the accepted order (a repeat only right after itself)."""
    accepted = collections.defaultdict(list)
    for e in server.events():
        accepted[e["payload"]["userId"]].append(e["message_id"])
    streamed = collections.defaultdict(list)
    for emulator in emulators:
        for r in emulator.records():
            streamed[r["partitionKey"]].append(json.loads(r["data"])["messageId"])
    repeats = 0
    for user, ids in streamed.items():
        collapsed = [m for i, m in enumerate(ids) if i == 0 or ids[i - 1] != m]
        repeats += len(ids) - len(collapsed)
        assert collapsed == accepted[user], f"{user}: out of order"
    return repeats


def test_kinesis_crash_drill_kill_9_loses_nothing_and_keeps_each_users_order(tmp_path):
    emulator = KinesisEmulator(tmp_path)
    server = start(tmp_path, emulator)
    load = Load(server, users=20)
    crash_repeatedly(server)
    acknowledged = load.stop()
    assert len(acknowledged) > 200, "the load ran"
    wait_for(lambda: set(acknowledged) <= set(delivered(emulator)), timeout=90, what="every acknowledged event delivered")
    repeats = assert_in_order(server, emulator)
    print(f"\nkinesis crash drill: {len(acknowledged)} acknowledged, all delivered, in order per user, {repeats} repeats (at-least-once)")
    server.stop()
    emulator.stop()


def test_kinesis_outage_drill_errors_then_recovery(tmp_path):
    outage = KinesisEmulator(tmp_path, "--error-rate", "1", name="outage")
    server = start(tmp_path, outage)
    load = Load(server, threads=2, pause=0.05, users=10)
    time.sleep(4 * SCALE)
    assert set(load.statuses) == {200}, f"ingestion is unaffected by the outage: {dict(load.statuses)}"
    with server.db() as db:
        failed = db.execute("SELECT COUNT(*) FROM delivery_log WHERE kind = 'attempt' AND status = 'failed' AND error_code = 'InternalFailure'").fetchone()[0]
    assert failed > 0, "the live log shows the failed attempts"
    summary = requests.get(server.url + "/v1/summary", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()["destinations"]["stream"]
    assert summary["paused"] is True and summary["queueDepth"] > 0, summary
    port = outage.port
    outage.stop()
    healthy = KinesisEmulator(tmp_path, port=port, name="recovered")
    acknowledged = load.stop()
    wait_for(lambda: set(acknowledged) <= set(delivered(healthy)), timeout=90, what="the backlog drained")
    assert max(delivered(outage, healthy).values()) == 1, "refused requests delivered nothing, so nothing twice"
    assert_in_order(server, outage, healthy)
    print(f"\nkinesis outage drill: {len(acknowledged)} acknowledged during and after the outage, {failed} failed attempts logged, all delivered in order")
    server.stop()
    healthy.stop()
