"""Replays in the running server, with RudderStack's Python SDK as the client and moto's
EventBridge (signatures checked) as the destination, added after the events arrived: exactly the
chosen range's events reach the bus, marked with the replay's name; a second replay of the range is
refused unless forced; a cancelled replay stops; a server restarted in the middle of a replay
resumes it without sending anything twice; a deleted user is gone from every archive file and from
a replay of their range; the CLI drives it all."""
import gzip
import json
import subprocess
import time
from datetime import datetime, timezone

import pytest
import requests
from rudderstack.analytics.client import Client as RudderClient

from conftest import ADMIN_TOKEN, BINARY, WRITE_KEY, Server, free_port
from moto_harness import Moto

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

BASE = """
server: {{ host: 127.0.0.1, port: {port}, adminToken: "${{E2E_ADMIN_TOKEN}}" }}
storage: {{ path: {storage}, sync: {sync} }}
archive: {{ path: ARCHIVE, interval: 200ms }}
sources:
  - {{ name: web, writeKeys: ["${{E2E_WEB_KEY}}"] }}
connections: []
"""

LATE_BUS = """
destinations:
  - name: late-bus
    type: eventbridge
    config: {{ region: us-east-1, accessKeyID: "${{MOTO_KEY_ID}}", accessKey: "${{MOTO_SECRET}}", eventBusName: BUS, detailType: "{{{{ event }}}}", endpoint: ENDPOINT }}
    delivery: {{ initialBackoff: 50ms, maxBackoff: 400ms, maxAttempts: 30 }}
"""


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    m = Moto(tmp_path_factory.mktemp("moto"), free_port())
    yield m
    m.stop()


def now():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def configure(server, moto=None, bus=None):
    """The server's configuration: the archive, and the late bus once it is added."""
    text = BASE.replace("ARCHIVE", str(server.workdir / "archive"))
    if moto:
        text += LATE_BUS.replace("BUS", bus).replace("ENDPOINT", moto.url)
        server.env.update(MOTO_KEY_ID=moto.switchyard_key[0], MOTO_SECRET=moto.switchyard_key[1])
    server.config_path.write_text(text.format(port=server.port, storage=server.storage, sync="normal"))


def send(server, tag, count, users=None):
    client = RudderClient(write_key=WRITE_KEY, host=server.url, sync_mode=True)
    for n in range(count):
        client.track(user_id=(users[n % len(users)] if users else f"user-{n}"), event=f"{tag} {n}", properties={"n": n})


def archived_ids(server):
    ids = []
    for path in (server.workdir / "archive").rglob("*.ndjson.gz"):
        ids += [json.loads(line)["messageId"] for line in gzip.decompress(path.read_bytes()).decode().splitlines()]
    return ids


def wait(condition, timeout=60, what="the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def replay(server, name):
    answer = requests.get(f"{server.url}/v1/replays/{name}", headers=AUTH, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def start_replay(server, **body):
    return requests.post(server.url + "/v1/replays", headers=AUTH, json=body, timeout=10)


def finished(server, name, timeout=60):
    return wait(lambda: (r := replay(server, name))["state"] in ("COMPLETED", "CANCELLED", "FAILED") and r, timeout, f"replay {name}")


def started_server(tmp_path):
    server = Server(tmp_path, config_text=BASE)
    configure(server)
    return server.start()


def started_with_bus(tmp_path, moto):
    """A server with the archive and the late bus from the start: the server and the bus's queue."""
    bus, _, queue = moto.bus_with_queue()
    server = Server(tmp_path, config_text=BASE)
    configure(server, moto, bus)
    return server.start(), queue


def test_a_range_replayed_to_a_destination_added_afterwards_arrives_once_and_marked(tmp_path, moto):
    server = started_server(tmp_path)
    try:
        send(server, "Before", 5)
        time.sleep(0.05)
        start = now()
        time.sleep(0.05)
        send(server, "Chosen", 12)
        time.sleep(0.05)
        end = now()
        time.sleep(0.05)
        send(server, "After", 5)
        stored = server.events()
        chosen = {e["message_id"] for e in stored if e["name"].startswith("Chosen")}
        wait(lambda: {e["message_id"] for e in stored} <= set(archived_ids(server)), what="the archive")
    finally:
        server.stop()

    bus, _, queue = moto.bus_with_queue()
    configure(server, moto, bus)
    server.start()
    try:
        answer = start_replay(server, name="chosen", **{"from": start, "to": end}, destinations=["late-bus"])
        assert answer.status_code == 201, answer.text
        assert answer.json()["state"] == "STARTING"
        done = finished(server, "chosen")
        assert done["state"] == "COMPLETED", done
        assert done["progress"]["eventsSent"] == 12 and done["progress"]["filesDone"] == done["progress"]["filesTotal"] >= 1
        envelopes = moto.drain_queue(queue, 12)
        assert sorted(e["detail"]["messageId"] for e in envelopes) == sorted(chosen), "exactly the range, once each"
        assert all(e["detail"]["context"]["replay"]["name"] == "chosen" for e in envelopes)
        assert all(e["detail-type"].startswith("Chosen") for e in envelopes)

        # The same range again is refused, unless asked for.
        again = start_replay(server, name="chosen-again", **{"from": start, "to": end}, destinations=["late-bus"])
        assert again.status_code == 409 and "force" in again.text, again.text
        assert start_replay(server, name="chosen", **{"from": start, "to": end}, destinations=["late-bus"]).status_code == 409
        bad = start_replay(server, name="x", **{"from": end, "to": start}, destinations=["late-bus"])
        assert bad.status_code == 400 and "before" in bad.text
        unknown = start_replay(server, name="x", **{"from": start, "to": end}, destinations=["nowhere"])
        assert unknown.status_code == 400 and "nowhere" in unknown.text

        # The live log shows the replayed records under the replay's source.
        log = requests.get(server.url + "/v1/deliveries", headers=AUTH, params={"source": "replay:chosen", "limit": 100}, timeout=10).json()
        assert log["records"] and all(r["source"] == "replay:chosen" for r in log["records"])
        metrics = requests.get(server.url + "/metrics", headers=AUTH, timeout=10).text
        assert 'switchyard_replay_events_total{replay="chosen"} 12' in metrics
    finally:
        server.stop()


def test_cancel_stops_a_replay_and_a_restart_resumes_one_without_sending_twice(tmp_path, moto):
    server, queue = started_with_bus(tmp_path, moto)
    try:
        start = now()
        send(server, "Slow", 40)
        stored = {e["message_id"] for e in server.events()}
        wait(lambda: stored <= set(archived_ids(server)), what="the archive")
        end = now()

        # A slow replay, stopped by a graceful restart halfway and resumed by the next start.
        cli = [str(BINARY), "replays", "--url", server.url, "--token", ADMIN_TOKEN]
        started = subprocess.run([*cli[:2], "start", "resumed", "--from", start, "--to", end, "--destination", "late-bus", "--rate", "8",
                                  *cli[2:]], capture_output=True, text=True, timeout=30)
        assert started.returncode == 0, started.stderr
        wait(lambda: replay(server, "resumed")["progress"]["eventsSent"] >= 8, what="a part of the replay")
        server.stop()
        halfway = None
        server.start()
        halfway = replay(server, "resumed")
        assert halfway["state"] == "RUNNING" and 8 <= halfway["progress"]["eventsSent"] < 40, halfway
        done = finished(server, "resumed")
        assert done["state"] == "COMPLETED" and done["progress"]["eventsSent"] == 40, done
        envelopes = moto.drain_queue(queue, 40)
        ids = [e["detail"]["messageId"] for e in envelopes]
        assert len(ids) == 40 and set(ids) == stored, "every event once, across the restart"

        # A cancelled replay stops where it is.
        answer = start_replay(server, name="cancelled", **{"from": start, "to": end}, destinations=["late-bus"], rate=4, force=True)
        assert answer.status_code == 201, answer.text
        wait(lambda: replay(server, "cancelled")["progress"]["eventsSent"] >= 4, what="a part of the replay")
        cancel = subprocess.run([*cli[:2], "cancel", "cancelled", *cli[2:]], capture_output=True, text=True, timeout=30)
        assert cancel.returncode == 0 and json.loads(cancel.stdout)["state"] in ("CANCELLING", "CANCELLED"), cancel.stdout + cancel.stderr
        done = finished(server, "cancelled")
        assert done["state"] == "CANCELLED" and done["progress"]["eventsSent"] < 40, done
        sent = done["progress"]["eventsSent"]
        assert len(moto.drain_queue(queue, sent)) == sent
        assert requests.delete(server.url + "/v1/replays/cancelled", headers=AUTH, timeout=10).status_code == 409

        listed = subprocess.run([*cli[:2], "list", *cli[2:]], capture_output=True, text=True, timeout=30)
        assert [json.loads(line)["name"] for line in listed.stdout.splitlines()] == ["resumed", "cancelled"]
    finally:
        server.stop()


def test_a_deleted_user_is_gone_from_the_archive_and_from_a_replay(tmp_path, moto):
    server, queue = started_with_bus(tmp_path, moto)
    try:
        start = now()
        send(server, "Mixed", 20, users=["kept-user", "gone-user"])
        stored = {e["message_id"] for e in server.events()}
        wait(lambda: stored <= set(archived_ids(server)), what="the archive")
        end = now()
        answer = requests.post(server.url + "/v1/regulations", headers=AUTH, timeout=10, json={
            "regulationType": "DELETE_INTERNAL", "subjectType": "USER_ID", "subjectIds": ["gone-user"]})
        assert answer.status_code == 200, answer.text
        regulation = answer.json()["data"]["regulateId"]
        wait(lambda: requests.get(f"{server.url}/v1/regulations/{regulation}", headers=AUTH, timeout=10)
             .json()["data"]["regulation"]["overallStatus"] == "FINISHED", timeout=90, what="the deletion")
        lines = [json.loads(line) for path in (server.workdir / "archive").rglob("*.ndjson.gz")
                 for line in gzip.decompress(path.read_bytes()).decode().splitlines()]
        assert len(lines) == 10 and {line["userId"] for line in lines} == {"kept-user"}
        for path in (server.workdir / "archive").rglob("*.manifest.json"):
            manifest = json.loads(path.read_text())
            data = (server.workdir / "archive" / manifest["file"]).read_bytes()
            assert manifest["count"] == len(gzip.decompress(data).decode().splitlines())
        assert b"gone-user" not in b"".join(p.read_bytes() for p in (server.workdir / "archive").rglob("*") if p.is_file()
                                            and p.suffix == ".json")

        answer = start_replay(server, name="after-deletion", **{"from": start, "to": end}, destinations=["late-bus"])
        assert answer.status_code == 201, answer.text
        assert finished(server, "after-deletion")["progress"]["eventsSent"] == 10
        envelopes = moto.drain_queue(queue, 10)
        assert len(envelopes) == 10 and {e["detail"]["userId"] for e in envelopes} == {"kept-user"}
    finally:
        server.stop()
