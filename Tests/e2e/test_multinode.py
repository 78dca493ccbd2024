"""Several nodes on one PostgreSQL: the real Python clients send to two nodes, one node is killed
with SIGKILL mid-stream, and the database itself is stopped under load. Every acknowledged event
must be delivered (duplicates are counted and reported), each node's live log shows both nodes'
records, and ingestion answers 503, never 200, while the database is down.

The cluster is the throwaway one `.ci/test` starts (`.ci/postgres`); each test gets a database of
its own."""
import calendar
import collections
import json
import os
import subprocess
import threading
import time
import uuid

import pytest
import requests
from rudderstack.analytics.client import Client as RudderClient

from conftest import ADMIN_TOKEN, BINARY, WRITE_KEY, Server
from test_emulator_and_delivery import Emulator, wait_for
from test_live_log import SSE

PG_URL = os.environ.get("SWITCHYARD_TEST_POSTGRES_URL")
PG_PASSWORD = os.environ.get("SWITCHYARD_TEST_PGPASSWORD", "")
PG_DATA = os.environ.get("SWITCHYARD_TEST_PGDATA")
PG_BIN = os.environ.get("SWITCHYARD_TEST_PGBIN", "")

pytestmark = pytest.mark.skipif(not PG_URL, reason="no PostgreSQL cluster: run through .ci/test, which starts one")

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

NODE_CONFIG = """
server: {{ host: 127.0.0.1, port: {port}, node: "NODE", adminToken: "${{E2E_ADMIN_TOKEN}}", shutdownGrace: 5s }}
storage:
  path: {storage}
  postgres: {{ url: "DATABASE_URL", password: "${{PGPASSWORD}}" }}
schemaDiscovery: {{ flushInterval: 200ms }}
sources:
  - {{ name: web, writeKeys: ["${{E2E_WEB_KEY}}"] }}
destinations:
  - name: bus
    type: eventbridge
    config: {{ region: us-east-1, detailType: "{{{{ event }}}}", endpoint: "http://127.0.0.1:EMULATOR_PORT" }}
    delivery: {{ initialBackoff: 20ms, maxBackoff: 500ms, maxAttempts: 1000, linger: 5ms, timeout: 1s }}
connections:
  - {{ from: web, to: [bus] }}
"""


def as_cluster_owner(args):
    """pg_ctl refuses to run as root; the cluster belongs to Debian's postgres user then."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def pg_ctl(*args):
    subprocess.run(as_cluster_owner([os.path.join(PG_BIN, "pg_ctl"), "-D", PG_DATA, "-w", "-t", "60", *args]),
                   check=True, stdout=subprocess.DEVNULL)


def fresh_database():
    name = "e2e_" + uuid.uuid4().hex[:12]
    base, _, query = PG_URL.partition("?")
    server, _, _ = base.rpartition("/")
    host, port = server.split("@")[1].split(":")
    subprocess.run([os.path.join(PG_BIN, "createdb"), "-h", host, "-p", port, "-U", "switchyard", name],
                   check=True, env=dict(os.environ, PGPASSWORD=PG_PASSWORD))
    return f"{server}/{name}?{query}"


class Node(Server):
    def __init__(self, workdir, name, database_url, emulator):
        folder = workdir / name
        folder.mkdir()
        text = NODE_CONFIG.replace("NODE", name).replace("DATABASE_URL", database_url).replace("EMULATOR_PORT", str(emulator.port))
        super().__init__(folder, config_text=text)
        self.name = name
        self.env.update(AWS_ACCESS_KEY_ID="AKIDEMULATOR", AWS_SECRET_ACCESS_KEY="emulator-secret", PGPASSWORD=PG_PASSWORD)


def delivered(emulator):
    return collections.Counter(e["detail"]["messageId"] for e in emulator.envelopes())


def send(url, retries, n, tag, sent, failed):
    """Tracks through the real SDK; a batch the SDK gave up on (on_error) is not acknowledged."""
    client = RudderClient(write_key=WRITE_KEY, host=url, max_retries=retries, upload_size=50,
                          on_error=lambda error, batch: failed.update(m["messageId"] for m in batch))
    for i in range(n):
        ok, msg = client.track(user_id=f"{tag}-user-{i % 13}", event="Order Completed", properties={"n": i, "tag": tag})
        assert ok
        sent.append(msg["messageId"])
        if i % 50 == 49:
            time.sleep(0.02)
    client.flush()
    client.join()


def test_two_nodes_share_one_pipeline_and_a_killed_nodes_jobs_are_delivered_by_the_other(tmp_path):
    emulator = Emulator(tmp_path)
    database = fresh_database()
    a = Node(tmp_path, "node-a", database, emulator).start()
    b = Node(tmp_path, "node-b", database, emulator).start()
    live_b = SSE(b.url + "/v1/live?heartbeat=1", AUTH)
    try:
        sent_a, sent_b, failed_a, failed_b = [], [], set(), set()
        thread_b = threading.Thread(target=send, args=(b.url, 3, 1500, "b", sent_b, failed_b))
        thread_b.start()
        # Node a takes a first share, then is killed while both clients are still sending.
        send(a.url, 1, 400, "a0", sent_a, failed_a)
        wait_for(lambda: any(r.get("node") == "node-a" and r["kind"] == "attempt" for r in live_b.records),
                 what="node b's live log to show node a's deliveries")
        thread_a = threading.Thread(target=send, args=(a.url, 1, 400, "a1", sent_a, failed_a))
        thread_a.start()
        time.sleep(0.3)
        a.kill()
        thread_a.join()
        thread_b.join()

        acknowledged = (set(sent_a) - failed_a) | (set(sent_b) - failed_b)
        assert failed_b == set(), "the surviving node acknowledged everything sent to it"
        assert len(acknowledged) >= 1900
        # Node a's leases run out (about 35 s with a 1 s send timeout) and node b delivers its jobs.
        wait_for(lambda: acknowledged <= set(delivered(emulator)), timeout=120, what="every acknowledged event delivered")
        # Events whose batch was cut off by the kill may be stored but unacknowledged, their jobs
        # leased to the dead node: they go out too, once its leases run out.
        summary = lambda: requests.get(b.url + "/v1/summary", headers=AUTH, timeout=10).json()
        wait_for(lambda: summary()["destinations"]["bus"]["queueDepth"] == 0, timeout=120, what="the queue drained, the dead node's leases included")
        counts = delivered(emulator)
        duplicates = sum(c - 1 for c in counts.values() if c > 1)
        print(f"\nmultinode: {len(acknowledged)} acknowledged, {len(set(counts) & acknowledged)} delivered, "
              f"{duplicates} delivered twice, {len(set(counts) - acknowledged)} delivered but not acknowledged (their batch was cut off)")
        nodes = {r.get("node") for r in live_b.records}
        assert {"node-a", "node-b"} <= nodes, f"node b's live log named {nodes}"

        # Every node reads the whole pipeline: the summary (drained, above), the log and an event's story.
        story = requests.get(b.url + f"/v1/events/{sent_a[0]}", headers=AUTH, timeout=10).json()
        assert story["records"][0]["node"] == "node-a" and story["jobs"][0]["state"] == "succeeded"
        # The operator's view of the shared queue, from the command line.
        stats = subprocess.run([str(BINARY), "queue", "stats", "--config", str(b.config_path)], env=b.env,
                               capture_output=True, text=True, timeout=60, check=True)
        counted = json.loads(stats.stdout)
        assert counted["events"] >= len(acknowledged)
        assert counted["destinations"]["bus"]["counts"]["succeeded"] == counted["events"]
        assert PG_PASSWORD not in stats.stdout + stats.stderr
        for secret in (PG_PASSWORD, WRITE_KEY, ADMIN_TOKEN):
            assert secret not in a.log() and secret not in b.log(), "a secret reached the log"
    finally:
        live_b.close()
        if a.process.poll() is None:
            a.kill()
        b.stop()
        emulator.stop()


def test_every_node_adds_to_one_registry_of_discovered_schemas(tmp_path):
    emulator = Emulator(tmp_path)
    database = fresh_database()
    a = Node(tmp_path, "node-a", database, emulator).start()
    b = Node(tmp_path, "node-b", database, emulator).start()
    try:
        def model(node):
            found = requests.get(node.url + "/v1/schemas", params={"source": "web", "event": "Order Completed"},
                                 headers=AUTH, timeout=10).json()["schemas"]
            return found[0] if found else None

        # Node b's shape comes after node a's is in the registry, so it is version 2.
        for node, properties, total in ((a, {"total": 1}, 10), (b, {"total": 2, "coupon": "X"}, 20)):
            batch = [{"type": "track", "event": "Order Completed", "userId": f"u{n}", "messageId": f"{node.name}-{n}",
                      "properties": properties} for n in range(10)]
            answer = requests.post(node.url + "/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""), timeout=30)
            assert answer.status_code == 200, answer.text
            wait_for(lambda: (model(a) or {}).get("events") == total, timeout=30, what=f"{total} events in the registry")
        for node in (a, b):
            seen = model(node)
            assert seen["events"] == 20 and [v["events"] for v in seen["versions"]] == [10, 10]
            assert [v["version"] for v in seen["versions"]] == [1, 2]
            assert seen["versions"][1]["changes"]["added"] == ["properties.coupon"]
    finally:
        a.stop()
        b.stop()
        emulator.stop()


def test_the_database_going_down_under_load_answers_503_and_loses_nothing_acknowledged(tmp_path):
    emulator = Emulator(tmp_path)
    database = fresh_database()
    node = Node(tmp_path, "node-a", database, emulator).start()
    statuses = collections.Counter()
    acknowledged, refused = [], []
    stop = threading.Event()
    down = threading.Event()
    during_outage = collections.Counter()

    def load():
        session = requests.Session()
        while not stop.is_set():
            message_id = str(uuid.uuid4())
            try:
                r = session.post(node.url + "/v1/track", auth=(WRITE_KEY, ""), timeout=10,
                                 json={"userId": "u", "event": "Order Completed", "messageId": message_id})
                status = r.status_code
            except requests.RequestException:
                status = "error"
            statuses[status] += 1
            if down.is_set():
                during_outage[status] += 1
            (acknowledged if status == 200 else refused).append(message_id)

    threads = [threading.Thread(target=load) for _ in range(4)]
    try:
        for t in threads:
            t.start()
        try:
            wait_for(lambda: statuses[200] > 200, what="load to start")
            pg_ctl("stop", "-m", "immediate")
            down.set()
            try:
                wait_for(lambda: during_outage[503] >= 5, what="503s while the database is down")
            except AssertionError:
                raise AssertionError(f"while down: {dict(during_outage)}\n{node.log()[-3000:]}")
            ready = requests.get(node.url + "/ready", timeout=10)
            assert ready.status_code == 503, ready.text
            pg_ctl("start", "-l", os.path.join(os.path.dirname(PG_DATA), "server.log"))
            down.clear()
            wait_for(lambda: requests.get(node.url + "/ready", timeout=10).status_code == 200, timeout=60, what="ready again")
            count = statuses[200]
            wait_for(lambda: statuses[200] > count + 100, what="ingestion to resume by itself")
        finally:
            stop.set()
            for t in threads:
                t.join()
            if down.is_set():
                # The cluster is shared with the other tests: never leave it stopped.
                pg_ctl("start", "-l", os.path.join(os.path.dirname(PG_DATA), "server.log"))
        print(f"\ndatabase outage: {dict(statuses)}; while down: {dict(during_outage)}")
        wait_for(lambda: set(acknowledged) <= set(delivered(emulator)), timeout=60, what="every acknowledged event delivered")
    finally:
        node.stop()
        emulator.stop()


def test_two_quiet_nodes_send_one_heartbeat_per_interval_between_them(tmp_path):
    emulator = Emulator(tmp_path)
    database = fresh_database()
    beat = '    heartbeat: { every: 1s, event: { event: HEART_BEAT, userId: switchyard, properties: { at: "{{ $now }}" } } }\n'

    class Beating(Node):
        def __init__(self, name):
            super().__init__(tmp_path, name, database, emulator)
            text = self.config_path.read_text()
            self.config_path.write_text(text.replace("connections:\n", beat + "connections:\n"))

    a, b = Beating("node-a").start(), Beating("node-b").start()
    try:
        # Counted from when both nodes run: node a beats alone while b starts, however long that takes.
        both_up = time.time()
        time.sleep(7)
        stamps = sorted(e["detail"]["properties"]["at"] for e in emulator.envelopes() if e["detail-type"] == "HEART_BEAT")
        at_seconds = {at: calendar.timegm(time.strptime(at[:19], "%Y-%m-%dT%H:%M:%S")) + float("0" + at[19:-1]) for at in stamps}
        beats = [at for at in stamps if at_seconds[at] >= both_up]
        # Each node alone would send one a second: about 12 in 7 s. Together they send one.
        assert 3 <= len(beats) <= 8, beats
        seconds = [at_seconds[at] for at in beats]
        gaps = [later - earlier for earlier, later in zip(seconds, seconds[1:])]
        assert min(gaps) >= 0.8, f"two heartbeats in one interval: {beats}"
        nodes = {r["node"] for r in requests.get(b.url + "/v1/deliveries?kind=received&source=heartbeat", headers=AUTH, timeout=10).json()["records"]}
        print(f"\nheartbeats from two nodes in 7 s: {len(beats)}, stored by {sorted(nodes)}")
    finally:
        a.stop()
        b.stop()
        emulator.stop()


@pytest.mark.parametrize("case, expected", [
    ("role", 'password authentication failed for user "nobody"'),
    ("database", 'database "no_such_database" does not exist'),
    ("refused", "Connection refused"),
])
def test_a_database_that_cannot_be_reached_says_why_in_the_answer_ready_and_one_log_line(tmp_path, case, expected):
    base, _, query = PG_URL.partition("?")
    server, _, database = base.rpartition("/")
    scheme, _, host = server.partition("@")
    url = {
        "role": f"postgres://nobody@{host}/{database}?{query}",
        "database": f"{server}/no_such_database?{query}",
        "refused": f"{scheme}@127.0.0.1:1/{database}?{query}",
    }[case]
    emulator = Emulator(tmp_path)
    node = Node(tmp_path, "misconfigured", url, emulator)
    node.start()
    try:
        answer = requests.post(node.url + "/v1/track", auth=(WRITE_KEY, ""), timeout=10,
                               json={"userId": "u1", "event": "Order Completed"})
        assert answer.status_code == 503
        assert expected in answer.text
        ready = requests.get(node.url + "/ready", timeout=10)
        assert ready.status_code == 503 and expected in ready.text
        # Retries go on (about every 5 s); the reason is logged once while it stays the same.
        time.sleep(1.5)
        lines = [line for line in node.log().splitlines() if "cannot open the queue's database" in line]
        assert len(lines) == 1 and expected in lines[0], node.log()
        assert PG_PASSWORD not in node.log()
    finally:
        node.stop()
        emulator.stop()


def test_one_node_writes_the_archive_and_another_takes_over_when_it_dies(tmp_path):
    """Both nodes have the archive on, in one shared folder: the one holding the lease writes it
    (every event once), the other stands by; killed, the holder's lease runs out and the other
    goes on from where it stopped."""
    import gzip
    emulator = Emulator(tmp_path)
    database = fresh_database()
    archive = tmp_path / "archive"
    nodes = []
    for name in ("node-a", "node-b"):
        node = Node(tmp_path, name, database, emulator)
        node.config_path.write_text(node.config_path.read_text().replace(
            "schemaDiscovery:", f"archive: {{ path: {archive}, interval: 200ms }}\nschemaDiscovery:", 1))
        nodes.append(node.start())

    def archived():
        ids = []
        for path in archive.rglob("*.ndjson.gz"):
            if path.with_name(path.name[: -len(".ndjson.gz")] + ".manifest.json").exists():
                ids += [json.loads(line)["messageId"] for line in gzip.decompress(path.read_bytes()).decode().splitlines()]
        return ids

    def post(node, tag, count):
        batch = [{"type": "track", "event": "Order Completed", "userId": f"u{n}", "messageId": f"{tag}-{n}"} for n in range(count)]
        answer = requests.post(node.url + "/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""), timeout=30)
        assert answer.status_code == 200, answer.text
        return [m["messageId"] for m in batch]

    def status(node):
        return requests.get(node.url + "/v1/summary", headers=AUTH, timeout=10).json()["archive"]

    try:
        sent = post(nodes[0], "a", 100) + post(nodes[1], "b", 100)
        wait_for(lambda: set(sent) <= set(archived()), timeout=60, what="both nodes' events in the archive")
        assert sorted(archived()) == sorted(sent), "every event once"
        holder = next(n for n in nodes if status(n)["events"] > 0)
        other = next(n for n in nodes if n is not holder)
        wait_for(lambda: status(other)["standby"], timeout=30, what="the other node standing by")
        assert status(other)["events"] == 0

        holder.kill()
        sent += post(other, "after", 50)
        wait_for(lambda: set(sent) <= set(archived()), timeout=90, what="the survivor taking the archive over")
        assert sorted(archived()) == sorted(sent), "every event once, across the takeover"
        assert status(other)["events"] >= 50
    finally:
        for node in nodes:
            node.stop()
        emulator.stop()
