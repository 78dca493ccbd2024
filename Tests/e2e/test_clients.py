"""The unmodified PyPI clients send to Switchyard, and every event lands in the queue once, enriched."""
import logging
import uuid

from rudderstack.analytics.client import Client as RudderClient
from segment.analytics.client import Client as SegmentClient

from conftest import SEGMENT_KEY, WRITE_KEY

ENRICHED = {"messageId", "receivedAt", "request_ip", "sentAt", "originalTimestamp", "timestamp", "type"}


def send_all(client, n, tag):
    failures = []
    client.on_error = lambda error, batch: failures.append(error)
    sent = []
    for i in range(n):
        ok, msg = client.track(user_id=f"user-{i % 7}", event="Order Completed" if i % 2 else "Cart Viewed",
                               properties={"order_id": f"{tag}-{i}", "total": 10.5 + i, "z_last": True, "a_first": 1})
        assert ok
        sent.append(msg["messageId"])
    ok, msg = client.identify(user_id="user-1", traits={"email": "one@example.com"})
    assert ok
    sent.append(msg["messageId"])
    client.flush()
    client.join()
    assert failures == []
    return sent


def test_rudder_sdk_python_basic_auth_gzip_batch(server, caplog):
    caplog.set_level(logging.WARNING)
    client = RudderClient(write_key=WRITE_KEY, host=server.url, gzip=True, max_retries=2)
    sent = send_all(client, 250, "rudder")

    events = server.events()
    ids = [e["message_id"] for e in events]
    assert sorted(ids) == sorted(sent), "every event arrives exactly once"
    for e in events:
        p = e["payload"]
        assert e["source"] == "web"
        assert ENRICHED <= p.keys()
        assert p["context"]["library"]["name"] == "analytics-python"
        assert p["channel"] == "server"
        assert p["request_ip"] == "127.0.0.1"
        if e["type"] == "track":
            keys = list(p["properties"].keys())
            assert keys == ["order_id", "total", "z_last", "a_first"], "the client's key order is kept"
    # Every event goes to both destinations of its source; filters let track and identify through.
    jobs = server.jobs()
    assert len(jobs) == 2 * len(sent)
    assert {d for _, d, _ in jobs} == {"orders-bus", "audit-bus"}
    assert {s for _, _, s in jobs} <= {"pending", "in_flight", "failed"}, "nothing listens at the endpoint: queued, never lost"


def test_segment_analytics_python_write_key_in_body(server):
    client = SegmentClient(write_key=SEGMENT_KEY, host=server.url, max_retries=2)
    sent = send_all(client, 120, "segment")
    events = server.events()
    assert sorted(e["message_id"] for e in events) == sorted(sent)
    assert {e["source"] for e in events} == {"server"}
    for e in events:
        assert "writeKey" not in e["payload"], "the write key is not stored with the event"
        assert ENRICHED <= e["payload"].keys()
    assert sorted(m for m, _, _ in server.jobs()) == sorted(sent)


def test_filters_decide_which_destinations_get_jobs(server):
    import requests
    auth = (WRITE_KEY, "")
    page_id = str(uuid.uuid4())
    r = requests.post(server.url + "/v1/page", auth=auth, json={"anonymousId": "a1", "name": "Home", "messageId": page_id})
    assert r.status_code == 200 and r.text == "ok\n"
    # orders-bus only takes track and identify; audit-bus takes everything.
    assert [(m, d) for m, d, _ in server.jobs()] == [(page_id, "audit-bus")]
    stored = server.events()[0]["payload"]
    assert stored["type"] == "page" and stored["name"] == "Home"
