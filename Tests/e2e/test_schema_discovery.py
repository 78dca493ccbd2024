"""Schema discovery in the running server, with RudderStack's Python SDK as the client and moto as
the bus: a stream whose shape changes twice makes three versions; the exported JSON Schema, checked
with Python's `jsonschema` (a validator we did not write), accepts every event moto received; the
OpenAPI 3 export describes the envelopes moto's rule target got; a plan entry exported from it
loads as a tracking plan; sampling says so; and a flood of distinct event names stays bounded.
Several nodes on PostgreSQL share one registry (test_multinode)."""
import copy
import json
import subprocess
import time

import jsonschema
import pytest
import requests
from rudderstack.analytics.client import Client as RudderClient

from conftest import ADMIN_TOKEN, BINARY, WRITE_KEY, Server, free_port
from moto_harness import Moto

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

CONFIG = """
server: {{ host: 127.0.0.1, port: {port}, adminToken: "${{E2E_ADMIN_TOKEN}}" }}
storage: {{ path: {storage}, sync: {sync} }}
schemaDiscovery: {{ flushInterval: 200ms, maxEventsPerSecond: RATE, maxModelsPerSource: 100 }}
sources:
  - {{ name: web, writeKeys: ["${{E2E_WEB_KEY}}"] }}
destinations:
  - name: bus
    type: eventbridge
    config: {{ region: us-east-1, accessKeyID: "${{MOTO_KEY_ID}}", accessKey: "${{MOTO_SECRET}}", eventBusName: BUS, detailType: "{{{{ event }}}}", endpoint: ENDPOINT }}
    delivery: {{ initialBackoff: 50ms, maxBackoff: 400ms, maxAttempts: 30 }}
connections:
  - {{ from: web, to: [bus] }}
"""


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    m = Moto(tmp_path_factory.mktemp("moto"), free_port())
    yield m
    m.stop()


def start(tmp_path, moto, rate):
    bus, _, queue = moto.bus_with_queue()
    text = CONFIG.replace("BUS", bus).replace("ENDPOINT", moto.url).replace("RATE", str(rate))
    server = Server(tmp_path, config_text=text)
    server.env.update(MOTO_KEY_ID=moto.switchyard_key[0], MOTO_SECRET=moto.switchyard_key[1])
    server.start()
    return server, queue


def schemas(server, **query):
    answer = requests.get(server.url + "/v1/schemas", params=query, headers=AUTH, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["schemas"]


def export(server, **query):
    answer = requests.get(server.url + "/v1/schemas/export", params=query, headers=AUTH, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def wait_for_model(server, events, timeout=30, **query):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = schemas(server, **query)
        if found and found[0]["events"] >= events:
            return found[0]
        time.sleep(0.1)
    raise AssertionError(f"the registry did not reach {events} events: {schemas(server, **query)}")


def openapi_as_json_schema(document):
    """OpenAPI 3.0's `nullable` as JSON Schema's null type, the components under one root, so
    `jsonschema` can check an envelope against `AWSEvent`."""
    doc = copy.deepcopy(document)

    def walk(node):
        if isinstance(node, dict):
            if node.pop("nullable", False):
                if "type" in node:
                    node["type"] = [node["type"], "null"]
                elif "allOf" in node:
                    node["anyOf"] = [{"allOf": node.pop("allOf")}, {"type": "null"}]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    return {"$ref": "#/components/schemas/AWSEvent", "components": doc["components"]}


def test_three_shapes_make_three_versions_and_the_exports_hold_every_event(tmp_path, moto):
    server, queue = start(tmp_path, moto, rate=1000)
    try:
        client = RudderClient(write_key=WRITE_KEY, host=server.url, sync_mode=True)
        phases = [
            {"total": 10, "sku": "A-1"},
            {"total": 12, "sku": "B-2", "coupon": "SPRING"},
            {"total": "14.50", "sku": "C-3", "coupon": "SPRING"},
        ]
        for n in range(15):
            client.track(user_id=f"user-{n}", event="Order Completed", properties=phases[n // 5])
        client.identify(user_id="user-1", traits={"plan": "pro"})

        envelopes = moto.drain_queue(queue, 16)
        details = [e["detail"] for e in envelopes if e["detail-type"] == "Order Completed"]
        assert len(details) == 15
        model = wait_for_model(server, 15, source="web", event="Order Completed")
        assert [v["version"] for v in model["versions"]] == [1, 2, 3]
        assert [v["events"] for v in model["versions"]] == [5, 5, 5]
        assert model["sampled"] is False and model["inferred"] == 15
        assert model["versions"][1]["changes"]["added"] == ["properties.coupon"]
        assert model["versions"][2]["changes"]["retyped"] == [{"path": "properties.total", "from": "integer", "to": "string"}]
        assert [m["type"] for m in schemas(server)] == ["identify", "track"], "in key order: source, type, event"

        # The merged schema holds every event moto received; each version's holds its own phase.
        merged = export(server, source="web", event="Order Completed")
        assert merged["$schema"] == "http://json-schema.org/draft-07/schema#"
        jsonschema.Draft7Validator.check_schema(merged)
        for detail in details:
            jsonschema.validate(detail, merged, cls=jsonschema.Draft7Validator)
        for version in (1, 2, 3):
            one = export(server, source="web", event="Order Completed", version=version)
            phase = [d for d in details if d["properties"] == phases[version - 1]]
            assert len(phase) == 5
            for detail in phase:
                jsonschema.validate(detail, one, cls=jsonschema.Draft7Validator)
        first = export(server, source="web", event="Order Completed", version=1)
        # A third-phase event (its total a string), picked by content: moto's queue need not hold
        # the events in the order they were sent, as delivery runs several sends at once.
        third = next(d for d in details if d["properties"] == phases[2])
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(third, first, cls=jsonschema.Draft7Validator)

        # EventBridge's registry format describes the envelope moto's rule target received.
        document = export(server, source="web", event="Order Completed", format="openapi3")
        aws_event = document["components"]["schemas"]["AWSEvent"]
        assert document["openapi"] == "3.0.0"
        assert aws_event["x-amazon-events-detail-type"] == "Order Completed"
        assert aws_event["x-amazon-events-source"] == "rudderstack"
        assert aws_event["properties"]["detail"] == {"$ref": "#/components/schemas/OrderCompleted"}
        checkable = openapi_as_json_schema(document)
        # moto leaves `account` out of the envelope it hands a rule's target; EventBridge always
        # sets it, so the export requires it and only moto's copy is let off.
        checkable["components"]["schemas"]["AWSEvent"]["required"].remove("account")
        for envelope in envelopes:
            if envelope["detail-type"] == "Order Completed":
                jsonschema.validate(envelope, checkable, cls=jsonschema.Draft7Validator)

        # The CLI: list, show (with what changed), and a plan entry that loads as a tracking plan.
        def cli(*args):
            out = subprocess.run([str(BINARY), "schemas", *args, "--url", server.url, "--token", ADMIN_TOKEN],
                                 capture_output=True, text=True, timeout=30)
            assert out.returncode == 0, out.stderr
            return out.stdout

        assert 'web  track "Order Completed"  15 events  3 version(s)' in cli("list")
        shown = cli("show", "--source", "web", "--event", "Order Completed")
        assert "    + properties.coupon" in shown
        assert "    ~ properties.total: integer -> string" in shown
        entry = json.loads(cli("export", "--source", "web", "--event", "Order Completed", "--format", "plan"))
        assert entry["event"] == "Order Completed"
        assert entry["properties"]["required"] == ["sku", "total"]
        traits = json.loads(cli("export", "--source", "web", "--type", "identify", "--format", "plan"))
        assert traits["type"] == "identify"
        plan_config = tmp_path / "planned.yaml"
        plan_config.write_text(
            "sources: [{ name: web, writeKeys: [k], trackingPlan: discovered }]\n"
            f"trackingPlans: [{{ name: discovered, events: [{json.dumps(entry)}, {json.dumps(traits)}] }}]\n")
        loaded = subprocess.run([str(BINARY), "validate", "--config", str(plan_config)], capture_output=True, text=True, timeout=30)
        assert loaded.returncode == 0, loaded.stdout + loaded.stderr

        missing = requests.get(server.url + "/v1/schemas/export", params={"source": "web", "event": "Nope"}, headers=AUTH, timeout=10)
        assert missing.status_code == 404 and 'no discovered schema for source "web" track "Nope"' in missing.text
        assert requests.get(server.url + "/v1/schemas", timeout=10).status_code == 401
    finally:
        server.stop()


def test_sampling_says_so_and_a_flood_of_names_stays_bounded(tmp_path, moto):
    server, _ = start(tmp_path, moto, rate=5)
    try:
        batch = [{"type": "track", "event": "Page Scrolled", "userId": "u", "messageId": f"s-{n}", "properties": {"n": n}}
                 for n in range(200)]
        answer = requests.post(server.url + "/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""), timeout=30)
        assert answer.status_code == 200, answer.text
        model = wait_for_model(server, 200, source="web", event="Page Scrolled")
        assert model["sampled"] is True
        assert 5 <= model["inferred"] < 200, model
        metrics = requests.get(server.url + "/metrics", headers=AUTH, timeout=10).text
        assert 'switchyard_schema_discovery_events_total{source="web",outcome="sampled"}' in metrics

        # 3,000 distinct names, each with properties of its own: the registry keeps 100 models.
        for start_at in range(0, 3000, 500):
            flood = [{"type": "track", "event": f"made-up-{n}", "userId": "u", "messageId": f"f-{n}", "properties": {f"p{n}": n}}
                     for n in range(start_at, start_at + 500)]
            answer = requests.post(server.url + "/v1/batch", json={"batch": flood}, auth=(WRITE_KEY, ""), timeout=30)
            assert answer.status_code == 200, answer.text
        time.sleep(0.6)
        assert len(schemas(server, source="web")) <= 100
        assert 'switchyard_schema_discovery_overflow_total{source="web"}' in requests.get(
            server.url + "/metrics", headers=AUTH, timeout=10).text
        assert requests.get(server.url + "/health", timeout=10).status_code == 200
    finally:
        server.stop()
