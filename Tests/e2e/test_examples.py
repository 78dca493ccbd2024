"""The seed scenarios as examples that run, `switchyard pattern test`, and the emulator as a bus.

Every example under Examples/ is run the way its README section says (`Examples/run.py`), with
the real RudderStack SDK sending and, for the stream, a boto3 consumer reading; its output must
match the expected one, ids and times aside."""
import http.server
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
import pytest

from conftest import BINARY, ROOT, free_port

EXAMPLES = sorted(p.parent.name for p in (ROOT / "Examples").glob("*/switchyard.yaml"))


def test_the_seed_scenarios_are_all_examples():
    assert EXAMPLES == ["agent-event-streams", "contact-lens-rules", "ilert-incidents", "order-lines"]


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_example_runs_and_matches_its_expected_output(example):
    done = subprocess.run([sys.executable, str(ROOT / "Examples" / "run.py"), example, "--binary", str(BINARY)],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "matches expected" in done.stdout
    assert "differs" not in done.stdout


def cli(*args, stdin=None):
    return subprocess.run([str(BINARY), *args], capture_output=True, text=True, input=stdin, timeout=30)


def write(path, value):
    path.write_text(json.dumps(value))
    return str(path)


ENVELOPE = {
    "version": "0", "id": "1", "detail-type": "Contact Lens Post Call Rules Matched", "source": "example.contact-lens",
    "account": "123456789012", "time": "2026-01-01T00:00:00Z", "region": "us-east-1", "resources": [],
    "detail": {"ruleName": "ACCOUNT_CANCELLATION", "customerSentiment": -3},
}


def test_pattern_test_answers_match_no_match_or_invalid_with_exit_codes(tmp_path):
    event = write(tmp_path / "event.json", ENVELOPE)
    matching = write(tmp_path / "p1.json", {"source": ["example.contact-lens"], "detail": {"customerSentiment": [{"numeric": ["<", 0]}]}})
    done = cli("pattern", "test", "--pattern", matching, "--event", event)
    assert (done.returncode, done.stdout.strip()) == (0, "match")

    other = write(tmp_path / "p2.json", {"source": ["example.contact-lens"], "detail": {"ruleName": [{"prefix": "NEGATIVE"}]}})
    done = cli("pattern", "test", "--pattern", other, "--event", event)
    assert (done.returncode, done.stdout.strip()) == (1, "no match: detail.ruleName did not match")

    # The pattern may come on standard input; one AWS refuses is named with AWS's reason.
    done = cli("pattern", "test", "--pattern", "-", "--event", event, stdin=json.dumps({"source": [{"Prefix": "example"}]}))
    assert (done.returncode, done.stdout.strip()) == (65, "invalid pattern: Unrecognized match type Prefix")


def test_pattern_test_through_a_destination_matches_the_entries_its_rules_make(tmp_path):
    config = str(ROOT / "Examples" / "contact-lens-rules" / "switchyard.yaml")
    pattern = write(tmp_path / "subscriber.json", {"source": ["example.contact-lens"], "detail-type": ["Contact Lens Post Call Rules Matched"]})
    upset_canceller = {"type": "track", "event": "Contact Analyzed", "userId": "c1",
                       "properties": {"categories": ["cancellation"], "customerSentiment": -3, "instanceArn": "arn:aws:connect:us-east-1:1:instance/i"}}
    done = cli("pattern", "test", "--pattern", pattern, "--event", write(tmp_path / "e1.json", upset_canceller),
               "--destination", "contact-lens-bus", "--config", config)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == ["match: rule ACCOUNT_CANCELLATION", "match: rule NEGATIVE_SENTIMENT"]

    happy = dict(upset_canceller, properties={"categories": ["compliment"], "customerSentiment": 4})
    done = cli("pattern", "test", "--pattern", pattern, "--event", write(tmp_path / "e2.json", happy),
               "--destination", "contact-lens-bus", "--config", config)
    assert done.returncode == 1
    assert "matches none of destination \"contact-lens-bus\"'s rules" in done.stdout

    # transform shows the entries themselves, one line per rule.
    done = cli("transform", "--destination", "contact-lens-bus", "--config", config, stdin=json.dumps(upset_canceller))
    assert done.returncode == 0, done.stderr
    entries = [json.loads(line) for line in done.stdout.splitlines()]
    assert [json.loads(e["Detail"])["ruleName"] for e in entries] == ["ACCOUNT_CANCELLATION", "NEGATIVE_SENTIMENT"]
    assert {e["DetailType"] for e in entries} == {"Contact Lens Post Call Rules Matched"}


class Hook(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_bus_rule_posts_what_it_matches_to_a_url_target(tmp_path):
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    rules = tmp_path / "rules.yaml"
    rules.write_text(f"""
rules:
  - name: webhook
    pattern: {{ detail-type: [Paid] }}
    target: {{ url: "http://127.0.0.1:{hook.server_address[1]}/events" }}
""")
    port = free_port()
    emulator = subprocess.Popen([str(BINARY), "emulate", "eventbridge", "--port", str(port), "--rules", str(rules)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                env=dict(os.environ, AWS_ACCESS_KEY_ID="quickstart", AWS_SECRET_ACCESS_KEY="quickstart-secret"))
    try:
        events = boto3.client("events", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                              aws_access_key_id="quickstart", aws_secret_access_key="quickstart-secret")
        for _ in range(50):
            try:
                answer = events.put_events(Entries=[
                    {"Source": "shop", "DetailType": "Paid", "Detail": json.dumps({"order": 1})},
                    {"Source": "shop", "DetailType": "Viewed", "Detail": json.dumps({"order": 2})},
                ])
                break
            except Exception:
                time.sleep(0.1)
        assert answer["FailedEntryCount"] == 0
        deadline = time.monotonic() + 10
        while not Hook.received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(Hook.received) == 1
        content_type, envelope = Hook.received[0]
        assert content_type == "application/json"
        assert envelope["detail-type"] == "Paid" and envelope["detail"] == {"order": 1}
        assert envelope["id"] == answer["Entries"][0]["EventId"]
    finally:
        emulator.terminate()
        emulator.wait(timeout=15)
        hook.shutdown()


def test_a_rule_eventbridge_would_refuse_stops_the_emulator_at_start(tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - name: upper\n    pattern: { source: [{ Prefix: a }] }\n    target: { file: out.jsonl }\n")
    done = cli("emulate", "eventbridge", "--port", str(free_port()), "--rules", str(rules))
    assert done.returncode == 78
    assert f"{rules}:3:14: rule \"upper\": invalid event pattern: Unrecognized match type Prefix" in done.stderr
