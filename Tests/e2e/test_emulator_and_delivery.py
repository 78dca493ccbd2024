"""The quickstart path (the embedded emulator, no AWS account), graceful shutdown with sends in
flight, refusing to start without credentials, and `switchyard transform`."""
import collections
import json
import os
import signal
import subprocess
import time
import uuid

import requests
from rudderstack.analytics.client import Client as RudderClient

from conftest import BINARY, WRITE_KEY, Server, free_port

CONFIG = """
server: {{ host: 127.0.0.1, port: {port} }}
storage: {{ path: {storage}, sync: {sync} }}
sources:
  - {{ name: web, writeKeys: ["${{E2E_WEB_KEY}}"] }}
destinations:
  - name: bus
    type: eventbridge
    config:
      region: us-east-1
      eventBusName: orders
      detailType: "{{{{ event | \\"unknown\\" }}}}"
      endpoint: http://127.0.0.1:EMULATOR_PORT
      includeTime: true
    delivery: {{ initialBackoff: 20ms, maxBackoff: 200ms, maxAttempts: 50, linger: 5ms }}
connections:
  - {{ from: web, to: [bus] }}
"""


class Emulator:
    def __init__(self, workdir, *args, env=None):
        self.port = free_port()
        self.events_path = workdir / f"events-{self.port}.jsonl"
        self.process = subprocess.Popen(
            [str(BINARY), "emulate", "eventbridge", "--port", str(self.port), "--events-out", str(self.events_path),
             "--access-key-id", "AKIDEMULATOR", "--secret-access-key", "emulator-secret", *args],
            stdout=open(workdir / f"emulator-{self.port}.log", "ab"), stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/health", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("emulator did not start")

    def envelopes(self):
        """Every complete line so far. The emulator may be writing the last one while we read (a
        request's lines can take more than one write), so text after the final newline waits for
        the next read."""
        if not self.events_path.exists():
            return []
        complete = self.events_path.read_text().split("\n")[:-1]
        return [json.loads(line) for line in complete if line]

    def stop(self):
        self.process.terminate()
        self.process.wait(10)


def start_server(tmp_path, emulator, secret="emulator-secret", extra_env=None, config=CONFIG):
    server = Server(tmp_path, config_text=config.replace("EMULATOR_PORT", str(emulator.port)))
    server.env.update(AWS_ACCESS_KEY_ID="AKIDEMULATOR", AWS_SECRET_ACCESS_KEY=secret)
    server.env.update(extra_env or {})
    return server.start()


def wait_for(predicate, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def states(server):
    with server.db() as db:
        return dict(db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall())


def test_quickstart_path_credentials_from_the_environment_and_target_envelopes(tmp_path):
    emulator = Emulator(tmp_path)
    server = start_server(tmp_path, emulator)
    client = RudderClient(write_key=WRITE_KEY, host=server.url)
    sent = []
    for i in range(25):
        ok, msg = client.track(user_id="u", event="Order Completed", properties={"n": i}, timestamp=None)
        sent.append(msg["messageId"])
    ok, msg = client.identify(user_id="u", traits={"x": 1})
    sent.append(msg["messageId"])
    client.flush()
    client.join()
    wait_for(lambda: len(emulator.envelopes()) >= len(sent), what="delivery to the emulator")
    envelopes = emulator.envelopes()
    assert sorted(e["detail"]["messageId"] for e in envelopes) == sorted(sent)
    for env in envelopes:
        assert set(env) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
        assert env["source"] == "rudderstack" and env["region"] == "us-east-1" and env["resources"] == []
        assert env["detail-type"] == env["detail"].get("event", "unknown")
        assert env["time"] == env["detail"]["timestamp"][:19] + "Z", "Time comes from the event's timestamp"
    assert "credentials=the environment (AWS_ACCESS_KEY_ID)" in server.log()
    server.stop()
    emulator.stop()


def test_throttling_and_errors_from_the_emulator_are_retried_to_exactly_once(tmp_path):
    emulator = Emulator(tmp_path, "--throttle-rate", "0.4", "--error-rate", "0.3")
    server = start_server(tmp_path, emulator)
    ids = [str(uuid.uuid4()) for _ in range(100)]
    for i in range(0, 100, 25):
        batch = [{"type": "track", "userId": "u", "event": "E", "messageId": m} for m in ids[i:i + 25]]
        assert requests.post(server.url + "/v1/batch", auth=(WRITE_KEY, ""), json={"batch": batch}).status_code == 200
    wait_for(lambda: states(server).get("succeeded") == 100, timeout=60, what="all delivered")
    counts = collections.Counter(e["detail"]["messageId"] for e in emulator.envelopes())
    assert sorted(counts) == sorted(ids) and set(counts.values()) == {1}
    with server.db() as db:
        retried, errors = db.execute("SELECT COUNT(*), GROUP_CONCAT(DISTINCT substr(last_error, 1, 19)) FROM jobs WHERE attempts > 1").fetchone()
    assert retried > 0
    assert "ThrottlingException" in errors or "InternalException" in errors
    server.stop()
    emulator.stop()


def test_sigterm_with_sends_in_flight_loses_nothing(tmp_path):
    emulator = Emulator(tmp_path, "--latency-ms", "400")
    server = start_server(tmp_path, emulator)
    ids = [str(uuid.uuid4()) for _ in range(80)]
    batch = [{"type": "track", "userId": "u", "event": "E", "messageId": m} for m in ids]
    assert requests.post(server.url + "/v1/batch", auth=(WRITE_KEY, ""), json={"batch": batch}).status_code == 200
    time.sleep(0.2)  # sends are now waiting on the slow emulator
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(20) == 0
    assert time.monotonic() - started < 10, "stops within the grace period"
    in_flight_after_stop = states(server).get("in_flight", 0)
    assert in_flight_after_stop == 0, "in-flight sends finished or were released"
    server.start()
    wait_for(lambda: states(server).get("succeeded") == 80, what="the rest delivered after restart")
    counts = collections.Counter(e["detail"]["messageId"] for e in emulator.envelopes())
    assert sorted(counts) == sorted(ids) and set(counts.values()) == {1}
    server.stop()
    emulator.stop()


def test_a_destination_that_is_down_does_not_slow_ingestion(tmp_path):
    emulator = Emulator(tmp_path)
    emulator.stop()  # nothing listens on its port now
    server = start_server(tmp_path, emulator)
    started = time.monotonic()
    for i in range(50):
        assert requests.post(server.url + "/v1/track", auth=(WRITE_KEY, ""), json={"userId": "u", "event": "E"}).status_code == 200
    assert time.monotonic() - started < 10
    wait_for(lambda: states(server).get("failed", 0) > 0, what="retries scheduled")
    with server.db() as db:
        error = db.execute("SELECT last_error FROM jobs WHERE state = 'failed' LIMIT 1").fetchone()[0]
    assert error.startswith("ConnectionError")
    server.stop()


def test_serve_refuses_to_start_without_credentials_naming_the_destination(tmp_path):
    server = Server(tmp_path, config_text=CONFIG.replace("EMULATOR_PORT", "4999"))
    env = {k: v for k, v in server.env.items() if not k.startswith("AWS_")}
    env["HOME"] = str(tmp_path)  # no ~/.aws here
    result = subprocess.run([str(BINARY), "serve", "--config", str(server.config_path)], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert 'destination "bus": no AWS credentials found; tried its configuration' in result.stderr
    for step in ("the environment", "web identity", 'profile "default"', "container credentials", "instance metadata"):
        assert step in result.stderr, f"names what it tried: {step}"


def test_credentials_from_a_shared_profile(tmp_path):
    emulator = Emulator(tmp_path)
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text(
        "[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n\n"
        "[ci]\naws_access_key_id = AKIDEMULATOR\naws_secret_access_key = emulator-secret\n")
    server = Server(tmp_path, config_text=CONFIG.replace("EMULATOR_PORT", str(emulator.port)))
    for k in [k for k in server.env if k.startswith("AWS_")]:
        del server.env[k]
    server.env.update(HOME=str(tmp_path), AWS_PROFILE="ci")
    server.start()
    assert requests.post(server.url + "/v1/track", auth=(WRITE_KEY, ""), json={"userId": "u", "event": "E", "messageId": "p1"}).status_code == 200
    wait_for(lambda: len(emulator.envelopes()) == 1, what="delivery with profile credentials")
    assert "credentials=profile ci" in server.log()
    server.stop()
    emulator.stop()


def test_transform_prints_the_entry_or_the_reason(tmp_path):
    server = Server(tmp_path, config_text=CONFIG.replace("EMULATOR_PORT", "4999"))
    run = lambda event: subprocess.run([str(BINARY), "transform", "--config", str(server.config_path), "--destination", "bus"],
                                       input=json.dumps(event), capture_output=True, text=True, env=server.env, timeout=30)
    ok = run({"type": "track", "event": "Order Completed", "userId": "u", "timestamp": "2024-01-02T03:04:05.000Z"})
    assert ok.returncode == 0, ok.stderr
    entry = json.loads(ok.stdout)
    assert entry == {"DetailType": "Order Completed", "Detail": json.dumps({"type": "track", "event": "Order Completed", "userId": "u", "timestamp": "2024-01-02T03:04:05.000Z"}, separators=(",", ":")),
                     "EventBusName": "orders", "Resources": [], "Source": "rudderstack", "Time": 1704164645}
    too_long = run({"type": "track", "event": "x" * 200, "userId": "u"})
    assert too_long.returncode == 1
    assert too_long.stdout.startswith("dropped: InvalidArgument: DetailType is 200 characters, EventBridge allows 128")


def test_a_destination_that_is_down_does_not_hold_up_another(tmp_path):
    emulator = Emulator(tmp_path)
    text = CONFIG.replace("EMULATOR_PORT", str(emulator.port)).replace("""connections:
  - {{ from: web, to: [bus] }}""", """  - name: down
    type: eventbridge
    config: {{ region: us-east-1, detailType: x, endpoint: "http://127.0.0.1:9" }}
connections:
  - {{ from: web, to: [bus, down] }}""")
    server = Server(tmp_path, config_text=text)
    server.env.update(AWS_ACCESS_KEY_ID="AKIDEMULATOR", AWS_SECRET_ACCESS_KEY="emulator-secret")
    server.start()
    ids = [str(uuid.uuid4()) for _ in range(40)]
    for m in ids:
        assert requests.post(server.url + "/v1/track", auth=(WRITE_KEY, ""), json={"userId": "u", "event": "E", "messageId": m}).status_code == 200
    wait_for(lambda: len(emulator.envelopes()) == 40, timeout=15, what="the healthy destination to get everything")
    with server.db() as db:
        down = dict(db.execute("SELECT state, COUNT(*) FROM jobs WHERE destination = 'down' GROUP BY state").fetchall())
    assert "succeeded" not in down and sum(down.values()) == 40
    server.stop()
    emulator.stop()


def test_the_readme_quickstart_delivers_a_track_and_an_identify(tmp_path):
    """README command 1 as a newcomer runs it (on free ports): the emulator writes under
    .switchyard/, serve takes the embedded configuration, and both messages reach the bus."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    emulator_port, server_port = free_port(), free_port()
    emulator = subprocess.Popen([str(BINARY), "emulate", "eventbridge", "--port", str(emulator_port),
                                 "--events-out", ".switchyard/emulator-events.jsonl"],
                                cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    env.update(SWITCHYARD_PORT=str(server_port), EVENTBRIDGE_ENDPOINT=f"http://127.0.0.1:{emulator_port}")
    server = subprocess.Popen([str(BINARY), "serve"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{server_port}"
    try:
        wait_for(lambda: _healthy(url) and _healthy(f"http://127.0.0.1:{emulator_port}"), timeout=20, what="quickstart up")
        r = requests.post(url + "/v1/track", auth=("dev-write-key", ""), json={"userId": "u1", "event": "Order Completed", "properties": {"total": 42}})
        assert (r.status_code, r.text) == (200, "ok\n")
        r = requests.post(url + "/v1/identify", auth=("dev-write-key", ""), data='{"userId":"u1","traits":{"email":"u1@example.com"}}')
        assert (r.status_code, r.text) == (200, "ok\n")
        out = tmp_path / ".switchyard" / "emulator-events.jsonl"
        wait_for(lambda: out.exists() and out.read_text().count("\n") >= 2, what="both envelopes")
        envelopes = [json.loads(line) for line in out.read_text().splitlines()]
        assert sorted(e["detail-type"] for e in envelopes) == ["Order Completed", "identify"]
        assert {e["detail"]["userId"] for e in envelopes} == {"u1"}
        assert not (tmp_path / "events.jsonl").exists()
    finally:
        server.send_signal(signal.SIGTERM)
        log = server.communicate(timeout=20)[0]
        emulator.terminate()
        emulator.wait(10)
    assert server.returncode == 0, log
    assert "detailType \"{{ event }}\" renders empty for identify, page, screen, group, alias events" in log, "serve notes the warning"


def _healthy(url):
    try:
        return requests.get(url + "/health", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False
