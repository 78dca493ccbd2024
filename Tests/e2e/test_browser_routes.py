"""The browser routes over a real socket: analytics.js's short routes, the beacon, the pixel, imports
and both SDKs' settings endpoints, with their CORS answers; hostile input on them gets its
documented status, the server keeps serving, and nothing accepted is lost."""
import base64
import json
import socket
import uuid

import requests

from conftest import WRITE_KEY

ORIGIN = "https://shop.example"
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAAAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")


def segment_io(server, headers):
    r = requests.get(f"{server.url}/v1/projects/{WRITE_KEY}/settings", headers=headers)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json; charset=utf-8"
    return r.json()["integrations"]["Segment.io"]


def test_settings_name_the_host_the_browser_used(server):
    assert segment_io(server, {"Host": "collect.shop.example:8443"})["apiHost"] == "collect.shop.example:8443/v1"
    behind_proxy = segment_io(server, {"Host": "10.0.0.7:8080", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "collect.shop.example"})
    assert behind_proxy == {"apiKey": WRITE_KEY, "apiHost": "collect.shop.example/v1", "protocol": "https",
                            "unbundledIntegrations": [], "addBundledMetadata": True, "maybeBundledConfigIds": {}}
    assert requests.get(f"{server.url}/v1/projects/not-a-key/settings").status_code == 404
    config = requests.get(f"{server.url}/sourceConfig/?p=cdn&v=3.31.6", auth=(WRITE_KEY, ""))
    assert config.status_code == 200 and config.json()["source"]["enabled"] is True
    unknown = requests.get(f"{server.url}/sourceConfig/?p=cdn&v=3.31.6", auth=("not-a-key", ""))
    assert unknown.status_code == 400 and unknown.json() == {"message": "Invalid write key"}


def test_every_browser_route_answers_its_preflight(server):
    routes = ["/v1/t", "/v1/i", "/v1/p", "/v1/s", "/v1/g", "/v1/a", "/v1/b", "/v1/import", "/beacon/v1/batch",
              "/pixel/v1/track", "/pixel/v1/page", f"/v1/projects/{WRITE_KEY}/settings", "/sourceConfig/", "/v1/track"]
    for path in routes:
        r = requests.options(server.url + path, headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,anonymousid,sentat,x-retry-count"})
        assert r.status_code == 204, path
        assert r.headers["Access-Control-Allow-Origin"] == ORIGIN, path
        assert r.headers["Access-Control-Allow-Headers"] == "authorization,content-type,anonymousid,sentat,x-retry-count", path
        assert "POST" in r.headers["Access-Control-Allow-Methods"] and "GET" in r.headers["Access-Control-Allow-Methods"], path


def test_short_routes_beacon_import_and_pixel_store_their_events(server):
    sent = []

    def mid():
        sent.append(str(uuid.uuid4()))
        return sent[-1]

    plain = {"Content-Type": "text/plain", "Origin": ORIGIN}
    r = requests.post(server.url + "/v1/t", headers=plain, data=json.dumps({"writeKey": WRITE_KEY, "anonymousId": "a", "event": "Clicked", "messageId": mid()}))
    assert (r.status_code, r.text, r.headers["Access-Control-Allow-Origin"]) == (200, "ok\n", ORIGIN)
    r = requests.post(server.url + "/v1/b", headers=plain, data=json.dumps({"writeKey": WRITE_KEY, "sentAt": "2026-01-01T00:00:00.000Z", "batch": [
        {"type": "identify", "anonymousId": "a", "userId": "u", "writeKey": WRITE_KEY, "messageId": mid()}]}))
    assert r.status_code == 200
    r = requests.post(server.url + "/v1/import", auth=(WRITE_KEY, ""), json={"batch": [{"type": "track", "userId": "u", "event": "Old", "messageId": mid()}]})
    assert r.status_code == 200
    r = requests.post(f"{server.url}/beacon/v1/batch?writeKey={WRITE_KEY}", headers=plain, data=json.dumps({"batch": [
        {"type": "track", "anonymousId": "a", "event": "Left", "messageId": mid()}]}))
    assert r.status_code == 200
    r = requests.get(f"{server.url}/pixel/v1/track", params={"writeKey": WRITE_KEY, "anonymousId": "a", "event": "Email Opened", "messageId": mid()})
    assert (r.status_code, r.headers["Content-Type"], r.content) == (200, "image/gif", GIF)
    assert "X-Switchyard-Refused" not in r.headers
    stored = {e["message_id"]: e for e in server.events()}
    assert sorted(stored) == sorted(sent)
    assert [stored[m]["type"] for m in sent] == ["track", "identify", "track", "track", "track"]
    assert all("writeKey" not in e["payload"] for e in stored.values())


def test_hostile_input_on_the_browser_routes(server):
    accepted = [str(uuid.uuid4()) for _ in range(3)]
    for m in accepted:
        assert requests.post(server.url + "/v1/t", data=json.dumps({"writeKey": WRITE_KEY, "userId": "u", "event": "E", "messageId": m})).status_code == 200

    many = "&".join(f"p{i}=1" for i in range(10_000))
    cases = [
        # (method, path, kwargs, status, body)
        ("GET", "/pixel/v1/page?writeKey=" + WRITE_KEY + "&anonymousId=a&" + many, {}, 400, "too many query parameters (10002, limit 128)"),
        ("GET", "/pixel/v1/page?" + "&".join(f"{i}=" for i in range(10_000)), {}, 400, "too many query parameters (10000, limit 128)"),
        ("GET", "/pixel/v1/page?writeKey=" + WRITE_KEY + "&anonymousId=a&v=" + "x" * 20_000, {}, 413, None),
        ("GET", "/pixel/v1/track?writeKey=" + WRITE_KEY + "&anonymousId=a&event=%E0%A4", {}, 400, "invalid query string: a parameter is not valid percent-encoded UTF-8"),
        ("GET", "/pixel/v1/track?writeKey=" + WRITE_KEY + "&" + "a." * 20 + "b=1", {}, 400, None),
        ("POST", f"/beacon/v1/batch?writeKey={WRITE_KEY}", dict(data=json.dumps({"batch": [{"type": "track", "userId": "u", "p": "x" * 70_000}]})), 413, "request size exceeds max limit"),
        ("POST", "/beacon/v1/batch", dict(data=json.dumps({"batch": [{"type": "track", "userId": "u"}]}), auth=(WRITE_KEY, "")), 401, "failed to read writekey from query params"),
        ("POST", "/v1/t", dict(data=json.dumps({"writeKey": WRITE_KEY, "userId": "u", "batch": [{"type": "track", "userId": "u"}]})), 400,
         'a {"batch": [...]} body goes to /v1/batch (or /v1/b); this route takes one track event'),
        ("POST", "/v1/b", dict(data=json.dumps({"writeKey": WRITE_KEY, "batch": "nope"})), 400, "empty batch payload"),
        ("POST", "/v1/i", dict(data=b"\xff\xfe not json", headers={"Content-Type": "text/plain"}), 401, "failed to read writekey from header"),
        ("POST", "/v1/import", dict(data=b"[" * 100_000, auth=(WRITE_KEY, "")), 400, "invalid json"),
        ("GET", "/v1/projects/" + "k" * 5000 + "/settings", {}, 404, "invalid write key"),
        ("GET", "/sourceConfig/?writeKey=" + "k" * 5000, {}, 400, None),
    ]
    for method, path, kwargs, status, body in cases:
        r = requests.request(method, server.url + path, **kwargs)
        assert r.status_code == status, (method, path[:80], r.status_code, r.text[:200])
        if body is not None:
            assert r.text == body + "\n", (path[:80], r.text)

    # A request line past the HTTP parser's 80 KiB is refused before any route sees it.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"GET /pixel/v1/page?x=" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(64).startswith(b"HTTP/1.1 400")
    # A beacon that declares more than browsers can send is refused before its body is read.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(f"POST /beacon/v1/batch?writeKey={WRITE_KEY} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n".encode())
        assert s.recv(4096).decode().startswith("HTTP/1.1 413")

    # Still serving, and everything accepted before is there, once.
    later = str(uuid.uuid4())
    assert requests.get(f"{server.url}/pixel/v1/page", params={"writeKey": WRITE_KEY, "anonymousId": "a", "messageId": later}).headers.get("X-Switchyard-Refused") is None
    assert [e["message_id"] for e in server.events()] == accepted + [later]


def test_a_refused_pixel_still_loads_and_says_why(server):
    r = requests.get(f"{server.url}/pixel/v1/track", params={"writeKey": "not-a-key", "anonymousId": "a", "event": "E"})
    assert (r.status_code, r.headers["Content-Type"], r.content) == (200, "image/gif", GIF)
    assert r.headers["X-Switchyard-Refused"] == "401 invalid write key"
    r = requests.get(f"{server.url}/pixel/v1/page", params={"writeKey": WRITE_KEY})
    assert r.headers["X-Switchyard-Refused"] == "400 a pixel needs anonymousId"
    assert server.events() == []
    metrics = requests.get(server.url + "/metrics", headers={"Authorization": "Bearer e2e-admin-token-5d21"}).text
    assert 'switchyard_requests_refused_total{route="/pixel/v1/track",status="401"} 1' in metrics
    assert 'switchyard_requests_refused_total{route="/pixel/v1/page",status="400"} 1' in metrics
