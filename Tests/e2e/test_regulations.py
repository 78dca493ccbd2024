"""Suppression and deletion (Segment's regulations) against the real binary: a user whose events
are delivered, dead-lettered, waiting for a destination that is down, and in the delivery log is
deleted while the same user's and others' events keep arriving. Afterwards no table holds the
user's id or any value of those events (every table read with sqlite3, or psql on PostgreSQL),
no byte of them is left in the SQLite files once the server has stopped (free pages and the
write-ahead log included), the waiting jobs were never sent, and every request was answered."""
import os
import subprocess
import threading
import time
import uuid

import pytest
import requests
from rudderstack.analytics.client import Client as RudderClient

from conftest import ADMIN_TOKEN, BINARY, WRITE_KEY, Server, free_port
from test_emulator_and_delivery import Emulator, wait_for
from test_multinode import PG_BIN, PG_PASSWORD, PG_URL, fresh_database

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

CONFIG = """
server: {{ host: 127.0.0.1, port: {port}, node: "NODE", adminToken: "${{E2E_ADMIN_TOKEN}}", shutdownGrace: 5s }}
storage: {{ path: {storage}, sync: {sync}STORAGE_EXTRA }}
sources:
  - {{ name: web, writeKeys: ["${{E2E_WEB_KEY}}"] }}
destinations:
  - name: bus
    type: eventbridge
    config: {{ region: us-east-1, detailType: "{{{{ event }}}}", endpoint: "http://127.0.0.1:BUS_PORT" }}
    delivery: {{ initialBackoff: 20ms, maxBackoff: 200ms, linger: 5ms }}
  - name: throttled
    type: eventbridge
    config: {{ region: us-east-1, detailType: t, endpoint: "http://127.0.0.1:THROTTLED_PORT" }}
    delivery: {{ initialBackoff: 20ms, maxBackoff: 50ms, maxAttempts: 2, linger: 5ms }}
  - name: parked
    type: eventbridge
    config: {{ region: us-east-1, detailType: p, endpoint: "http://127.0.0.1:PARKED_PORT" }}
    delivery: {{ initialBackoff: 500ms, maxBackoff: 1s, maxAttempts: 100000, linger: 5ms, timeout: 1s }}
connections:
  - {{ from: web, to: [bus, throttled, parked] }}
"""


class EmulatorAt(Emulator):
    """The emulator on a port chosen before it starts: the parked destination's, which is down
    (nothing listens) until the test brings it up."""

    def __init__(self, workdir, port):
        self.port = port
        self.events_path = workdir / f"events-{port}.jsonl"
        self.process = subprocess.Popen(
            [str(BINARY), "emulate", "eventbridge", "--port", str(port), "--events-out", str(self.events_path),
             "--access-key-id", "AKIDEMULATOR", "--secret-access-key", "emulator-secret"],
            stdout=open(workdir / f"emulator-{port}.log", "ab"), stderr=subprocess.STDOUT)
        wait_for(lambda: _healthy(f"http://127.0.0.1:{port}/health"), what="the parked emulator")


def _healthy(url):
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


class Person:
    """A user and the values of their events, each unique to this run."""

    def __init__(self, role):
        tag = uuid.uuid4().hex[:10]
        self.user_id = f"{role}-user-{tag}"
        self.anonymous_id = f"{role}-anon-{tag}"
        self.email = f"{role}-{tag}@example.com"
        self.card = f"{role}-card-{tag}"
        self.message_prefix = f"{role}-msg-{tag}"

    @property
    def values(self):
        return [self.user_id, self.anonymous_id, self.email, self.card, self.message_prefix]

    def track(self, n):
        return {"type": "track", "userId": self.user_id, "anonymousId": self.anonymous_id, "event": "Order Completed",
                "messageId": f"{self.message_prefix}-{n}", "properties": {"card": self.card, "n": n},
                "context": {"traits": {"email": self.email}}}


def send_with_sdk(url, person, n):
    client = RudderClient(write_key=WRITE_KEY, host=url, max_retries=3, upload_size=50)
    for i in range(n):
        ok, _ = client.track(user_id=person.user_id, anonymous_id=person.anonymous_id, event="Order Completed",
                             properties={"card": person.card, "n": i}, context={"traits": {"email": person.email}},
                             message_id=f"{person.message_prefix}-sdk-{i}")
        assert ok
    client.flush()
    client.join()


class Sender(threading.Thread):
    """Sends both people's tracks to the nodes in turn until stopped, and keeps every answer."""

    def __init__(self, urls, people):
        super().__init__(daemon=True)
        self.urls, self.people = urls, people
        self.answers = []
        self.stopped = threading.Event()

    def run(self):
        n = 0
        while not self.stopped.is_set():
            for person in self.people:
                url = self.urls[n % len(self.urls)]
                r = requests.post(url + "/v1/batch", json={"batch": [person.track(f"live-{n}")]}, auth=(WRITE_KEY, ""), timeout=10)
                self.answers.append(r.status_code)
            n += 1
            time.sleep(0.02)

    def stop(self):
        self.stopped.set()
        self.join(15)


def start_nodes(tmp_path, postgres):
    bus, throttled = Emulator(tmp_path), Emulator(tmp_path, "--throttle-rate", "1")
    parked_port = free_port()
    text = (CONFIG.replace("BUS_PORT", str(bus.port)).replace("THROTTLED_PORT", str(throttled.port))
            .replace("PARKED_PORT", str(parked_port)))
    nodes = []
    database = fresh_database() if postgres else None
    for name in (["node-a", "node-b"] if postgres else ["node-a"]):
        folder = tmp_path / name
        folder.mkdir()
        extra = f', postgres: {{{{ url: "{database}", password: "${{{{PGPASSWORD}}}}" }}}}' if postgres else ""
        node = Server(folder, config_text=text.replace("NODE", name).replace("STORAGE_EXTRA", extra))
        node.env.update(AWS_ACCESS_KEY_ID="AKIDEMULATOR", AWS_SECRET_ACCESS_KEY="emulator-secret", PGPASSWORD=PG_PASSWORD)
        nodes.append(node.start())
    return nodes, bus, throttled, parked_port, database


def state_counts(url):
    summary = requests.get(url + "/v1/summary", headers=AUTH).json()["destinations"]
    return {name: d for name, d in summary.items()}


def sqlite_tables_text(path):
    """Every row of every table, as text, read the way an operator's sqlite3 would."""
    tables = subprocess.run(["sqlite3", "-readonly", str(path), "SELECT name FROM sqlite_master WHERE type = 'table'"],
                            check=True, capture_output=True, text=True).stdout.split()
    assert tables
    return "\n".join(subprocess.run(["sqlite3", "-readonly", str(path), f"SELECT * FROM \"{t}\""], check=True,
                                    capture_output=True, text=True, errors="replace").stdout for t in tables)


def psql(database, sql):
    base, _, _ = database.partition("?")
    return subprocess.run([os.path.join(PG_BIN, "psql"), base, "-At", "-c", sql], check=True, capture_output=True, text=True,
                          env=dict(os.environ, PGPASSWORD=PG_PASSWORD)).stdout


def postgres_tables_text(database):
    tables = psql(database, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'").split()
    assert "events" in tables and "suppressions" in tables
    # bytea (the stored payloads) as text, not hex, so the values in it can be found.
    return "\n".join(psql(database, f"SET bytea_output = 'escape'; SELECT t::text FROM \"{t}\" t") for t in tables)


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.skipif(not PG_URL, reason="no PostgreSQL cluster"))])
def test_a_deletion_leaves_no_copy_and_the_suppressed_user_stays_out(tmp_path, store):
    nodes, bus, throttled, parked_port, database = start_nodes(tmp_path, store == "postgres")
    victim, bystander = Person("victim"), Person("bystander")
    sender = Sender([n.url for n in nodes], [victim, bystander])
    parked = None
    try:
        for person in (victim, bystander):
            send_with_sdk(nodes[0].url, person, 10)
        # Delivered to bus, dead-lettered by throttled, waiting for parked (nothing listens there).
        wait_for(lambda: len(bus.envelopes()) == 20, what="20 deliveries")
        wait_for(lambda: state_counts(nodes[0].url)["throttled"]["deadLetters"] == 20, what="20 dead letters")
        assert state_counts(nodes[0].url)["parked"]["queueDepth"] == 20

        sender.start()
        time.sleep(1)
        created = requests.post(nodes[0].url + "/v1/regulations", headers=AUTH, json={
            "regulationType": "SUPPRESS_WITH_DELETE", "subjectType": "USER_ID", "subjectIds": [victim.user_id]})
        assert created.status_code == 200, created.text
        regulation_id = created.json()["data"]["regulateId"]

        def finished():
            shown = requests.get(f"{nodes[-1].url}/v1/regulations/{regulation_id}", headers=AUTH).json()["data"]["regulation"]
            return shown if shown["overallStatus"] == "FINISHED" else None
        wait_for(finished, timeout=90, what="the deletion to finish")
        time.sleep(2)   # every node has read the new list by now; the user's new events are dropped
        sender.stop()
        assert sender.answers and set(sender.answers) == {200}, "ingestion answered every request during the deletion"
        removed = finished()["removed"]
        assert removed["events"] >= 10 and removed["deliveredJobs"] >= 10 and removed["deadLetters"] >= 10, removed
        assert removed["waitingJobs"] >= 10 and removed["logRecords"] >= 20 and removed["dedupMarks"] == removed["events"], removed
        suppressed = sum(requests.get(n.url + "/v1/summary", headers=AUTH).json()["suppressed"].get("web", 0) for n in nodes)
        assert suppressed > 0

        # The destination that was down comes up: it gets the bystander's events, never the victim's.
        parked = EmulatorAt(tmp_path, parked_port)
        bystander_sent = 10 + sender.answers.count(200) // 2
        wait_for(lambda: sum(bystander.user_id in str(e) for e in parked.envelopes()) >= bystander_sent - 2,
                 timeout=60, what="the bystander's waiting events")
        assert not any(victim.user_id in str(e) for e in parked.envelopes()), "a deleted waiting job was sent"

        if store == "sqlite":
            folder = nodes[0].storage
            text = sqlite_tables_text(folder / "queue.sqlite") + sqlite_tables_text(folder / "messages.sqlite")
        else:
            text = postgres_tables_text(database)
        assert bystander.user_id in text and bystander.card in text, "the check reads the tables"
        for value in victim.values:
            assert value not in text, f"a table still holds {value}"
    finally:
        sender.stopped.set()
        for node in nodes:
            node.stop()
        for emulator in (bus, throttled, parked):
            if emulator:
                emulator.stop()
    for node in nodes:
        log = node.log()
        assert not any(value in log for value in victim.values), "the server's log names the user"
    if store == "sqlite":
        files = [p for p in nodes[0].storage.iterdir() if p.is_file()]
        content = b"".join(p.read_bytes() for p in files)
        assert bystander.card.encode() in content, "the byte check reads the files"
        for value in victim.values:
            assert value.encode() not in content, f"{value} is still in the files: {[p.name for p in files]}"


def test_hostile_regulations_100000_ids_odd_characters_and_the_cli(tmp_path):
    nodes, bus, throttled, parked_port, _ = start_nodes(tmp_path, postgres=False)
    node = nodes[0]
    try:
        odd = ["o'neil\"; DROP TABLE events; --", "%", "_", "ü😀", "a\\b", " spaced ", "<script>x</script>"]
        for n, user in enumerate(odd + ["o'neil", "ü"]):
            r = requests.post(node.url + "/v1/track", auth=(WRITE_KEY, ""),
                              json={"userId": user, "event": "E", "messageId": f"odd-{n}"})
            assert r.status_code == 200
        wait_for(lambda: len(bus.envelopes()) == len(odd) + 2, what="the odd users' deliveries")
        ids = [f"bulk-{i}" for i in range(100_000 - len(odd))] + odd
        r = requests.post(node.url + "/v1/regulations", headers=AUTH, json={
            "regulationType": "SUPPRESS_WITH_DELETE", "subjectType": "USER_ID", "subjectIds": ids}, timeout=120)
        assert r.status_code == 200, r.text
        regulation_id = r.json()["data"]["regulateId"]
        too_many = requests.post(node.url + "/v1/regulations", headers=AUTH, json={
            "regulationType": "SUPPRESS_ONLY", "subjectType": "USER_ID", "subjectIds": ids + [f"x{i}" for i in range(10)]})
        assert too_many.status_code == 400 and "at most 100000" in too_many.text

        cli = [str(BINARY), "regulations", "--url", node.url, "--token", ADMIN_TOKEN]
        shown = subprocess.run([*cli[:2], "show", regulation_id, *cli[2:]], capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        wait_for(lambda: '"FINISHED"' in subprocess.run([*cli[:2], "show", regulation_id, *cli[2:]], capture_output=True,
                                                         text=True, timeout=60).stdout, timeout=90, what="the deletion")
        with node.db() as db:
            users = sorted(u for (u,) in db.execute("SELECT user_id FROM events"))
        assert users == ["o'neil", "ü"], "only the exact ids were deleted"

        # Suppressed: answered 200, never stored. The CLI lifts it for one id and deletes another.
        r = requests.post(node.url + "/v1/track", auth=(WRITE_KEY, ""), json={"userId": "%", "event": "E", "messageId": "odd-again"})
        assert r.status_code == 200
        lifted = subprocess.run([*cli[:2], "create", "--type", "UNSUPPRESS", "--user-id", "%", *cli[2:]],
                                capture_output=True, text=True, timeout=60)
        assert lifted.returncode == 0 and lifted.stdout.startswith("reg_"), lifted.stderr
        deleted = subprocess.run([*cli[:2], "create", "--type", "DELETE_INTERNAL", "--user-id", "o'neil", "--wait", *cli[2:]],
                                 capture_output=True, text=True, timeout=120)
        assert deleted.returncode == 0 and '"events":1' in deleted.stdout, deleted.stdout + deleted.stderr
        r = requests.post(node.url + "/v1/track", auth=(WRITE_KEY, ""), json={"userId": "%", "event": "E", "messageId": "odd-back"})
        assert r.status_code == 200
        with node.db() as db:
            ids = sorted(m for (m,) in db.execute("SELECT message_id FROM events"))
        assert ids == ["odd-8", "odd-back"], ids
        listed = subprocess.run([*cli[:2], "list", *cli[2:]], capture_output=True, text=True, timeout=60)
        assert listed.stdout.count("regulationType") == 3 and "bulk-" not in listed.stdout
    finally:
        node.stop()
        bus.stop()
        throttled.stop()
