"""The live delivery log: SSE with filters and resume, stored queries, one event's story, dead
letters and replay, metrics, the CLI, admin-only access, and no secret anywhere in what it shows."""
import json
import socket
import subprocess
import threading
import time
import uuid

import requests

from conftest import ADMIN_TOKEN, BINARY, WRITE_KEY, Server
from test_emulator_and_delivery import CONFIG as DELIVERY_CONFIG, Emulator, wait_for

AWS_SECRET = "emulator-secret"
CONFIG = DELIVERY_CONFIG.replace("server: {{ host: 127.0.0.1, port: {port} }}",
                                 "server: {{ host: 127.0.0.1, port: {port}, adminToken: \"${{E2E_ADMIN_TOKEN}}\" }}") \
    .replace("delivery: {{ initialBackoff: 20ms, maxBackoff: 200ms, maxAttempts: 50, linger: 5ms }}",
             "delivery: {{ initialBackoff: 20ms, maxBackoff: 100ms, maxAttempts: 3, linger: 5ms }}")
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def start(tmp_path, emulator):
    server = Server(tmp_path, config_text=CONFIG.replace("EMULATOR_PORT", str(emulator.port)))
    server.env.update(AWS_ACCESS_KEY_ID="AKIDEMULATOR", AWS_SECRET_ACCESS_KEY=AWS_SECRET)
    return server.start()


def track(server, message_id, event="Order Completed", user="u1"):
    r = requests.post(server.url + "/v1/track", auth=(WRITE_KEY, ""), json={"userId": user, "event": event, "messageId": message_id})
    assert r.status_code == 200


class SSE:
    """Reads a server-sent event stream in a thread, keeping records, comments and notices."""

    def __init__(self, url, headers):
        self.records, self.comments, self.events = [], [], []
        self.response = requests.get(url, headers=headers, stream=True, timeout=30)
        assert self.response.status_code == 200, self.response.text
        assert self.response.headers["Content-Type"] == "text/event-stream"
        self.thread = threading.Thread(target=self.read, daemon=True)
        self.thread.start()

    def read(self):
        block = []
        try:
            for line in self.response.iter_lines(decode_unicode=True):
                if line:
                    block.append(line)
                    continue
                data = [l[6:] for l in block if l.startswith("data: ")]
                self.comments += [l for l in block if l.startswith(":")]
                if data:
                    record = json.loads("".join(data))
                    self.events.append(block)
                    self.records.append(record)
                block = []
        except Exception:
            pass

    def close(self):
        self.response.close()


def test_operator_endpoints_need_the_admin_token_and_a_write_key_does_not_open_them(tmp_path):
    emulator = Emulator(tmp_path)
    server = start(tmp_path, emulator)
    for path in ["/v1/live", "/v1/deliveries", "/v1/dead-letters", "/v1/summary", "/metrics", "/v1/events/x"]:
        for headers in [{}, {"Authorization": f"Bearer {WRITE_KEY}"}, {"Authorization": "Bearer wrong"}]:
            r = requests.get(server.url + path, headers=headers, timeout=5)
            assert r.status_code == 401, (path, headers, r.status_code)
            assert r.text == "admin token required (Authorization: Bearer <server.adminToken>)\n"
        r = requests.get(server.url + path, auth=(WRITE_KEY, ""), timeout=5)
        assert r.status_code == 401
    assert requests.post(server.url + "/v1/replay", auth=(WRITE_KEY, ""), timeout=5).status_code == 401
    assert requests.get(server.url + "/v1/summary", headers=AUTH, timeout=5).status_code == 200
    server.stop()
    emulator.stop()


def test_live_stream_filters_heartbeats_and_resumes_with_last_event_id(tmp_path):
    emulator = Emulator(tmp_path)
    server = start(tmp_path, emulator)
    everything = SSE(server.url + "/v1/live?heartbeat=1", AUTH)
    delivered = SSE(server.url + "/v1/live?status=succeeded&event=Paid&heartbeat=1", AUTH)
    ids = [str(uuid.uuid4()) for _ in range(6)]
    for i, m in enumerate(ids):
        track(server, m, event="Paid" if i % 2 else "Viewed")
    wait_for(lambda: len([r for r in everything.records if r["status"] == "succeeded"]) == 6, what="6 deliveries on the stream")
    time.sleep(1.5)
    assert any(c.startswith(": heartbeat") for c in everything.comments), "idle streams get heartbeats"
    # Filtered stream: only successful deliveries of "Paid".
    wait_for(lambda: len(delivered.records) == 3, what="3 filtered records")
    assert {r["messageId"] for r in delivered.records} == set(ids[1::2])
    assert all(r["status"] == "succeeded" and r["event"] == "Paid" and r["reference"] for r in delivered.records)
    # Each record's SSE id is its log id, increasing.
    seen = [r["id"] for r in everything.records]
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    kinds = {(r["messageId"], r["kind"]) for r in everything.records}
    assert all((m, k) in kinds for m in ids for k in ("received", "transformed", "attempt"))
    everything.close()
    delivered.close()

    # Resume: what happened while disconnected is sent first, once, in order.
    last = seen[-1]
    more = [str(uuid.uuid4()) for _ in range(3)]
    for m in more:
        track(server, m)
    wait_for(lambda: requests.get(server.url + "/v1/summary", headers=AUTH).json()["destinations"]["bus"]["delivered"] == 9, what="all delivered")
    resumed = SSE(server.url + "/v1/live?heartbeat=1", dict(AUTH, **{"Last-Event-ID": str(last)}))
    wait_for(lambda: len(resumed.records) >= 9, what="the missed records")
    got = [r["id"] for r in resumed.records]
    assert got == sorted(got) and got[0] == last + 1 and len(set(got)) == len(got)
    assert {r["messageId"] for r in resumed.records} == set(more)
    streamed = json.dumps(everything.records + delivered.records + resumed.records)
    for secret in (WRITE_KEY, AWS_SECRET, ADMIN_TOKEN):
        assert secret not in streamed
    resumed.close()
    server.stop()
    emulator.stop()


def test_queries_story_dead_letters_replay_and_the_cli(tmp_path):
    emulator = Emulator(tmp_path, "--throttle-rate", "1")   # everything throttled: 3 attempts, then dead
    server = start(tmp_path, emulator)
    ids = [str(uuid.uuid4()) for _ in range(4)]
    for m in ids:
        track(server, m, user="alice")
    wait_for(lambda: len(requests.get(server.url + "/v1/dead-letters", headers=AUTH).json()["deadLetters"]) == 4, what="4 dead letters")

    letters = requests.get(server.url + "/v1/dead-letters?destination=bus&errorCode=ThrottlingException", headers=AUTH).json()["deadLetters"]
    assert {l["messageId"] for l in letters} == set(ids)
    assert all(l["attempts"] == 3 and l["reason"].startswith("ThrottlingException") and l["reason"].endswith("(gave up after 3 attempts)") for l in letters)

    story = requests.get(server.url + f"/v1/events/{ids[0]}", headers=AUTH).json()
    assert story["event"]["messageId"] == ids[0] and story["source"] == "web"
    assert story["jobs"] == [{"destination": "bus", "state": "dead", "attempts": 3, "lastError": letters[0]["reason"] if letters[0]["messageId"] == ids[0] else story["jobs"][0]["lastError"]}]
    entry = next(r for r in story["records"] if r["kind"] == "transformed")["detail"]
    assert entry["DetailType"] == "Order Completed" and json.loads(entry["Detail"])["messageId"] == ids[0]
    attempts = [r for r in story["records"] if r["kind"] == "attempt"]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert [a["status"] for a in attempts] == ["failed", "failed", "dead"]
    assert all(a["errorCode"] == "ThrottlingException" and a["batchId"] and a["requestId"] for a in attempts)
    assert attempts[0]["nextRetryAt"]

    page = requests.get(server.url + "/v1/deliveries?userId=alice&kind=attempt&limit=5", headers=AUTH).json()
    assert len(page["records"]) == 5 and "next" in page
    older = requests.get(server.url + f"/v1/deliveries?userId=alice&kind=attempt&limit=50&before={page['next']}", headers=AUTH).json()
    assert len(older["records"]) == 7 and all(r["id"] < int(page["next"]) for r in older["records"])

    env = dict(server.env, SWITCHYARD_ADMIN_TOKEN=ADMIN_TOKEN)
    cli = lambda *args: subprocess.run([str(BINARY), *args, "--url", server.url], capture_output=True, text=True, env=env, timeout=30)
    listed = cli("dead-letters", "list", "--destination", "bus")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip().splitlines()[-1] == "4 dead letters"
    assert all(m in listed.stdout for m in ids)
    queried = cli("deliveries", "--status", "dead", "--json")
    assert {r["messageId"] for r in json.loads(queried.stdout)["records"]} == set(ids)
    denied = subprocess.run([str(BINARY), "deliveries", "--url", server.url, "--token", "wrong"], capture_output=True, text=True, timeout=30)
    assert denied.returncode == 77 and "admin token required" in denied.stderr

    # Fix the destination (a healthy emulator on the same port), then replay two of them by id.
    emulator.stop()
    healthy = Emulator.__new__(Emulator)
    healthy.port, healthy.events_path = emulator.port, tmp_path / "healthy.jsonl"
    healthy.process = subprocess.Popen([str(BINARY), "emulate", "eventbridge", "--port", str(emulator.port), "--events-out", str(healthy.events_path),
                                        "--access-key-id", "AKIDEMULATOR", "--secret-access-key", AWS_SECRET], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: requests.get(f"http://127.0.0.1:{emulator.port}/health").ok if _up(emulator.port) else False, what="healthy emulator")
    tail = subprocess.Popen([str(BINARY), "tail", "--url", server.url, "--json", "--status", "succeeded", "--count", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(0.5)
    replayed = cli("replay", "--message-id", ids[0], "--message-id", ids[1])
    assert replayed.returncode == 0 and replayed.stdout.strip() == "replayed 2", replayed.stderr
    out, err = tail.communicate(timeout=20)
    tailed = [json.loads(line) for line in out.splitlines()]
    assert {r["messageId"] for r in tailed} == set(ids[:2]) and all(r["attempt"] == 1 for r in tailed)
    wait_for(lambda: len(healthy.envelopes()) == 2, what="replayed events delivered")
    story = requests.get(server.url + f"/v1/events/{ids[0]}", headers=AUTH).json()
    kinds = [r["kind"] for r in story["records"]]
    assert kinds[-3:] == ["replayed", "transformed", "attempt"] and story["jobs"][0]["state"] == "succeeded"
    assert len(requests.get(server.url + "/v1/dead-letters", headers=AUTH).json()["deadLetters"]) == 2
    assert cli("replay").returncode != 0, "replay without a selector refuses"

    # Metrics and the summary agree.
    metrics = requests.get(server.url + "/metrics", headers=AUTH).text
    assert 'switchyard_events_received_total{source="web"} 4' in metrics
    assert 'switchyard_dead_letters_total{destination="bus"} 4' in metrics
    assert 'switchyard_deliveries_total{destination="bus",outcome="succeeded"} 2' in metrics
    assert 'switchyard_queue_depth{destination="bus"} 0' in metrics
    assert "switchyard_putevents_duration_seconds_bucket" in metrics
    summary = requests.get(server.url + "/v1/summary", headers=AUTH).json()
    assert summary["received"] == {"web": 4}
    assert summary["destinations"]["bus"]["delivered"] == 2 and summary["destinations"]["bus"]["deadLettered"] == 4

    # Nothing shown anywhere carries a secret.
    shown = [server.log(), metrics, json.dumps(summary), listed.stdout, queried.stdout, out, err,
             requests.get(server.url + "/v1/deliveries?limit=1000", headers=AUTH).text,
             requests.get(server.url + "/live").text]
    for secret in (WRITE_KEY, AWS_SECRET, ADMIN_TOKEN):
        for text in shown:
            assert secret not in text
    server.stop()
    healthy.stop()


def _up(port):
    try:
        requests.get(f"http://127.0.0.1:{port}/health", timeout=1)
        return True
    except requests.ConnectionError:
        return False


def test_a_live_reader_too_slow_to_keep_up_is_told_how_many_records_it_missed(tmp_path):
    emulator = Emulator(tmp_path)
    server = start(tmp_path, emulator)
    # A reader that does not read: its socket's buffers fill, and the server must drop records
    # for it (memory stays bounded), but never silently.
    reader = socket.socket()
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reader.connect(("127.0.0.1", server.port))
    reader.sendall(f"GET /v1/live?kind=received&heartbeat=300 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\r\n".encode())
    time.sleep(0.3)
    total = 0
    for _ in range(40):
        batch = [{"type": "track", "userId": "u", "event": "E", "messageId": str(uuid.uuid4()),
                  "properties": {"padding": "x" * 400}} for _ in range(500)]
        assert requests.post(server.url + "/v1/batch", auth=(WRITE_KEY, ""), json={"batch": batch}).status_code == 200
        total += len(batch)
    time.sleep(1)
    reader.settimeout(2)
    data = b""
    try:
        while chunk := reader.recv(1 << 20):
            data += chunk
    except socket.timeout:
        pass
    reader.close()
    text = data.decode(errors="replace")
    seen = text.count("\nid: ") + text.startswith("id: ")
    dropped = sum(json.loads(line[len("data: "):])["dropped"] for line in text.splitlines()
                  if line.startswith("data: ") and '"dropped"' in line)
    assert dropped > 0, f"the reader was slow enough to miss records (saw {seen} of {total})"
    assert seen + dropped == total, f"{seen} sent + {dropped} reported dropped != {total}"
    server.stop()
    emulator.stop()


def test_tail_says_when_the_server_ends_the_stream_and_where_to_resume(tmp_path):
    emulator = Emulator(tmp_path)
    server = start(tmp_path, emulator)
    env = dict(server.env, SWITCHYARD_ADMIN_TOKEN=ADMIN_TOKEN)
    tail = subprocess.Popen([str(BINARY), "tail", "--url", server.url, "--json", "--status", "received"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(0.5)
    track(server, str(uuid.uuid4()))
    received = lambda: requests.get(server.url + "/v1/deliveries?status=received", headers=AUTH).json()["records"]
    wait_for(lambda: len(received()) == 1, what="the event's record")
    last = received()[0]["id"]
    time.sleep(0.3)
    server.stop()
    out, err = tail.communicate(timeout=20)
    # Before, tail exited 0 here: a script following the log could not tell it had stopped.
    assert tail.returncode == 69, err
    assert f"the server ended the live stream (did it stop?); resume with --after {last}" in err
    assert len(out.splitlines()) == 1
    emulator.stop()
