"""Reliability drills: an event that got a 200 is never lost, whatever happens to the server or
the destination. Durations are short here so the suite stays lean; `DRILL_SCALE=10` (see the
README's drills command) runs the same drills ten times longer."""
import collections
import gzip
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import uuid

import pytest
import requests

from conftest import ADMIN_TOKEN, WRITE_KEY, Server
from test_emulator_and_delivery import CONFIG, Emulator, wait_for

SCALE = float(os.environ.get("DRILL_SCALE", "1"))


def start(tmp_path, emulator, config=CONFIG, sync="full"):
    server = Server(tmp_path, sync=sync, config_text=config.replace("EMULATOR_PORT", str(emulator.port)))
    server.env.update(AWS_ACCESS_KEY_ID="AKIDEMULATOR", AWS_SECRET_ACCESS_KEY="emulator-secret")
    return server.start()


class Load:
    """Steady batches from several threads; remembers exactly which events got a 200."""

    def __init__(self, server, threads=4, batch=10, pause=0.01, users=1):
        """`users` > 1 spreads the events over that many users (keys, for per-key order)."""
        self.server, self.batch, self.pause, self.users = server, batch, pause, users
        self.acknowledged, self.statuses = [], collections.Counter()
        self.lock, self.stop_flag = threading.Lock(), threading.Event()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def run(self):
        session = requests.Session()
        while not self.stop_flag.is_set():
            events = [{"type": "track", "userId": "drill" if self.users == 1 else f"drill-{random.randrange(self.users)}", "event": "Drill",
                       "messageId": str(uuid.uuid4())} for _ in range(self.batch)]
            try:
                r = session.post(self.server.url + "/v1/batch", auth=(WRITE_KEY, ""), json={"batch": events}, timeout=10)
                with self.lock:
                    self.statuses[r.status_code] += 1
                    if r.status_code == 200:
                        self.acknowledged.extend(e["messageId"] for e in events)
            except requests.RequestException:
                with self.lock:
                    self.statuses["connection error"] += 1
            time.sleep(self.pause)

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join()
        return list(self.acknowledged)


def crash_repeatedly(server):
    """kill -9 the server every second or so, `3 × DRILL_SCALE` times, starting it again each time."""
    for _ in range(int(3 * SCALE)):
        time.sleep(1.0)
        server.kill()
        time.sleep(0.2)
        server.start()
    time.sleep(0.5)


def delivered(emulator):
    return collections.Counter(e["detail"]["messageId"] for e in emulator.envelopes())


def test_crash_drill_kill_9_under_load_loses_nothing_that_got_a_200(tmp_path):
    emulator = Emulator(tmp_path)
    server = start(tmp_path, emulator)
    load = Load(server)
    crash_repeatedly(server)
    acknowledged = load.stop()
    assert len(acknowledged) > 200, "the load ran"
    wait_for(lambda: set(acknowledged) <= set(delivered(emulator)), timeout=60, what="every acknowledged event delivered")
    counts = delivered(emulator)
    duplicates = sum(c - 1 for c in counts.values() if c > 1)
    print(f"\ncrash drill: {len(acknowledged)} acknowledged, all delivered, {duplicates} duplicates (at-least-once), statuses {dict(load.statuses)}")
    server.stop()
    emulator.stop()


def test_outage_drill_the_destination_answers_errors_then_recovers(tmp_path):
    outage = Emulator(tmp_path, "--error-rate", "1")     # every PutEvents answers 500
    config = CONFIG.replace("maxAttempts: 50", "maxAttempts: 1000").replace("maxBackoff: 200ms", "maxBackoff: 1s").replace(
        "port: {port} }}", "port: {port}, adminToken: \"${{E2E_ADMIN_TOKEN}}\" }}")
    server = start(tmp_path, outage, config=config)
    summary = lambda: requests.get(server.url + "/v1/summary", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()["destinations"]["bus"]
    load = Load(server, threads=2, pause=0.05)
    time.sleep(6 * SCALE)
    statuses = dict(load.statuses)
    assert set(statuses) == {200}, f"ingestion is unaffected by the outage: {statuses}"
    story = requests.get(server.url + "/v1/summary").status_code  # operator API is closed without a token
    assert story in (401, 403)
    with server.db() as db:
        retried = db.execute("SELECT COUNT(*) FROM delivery_log WHERE kind = 'attempt' AND status = 'failed' AND error_code = 'InternalException'").fetchone()[0]
        delivered_during = db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'succeeded'").fetchone()[0]
    assert retried > 0, "the live log shows the retries"
    assert delivered_during == 0
    paused = summary()
    assert paused["paused"] is True and paused["queueDepth"] > 0, f"the summary shows the destination paused: {paused}"
    # Recovery: a healthy destination on the same port.
    outage.stop()
    healthy = Emulator.__new__(Emulator)
    healthy.port, healthy.events_path = outage.port, tmp_path / "recovered.jsonl"
    healthy.process = subprocess.Popen([str(server_binary()), "emulate", "eventbridge", "--port", str(outage.port), "--events-out", str(healthy.events_path),
                                        "--access-key-id", "AKIDEMULATOR", "--secret-access-key", "emulator-secret"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)
    acknowledged = load.stop()
    wait_for(lambda: set(acknowledged) <= set(delivered(healthy)), timeout=60, what="the backlog drained")
    assert summary()["paused"] is False
    print(f"\noutage drill: {len(acknowledged)} acknowledged during and after the outage, {retried} failed attempts logged, all delivered")
    server.stop()
    healthy.stop()


def server_binary():
    from conftest import BINARY
    return BINARY


def test_throttling_drill_half_the_entries_throttled(tmp_path):
    emulator = Emulator(tmp_path, "--throttle-rate", "0.5")
    server = start(tmp_path, emulator)
    load = Load(server, threads=2, pause=0.02)
    time.sleep(3 * SCALE)
    acknowledged = load.stop()
    wait_for(lambda: set(acknowledged) <= set(delivered(emulator)), timeout=60, what="all delivered despite throttling")
    assert max(delivered(emulator).values()) == 1, "throttled entries are retried alone, never delivered twice"
    with server.db() as db:
        backoffs = db.execute("SELECT COUNT(*) FROM delivery_log WHERE error_code = 'ThrottlingException' AND next_retry_at IS NOT NULL").fetchone()[0]
    assert backoffs > 0
    print(f"\nthrottling drill: {len(acknowledged)} delivered once each, {backoffs} throttled attempts with a scheduled retry")
    server.stop()
    emulator.stop()


def test_graceful_stop_drill_sigterm_under_load(tmp_path):
    emulator = Emulator(tmp_path, "--latency-ms", "50")
    server = start(tmp_path, emulator)
    load = Load(server)
    time.sleep(2 * SCALE)
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(30) == 0
    stopped_in = time.monotonic() - started
    acknowledged = load.stop()
    assert stopped_in < 15, f"stopped in {stopped_in:.1f}s"
    server.start()
    wait_for(lambda: set(acknowledged) <= set(delivered(emulator)), timeout=60, what="everything acknowledged delivered after restart")
    print(f"\ngraceful stop drill: stopped in {stopped_in:.2f}s under load, {len(acknowledged)} acknowledged, none lost")
    server.stop()
    emulator.stop()


DOCUMENTED = {200, 400, 401, 404, 405, 413, 415, 503}


def test_fuzz_drill_the_ingestion_parser_over_the_wire(tmp_path):
    emulator = Emulator(tmp_path)
    server = start(tmp_path, emulator, sync="normal")
    rng = random.Random(1234)
    seeds = [
        json.dumps({"batch": [{"type": "track", "userId": "u", "event": "E", "properties": {"a": [1, 2.5, None, True], "b": {"c": "d"}}}]}).encode(),
        json.dumps({"userId": "u", "event": "E", "context": {"ip": "1.2.3.4"}, "timestamp": "2024-01-01T00:00:00Z"}).encode(),
        json.dumps({"batch": [{"type": "identify", "anonymousId": "a", "traits": {"name": "é\u2028\ud83d\ude00"}}], "sentAt": "2024-01-01T00:00:00Z", "writeKey": WRITE_KEY}).encode(),
    ]
    tokens = [b"{", b"}", b"[", b"]", b",", b":", b'"', b"\\", b"\\u", b"\\ud800", b"null", b"1e999", b"-0", b"\x00", b"\xff", b"\xc3", b" " * 50]
    routes = ["/v1/batch", "/v1/track", "/v1/identify", "/v1/page", "/v1/alias", "/v1/nope"]
    statuses = collections.Counter()
    iterations = int(1500 * SCALE)
    session = requests.Session()
    for i in range(iterations):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 8)):
            op = rng.random()
            pos = rng.randrange(len(data) + 1)
            if op < 0.3 and data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            elif op < 0.55:
                data[pos:pos] = rng.choice(tokens)
            elif op < 0.75 and data:
                del data[pos:pos + rng.randint(1, 20)]
            elif op < 0.85:
                data = data[:pos]
            else:
                data[pos:pos] = data[: rng.randint(0, 64)]
        headers = {"Content-Type": "application/json"}
        body = bytes(data)
        if rng.random() < 0.15:
            headers["Content-Encoding"] = "gzip"
            body = gzip.compress(body) if rng.random() < 0.7 else body
        auth = (WRITE_KEY, "") if rng.random() < 0.9 else None
        r = session.post(server.url + rng.choice(routes), data=body, headers=headers, auth=auth, timeout=10)
        statuses[r.status_code] += 1
        assert r.status_code in DOCUMENTED, (r.status_code, body[:200])
        assert r.headers["Content-Type"].startswith("text/plain")
        assert server.process.poll() is None, "the server is still running"
    # Still serving valid requests, and the queue is sound.
    assert requests.post(server.url + "/v1/track", auth=(WRITE_KEY, ""), json={"userId": "u", "event": "after"}).status_code == 200
    with server.db() as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    print(f"\nfuzz drill: {iterations} mutated requests, statuses {dict(statuses)}, zero crashes")
    server.stop()
    emulator.stop()


def test_disk_full_drill_503_no_corruption_and_recovery(tmp_path):
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount_point)], capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); the disk-full drill runs where it can")
    try:
        emulator = Emulator(tmp_path)
        emulator.stop()   # the destination is down: everything stays on the small disk
        config = CONFIG.replace("storage: {{ path: {storage}, sync: {sync} }}",
                                "storage: {{ path: {storage}, sync: {sync}, minFreeBytes: 0 }}")
        server = Server(tmp_path, sync="full", config_text=config.replace("EMULATOR_PORT", str(emulator.port)))
        server.storage = mount_point / "queue"
        server.config_path.write_text(server.config_path.read_text().replace(str(tmp_path / "queue"), str(server.storage)))
        server.env.update(AWS_ACCESS_KEY_ID="AKIDEMULATOR", AWS_SECRET_ACCESS_KEY="emulator-secret")
        server.start()
        acknowledged, refused = [], collections.Counter()
        padding = "x" * 2000
        for i in range(3000):
            batch = [{"type": "track", "userId": "u", "event": "Fill", "messageId": str(uuid.uuid4()), "properties": {"p": padding}} for _ in range(5)]
            r = requests.post(server.url + "/v1/batch", auth=(WRITE_KEY, ""), json={"batch": batch}, timeout=10)
            if r.status_code == 200:
                acknowledged.extend(e["messageId"] for e in batch)
            else:
                refused[(r.status_code, r.text)] += 1
                if sum(refused.values()) >= 20:
                    break
        assert refused, "the disk filled up"
        # The reason is the first failed write's ("the disk is full") or the free-space check's.
        assert {status for status, _ in refused} == {503}, refused
        assert all(text.startswith("storage unavailable, retry later: ") for _, text in refused), refused
        assert "the disk is full" in server.log()
        assert requests.get(server.url + "/ready").status_code == 503
        # Space returns: the server accepts again without a restart.
        subprocess.run(["mount", "-o", "remount,size=64m", str(mount_point)], check=True)
        wait_for(lambda: requests.post(server.url + "/v1/track", auth=(WRITE_KEY, ""), json={"userId": "u", "event": "After", "messageId": "after-full"}).status_code == 200,
                 timeout=20, what="accepting again")
        server.stop()
        db = sqlite3.connect(str(server.storage / "queue.sqlite"))
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = {r[0] for r in db.execute("SELECT message_id FROM events")}
        db.close()
        assert set(acknowledged) <= stored and "after-full" in stored
        print(f"\ndisk full drill: {len(acknowledged)} acknowledged before the disk filled, all on disk; {sum(refused.values())} refused with 503; integrity ok; accepting again after space returned")
    finally:
        subprocess.run(["umount", "-l", str(mount_point)])
