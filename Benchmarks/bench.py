#!/usr/bin/env python3
"""Switchyard's benchmarks: release builds, wrk and a baseline in the same run (these machines are
noisy, so ratios matter as much as absolute figures). Prints a Markdown report; see BENCHMARKS.md."""
import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".build" / "release" / "switchyard"
BENCH = ROOT / ".build" / "release" / "switchyard-bench"
WRITE_KEY = "bench-write-key"
TOKEN = "bench-admin-token"
KEY_ID, SECRET = "AKIDBENCH", "bench-secret"
# About 300 bytes, as an SDK sends it (without messageId: the server assigns one, so every event is new).
TRACK = {"userId": "user-123", "anonymousId": "anon-8f14e45f", "event": "Order Completed",
         "properties": {"order_id": "50314b8e", "total": 27.50, "currency": "USD", "products": [{"sku": "45790-32", "price": 19.0}]},
         "context": {"library": {"name": "bench", "version": "1.0"}}, "timestamp": "2026-11-26T12:00:00.000Z"}

CONFIG = """
server: {{ host: 127.0.0.1, port: {port}, adminToken: {token}, limits: {{ maxRequestBytes: 8388608 }} }}
storage: {{ path: {storage}, sync: {sync}, maxQueuedJobs: 20000000 }}
sources: [{{ name: web, writeKeys: [{key}] }}]
destinations:
  - name: bus
    type: eventbridge
    config: {{ region: us-east-1, accessKeyID: {key_id}, accessKey: {secret}, eventBusName: orders, detailType: "{{{{ event }}}}", endpoint: "http://127.0.0.1:{emulator_port}" }}
    delivery: {delivery}
connections: [{{ from: web, to: [bus] }}]
"""
KINESIS_CONFIG = """
server: {{ host: 127.0.0.1, port: {port}, adminToken: {token}, limits: {{ maxRequestBytes: 8388608 }} }}
storage: {{ path: {storage}, sync: {sync}, maxQueuedJobs: 20000000 }}
sources: [{{ name: web, writeKeys: [{key}] }}]
destinations:
  - name: bus
    type: kinesis
    config: {{ region: us-east-1, accessKeyID: {key_id}, accessKey: {secret}, stream: bench, ordering: {ordering}, endpoint: "http://127.0.0.1:{emulator_port}" }}
    delivery: {delivery}
connections: [{{ from: web, to: [bus] }}]
"""
# While only ingestion is measured the destination is down; a long backoff keeps retries out of the way.
QUIET = "{ concurrency: 1, initialBackoff: 10m, maxBackoff: 10m, maxAttempts: 1000 }"
DRAIN = "{ concurrency: 8, linger: 5ms, initialBackoff: 100ms, maxBackoff: 2s, maxAttempts: 1000 }"
# --config, --destination-config and --source-config: YAML added at the top level, to the
# destination and to the source, for measuring a setting (`dedup: { window: 0 }`, a destination's
# `privacy:`, a source's `trackingPlan:`) against the default.
EXTRA_CONFIG: list = []
EXTRA_DESTINATION: list = []
EXTRA_SOURCE: list = []


def with_extras(text):
    for line in EXTRA_DESTINATION:
        text = text.replace("    delivery: ", f"    {line}\n    delivery: ", 1)
    for entry in EXTRA_SOURCE:
        text = text.replace(f"writeKeys: [{WRITE_KEY}] }}", f"writeKeys: [{WRITE_KEY}], {entry} }}", 1)
    return text + "".join(f"{line}\n" for line in EXTRA_CONFIG)


def count_dedup_marks(storage):
    """Standing dedup marks in an embedded queue: in the message index's runs (with the marks of
    events not indexed yet), or in the `dedup` table of builds before marks moved there."""
    import sqlite3
    with sqlite3.connect(f"file:{storage / 'queue.sqlite'}?mode=ro", uri=True) as db:
        if db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'dedup'").fetchone()[0]:
            return db.execute("SELECT count(*) FROM dedup").fetchone()[0]
        has_column = any(row[1] == "dedup_until" for row in db.execute("PRAGMA table_info(events)"))
        if not has_column:
            return 0  # builds from before deduplication
        db.execute("ATTACH DATABASE ? AS mi", (f"file:{storage / 'messages.sqlite'}?mode=ro",))
        through = db.execute("SELECT COALESCE(MAX(through), 0) FROM mi.message_runs").fetchone()[0]
        return (db.execute("SELECT count(until) FROM mi.message_index").fetchone()[0]
                + db.execute("SELECT count(*) FROM events WHERE id > ? AND dedup_until IS NOT NULL", (through,)).fetchone()[0])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.02)
    raise RuntimeError(f"{url} did not answer")


class Proc:
    def __init__(self, args, log, env=None):
        self.process = subprocess.Popen(args, stdout=open(log, "ab"), stderr=subprocess.STDOUT, env=env)

    def rss_mb(self):
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu_seconds(self):
        """User + system CPU time the process has used so far."""
        return stat_cpu_seconds(Path(f"/proc/{self.process.pid}/stat").read_text())

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Switchyard(Proc):
    def __init__(self, work, storage, emulator_port, delivery=QUIET, sync="full", template=CONFIG, ordering="perKey", log_level="warning"):
        self.port = free_port()
        self.log_level = log_level
        self.url = f"http://127.0.0.1:{self.port}"
        config = work / f"switchyard-{self.port}.yaml"
        config.write_text(with_extras(template.format(port=self.port, token=TOKEN, storage=storage, sync=sync, key=WRITE_KEY, key_id=KEY_ID,
                                                      secret=SECRET, emulator_port=emulator_port, delivery=delivery, ordering=ordering)))
        self.args = [str(BIN), "serve", "--config", str(config)]
        self.log = work / "switchyard.log"
        self.start()

    def start(self):
        started = time.monotonic()
        super().__init__(self.args, self.log, env=dict(os.environ, LOG_LEVEL=self.log_level))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(self.url + "/ready", timeout=1).status_code == 200:
                    self.ready_seconds = time.monotonic() - started
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.005)
        raise RuntimeError("switchyard did not become ready")

    def summary(self):
        return requests.get(self.url + "/v1/summary", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60).json()


def emulator(work, port, *extra):
    p = Proc([str(BIN), "emulate", "eventbridge", "--port", str(port), "--access-key-id", KEY_ID, "--secret-access-key", SECRET, *extra],
             work / "emulator.log", env=dict(os.environ, LOG_LEVEL="warning"))
    wait_http(f"http://127.0.0.1:{port}/health")
    return p


def lua(work, name, path, body, headers, method="POST"):
    script = work / f"{name}.lua"
    lines = [f'wrk.method = "{method}"', f"wrk.path = {json.dumps(path)}"]
    if body is not None:
        lines.append(f"wrk.body = {json.dumps(body)}")
    lines += [f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()]
    script.write_text("\n".join(lines) + "\n")
    return script


def wrk(url, script, connections, duration):
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests_done = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    def pct(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        if not m:
            return None
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    return {"rps": rps, "requests": requests_done, "non2xx": int(non2xx.group(1)) if non2xx else 0, "p50_ms": pct(50), "p99_ms": pct(99)}


def measured(proc, url, script, connections, duration):
    """A wrk run with the server's own CPU time per request (user + system, from /proc)."""
    before = proc.cpu_seconds()
    result = wrk(url, script, connections, duration)
    result["cpu_us_per_request"] = (proc.cpu_seconds() - before) * 1e6 / max(result["requests"], 1)
    return result


BASIC = "Basic " + __import__("base64").b64encode(f"{WRITE_KEY}:".encode()).decode()


TRACK_BODY = json.dumps(TRACK)
BATCH_BODY = json.dumps({"batch": [dict(TRACK, type="track") for _ in range(100)]})


def ingestion_scripts(work, prefix=""):
    """wrk scripts posting one track to /v1/track and a batch of 100 to /v1/batch, with the write key."""
    headers = {"Authorization": BASIC, "Content-Type": "application/json"}
    return (lua(work, f"{prefix}track", "/v1/track", TRACK_BODY, headers),
            lua(work, f"{prefix}batch", "/v1/batch", BATCH_BODY, headers))


def baseline_server(work, log):
    """The bare Hummingbird route (`switchyard-bench baseline-server`), started and answering; with its URL."""
    port = free_port()
    proc = Proc([str(BENCH), "baseline-server", "--port", str(port)], work / log)
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/")
    return proc, url


def bench_ingestion(work, duration, rounds=3):
    """Bare route and Switchyard take turns, `rounds` times: the machine's speed drifts by tens of
    percent within minutes, so each ratio compares runs seconds apart, and the median is reported.
    Each round starts Switchyard on an empty queue: with the destination down nothing is ever
    pruned, and on this VM writes slow down as the queue file grows (BENCHMARKS.md)."""
    single, batched = ingestion_scripts(work)
    base, base_url = baseline_server(work, "baseline.log")
    runs = []
    for n in range(rounds):
        queue = work / f"ingest-queue-{n}"
        server = Switchyard(work, queue, free_port())
        baseline = wrk(base_url, single, 64, duration)
        ours = wrk(server.url, single, 64, duration)
        batches = wrk(server.url, batched, 16, duration)
        stored = server.summary()["received"].get("web", 0)
        server.stop()
        shutil.rmtree(queue, ignore_errors=True)
        runs.append({"baseline": baseline, "switchyard": ours, "batch": batches, "ratio": ours["rps"] / baseline["rps"], "stored": stored})
    base.stop()
    middle = sorted(runs, key=lambda r: r["ratio"])[len(runs) // 2]
    batch_rates = sorted(r["batch"]["rps"] * 100 for r in runs)
    return {"track_size": len(TRACK_BODY), "batch_size": len(BATCH_BODY), "runs": runs, "ratio": middle["ratio"],
            "baseline": middle["baseline"], "switchyard": middle["switchyard"],
            "batch_events_per_second": batch_rates[len(batch_rates) // 2]}


def bench_browser(work, duration, rounds=3):
    """The browser routes against the bare Hummingbird routes, in alternating rounds as for
    ingestion: analytics.js's /v1/t (text/plain, the write key in the body, an Origin so the CORS
    middleware answers), the pixel's GET, and the long /v1/track for reference. Each run also
    reads the server's CPU time, so the cost per event is a multiple of the bare route's cost per
    request, which holds when the two processes share the cores with wrk."""
    from urllib.parse import urlencode
    track = json.dumps(TRACK)
    ajs = json.dumps(dict(TRACK, writeKey=WRITE_KEY, _metadata={"bundled": ["Segment.io"], "unbundled": [], "bundledIds": []}))
    query = urlencode({"writeKey": WRITE_KEY, "anonymousId": "anon-8f14e45f", "event": "Email Opened", "properties.campaign": "winter",
                       "context.page.url": "https://mail.example/view?id=7", "context.library.name": "pixel"})
    routes = {
        "long /v1/track": lua(work, "track", "/v1/track", track, {"Authorization": BASIC, "Content-Type": "application/json"}),
        "analytics.js /v1/t": lua(work, "ajs", "/v1/t", ajs, {"Content-Type": "text/plain", "Origin": "https://shop.example"}),
        "pixel GET": lua(work, "pixel", "/pixel/v1/track?" + query, None, {}, method="GET"),
    }
    base, base_url = baseline_server(work, "baseline.log")
    runs = {name: [] for name in routes}
    for n in range(rounds):
        queue = work / f"browser-queue-{n}"
        server = Switchyard(work, queue, free_port())
        for name, script in routes.items():
            baseline = measured(base, base_url, script, 64, duration)
            ours = measured(server, server.url, script, 64, duration)
            runs[name].append({"baseline": baseline, "switchyard": ours, "ratio": ours["rps"] / baseline["rps"],
                               "cpu_multiple": ours["cpu_us_per_request"] / baseline["cpu_us_per_request"]})
        # A pixel answers 200 even when it stores nothing: count what was stored.
        answered = sum(runs[name][-1]["switchyard"]["requests"] for name in routes)
        stored = server.summary()["received"].get("web", 0)
        assert stored >= answered, f"{answered} requests answered but {stored} events stored"
        server.stop()
        shutil.rmtree(queue, ignore_errors=True)
    base.stop()
    return {name: {"runs": r, **sorted(r, key=lambda x: x["ratio"])[len(r) // 2]} for name, r in runs.items()}


def preload(url, total, per_request=500, threads=4, users=None):
    """`users`: spread the events over this many userIds (partition keys), else all are TRACK's one user."""
    sent = [0]
    lock = threading.Lock()
    body = json.dumps({"batch": [dict(TRACK, type="track", **({"userId": f"user-{n % users}"} if users else {})) for n in range(per_request)]})

    def worker():
        session = requests.Session()
        while True:
            with lock:
                if sent[0] >= total:
                    return
                sent[0] += per_request
            r = session.post(url + "/v1/batch", data=body, headers={"Authorization": BASIC, "Content-Type": "application/json"}, timeout=60)
            assert r.status_code == 200, r.text

    started = time.monotonic()
    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return sent[0], time.monotonic() - started


def signed_put_events(port):
    entry = {"Source": "rudderstack", "DetailType": "Order Completed", "Detail": json.dumps(dict(TRACK, type="track", messageId=str(uuid.uuid4()))),
             "Resources": [], "EventBusName": "orders"}
    body = json.dumps({"Entries": [entry] * 10})
    request = AWSRequest(method="POST", url=f"http://127.0.0.1:{port}/", data=body,
                         headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSEvents.PutEvents"})
    SigV4Auth(Credentials(KEY_ID, SECRET), "events", "us-east-1").add_auth(request)
    return body, {k: v for k, v in request.headers.items()}


def bench_backlog_and_delivery(work, events, duration):
    port = free_port()
    storage = work / "backlog-queue"
    server = Switchyard(work, storage, port, delivery=DRAIN, sync="normal")
    loaded, load_seconds = preload(server.url, events)
    # Settled: the server hands the heap a burst freed back to the system every 5 s.
    time.sleep(7)
    rss_backlog = server.rss_mb()
    server.stop()
    server.start()
    ready = server.ready_seconds
    time.sleep(1)
    rss_restarted = server.rss_mb()
    # Stopped before the emulator starts, so nothing is delivered before the drain is timed, and
    # the intake is measured without the server competing.
    server.stop()
    # The emulator's own intake: wrk replaying one prebuilt, signed 10-entry request.
    emu = emulator(work, port, "--events-out", "/dev/null")
    body, headers = signed_put_events(port)
    intake_script = lua(work, "putevents", "/", body, headers)
    emu_cpu = emu.cpu_seconds()
    intake = wrk(f"http://127.0.0.1:{port}", intake_script, 16, duration)
    intake["emulator_cpu_us_per_entry"] = (emu.cpu_seconds() - emu_cpu) / (intake["rps"] * duration * 10) * 1e6
    before = requests.get(f"http://127.0.0.1:{port}/stats").json()["delivered"]
    emu_cpu = emu.cpu_seconds()
    started = time.monotonic()
    server.start()
    # The emulator's counter tells when every event has arrived; polling the server's summary
    # instead would add its own queries to the drain being measured.
    arrived = lambda: requests.get(f"http://127.0.0.1:{port}/stats").json()["delivered"] - before
    polls = 0
    while arrived() < loaded:
        time.sleep(0.2)
        polls += 1
        # Every 10 s, also ask the server, so a shortfall (which would be a lost event) stops the
        # run instead of hanging it. The emulator is asked again after the server: its count is
        # always ahead of the queue, never behind.
        if polls % 50 == 0 and server.summary()["destinations"]["bus"]["queueDepth"] == 0:
            assert arrived() >= loaded, "the queue is empty but not every event arrived"
    drain_seconds = time.monotonic() - started
    delivered = requests.get(f"http://127.0.0.1:{port}/stats").json()["delivered"] - before
    assert server.summary()["destinations"]["bus"]["queueDepth"] == 0
    # Where the two cores went: CPU time per delivered entry, Switchyard's and the emulator's.
    cpu = {"switchyard_us_per_entry": server.cpu_seconds() / delivered * 1e6,
           "emulator_us_per_entry": (emu.cpu_seconds() - emu_cpu) / delivered * 1e6}
    peak_rss = server.rss_mb()
    server.stop()
    emu.stop()
    # What the drained queue keeps on disk (the dedup marks stay for their window).
    queue_bytes = {f.name: f.stat().st_size for f in storage.iterdir() if f.is_file()}
    import sqlite3
    dedup_marks = count_dedup_marks(storage)
    return {"queue_bytes": queue_bytes, "dedup_marks": dedup_marks, "events": loaded, "preload_seconds": load_seconds, "rss_backlog_mb": rss_backlog, "rss_restarted_mb": rss_restarted,
            "ready_seconds": ready, "drain_seconds": drain_seconds, "delivered": delivered, "intake": intake, "cpu": cpu, "rss_after_drain_mb": peak_rss}


def bench_replay(work, events, duration):
    """A replay of `events` archived events to the emulator: how fast the replay stores them again
    and how fast they reach the emulator, and single-track ingestion (64 connections) while it
    runs, against just before it. The archive is a local folder written every second."""
    port = free_port()
    emu = emulator(work, port, "--events-out", "/dev/null")
    EXTRA_CONFIG.append(f"archive: {{ path: {work / 'replay-archive'}, interval: 1s }}")
    try:
        server = Switchyard(work, work / "replay-queue", port, delivery=DRAIN, sync="normal")
    finally:
        EXTRA_CONFIG.pop()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2))
    loaded, _ = preload(server.url, events)
    stats = lambda: requests.get(f"http://127.0.0.1:{port}/stats").json()["delivered"]
    while server.summary()["archive"]["events"] < loaded or stats() < loaded:
        time.sleep(0.5)
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))
    time.sleep(1.5)
    track = lua(work, "replay-track", "/v1/track", json.dumps(TRACK), {"Authorization": BASIC, "Content-Type": "application/json"})
    before = measured(server, server.url, track, 64, duration)
    delivered_before = stats()
    r = requests.post(server.url + "/v1/replays", headers=auth, timeout=60,
                      json={"name": "bench", "from": start, "to": end, "destinations": ["bus"], "rate": 100000})
    assert r.status_code == 201, r.text
    started = time.monotonic()
    during = measured(server, server.url, track, 64, duration)
    while True:
        shown = requests.get(server.url + "/v1/replays/bench", headers=auth, timeout=60).json()
        if shown["state"] in ("COMPLETED", "FAILED", "CANCELLED"):
            break
        time.sleep(0.2)
    stored_seconds = time.monotonic() - started
    assert shown["state"] == "COMPLETED" and shown["progress"]["eventsSent"] == loaded, shown
    # The emulator also gets the events wrk sent meanwhile; the replay's are the rest.
    wanted = delivered_before + during["requests"] + loaded
    while stats() < wanted:
        time.sleep(0.2)
    delivered_seconds = time.monotonic() - started
    server.stop()
    emu.stop()
    return {"events": loaded, "replay_stored_seconds": stored_seconds, "replay_delivered_seconds": delivered_seconds,
            "replay_stored_per_second": loaded / stored_seconds, "replay_delivered_per_second": loaded / delivered_seconds,
            "ingestion_before": before, "ingestion_during": during, "files": shown["progress"]["filesTotal"]}


def bench_deletion(work, events, duration):
    """A deletion of one user among `events` stored and delivered events (each with its jobs and
    log records): how long a pass over the store takes on a quiet server, then ingestion's
    latency (single tracks, 16 connections) while another deletion runs, against just before it.
    `preload` spreads the events over 500 users, so the user deleted has 1 in 500 of them."""
    port = free_port()
    storage = work / "deletion-queue"
    emu = emulator(work, port, "--events-out", "/dev/null")
    server = Switchyard(work, storage, port, delivery=DRAIN, sync="normal", log_level="info")
    loaded, load_seconds = preload(server.url, events, users=500)
    while server.summary()["destinations"]["bus"]["queueDepth"] > 0:
        time.sleep(1)
    import sqlite3
    with sqlite3.connect(f"file:{storage / 'queue.sqlite'}?mode=ro", uri=True) as db:
        stored = {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("events", "jobs", "delivery_log")}
    stored["dedup"] = count_dedup_marks(storage)
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def delete(user):
        r = requests.post(server.url + "/v1/regulations", headers=auth, timeout=60,
                          json={"regulationType": "DELETE_INTERNAL", "subjectType": "USER_ID", "subjectIds": [user]})
        assert r.status_code == 200, r.text
        return r.json()["data"]["regulateId"]

    def finished(regulation):
        while True:
            shown = requests.get(f"{server.url}/v1/regulations/{regulation}", headers=auth, timeout=60).json()["data"]["regulation"]
            if shown["overallStatus"] == "FINISHED":
                return shown
            time.sleep(0.5)

    def passes(regulation):
        lines = [l for l in server.log.read_text().splitlines() if "deletion pass" in l and f"id={regulation}" in l]
        return [int(re.search(r"milliseconds=(\d+)", l).group(1)) for l in lines]

    quiet = delete("user-7")
    quiet_removed = finished(quiet)["removed"]
    track = lua(work, "deletion-track", "/v1/track", TRACK_BODY, {"Authorization": BASIC, "Content-Type": "application/json"})
    before = wrk(server.url, track, 16, duration)
    loaded_regulation = [None]
    starter = threading.Timer(1.0, lambda: loaded_regulation.__setitem__(0, delete("user-8")))
    starter.start()
    during = wrk(server.url, track, 16, duration)
    starter.join()
    loaded_removed = finished(loaded_regulation[0])["removed"]
    result = {"events": loaded, "preload_seconds": load_seconds, "stored": stored, "quiet_pass_ms": passes(quiet),
              "quiet_removed": quiet_removed, "loaded_pass_ms": passes(loaded_regulation[0]), "loaded_removed": loaded_removed,
              "ingestion_before": before, "ingestion_during": during}
    server.stop()
    emu.stop()
    return result


# CONFIG on a shared PostgreSQL database, with the node's name (Node fills in NODE and DATABASE_URL).
PG_CONFIG = CONFIG.replace("adminToken: {token},", "adminToken: {token}, node: NODE,").replace(
    "maxQueuedJobs: 20000000 }}", 'maxQueuedJobs: 20000000, postgres: {{ url: "DATABASE_URL", password: "${{PGPASSWORD}}", maxConnections: 16 }} }}')


ROOT_WORK = [None]


class Cluster:
    """A throwaway PostgreSQL cluster (`.ci/postgres`) in the work folder, one database per measurement."""

    def __init__(self, work):
        # Beside the work folder, not in it: mkdtemp's folder is private, and as root the cluster
        # runs as Debian's postgres user.
        self.env = dict(os.environ, SWITCHYARD_PG_DIR=f"{work}-pg")
        out = subprocess.run([str(ROOT / ".ci" / "postgres"), "start"], env=self.env, capture_output=True, text=True, check=True).stdout
        values = dict(re.findall(r"export (\w+)='([^']*)'", out))
        self.url, self.password = values["SWITCHYARD_TEST_POSTGRES_URL"], values["SWITCHYARD_TEST_PGPASSWORD"]
        self.bin, self.data = values["SWITCHYARD_TEST_PGBIN"], values["SWITCHYARD_TEST_PGDATA"]
        self.count = 0

    def database(self):
        self.count += 1
        name = f"bench{self.count}"
        base, _, query = self.url.partition("?")
        server = base.rpartition("/")[0]
        host, port = server.split("@")[1].split(":")
        subprocess.run([f"{self.bin}/createdb", "-h", host, "-p", port, "-U", "switchyard", name], check=True, env=dict(os.environ, PGPASSWORD=self.password))
        return f"{server}/{name}?{query}"

    def fill_history(self, database, jobs):
        """Delivered events and jobs, as retention would keep them, written straight into the tables
        (the schema is created by a node started once)."""
        node = Node(ROOT_WORK[0], "schema", database, free_port(), self.password)
        node.stop()
        base, _, _ = database.partition("?")
        host, port = base.split("@")[1].split("/")[0].split(":")
        name = base.rpartition("/")[2]
        now_ms = int(time.time() * 1000)
        statements = [
            f"""INSERT INTO events (id, message_id, source, type, name, user_id, received_at, payload, node)
                SELECT g, md5(g::text), 'web', 'track', 'Order Completed', 'user-' || (g % 1000), {now_ms} - 3600000, convert_to('{{}}', 'UTF8'), 'history'
                FROM generate_series(1, {jobs}) g""",
            f"""INSERT INTO jobs (event_id, destination, state, attempts, available_at, updated_at)
                SELECT g, 'bus', 'succeeded', 1, {now_ms} - 3600000, {now_ms} - 3600000 FROM generate_series(1, {jobs}) g""",
            "VACUUM ANALYZE events", "VACUUM ANALYZE jobs",
        ]
        subprocess.run([f"{self.bin}/psql", "-q", "-h", host, "-p", port, "-U", "switchyard", "-d", name] + [a for q in statements for a in ("-c", q)],
                       check=True, env=dict(os.environ, PGPASSWORD=self.password), stdout=subprocess.DEVNULL)

    def sql(self, database, query):
        """Rows of a query, as lists of strings (psql's unaligned output)."""
        base = database.partition("?")[0]
        host, port = base.split("@")[1].split("/")[0].split(":")
        out = subprocess.run([f"{self.bin}/psql", "-qAt", "-F", "\t", "-h", host, "-p", port, "-U", "switchyard", "-d", base.rpartition("/")[2], "-c", query],
                             check=True, env=dict(os.environ, PGPASSWORD=self.password), capture_output=True, text=True).stdout
        return [line.split("\t") for line in out.splitlines()]

    def cpu_seconds(self):
        """CPU time of every process of the cluster (the postmaster and its backends)."""
        pid = int(Path(self.data, "postmaster.pid").read_text().split()[0])
        total = 0.0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid or int(stat.parent.name) == pid:
                # utime, stime, and the times of children already reaped
                total += sum(int(f) for f in fields[11:15])
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self):
        subprocess.run([str(ROOT / ".ci" / "postgres"), "stop"], env=self.env, check=False)


class Node(Switchyard):
    def __init__(self, work, name, database, emulator_port, password, delivery=QUIET, storage_extra=""):
        self.password = password
        template = PG_CONFIG.replace("NODE", name).replace("DATABASE_URL", database).replace("maxQueuedJobs: 20000000", "maxQueuedJobs: 20000000" + storage_extra)
        super().__init__(work, work / f"unused-{name}", emulator_port, delivery=delivery, template=template)

    def start(self):
        os.environ["PGPASSWORD"] = self.password
        super().start()


def bench_postgres(work, duration, events):
    """Ingestion (single events and batches) and the drain, with one node and with two on one
    PostgreSQL, beside SQLite and the bare route, all in this run. CPU per event counts every
    process: the nodes and the whole cluster (on 2 cores they share the CPU with wrk)."""
    ROOT_WORK[0] = work
    cluster = Cluster(work)
    single, batched = ingestion_scripts(work, "pg-")
    base, base_url = baseline_server(work, "baseline-pg.log")
    results = {"baseline": measured(base, base_url, single, 64, duration)}

    def run(nodes, script, connections, pg=True):
        """wrk against every node at once (connections split between them); events/s and CPU per event."""
        before = [n.cpu_seconds() for n in nodes]
        cluster_before = cluster.cpu_seconds() if pg else 0
        outs = [None] * len(nodes)
        def one(i):
            outs[i] = wrk(nodes[i].url, script, connections // len(nodes), duration)
        threads = [threading.Thread(target=one, args=(i,)) for i in range(len(nodes))]
        for t in threads: t.start()
        for t in threads: t.join()
        per = 100 if script == batched else 1
        events_done = sum(o["requests"] for o in outs) * per
        node_cpu = sum(n.cpu_seconds() - b for n, b in zip(nodes, before))
        db_cpu = (cluster.cpu_seconds() - cluster_before) if pg else 0
        return {"events_per_second": sum(o["rps"] for o in outs) * per, "non2xx": sum(o["non2xx"] for o in outs),
                "p99_ms": max(o["p99_ms"] or 0 for o in outs), "switchyard_cpu_us_per_event": node_cpu / max(events_done, 1) * 1e6,
                "postgres_cpu_us_per_event": db_cpu / max(events_done, 1) * 1e6}

    sqlite = Switchyard(work, work / "pg-sqlite-queue", free_port())
    results["sqlite"] = {"single": run([sqlite], single, 64, pg=False), "batch": run([sqlite], batched, 16, pg=False)}
    sqlite.stop()
    for count in (1, 2):
        database = cluster.database()
        nodes = [Node(work, f"node-{i}", database, free_port(), cluster.password) for i in range(count)]
        results[f"nodes{count}"] = {"single": run(nodes, single, 64), "batch": run(nodes, batched, 16)}
        for n in nodes: n.stop()
    base.stop()

    # The drain: a backlog loaded while the destination is down, then delivered by one node or two;
    # and by one node again with two million delivered jobs kept in the tables (what a day's
    # retention keeps at 23 events/s), to see whether claims slow as history grows.
    for count, history in ((1, 0), (2, 0), (1, 2_000_000)):
        database = cluster.database()
        if history:
            cluster.fill_history(database, history)
        emulator_port = free_port()
        loader = Node(work, "loader", database, emulator_port, cluster.password, delivery=DRAIN)
        loaded, _ = preload(loader.url, events)
        loader.stop()
        emu = emulator(work, emulator_port, "--events-out", "/dev/null")
        before = requests.get(f"http://127.0.0.1:{emulator_port}/stats").json()["delivered"]
        emu_cpu, cluster_before = emu.cpu_seconds(), cluster.cpu_seconds()
        started = time.monotonic()
        nodes = [Node(work, f"drain-{i}", database, emulator_port, cluster.password, delivery=DRAIN) for i in range(count)]
        while requests.get(f"http://127.0.0.1:{emulator_port}/stats").json()["delivered"] - before < loaded:
            time.sleep(0.2)
            assert time.monotonic() - started < 600, "the drain did not finish in 10 minutes"
        seconds = time.monotonic() - started
        delivered = requests.get(f"http://127.0.0.1:{emulator_port}/stats").json()["delivered"] - before
        results[f"drain{count}" + ("-history" if history else "")] = {"events": loaded, "history": history, "seconds": seconds, "entries_per_second": delivered / seconds, "delivered": delivered,
                                    "switchyard_cpu_us_per_entry": sum(n.cpu_seconds() for n in nodes) / delivered * 1e6,
                                    "postgres_cpu_us_per_entry": (cluster.cpu_seconds() - cluster_before) / delivered * 1e6,
                                    "emulator_cpu_us_per_entry": (emu.cpu_seconds() - emu_cpu) / delivered * 1e6}
        for n in nodes: n.stop()
        emu.stop()
    cluster.stop()
    return results


async def paced_batches(port, rate, size, seconds, samples, connections=32):
    """Batches of `size` tracks at `rate` requests/s over keep-alive connections, for `seconds`;
    appends (send time, latency ms, HTTP status) per request to `samples` as it goes."""
    interval = connections / rate
    body = json.dumps({"batch": [dict(TRACK, type="track") for _ in range(size)]}).encode()
    head = f"POST /v1/batch HTTP/1.1\r\nHost: x\r\nAuthorization: {BASIC}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()

    async def connection(offset):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        start = time.monotonic() + offset * interval / connections
        n = 0
        while start + n * interval <= start + seconds:
            delay = start + n * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            sent = time.monotonic()
            writer.write(head + body)
            await writer.drain()
            answer = await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(int(re.search(rb"Content-Length: (\d+)", answer, re.I).group(1)))
            samples.append((sent, (time.monotonic() - sent) * 1000, int(answer[9:12])))
            n += 1
        writer.close()

    await asyncio.gather(*(connection(i) for i in range(connections)))


LONG_RETENTION = ", retention: {{ delivered: 1m, log: 1m, interval: 10s }}"


def bench_long_run(work, minutes, stores=("postgres", "sqlite"), settings=(), rate=500, size=10):
    """Ingestion and delivery at a steady rate for `minutes`, with a one-minute retention, on
    PostgreSQL and on SQLite: whether the tables stay bounded and claims, commits and latency
    stay flat while pruning deletes the history behind them (and autovacuum reclaims it)."""
    ROOT_WORK[0] = work
    results = {}
    for store in stores:
        emulator_port = free_port()
        emu = emulator(work, emulator_port, "--events-out", "/dev/null")
        if store == "postgres":
            cluster = Cluster(work)
            database = cluster.database()
            # Autovacuum runs logged with their times, beside the checkpoints PostgreSQL 15 logs.
            for setting in ("log_autovacuum_min_duration=0",) + tuple(settings):
                name, _, value = setting.partition("=")
                cluster.sql(database, f"ALTER SYSTEM SET {name} = '{value}'")
            cluster.sql(database, "SELECT pg_reload_conf()")
            wall_started = time.time()
            node = Node(work, "long", database, emulator_port, cluster.password, delivery=DRAIN, storage_extra=LONG_RETENTION)
        else:
            cluster = None
            folder = work / "long-sqlite-queue"
            node = Switchyard(work, folder, emulator_port, delivery=DRAIN, template=CONFIG.replace("maxQueuedJobs: 20000000", "maxQueuedJobs: 20000000" + LONG_RETENTION))
        samples = []
        sender = threading.Thread(target=lambda: asyncio.run(paced_batches(node.port, rate, size, minutes * 60, samples)))
        node_cpu, db_cpu = node.cpu_seconds(), cluster.cpu_seconds() if cluster else 0
        started = time.monotonic()
        sender.start()
        rows, seen, last_delivered = [], 0, 0
        while sender.is_alive():
            sender.join(30)
            now = time.monotonic()
            window = samples[seen:]
            seen += len(window)
            delivered = requests.get(f"http://127.0.0.1:{emulator_port}/stats").json()["delivered"]
            latencies = sorted(w[1] for w in window) or [0]
            row = {"minute": (now - started) / 60, "ingested_per_second": sum(size for w in window if w[2] == 200) / 30,
                   "non200": sum(1 for w in window if w[2] != 200), "p99_ms": latencies[int(0.99 * (len(latencies) - 1))],
                   "max_ms": latencies[-1], "delivered_per_second": (delivered - last_delivered) / 30}
            last_delivered = delivered
            if cluster:
                for name, size_bytes, live, dead, vacuums in cluster.sql(database, """
                        SELECT relname, pg_total_relation_size(relid), n_live_tup, n_dead_tup, autovacuum_count
                        FROM pg_stat_user_tables WHERE relname IN ('events', 'jobs', 'delivery_log')"""):
                    row[name] = {"mb": int(size_bytes) / 1e6, "live": int(live), "dead": int(dead), "autovacuums": int(vacuums)}
                row["waiting"] = int(cluster.sql(database, "SELECT count(*) FROM jobs WHERE state <> 'succeeded' AND state <> 'dead'")[0][0])
                row["checkpoints"] = int(cluster.sql(database, "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter")[0][0])
            else:
                row["disk_mb"] = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 1e6
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
        accepted = sum(size for w in samples if w[2] == 200)
        deadline = time.monotonic() + 120
        while requests.get(f"http://127.0.0.1:{emulator_port}/stats").json()["delivered"] < accepted and time.monotonic() < deadline:
            time.sleep(0.5)
        delivered = requests.get(f"http://127.0.0.1:{emulator_port}/stats").json()["delivered"]
        results[store] = {"minutes": minutes, "rate": rate * size, "accepted": accepted, "delivered": delivered, "rows": rows,
                          "switchyard_cpu_us_per_event": (node.cpu_seconds() - node_cpu) / max(accepted, 1) * 1e6,
                          "postgres_cpu_us_per_event": ((cluster.cpu_seconds() - db_cpu) / max(accepted, 1) * 1e6) if cluster else 0}
        node.stop()
        emu.stop()
        if cluster:
            results[store]["settings"] = list(settings)
            results[store]["server_log"] = server_log_events(Path(f"{work}-pg") / "server.log", wall_started)
            cluster.stop()
    return results


def server_log_events(path, started):
    """Checkpoints and autovacuum runs from the cluster's log, as (minute into the run, what, seconds it took)."""
    events = []
    text = path.read_text(errors="replace") if path.exists() else ""
    for m in re.finditer(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) UTC \[\d+\] LOG:  (checkpoint complete|automatic vacuum of table \"[^\"]*\")(.*?)(?=^\d{4}-|\Z)", text, re.M | re.S):
        at = time.mktime(time.strptime(m.group(1)[:19], "%Y-%m-%d %H:%M:%S")) - time.timezone + float("0" + m.group(1)[19:])
        took = re.search(r"(?:total|elapsed)[=:] ?([\d.]+) s", m.group(3))
        events.append(((at - started) / 60, m.group(2).replace("automatic vacuum of table ", "vacuum "), float(took.group(1)) if took else None))
    return events


def long_run_rows(r):
    """The long run as a table per store: one row per sample."""
    for store, run in r.items():
        cpu = f'Switchyard {run["switchyard_cpu_us_per_event"]:.0f} µs' + (f', PostgreSQL {run["postgres_cpu_us_per_event"]:.0f} µs' if store == "postgres" else "")
        print(f'\n{store}: {run["accepted"]:,} events accepted at {run["rate"]:,}/s for {run["minutes"]} minutes, {run["delivered"]:,} delivered; CPU per event: {cpu}\n')
        if store == "postgres":
            print("| minute | in/s | out/s | p99 / max ms | waiting | events (rows, MB, dead) | jobs (rows, MB, dead) | log (rows, MB, dead) | autovacuums | checkpoints |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
            for row in run["rows"]:
                t = lambda n: f'{row[n]["live"]:,}, {row[n]["mb"]:.0f}, {row[n]["dead"]:,}'
                vac = sum(row[n]["autovacuums"] for n in ("events", "jobs", "delivery_log"))
                print(f'| {row["minute"]:.1f} | {row["ingested_per_second"]:,.0f} | {row["delivered_per_second"]:,.0f} | {row["p99_ms"]:.0f} / {row["max_ms"]:.0f} | '
                      f'{row["waiting"]:,} | {t("events")} | {t("jobs")} | {t("delivery_log")} | {vac} | {row.get("checkpoints", "")} |')
            if run.get("settings"):
                print(f'\nSettings: {", ".join(run["settings"])}')
            print("\nFrom the cluster's log (minutes into the run, from start to end):")
            for minute, what, took in run.get("server_log", []):
                print(f"- {minute - (took or 0) / 60:.2f}–{minute:.2f} {what}" + (f" ({took:.1f} s)" if took is not None else ""))
        else:
            print("| minute | in/s | out/s | p99 / max ms | files MB |\n| --- | --- | --- | --- | --- |")
            for row in run["rows"]:
                print(f'| {row["minute"]:.1f} | {row["ingested_per_second"]:,.0f} | {row["delivered_per_second"]:,.0f} | {row["p99_ms"]:.0f} / {row["max_ms"]:.0f} | {row["disk_mb"]:.0f} |')


def bench_kinesis(work, events):
    """A backlog drained to `switchyard emulate kinesis` (4 shards, records written to /dev/null),
    with per-key order (the default) over 1,000 and over 50 partition keys, and with `ordering:
    none`, each on a new queue: the cost of order, in records/s and in Switchyard's CPU per record."""
    results = {}
    for name, ordering, users in (("perKey", "perKey", 1000), ("perKey, 50 keys", "perKey", 50), ("none", "none", 1000)):
        port = free_port()
        storage = work / f"kinesis-queue-{users}-{ordering}"
        server = Switchyard(work, storage, port, delivery=DRAIN, sync="normal", template=KINESIS_CONFIG, ordering=ordering)
        loaded, _ = preload(server.url, events, users=users)
        server.stop()
        emu = Proc([str(BIN), "emulate", "kinesis", "--port", str(port), "--records-out", "/dev/null", "--streams", "bench:4",
                    "--access-key-id", KEY_ID, "--secret-access-key", SECRET], work / "kinesis-emulator.log", env=dict(os.environ, LOG_LEVEL="warning"))
        wait_http(f"http://127.0.0.1:{port}/health")
        emu_cpu = emu.cpu_seconds()
        started = time.monotonic()
        server.start()
        arrived = lambda: requests.get(f"http://127.0.0.1:{port}/stats").json()["delivered"]
        polls = 0
        while arrived() < loaded:
            time.sleep(0.2)
            polls += 1
            if polls % 50 == 0 and server.summary()["destinations"]["bus"]["queueDepth"] == 0:
                assert arrived() >= loaded, "the queue is empty but not every record arrived"
        seconds = time.monotonic() - started
        delivered = arrived()
        results[name] = {"ordering": ordering, "records": delivered, "users": users, "drain_seconds": seconds, "records_per_second": delivered / seconds,
                             "switchyard_us_per_record": server.cpu_seconds() / delivered * 1e6,
                             "emulator_us_per_record": (emu.cpu_seconds() - emu_cpu) / delivered * 1e6}
        server.stop()
        emu.stop()
        shutil.rmtree(storage, ignore_errors=True)
    return results


async def paced_sender(url_port, rate, seconds, connections=16):
    """Sends single track events at a fixed rate over keep-alive connections; returns messageId → ack time (ms)."""
    acks = {}
    interval = connections / rate
    path = "/v1/track"

    async def connection(offset):
        reader, writer = await asyncio.open_connection("127.0.0.1", url_port)
        start = time.monotonic() + offset * interval / connections
        end = start + seconds
        n = 0
        while start + n * interval <= end:
            delay = start + n * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            message_id = str(uuid.uuid4())
            body = json.dumps(dict(TRACK, messageId=message_id)).encode()
            writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {BASIC}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"Content-Length: (\d+)", head, re.I).group(1))
            await reader.readexactly(length)
            if head.startswith(b"HTTP/1.1 200"):
                acks[message_id] = time.time() * 1000
            n += 1
        writer.close()

    await asyncio.gather(*(connection(i) for i in range(connections)))
    return acks


def bench_stats_size(work, duration):
    """The store's size for a week of rollups at 1,000 events/s: single tracks delivered to the
    emulator for `duration` seconds at about that rate give real rows (a latency histogram as a
    live destination fills it); a week of minutes of those rows is then written to a fresh SQLite
    file with the server's own table, and its size read."""
    import sqlite3
    port = free_port()
    emu = emulator(work, port)
    queue = work / "stats-size-queue"
    server = Switchyard(work, queue, port, delivery="{ concurrency: 4, linger: 2ms }")
    script = lua(work, "stats-track", "/v1/track", json.dumps(TRACK), {"Authorization": BASIC, "Content-Type": "application/json"})
    # wrk has no rate limit: one connection, whose rate (about 1,000/s with fsync) only changes the counts' digits.
    subprocess.run(["wrk", "-t1", "-c1", f"-d{duration}s", "-s", str(script), server.url], capture_output=True, check=True)
    time.sleep(12)  # one flush interval (10 s) and then some
    server.stop()
    emu.stop()
    db = sqlite3.connect(queue / "queue.sqlite")
    rows = db.execute("SELECT scope, name, data FROM stats").fetchall()
    widest = {}
    for scope, name, data in rows:
        if len(data) > len(widest.get((scope, name), "")):
            widest[(scope, name)] = data
    schema = db.execute("SELECT sql FROM sqlite_master WHERE name = 'stats'").fetchone()[0]
    db.close()
    week = work / "stats-week.sqlite"
    out = sqlite3.connect(week)
    out.execute(schema)
    minutes = 7 * 24 * 60
    start = 1_767_225_600_000
    out.executemany("INSERT INTO stats VALUES (?, ?, ?, ?, ?)",
                    ((start + m * 60_000, "node-1/0a1b2c3d", scope, name, data)
                     for m in range(minutes) for (scope, name), data in widest.items()))
    out.commit()
    out.execute("VACUUM")
    out.close()
    size = week.stat().st_size
    return {"rows_per_minute": len(widest), "row_bytes": {f"{s}:{n}": len(d) for (s, n), d in widest.items()},
            "week_rows": minutes * len(widest), "week_bytes": size, "bytes_per_minute": size / minutes}


def stat_cpu_seconds(stat):
    """User + system CPU seconds from the text of a process's or thread's `/proc/…/stat`."""
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def threads(pid):
    """So far, over a process's threads: their context switches (voluntary and involuntary), and
    the CPU seconds of the event loops' threads and of Swift's cooperative pool, by thread name.
    Dispatch's threads (on SQLite: its writer, the commit and flush queues) come and go, so their
    share is the process's total less these two."""
    out = {"switches": 0, "event_loops": 0.0, "pool": 0.0}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            name = (task / "comm").read_text().strip()
            cpu = stat_cpu_seconds((task / "stat").read_text())
            status = (task / "status").read_text()
        except OSError:
            continue
        out["switches"] += sum(int(m) for m in re.findall(r"ctxt_switches:\s+(\d+)", status))
        if name.startswith("NIO-"):
            out["event_loops"] += cpu
        elif name.endswith("default-qos"):
            out["pool"] += cpu
    return out


def written_bytes(pid):
    """Bytes the process has caused to be written to storage so far (`/proc/<pid>/io`)."""
    return int(re.search(r"^write_bytes:\s+(\d+)", Path(f"/proc/{pid}/io").read_text(), re.M).group(1))


class FloorServer(Proc):
    """`switchyard-bench floor-server`: the least a durable pipeline does per event on this stack
    (parse, append to SQLite and fsync before the 200, send batches of 10 to the emulator, delete
    what was delivered), with none of Switchyard's features."""
    def __init__(self, work, queue, emulator_port):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__([str(BENCH), "floor-server", "--port", str(self.port), "--queue", str(queue),
                          "--endpoint", f"http://127.0.0.1:{emulator_port}", "--access-key-id", KEY_ID, "--secret-access-key", SECRET],
                         work / "floor.log")
        wait_http(self.url + "/")


COST_STORES = ("floor", "sqlite", "postgres")


def bench_cost(work, duration, rounds=3, stores=COST_STORES):
    """The figure the project steers by, measured as one number: single tracks from `wrk -t2 -c64`
    for `duration` seconds with the emulator up and the server's default delivery, then every
    accepted event delivered before the server's CPU is read. Switchyard's CPU per event (ingested
    and delivered) over the bare route's CPU per request in the same round; SQLite (`sync: full`)
    and one node on PostgreSQL, whose own CPU is reported beside it; and the floor server, measured
    the same way, as what no design on this stack gets under."""
    ROOT_WORK[0] = work
    track, _ = ingestion_scripts(work, "cost-")
    base, base_url = baseline_server(work, "baseline-cost.log")
    cluster = Cluster(work) if "postgres" in stores else None
    results = {store: [] for store in stores}
    for n in range(rounds):
        baseline = measured(base, base_url, track, 64, duration)
        for store in stores:
            port = free_port()
            emu = emulator(work, port, "--events-out", "/dev/null")
            if store == "floor":
                server = FloorServer(work, work / f"floor-queue-{n}", port)
            elif store == "sqlite":
                server = Switchyard(work, work / f"cost-queue-{n}", port, delivery="{}", sync="full")
            else:
                server = Node(work, f"cost-{n}", cluster.database(), port, cluster.password, delivery="{}")
            stats = f"http://127.0.0.1:{port}/stats"
            delivered_before = requests.get(stats).json()["delivered"]
            cpu, emu_cpu = server.cpu_seconds(), emu.cpu_seconds()
            before, written = threads(server.process.pid), written_bytes(server.process.pid)
            db_cpu = cluster.cpu_seconds() if store == "postgres" else 0
            out = wrk(server.url, track, 64, duration)
            accepted = out["requests"] - out["non2xx"]
            started = time.monotonic()
            while requests.get(stats).json()["delivered"] - delivered_before < accepted:
                assert time.monotonic() - started < 300, "the events were not all delivered in 5 minutes"
                time.sleep(0.05)
            wait = time.monotonic() - started
            us = (server.cpu_seconds() - cpu) * 1e6 / accepted
            after = threads(server.process.pid)
            by_thread = {k: (after[k] - before[k]) * 1e6 / accepted for k in ("event_loops", "pool")}
            by_thread["dispatch_and_other"] = us - sum(by_thread.values())
            results[store].append({
                "baseline": baseline, "switchyard": out, "events": accepted, "drain_after_seconds": wait,
                "cpu_us_per_event": us, "multiple": us / baseline["cpu_us_per_request"], "ingest_ratio": out["rps"] / baseline["rps"],
                "emulator_cpu_us_per_event": (emu.cpu_seconds() - emu_cpu) * 1e6 / accepted,
                "context_switches_per_event": (after["switches"] - before["switches"]) / accepted,
                "cpu_us_per_event_by_threads": by_thread,
                "bytes_written_per_event": (written_bytes(server.process.pid) - written) / accepted,
                "postgres_cpu_us_per_event": (cluster.cpu_seconds() - db_cpu) * 1e6 / accepted if store == "postgres" else None,
            })
            server.stop()
            emu.stop()
    if cluster:
        cluster.stop()
    base.stop()
    return results


def cost_rows(results):
    """Rows 0: the cost per event, each round."""
    for store, runs in results.items():
        for r in runs:
            db = f', PostgreSQL {r["postgres_cpu_us_per_event"]:.0f} µs' if r["postgres_cpu_us_per_event"] is not None else ""
            print(f'| cost per event, {store} | {r["events"]:,} tracks at {r["switchyard"]["rps"]:,.0f} req/s ({r["ingest_ratio"]:.2f} of the bare '
                  f'route\'s {r["baseline"]["rps"]:,.0f}), all delivered {r["drain_after_seconds"]:.1f} s after wrk ended | '
                  f'**{r["cpu_us_per_event"]:.0f} µs per event, {r["multiple"]:.2f}×** a {r["baseline"]["cpu_us_per_request"]:.0f} µs bare request; '
                  f'{r["context_switches_per_event"]:.1f} context switches per event; emulator {r["emulator_cpu_us_per_event"]:.0f} µs{db} |')
            t = r["cpu_us_per_event_by_threads"]
            dispatch = "dispatch threads" if store == "postgres" else "dispatch threads (SQLite's writer, commits, flushes)"
            print(f'| … where, {store} | threads | event loops {t["event_loops"]:.0f} µs, Swift\'s pool {t["pool"]:.0f} µs, {dispatch} '
                  f'and the rest {t["dispatch_and_other"]:.0f} µs; {r["bytes_written_per_event"] / 1024:.1f} KiB written to disk per event |')


def bench_latency(work, rate, seconds):
    port = free_port()
    out = work / "latency-events.jsonl"
    emu = emulator(work, port, "--events-out", str(out), "--record-receipt-time")
    server = Switchyard(work, work / "latency-queue", port, delivery="{ concurrency: 4, linger: 2ms }")
    acks = asyncio.run(paced_sender(server.port, rate, seconds))
    deadline = time.monotonic() + 60
    received = {}
    while time.monotonic() < deadline:
        received = {}
        for line in out.read_text().splitlines():
            e = json.loads(line)
            received[e["detail"]["messageId"]] = e["x-emulator-received-ms"]
        if set(acks) <= set(received):
            break
        time.sleep(0.5)
    lat = sorted(received[m] - acks[m] for m in acks if m in received)
    server.stop()
    emu.stop()
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
    return {"rate": rate, "sent": len(acks), "achieved_rate": len(acks) / seconds, "delivered": len(lat),
            "p50_ms": q(0.50), "p99_ms": q(0.99), "p999_ms": q(0.999), "max_ms": lat[-1]}


def bench_transform(events):
    out = subprocess.run([str(BENCH), "transform", "--events", str(events)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")), platform.processor())
    mem = int(next(l.split()[1] for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal"))) / 1024 / 1024
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, {platform.platform()}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000, help="backlog size for the delivery, memory and start-up benchmarks")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--latency-seconds", type=int, default=15)
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--binary", type=Path, help="the switchyard binary to measure (default .build/release/switchyard), for an A/B against another build")
    parser.add_argument("--long-run-minutes", type=int, default=10, help="length of the long run (--only long-run; not part of the default set)")
    parser.add_argument("--long-run-store", choices=["postgres", "sqlite"], action="append", help="the long run's stores (default both)")
    parser.add_argument("--long-run-pg-setting", action="append", default=[], metavar="NAME=VALUE", help="a PostgreSQL setting for the long run (ALTER SYSTEM), e.g. max_wal_size=4GB")
    parser.add_argument("--only", choices=["ingestion", "transform", "latency", "backlog", "browser", "kinesis", "postgres", "long-run", "deletion", "replay", "stats-size", "cost"], action="append",
                        help="run only these benchmarks (repeatable); prints their raw results instead of the report")
    parser.add_argument("--cost-store", choices=COST_STORES, action="append", help="the cost row's servers (default all three)")
    parser.add_argument("--config", action="append", default=[], metavar="YAML", help="a top-level line added to every Switchyard configuration, e.g. 'dedup: { window: 0 }'")
    parser.add_argument("--destination-config", action="append", default=[], metavar="YAML", help="a line added to the destination, e.g. 'privacy: { anonymizeIP: true }'")
    parser.add_argument("--source-config", action="append", default=[], metavar="YAML", help="a key added to the source, e.g. 'trackingPlan: web'")
    args = parser.parse_args()
    EXTRA_CONFIG.extend(args.config)
    EXTRA_DESTINATION.extend(args.destination_config)
    EXTRA_SOURCE.extend(args.source_config)
    if args.binary:
        global BIN
        BIN = args.binary.resolve()
    for tool in (BIN, BENCH):
        assert tool.exists(), f"{tool} is missing: build with swift build -c release"
    assert shutil.which("wrk"), "wrk is missing (apt-get install wrk)"
    work = Path(tempfile.mkdtemp(prefix="switchyard-bench-"))
    results = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    print(f"# work dir {work}", file=sys.stderr)
    benchmarks = {
        "ingestion": lambda: bench_ingestion(work, args.duration),
        "transform": lambda: bench_transform(300_000),
        "latency": lambda: bench_latency(work, 2000, args.latency_seconds),
        "backlog": lambda: bench_backlog_and_delivery(work, args.events, args.duration),
        "browser": lambda: bench_browser(work, args.duration),
        "kinesis": lambda: bench_kinesis(work, max(10_000, args.events // 5)),
        "postgres": lambda: bench_postgres(work, args.duration, max(20_000, args.events // 10)),
        "deletion": lambda: bench_deletion(work, args.events, args.duration),
        "replay": lambda: bench_replay(work, args.events, args.duration),
        "stats-size": lambda: bench_stats_size(work, args.duration),
        "cost": lambda: bench_cost(work, args.duration, stores=tuple(args.cost_store or COST_STORES)),
        "long-run": lambda: bench_long_run(work, args.long_run_minutes, tuple(args.long_run_store or ("postgres", "sqlite")), tuple(args.long_run_pg_setting)),
    }
    for name, run in benchmarks.items():
        if (args.only and name not in args.only) or (not args.only and name in ("long-run", "deletion", "replay", "stats-size")):
            continue
        results[name] = run()
        print(json.dumps(results[name]), file=sys.stderr)
    if args.only:
        if "cost" in results:
            cost_rows(results["cost"])
        if "postgres" in results:
            postgres_rows(results["postgres"])
        if "long-run" in results:
            long_run_rows(results["long-run"])
        shutil.rmtree(work, ignore_errors=True)
        return
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    report(results)
    shutil.rmtree(work, ignore_errors=True)


def report(r):
    i, t, l, b = r["ingestion"], r["transform"], r["latency"], r["backlog"]
    single = i["ratio"]
    batch_events = i["batch_events_per_second"]
    ratios = " / ".join(f'{run["ratio"]:.2f}' for run in i["runs"])
    batch_rounds = " / ".join(f'{run["batch"]["rps"] * 100 / 1000:.0f}K' for run in i["runs"])
    entries = b["delivered"] / b["drain_seconds"]
    intake_entries = b["intake"]["rps"] * 10
    rows = [
        (f'1. ingestion, single {i["track_size"]}-byte track, 64 connections', f'median round: {i["switchyard"]["rps"]:,.0f} req/s (p99 {i["switchyard"]["p99_ms"]:.1f} ms) vs bare Hummingbird {i["baseline"]["rps"]:,.0f} req/s; ratios by round {ratios}', f"{single:.2f} of bare", "≥ 0.5", single >= 0.5),
        ("2. ingestion, batches of 100, 16 connections", f'{batch_events:,.0f} events/s committed (median; rounds {batch_rounds})', "", "≥ 100,000 events/s", batch_events >= 100_000),
        ("3. delivery, backlog drained to the emulator", f'{entries:,.0f} entries/s, {entries / 10:,.0f} PutEvents/s ({b["delivered"]:,} in {b["drain_seconds"]:.1f} s) vs emulator intake {intake_entries:,.0f} entries/s', f"{entries / intake_entries:.2f} of intake", "≥ 0.6", entries / intake_entries >= 0.6),
        ("4. end-to-end latency at 2,000 events/s", f'p50 {l["p50_ms"]:.1f} ms, p99 {l["p99_ms"]:.1f} ms, p99.9 {l["p999_ms"]:.1f} ms ({l["delivered"]:,} events, {l["achieved_rate"]:,.0f}/s achieved)', "", "p99 ≤ 50 ms", l["p99_ms"] <= 50),
        ("5a. memory with the backlog waiting (and after the drain)", f'{b["rss_backlog_mb"]:.0f} MB RSS with {b["events"]:,} events queued; {b["rss_restarted_mb"]:.0f} MB after a restart; {b["rss_after_drain_mb"]:.0f} MB after draining them', "", "≤ 150 MB", max(b["rss_backlog_mb"], b["rss_after_drain_mb"]) <= 150),
        ("5b. start-up to ready with the backlog", f'{b["ready_seconds"]:.2f} s', "", "≤ 1 s", b["ready_seconds"] <= 1),
        ("6. transform (parse → enrich → entry → JSON), one core", f'{t["eventsPerSecond"]:,} events/s', "", "", True),
    ]
    print(f"Machine: {r['machine']}  \nDate: {r['date']}\n")
    print("| benchmark | result | ratio | target | met |\n| --- | --- | --- | --- | --- |")
    for name, result, ratio, target, met in rows:
        print(f"| {name} | {result} | {ratio} | {target} | {'yes' if met else '**no**'} |")
    for name, run in r["browser"].items():
        s, base = run["switchyard"], run["baseline"]
        print(f'| 7. {name}, 64 connections | median round: {s["rps"]:,.0f} req/s, {s["cpu_us_per_request"]:.0f} µs CPU per event, '
              f'vs bare {base["rps"]:,.0f} req/s, {base["cpu_us_per_request"]:.0f} µs | {run["ratio"]:.2f} of bare; CPU {run["cpu_multiple"]:.1f}× | | |')
    for k in r["kinesis"].values():
        print(f'| 8. Kinesis drain, ordering: {k["ordering"]}, {k["users"]:,} partition keys | {k["records_per_second"]:,.0f} records/s '
              f'({k["records"]:,} in {k["drain_seconds"]:.1f} s); Switchyard {k["switchyard_us_per_record"]:.0f} µs CPU per record, '
              f'emulator {k["emulator_us_per_record"]:.0f} µs | | | |')
    if "postgres" in r:
        postgres_rows(r["postgres"])
    if "cost" in r:
        cost_rows(r["cost"])
    c = b["cpu"]
    cores = os.cpu_count()
    ceiling = cores * 1e6 / (c["switchyard_us_per_entry"] + c["emulator_us_per_entry"])
    print(f'\nCPU per delivered entry during the drain: Switchyard {c["switchyard_us_per_entry"]:.0f} µs, emulator '
          f'{c["emulator_us_per_entry"]:.0f} µs ({b["intake"]["emulator_cpu_us_per_entry"]:.0f} µs while wrk measured its intake). '
          f'Sharing {cores} cores, the two together can deliver at most {ceiling:,.0f} entries/s; the emulator alone at '
          f'0.6 of its intake would need {0.6 * intake_entries * c["emulator_us_per_entry"] / 1e6:.1f} cores.')


def postgres_rows(p):
    """Rows 9: one node and two on one PostgreSQL, beside SQLite, CPU per event as a multiple of the bare route's."""
    bare = p["baseline"]["cpu_us_per_request"]
    def cell(x):
        total = x["switchyard_cpu_us_per_event"] + x["postgres_cpu_us_per_event"]
        return (f'{x["events_per_second"]:,.0f} events/s (p99 {x["p99_ms"]:.0f} ms); CPU per event: Switchyard {x["switchyard_cpu_us_per_event"]:.0f} µs '
                f'({x["switchyard_cpu_us_per_event"] / bare:.1f}× bare), PostgreSQL {x["postgres_cpu_us_per_event"]:.0f} µs, together {total:.0f} µs')
    for kind, label in (("single", "single tracks, 64 connections"), ("batch", "batches of 100, 16 connections")):
        for store, name in (("sqlite", "SQLite, one node"), ("nodes1", "PostgreSQL, one node"), ("nodes2", "PostgreSQL, two nodes")):
            print(f'| 9. ingestion, {label}: {name} | {cell(p[store][kind])} | | | |')
    for key in ("drain1", "drain2", "drain1-history"):
        d, count = p[key], int(key[5])
        history = f', {d["history"]:,} delivered jobs kept' if d.get("history") else ""
        print(f'| 9. drain on PostgreSQL, {count} node{"s" if count > 1 else ""}{history} | {d["entries_per_second"]:,.0f} entries/s ({d["delivered"]:,} in {d["seconds"]:.1f} s); '
              f'CPU per entry: Switchyard {d["switchyard_cpu_us_per_entry"]:.0f} µs, PostgreSQL {d["postgres_cpu_us_per_entry"]:.0f} µs, '
              f'emulator {d["emulator_cpu_us_per_entry"]:.0f} µs | | | |')
    print(f'\nBare route in this section: {p["baseline"]["rps"]:,.0f} req/s, {bare:.0f} µs CPU per request.')


if __name__ == "__main__":
    main()
