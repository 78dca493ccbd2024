"""Tracking plans in the running server, with RudderStack's Python SDK as the client and moto as
the bus: each per-source choice (propagate, drop violating events, drop unplanned events, drop
unplanned properties, forward violations), what moto receives, `context.violationErrors`, the
violations API, the CLI and `/metrics`; and `switchyard schema validate`."""
import json
import subprocess

import pytest
import requests
from rudderstack.analytics.client import Client as RudderClient

from conftest import ADMIN_TOKEN, BINARY, SEGMENT_KEY, WRITE_KEY, Server, free_port
from moto_harness import Moto

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

ORDER_SCHEMA = """{ type: object, required: [total], properties: { total: { type: number, minimum: 0 }, sku: { type: string, pattern: "^[A-Z]+-[0-9]+$" } } }"""

# Written with single braces; `Server` formats the text, so they are doubled below.
TEMPLATE = """
server: { host: 127.0.0.1, port: PORT, adminToken: "${E2E_ADMIN_TOKEN}" }
storage: { path: STORAGE, sync: SYNC }
trackingPlans:
  - name: lenient
    events:
      - event: Order Completed
        properties: ORDER
      - type: identify
        traits: { type: object, properties: { email: { type: string, format: email } } }
  - name: strict
    version: 3
    events:
      - event: Order Completed
        properties: ORDER
    onViolation: dropEvent
    onUnplannedEvent: drop
    onUnplannedProperties: drop
    forwardViolationsTo: violations
sources:
  - { name: web, writeKeys: ["${E2E_WEB_KEY}"], trackingPlan: lenient }
  - { name: app, writeKeys: ["${E2E_SEGMENT_KEY}"], trackingPlan: strict }
destinations:
  - name: bus
    type: eventbridge
    config: { region: us-east-1, accessKeyID: "${MOTO_KEY_ID}", accessKey: "${MOTO_SECRET}", eventBusName: BUS, detailType: "{{ event }}", endpoint: ENDPOINT }
    delivery: { initialBackoff: 50ms, maxBackoff: 400ms, maxAttempts: 30 }
  - name: violations
    type: kinesis
    config: { region: us-east-1, accessKeyID: "${MOTO_KINESIS_KEY_ID}", accessKey: "${MOTO_KINESIS_SECRET}", stream: STREAM, endpoint: ENDPOINT }
    delivery: { initialBackoff: 50ms, maxBackoff: 400ms, maxAttempts: 30 }
connections:
  - { from: web, to: [bus] }
  - { from: app, to: [bus] }
""".replace("ORDER", ORDER_SCHEMA)
CONFIG = TEMPLATE.replace("{", "{{").replace("}", "}}").replace("PORT", "{port}").replace("STORAGE", "{storage}").replace("SYNC", "{sync}")


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    m = Moto(tmp_path_factory.mktemp("moto"), free_port())
    yield m
    m.stop()


def violations(server, **query):
    answer = requests.get(server.url + "/v1/violations", params=query, headers=AUTH, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["records"]


def test_each_choice_of_a_plan_with_real_sdks_and_moto(tmp_path, moto):
    bus, _, queue = moto.bus_with_queue()
    stream = moto.stream(shards=1)
    server = Server(tmp_path, config_text=CONFIG.replace("BUS", bus).replace("STREAM", stream).replace("ENDPOINT", moto.url))
    server.env.update(MOTO_KEY_ID=moto.switchyard_key[0], MOTO_SECRET=moto.switchyard_key[1],
                      MOTO_KINESIS_KEY_ID=moto.kinesis_key[0], MOTO_KINESIS_SECRET=moto.kinesis_key[1])
    server.start()
    try:
        web = RudderClient(write_key=WRITE_KEY, host=server.url, sync_mode=True)
        app = RudderClient(write_key=SEGMENT_KEY, host=server.url, sync_mode=True)
        sent = {}
        for key, client, name, props in [
            ("web-ok", web, "Order Completed", {"total": 10, "sku": "AB-1"}),
            ("web-type", web, "Order Completed", {"total": "10"}),
            ("web-missing", web, "Order Completed", {"sku": "ab"}),
            ("web-unplanned", web, "Coupon Applied", {"code": "X"}),
            ("app-ok", app, "Order Completed", {"total": 5, "debug": True}),
            ("app-type", app, "Order Completed", {"total": -1}),
            ("app-unplanned", app, "Coupon Applied", {"code": "Y"}),
        ]:
            _, msg = client.track(user_id=f"user-{key}", event=name, properties=props)
            sent[key] = msg["messageId"]
        _, msg = web.identify(user_id="user-identify", traits={"email": "not-an-email"})
        sent["web-identify"] = msg["messageId"]

        # The bus gets the web source's five events (violations and all) and the one app event
        # that passed, without its unplanned property; nothing the strict plan dropped.
        envelopes = moto.drain_queue(queue, 6)
        details = {e["detail"]["messageId"]: e["detail"] for e in envelopes}
        expected = {sent[k] for k in ("web-ok", "web-type", "web-missing", "web-unplanned", "web-identify", "app-ok")}
        assert set(details) == expected, sorted(details)

        def errors(key):
            return [(v["type"], v["meta"]["instancePath"]) for v in details[sent[key]]["context"].get("violationErrors", [])]

        assert "violationErrors" not in details[sent["web-ok"]]["context"]
        assert errors("web-type") == [("Datatype-Mismatch", "/properties/total")]
        assert details[sent["web-type"]]["context"]["violationErrors"][0]["message"] == "must be number"
        assert details[sent["web-type"]]["context"]["trackingPlanId"] == "lenient"
        assert details[sent["web-type"]]["context"]["trackingPlanVersion"] == 1
        assert sorted(errors("web-missing")) == [("Advance-Rules-Violation", "/properties/sku"), ("Required-Missing", "/properties")]
        assert errors("web-unplanned") == [("Unplanned-Event", "/event")]
        # RudderStack's SDKs put identify traits in context.traits.
        assert errors("web-identify") == [("Advance-Rules-Violation", "/context/traits/email")]
        assert details[sent["app-ok"]]["properties"] == {"total": 5}
        assert errors("app-ok") == [("Additional-Properties", "/properties")]

        # Segment's forwarding: one Violation Generated event per violation of the strict plan.
        forwarded = [json.loads(r[3]) for r in moto.read_stream(stream)]
        got = sorted((f["properties"]["eventMessageID"], f["properties"]["violationType"], f["properties"]["violationField"])
                     for f in forwarded)
        assert got == sorted([(sent["app-ok"], "Unplanned Property", "properties"),
                              (sent["app-type"], "Rule", "properties.total"),
                              (sent["app-unplanned"], "Unplanned Event", "event")]), got
        assert {f["event"] for f in forwarded} == {"Violation Generated"}
        assert {f["userId"] for f in forwarded} == {"schema-violations"}
        assert {f["properties"]["trackingPlanID"] for f in forwarded} == {"strict"}

        # The violations API: one record per violating event, newest first.
        records = {r["messageId"]: r for r in violations(server)}
        assert set(records) == {sent[k] for k in ("web-type", "web-missing", "web-unplanned", "web-identify",
                                                   "app-ok", "app-type", "app-unplanned")}
        assert records[sent["app-type"]]["status"] == "dropped"
        assert "userId" not in records[sent["app-type"]], "a dropped event's record keeps no user"
        assert records[sent["web-type"]]["status"] == "propagated"
        assert records[sent["web-type"]]["userId"] == "user-web-type"
        assert records[sent["app-type"]]["detail"]["trackingPlan"] == "strict"
        assert records[sent["app-type"]]["detail"]["version"] == 3
        assert [r["messageId"] for r in violations(server, source="app", status="dropped")] == [sent["app-unplanned"], sent["app-type"]]

        # The CLI lists the same.
        out = subprocess.run([str(BINARY), "violations", "--url", server.url, "--token", ADMIN_TOKEN, "--source", "app"],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        assert "/properties/total: must be >= 0 (Advance-Rules-Violation)" in out.stdout
        assert "/event: event \"Coupon Applied\" is not in tracking plan \"strict\" (Unplanned-Event)" in out.stdout

        metrics = requests.get(server.url + "/metrics", headers=AUTH, timeout=10).text
        assert 'switchyard_tracking_plan_violations_total{source="app",event="(unplanned)",type="Unplanned-Event"} 1' in metrics
        assert 'switchyard_events_dropped_by_plan_total{source="app"} 2' in metrics
    finally:
        server.stop()


def test_a_plan_that_is_not_json_schema_stops_validate_and_serve(tmp_path):
    config = CONFIG.replace("minimum: 0", "minimum: zero").replace("forwardViolationsTo: violations", "")
    path = tmp_path / "switchyard.yaml"
    path.write_text(config.format(port=free_port(), storage=tmp_path / "queue", sync="normal"))
    env = {"E2E_ADMIN_TOKEN": ADMIN_TOKEN, "E2E_WEB_KEY": WRITE_KEY, "E2E_SEGMENT_KEY": SEGMENT_KEY,
           "MOTO_KEY_ID": "k", "MOTO_SECRET": "s", "MOTO_KINESIS_KEY_ID": "k", "MOTO_KINESIS_SECRET": "s"}
    for command in ("validate", "serve"):
        out = subprocess.run([str(BINARY), command, "--config", str(path)], capture_output=True, text=True, timeout=30, env=env)
        assert out.returncode != 0
        text = out.stdout + out.stderr
        assert 'tracking plan "lenient": events[0].properties: at /properties/total/minimum: minimum must be a number' in text, text
        assert f"{path}:" in text, "the problem names its file and line"


def test_schema_validate_command(tmp_path):
    schema = tmp_path / "s.json"
    schema.write_text('{"type":"object","required":["total"],"properties":{"total":{"type":"number"},"sku":{"pattern":"^[A-Z]+$"}}}')
    instance = tmp_path / "i.json"
    instance.write_text('{"sku":"abc"}')

    def run(*args, stdin=None):
        return subprocess.run([str(BINARY), "schema", "validate", *args], capture_output=True, text=True, input=stdin, timeout=30)

    bad = run("--schema", str(schema), "--instance", str(instance))
    assert bad.returncode == 1
    assert bad.stdout.splitlines() == ["/: required: must have required property 'total'", '/sku: pattern: must match pattern "^[A-Z]+$"']
    good = run("--schema", str(schema), "--instance", "-", stdin='{"total": 1.5}')
    assert (good.returncode, good.stdout) == (0, "valid\n")
    invalid = run("--schema", "-", "--instance", str(instance), stdin='{"pattern": "(a)\\\\1"}')
    assert invalid.returncode == 65
    assert invalid.stdout.startswith("invalid schema: at /pattern: pattern ") and "backreferences are not supported" in invalid.stdout


HOSTILE_PLAN = """
server: {{ host: 127.0.0.1, port: {port}, adminToken: "${{E2E_ADMIN_TOKEN}}" }}
storage: {{ path: {storage}, sync: {sync} }}
trackingPlans:
  - name: hostile
    events:
      - event: Probe
        properties:
          type: object
          properties:
            code: {{ type: string, pattern: "^(a+)+$" }}
            tree: {{ $ref: "#/definitions/node" }}
            loop: {{ $ref: "#/definitions/loop" }}
          definitions:
            node: {{ type: object, properties: {{ child: {{ $ref: "#/definitions/node" }} }} }}
            loop: {{ $ref: "#/definitions/loop" }}
sources:
  - {{ name: web, writeKeys: ["${{E2E_WEB_KEY}}"], trackingPlan: hostile }}
"""


def test_a_hostile_plan_cannot_stall_ingestion(tmp_path):
    """A pattern that backtracks for ever in a backtracking engine, a schema that recurses as
    deep as the event, and a $ref cycle: each request is answered (the timeouts bound it), the
    server keeps serving, and the violations say what happened."""
    server = Server(tmp_path, config_text=HOSTILE_PLAN)
    server.start()
    try:
        tree = {}
        for _ in range(150):
            tree = {"child": tree}
        probes = [
            {"code": "a" * 20000 + "!"},
            {"tree": tree},
            {"loop": 1},
        ]
        for n, properties in enumerate(probes):
            event = {"type": "track", "event": "Probe", "userId": "u", "messageId": f"probe-{n}", "properties": properties}
            answer = requests.post(server.url + "/v1/track", json=event, auth=(WRITE_KEY, ""), timeout=10)
            assert answer.status_code == 200, answer.text
        assert requests.get(server.url + "/health", timeout=5).status_code == 200
        records = {r["messageId"]: r for r in violations(server)}
        assert set(records) == {"probe-0", "probe-2"}, "the 150-deep tree follows its schema"
        code = records["probe-0"]["detail"]["violations"]
        assert [(v["type"], v["meta"]["instancePath"]) for v in code] == [("Advance-Rules-Violation", "/properties/code")]
        loop = records["probe-2"]["detail"]["violations"][0]
        assert "references nest more than 400 deep" in loop["message"]
    finally:
        server.stop()
