"""Transformations (RudderStack's JavaScript API) in the running server, against moto: every kind of
return and of hostile script, what moto receives, what the live log and the dead letters say, that
the server keeps serving, and that a script looping under load delays nothing beyond its limit."""
import json
import subprocess
import time

import pytest
import requests
from rudderstack.analytics.client import Client as RudderClient

from conftest import ADMIN_TOKEN, BINARY, WRITE_KEY, Server, free_port
from moto_harness import Moto

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

# One script, one branch per kind of return or of hostile code, chosen by the event's name.
KINDS_JS = r"""
import { tag } from "tags";

const RENAMED = "kept-and-renamed";

function recurse(n) { return recurse(n + 1) + 1; }

export function transformEvent(event, metadata) {
  const meta = metadata(event);
  switch (event.event) {
    case "keep":
      log("keeping", event.messageId, { source: meta.sourceId });
      event.event = RENAMED;
      event.properties.added = tag(meta.destinationId);
      return event;
    case "fan":
      return [1, 2, 3].map((n) => ({ ...event, messageId: `${event.messageId}-${n}`, event: `part-${n}` }));
    case "drop":
      log("dropping", event.messageId);
      return null;
    case "throw":
      throw new Error("bad input");
    case "loop":
      while (true) {}
    case "recurse":
      return recurse(0);
    case "alloc": {
      const hoard = [];
      while (true) hoard.push(new Array(100000).fill(hoard.length));
    }
    case "typed":
      return { big: new Uint8Array(2 ** 31).length };
    case "number":
      return 42;
    case "fetch":
      return fetch("https://example.com/" + event.messageId);
    default:
      return event;
  }
}
"""

TAGS_JS = """
export const PREFIX = "via";
export function tag(who) { return `${PREFIX}-${who}`; }
"""

def config(transformations, bus_transformation, detail_type):
    """A configuration with a bus that runs `bus_transformation` and a stream that runs nothing,
    both on moto; BUS, STREAM and ENDPOINT are filled in by `start`."""
    return """
server: {{ host: 127.0.0.1, port: {port}, adminToken: "${{E2E_ADMIN_TOKEN}}" }}
storage: {{ path: {storage}, sync: {sync} }}
sources:
  - {{ name: web, writeKeys: ["${{E2E_WEB_KEY}}"] }}
""" + transformations + """
destinations:
  - name: bus
    type: eventbridge
    transformations: [""" + bus_transformation + """]
    config:
      region: us-east-1
      accessKeyID: ${{MOTO_KEY_ID}}
      accessKey: ${{MOTO_SECRET}}
      eventBusName: BUS
      detailType: """ + detail_type + """
      endpoint: ENDPOINT
    delivery: {{ initialBackoff: 50ms, maxBackoff: 400ms, maxAttempts: 30 }}
  - name: stream
    type: kinesis
    config:
      region: us-east-1
      accessKeyID: ${{MOTO_KINESIS_KEY_ID}}
      accessKey: ${{MOTO_KINESIS_SECRET}}
      stream: STREAM
      endpoint: ENDPOINT
    delivery: {{ initialBackoff: 50ms, maxBackoff: 400ms, maxAttempts: 30 }}
connections:
  - {{ from: web, to: [bus, stream] }}
"""


CONFIG = config("""transformations:
  - {{ name: kinds, file: kinds.js, timeout: 400ms, memoryLimit: 67108864 }}
libraries:
  - {{ name: tags, file: tags.js }}""", "kinds", '"{{{{ event }}}}"')

NAMES = ["keep", "fan", "drop", "throw", "loop", "recurse", "alloc", "typed", "number", "fetch", "other"]
FAILED = {
    "throw": "Error: bad input",
    "loop": "timed out",
    "recurse": "RangeError: Maximum call stack size exceeded",
    "alloc": "heap",
    "typed": "",
    "number": "returned a number",
    "fetch": "fetch is not available",
}


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    m = Moto(tmp_path_factory.mktemp("moto"), free_port())
    yield m
    m.stop()


def start(tmp_path, moto, config=CONFIG, queue=True):
    """The server, with a new bus (whose events reach an SQS queue the test reads, unless `queue`
    is false: moto's delivery to SQS takes seconds per PutEvents, too slow for a load) and stream."""
    if queue:
        bus, _, queue = moto.bus_with_queue()
    else:
        bus = f"load-{free_port()}"
        moto.client("events").create_event_bus(Name=bus)
    stream = moto.stream(shards=1)
    (tmp_path / "kinds.js").write_text(KINDS_JS)
    (tmp_path / "tags.js").write_text(TAGS_JS)
    text = config.replace("BUS", bus).replace("STREAM", stream).replace("ENDPOINT", moto.url)
    server = Server(tmp_path, config_text=text)
    server.env.update(MOTO_KEY_ID=moto.switchyard_key[0], MOTO_SECRET=moto.switchyard_key[1],
                      MOTO_KINESIS_KEY_ID=moto.kinesis_key[0], MOTO_KINESIS_SECRET=moto.kinesis_key[1])
    return server.start(), queue, stream


def wait_finished(server, count, timeout=90):
    """Until `count` jobs are delivered, dropped or dead."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with server.db() as db:
            done = db.execute("SELECT COUNT(*) FROM jobs WHERE state IN ('succeeded', 'dead')").fetchone()[0]
        if done >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} jobs finished:\n{server.log()[-3000:]}")


def records(server, **query):
    query.setdefault("limit", 500)
    return requests.get(server.url + "/v1/deliveries", params=query, headers=AUTH, timeout=10).json()["records"]


def test_every_kind_of_return_and_of_hostile_script(tmp_path, moto):
    server, queue, stream = start(tmp_path, moto)
    client = RudderClient(write_key=WRITE_KEY, host=server.url)
    sent = {}
    for name in NAMES:
        _, msg = client.track(user_id=f"user-{name}", event=name, properties={"n": 1})
        sent[name] = msg["messageId"]
        # One at a time, so each hostile call is seen on its own, and the server is asked to
        # serve in between.
        client.flush()
        assert requests.get(server.url + "/health", timeout=5).status_code == 200
    wait_finished(server, 2 * len(NAMES))

    # What moto's bus received is what the script returned: the renamed event (with the library's
    # tag), the event it passed on, and the three parts of the fan-out; nothing of the rest.
    envelopes = moto.drain_queue(queue, 5)
    got = sorted((e["detail-type"], e["detail"]["messageId"]) for e in envelopes)
    assert got == sorted([("kept-and-renamed", sent["keep"]), ("other", sent["other"])]
                         + [(f"part-{n}", f"{sent['fan']}-{n}") for n in (1, 2, 3)])
    kept = next(e["detail"] for e in envelopes if e["detail-type"] == "kept-and-renamed")
    assert kept["properties"] == {"n": 1, "added": "via-bus"}
    assert kept["userId"] == "user-keep"
    # The other destination got every event as it was stored.
    data = [json.loads(r[3]) for r in moto.read_stream(stream)]
    assert sorted(d["event"] for d in data) == sorted(NAMES)

    # The live log: each event's transformation record says what happened.
    by_message = {}
    for r in records(server, kind="transformation", destination="bus"):
        by_message[r["messageId"]] = r
    names = {v: k for k, v in sent.items()}
    statuses = {names[m]: r["status"] for m, r in by_message.items()}
    assert statuses == {"keep": "transformed", "fan": "transformed", "drop": "dropped", "other": "transformed",
                        **{name: "failed" for name in FAILED}}, statuses
    assert by_message[sent["keep"]]["detail"]["logs"] == [f'keeping {sent["keep"]} {{"source":"web"}}']
    assert by_message[sent["keep"]]["detail"]["events"][0]["event"] == "kept-and-renamed"
    assert len(by_message[sent["fan"]]["detail"]["events"]) == 3
    assert by_message[sent["drop"]]["errorMessage"] == 'dropped by transformation "kinds"'
    for name, words in FAILED.items():
        message = by_message[sent[name]]["errorMessage"]
        assert message.startswith('transformation "kinds" failed: ') and words in message, (name, message)
    # A throw names the script's line (the `throw` is line 22 of kinds.js).
    assert "line 22" in by_message[sent["throw"]]["errorMessage"], by_message[sent["throw"]]["errorMessage"]

    # Dropped is an outcome, not a dead letter; failures are dead letters with the same message.
    dead = requests.get(server.url + "/v1/dead-letters", params={"destination": "bus"}, headers=AUTH, timeout=10).json()
    dead_names = sorted(names[d["messageId"]] for d in dead["deadLetters"])
    assert dead_names == sorted(FAILED)
    # The fan-out's three entries were one job, delivered.
    with server.db() as db:
        states = dict(db.execute("SELECT e.name, j.state FROM jobs j JOIN events e ON e.id = j.event_id WHERE j.destination = 'bus'").fetchall())
    assert states["drop"] == "succeeded" and states["fan"] == "succeeded" and states["loop"] == "dead"

    # The server kept serving through all of it, and goes on transforming.
    _, msg = client.track(user_id="after", event="keep", properties={"n": 2})
    client.flush()
    wait_finished(server, 2 * len(NAMES) + 2)
    after = moto.drain_queue(queue, 1)
    assert [e["detail"]["messageId"] for e in after] == [msg["messageId"]]

    # `switchyard transform` runs the destination's chain on a stored event without sending.
    stored = {e["message_id"]: e["payload"] for e in server.events()}

    def transform(payload):
        return subprocess.run([str(BINARY), "transform", "--config", str(server.config_path), "--destination", "bus"],
                              input=json.dumps(payload), capture_output=True, text=True, timeout=60, env=server.env, cwd=tmp_path)
    fan = transform(stored[sent["fan"]])
    assert fan.returncode == 0, fan.stderr
    entries = [json.loads(line) for line in fan.stdout.splitlines()]
    assert [e["DetailType"] for e in entries] == ["part-1", "part-2", "part-3"]
    dropped = transform(stored[sent["drop"]])
    assert dropped.returncode == 3 and dropped.stdout.strip() == 'dropped: dropped by transformation "kinds"'
    assert f"log: dropping {sent['drop']}" in dropped.stderr
    looped = transform(stored[sent["loop"]])
    assert looped.returncode == 1 and "timed out" in looped.stdout
    server.stop()


def test_transformation_test_command_and_syntax_errors(tmp_path):
    (tmp_path / "kinds.js").write_text(KINDS_JS)
    (tmp_path / "tags.js").write_text(TAGS_JS)
    (tmp_path / "event.json").write_text(json.dumps([{"type": "track", "event": "keep", "messageId": "m-1", "properties": {}},
                                                     {"type": "track", "event": "fan", "messageId": "m-2"}]))

    def run(*args):
        return subprocess.run([str(BINARY), *args], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    out = run("transformation", "test", "--file", "kinds.js", "--library", "tags=tags.js", "--event", "event.json")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["event"] for line in lines] == ["kept-and-renamed", "part-1", "part-2", "part-3"]
    assert lines[0]["properties"]["added"] == "via-test"
    missing = run("transformation", "test", "--file", "kinds.js", "--event", "event.json")
    assert missing.returncode == 65 and 'import from "tags" failed. Module not found.' in missing.stderr

    # A syntax error: validate names the file, the line and the column, and serve refuses to start.
    (tmp_path / "broken.js").write_text("export function transformEvent(event) {\n  const x = ;\n  return event;\n}\n")
    (tmp_path / "switchyard.yaml").write_text(
        "sources: [{name: web, writeKeys: [k]}]\n"
        "transformations:\n"
        "  - {name: broken, file: broken.js}\n"
        "  - name: inline\n"
        "    code: |\n"
        "      export function transformEvent(event) {\n"
        "        return event.;\n"
        "      }\n"
        "destinations: [{name: d, type: kinesis, transformations: [broken], config: {region: us-east-1, stream: s}}]\n"
        "connections: [{from: web, to: [d]}]\n")
    validated = run("validate", "--config", "switchyard.yaml")
    assert validated.returncode == 78
    assert "broken.js:2:" in validated.stderr, validated.stderr
    assert "switchyard.yaml:7:" in validated.stderr, validated.stderr
    served = run("serve", "--config", "switchyard.yaml")
    assert served.returncode == 78 and "broken.js:2:" in served.stderr


LOAD_CONFIG = config("""transformations:
  - name: loops-sometimes
    timeout: 1s
    code: |
      export function transformEvent(event, metadata) {{
        if (event.properties.loop) {{ while (true) {{}} }}
        event.properties.seen = true;
        return event;
      }}""", "loops-sometimes", "load")


def test_a_looping_script_under_load_delays_nothing_beyond_its_limit(tmp_path, moto):
    server, _, stream = start(tmp_path, moto, LOAD_CONFIG, queue=False)
    client = RudderClient(write_key=WRITE_KEY, host=server.url, upload_size=100)
    total, loops = 400, 4
    looping = set()
    for n in range(total):
        loop = n % (total // loops) == 50
        _, msg = client.track(user_id=f"u{n % 7}", event="load", properties={"n": n, "loop": loop})
        if loop:
            looping.add(msg["messageId"])
    client.flush()
    client.join()
    wait_finished(server, 2 * total, timeout=150)

    # Every other event reached moto's bus as the script returned it (the log shows the entries
    # moto accepted); the looping ones are dead letters that say why.
    sent = [r for r in records(server, destination="bus", kind="transformed", limit=1000)]
    assert len(sent) == total - loops
    assert all(json.loads(r["detail"]["Detail"])["properties"]["seen"] is True for r in sent)
    assert not looping & {r["messageId"] for r in sent}
    dead = requests.get(server.url + "/v1/dead-letters", params={"destination": "bus"}, headers=AUTH, timeout=10).json()
    assert {d["messageId"] for d in dead["deadLetters"]} == looping
    assert all("timed out after 1 s" in d["reason"] for d in dead["deadLetters"]), dead
    assert len(moto.read_stream(stream)) == total

    # Each event's wait, from its acceptance to its delivery, as the log recorded them. The loops
    # cost the transformations' destination at most their time limits (4 x 1 s) beyond the
    # ordinary drain; the other destination does not wait on them at all.
    received = {r["messageId"]: seconds(r["at"]) for r in records(server, kind="received", limit=1000)}

    def waits(destination):
        return sorted(seconds(r["at"]) - received[r["messageId"]] for r in records(server, destination=destination, status="succeeded", limit=1000))
    bus, kinesis = waits("bus"), waits("stream")
    assert len(bus) == total - loops and len(kinesis) == total
    assert bus[-1] < loops * 1.0 + kinesis[-1] + 5, (bus[-5:], kinesis[-5:])
    server.stop()


def seconds(rfc3339):
    from datetime import datetime
    return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()
