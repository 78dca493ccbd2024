"""Consent and field-level privacy per destination, with the real clients' payload shapes: what moto's
EventBridge receives, what the log says about destinations left out, and what is stored."""
import hashlib
import json
import subprocess
import time

import pytest
import requests
from rudderstack.analytics.client import Client as RudderClient
from segment.analytics.client import Client as SegmentClient

from conftest import ADMIN_TOKEN, BINARY, SEGMENT_KEY, WRITE_KEY, Server, free_port
from moto_harness import Moto

SALT = "e2e-privacy-salt-4c19"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

CONFIG = """
server: {{ host: 127.0.0.1, port: {port}, adminToken: "${{E2E_ADMIN_TOKEN}}" }}
storage: {{ path: {storage}, sync: {sync} }}
sources:
  - {{ name: web, writeKeys: ["${{E2E_WEB_KEY}}"] }}
  - {{ name: server, writeKeys: ["${{E2E_SEGMENT_KEY}}"], privacy: {{ anonymizeIP: true }} }}
destinations:
  - name: ads-bus
    type: eventbridge
    config:
      region: us-east-1
      accessKeyID: ${{MOTO_KEY_ID}}
      accessKey: ${{MOTO_SECRET}}
      eventBusName: {bus}
      detailType: ads
      endpoint: {endpoint}
    delivery: {{ initialBackoff: 50ms, maxBackoff: 400ms, maxAttempts: 30 }}
    consent:
      categories: [Advertising]
      consentManagement:
        - {{ provider: custom, resolutionStrategy: and, consents: [{{ consent: C0004 }}] }}
    privacy:
      dropProperties: [phone]
      hash: [userId, properties.email, traits.email, context.traits.email]
      salt: ${{PRIVACY_SALT}}
      anonymizeIP: true
  - name: all-bus
    type: eventbridge
    config:
      region: us-east-1
      accessKeyID: ${{MOTO_KEY_ID}}
      accessKey: ${{MOTO_SECRET}}
      eventBusName: {bus}
      detailType: all
      endpoint: {endpoint}
    delivery: {{ initialBackoff: 50ms, maxBackoff: 400ms, maxAttempts: 30 }}
connections:
  - {{ from: web, to: [ads-bus, all-bus] }}
  - {{ from: server, to: [ads-bus, all-bus] }}
"""


def sha(value):
    return hashlib.sha256((value + SALT).encode()).hexdigest()


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    m = Moto(tmp_path_factory.mktemp("moto"), free_port())
    yield m
    m.stop()


def start(tmp_path, moto, bus):
    server = Server(tmp_path, config_text=CONFIG.replace("{bus}", bus).replace("{endpoint}", moto.url))
    server.env.update(MOTO_KEY_ID=moto.switchyard_key[0], MOTO_SECRET=moto.switchyard_key[1], PRIVACY_SALT=SALT)
    return server.start()


def wait_settled(server, count, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with server.db() as db:
            if db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'succeeded'").fetchone()[0] >= count:
                return
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} jobs delivered:\n{server.log()[-3000:]}")


def rudder_consent(strategy, denied, allowed=()):
    return {"consentManagement": {"provider": "custom", "resolutionStrategy": strategy,
                                  "allowedConsentIds": list(allowed), "deniedConsentIds": list(denied)}}


def segment_consent(preferences):
    return {"consent": {"categoryPreferences": preferences}}


def send(server):
    """Events with both SDKs' consent shapes; returns {name: messageId} and the names ads-bus may get."""
    rudder = RudderClient(write_key=WRITE_KEY, host=server.url)
    segment = SegmentClient(write_key=SEGMENT_KEY, host=server.url)
    sent, admitted = {}, set()

    def track(client, name, context, ok):
        _, msg = client.track(user_id=f"user-{name}", event=name, context=context,
                              properties={"email": f"{name}@example.com", "phone": "555", "total": 3})
        sent[name] = msg["messageId"]
        if ok:
            admitted.add(name)

    # RudderStack: the destination's `and` decides for provider custom, whatever the event says.
    track(rudder, "r-denied", rudder_consent("or", ["C0004"], ["C0001"]), False)
    track(rudder, "r-other-denied", rudder_consent("and", ["C0002"], ["C0004"]), True)
    track(rudder, "r-none", {}, True)
    # Segment: the category must be true; an empty object means every category is false.
    track(segment, "s-granted", {**segment_consent({"Advertising": True}), "ip": "203.0.113.77"}, True)
    track(segment, "s-refused", segment_consent({"Advertising": False, "Analytics": True}), False)
    track(segment, "s-empty", segment_consent({}), False)
    _, msg = rudder.identify(user_id="user-identify", traits={"email": "who@example.com", "plan": "pro"})
    sent["identify"] = msg["messageId"]
    admitted.add("identify")
    for client in (rudder, segment):
        client.flush()
        client.join()
    return sent, admitted


def test_consent_and_privacy_reach_moto_as_configured(tmp_path, moto):
    bus, _, queue = moto.bus_with_queue()
    server = start(tmp_path, moto, bus)
    sent, admitted = send(server)
    wait_settled(server, len(sent) + len(admitted))
    envelopes = moto.drain_queue(queue, len(sent) + len(admitted))
    by_type = {"ads": {}, "all": {}}
    for env in envelopes:
        by_type[env["detail-type"]][env["detail"]["messageId"]] = env["detail"]
    names = {v: k for k, v in sent.items()}
    assert sorted(by_type["all"]) == sorted(sent.values()), "a destination without consent settings gets everything"
    assert sorted(names[m] for m in by_type["ads"]) == sorted(admitted), "only events with consent reach ads-bus"

    stored = {e["message_id"]: e["payload"] for e in server.events()}
    for message_id, detail in by_type["ads"].items():
        original = stored[message_id]
        assert detail["userId"] == sha(original["userId"]), "userId hashed with the salt"
        assert "phone" not in detail.get("properties", {}), "a dropped property is absent"
        assert detail["request_ip"] == "127.0.0.0", "the IP is cut to its /24"
        assert SALT not in json.dumps(detail)
    identify = by_type["ads"][sent["identify"]]
    # rudder-sdk-python sends an identify's traits in context.traits.
    traits = identify.get("traits") or identify["context"]["traits"]
    assert traits == {"email": sha("who@example.com"), "plan": "pro"}
    assert by_type["ads"][sent["r-none"]]["properties"] == {"email": sha("r-none@example.com"), "total": 3}
    for message_id, detail in by_type["all"].items():
        assert detail == stored[message_id], "the other destination gets the whole stored event"

    # The Segment source anonymizes at ingestion: the whole address is never stored.
    for name in ("s-granted", "s-refused", "s-empty"):
        payload = stored[sent[name]]
        assert payload["request_ip"] == "127.0.0.0"
    assert stored[sent["s-granted"]]["context"]["ip"] == "203.0.113.0"
    with server.db() as db:
        raw = b"".join(row[0] for row in db.execute("SELECT payload FROM events WHERE source = 'server'"))
    assert b"203.0.113.77" not in raw and b"127.0.0.1" not in raw
    assert stored[sent["r-none"]]["request_ip"] == "127.0.0.1", "the other source keeps the address"

    # The log says which destination was left out and why.
    page = requests.get(server.url + "/v1/deliveries?status=skipped&limit=50", headers=AUTH).json()
    skipped = {names[r["messageId"]]: r for r in page["records"]}
    assert sorted(skipped) == ["r-denied", "s-empty", "s-refused"]
    assert {r["destination"] for r in skipped.values()} == {"ads-bus"} and {r["kind"] for r in skipped.values()} == {"skipped"}
    assert skipped["r-denied"]["errorMessage"] == "no consent: denied C0004 (resolutionStrategy and)"
    assert skipped["s-refused"]["errorMessage"] == "no consent: category Advertising not granted"
    by_kind = requests.get(server.url + "/v1/deliveries?kind=skipped&destination=ads-bus", headers=AUTH).json()
    assert len(by_kind["records"]) == 3

    # The story shows the skip, and the transformed record shows the entry as sent, privacy applied.
    story = requests.get(server.url + f"/v1/events/{sent['r-denied']}", headers=AUTH).json()
    assert [j["destination"] for j in story["jobs"]] == ["all-bus"]
    assert any(r["kind"] == "skipped" and r["destination"] == "ads-bus" for r in story["records"])
    story = requests.get(server.url + f"/v1/events/{sent['r-none']}", headers=AUTH).json()
    entry = next(r["detail"] for r in story["records"] if r["kind"] == "transformed" and r["destination"] == "ads-bus")
    assert json.loads(entry["Detail"]) == by_type["ads"][sent["r-none"]]

    metrics = requests.get(server.url + "/metrics", headers=AUTH).text
    counted = {}
    for line in metrics.splitlines():
        if line.startswith("switchyard_events_skipped_total{"):
            labels, value = line[len("switchyard_events_skipped_total{"):].split("} ")
            counted[tuple(sorted(labels.split(",")))] = float(value)
    assert counted == {('destination="ads-bus"', 'source="server"'): 2, ('destination="ads-bus"', 'source="web"'): 1}

    # `switchyard log` prints the skip with its reason.
    listed = subprocess.run([str(BINARY), "deliveries", "--url", server.url, "--token", ADMIN_TOKEN, "--status", "skipped"],
                            capture_output=True, text=True, timeout=30)
    assert listed.returncode == 0 and listed.stdout.count("skipped") >= 3 and "category Advertising not granted" in listed.stdout

    # `switchyard transform` shows what ads-bus would receive, and says when consent keeps it out.
    def transform(payload):
        return subprocess.run([str(BINARY), "transform", "--config", str(server.config_path), "--destination", "ads-bus"],
                              input=json.dumps(payload), capture_output=True, text=True, timeout=30, env=server.env)
    shown = transform(stored[sent["r-none"]])
    assert shown.returncode == 0, shown.stderr
    assert json.loads(json.loads(shown.stdout)["Detail"]) == by_type["ads"][sent["r-none"]]
    refused = transform(stored[sent["r-denied"]])
    assert refused.returncode == 2 and refused.stdout.strip() == "skipped: no consent: denied C0004 (resolutionStrategy and)"

    server.stop()
    assert SALT not in server.log()
    dump = subprocess.run([str(BINARY), "validate", "--config", str(server.config_path), "--print"],
                          capture_output=True, text=True, timeout=30, env=server.env)
    assert dump.returncode == 0 and "salt:" in dump.stdout and SALT not in dump.stdout + dump.stderr
