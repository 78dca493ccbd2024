"""Hostile input over a real socket: each gets its documented status and body, the server keeps
serving, and nothing already accepted is lost."""
import base64
import gzip
import json
import socket
import threading
import uuid

import requests

from conftest import WRITE_KEY, one_destination_config

AUTH = (WRITE_KEY, "")


def track(server, message_id):
    return requests.post(server.url + "/v1/track", auth=AUTH, json={"userId": "u", "event": "Ping", "messageId": message_id})


def test_bad_requests_get_documented_answers_and_the_server_keeps_serving(server):
    accepted = [str(uuid.uuid4()) for _ in range(5)]
    for m in accepted:
        assert track(server, m).status_code == 200

    cases = [
        # (path, kwargs, status, body)
        ("/v1/track", dict(auth=AUTH, data=b"{\"userId\": "), 400, "invalid json"),
        ("/v1/track", dict(auth=AUTH, data=b"\xff\xfe\x00garbage"), 400, "invalid json"),
        ("/v1/track", dict(auth=AUTH, data=b""), 400, "request body is nil"),
        ("/v1/track", dict(auth=AUTH, json=["not", "an", "object"]), 400, "event is not a valid rudder event"),
        ("/v1/track", dict(auth=AUTH, json={"event": "no ids"}), 400, "request neither has anonymousId nor userId"),
        ("/v1/track", dict(auth=AUTH, json={"userId": {"nested": True}}), 400, "request neither has anonymousId nor userId"),
        ("/v1/batch", dict(auth=AUTH, json={"batch": "nope"}), 400, "empty batch payload"),
        ("/v1/batch", dict(auth=AUTH, json={"batch": []}), 400, "empty batch payload"),
        ("/v1/batch", dict(auth=AUTH, json={"batch": [1, 2]}), 400, "event is not a valid rudder event"),
        ("/v1/batch", dict(auth=AUTH, json={"batch": [{"type": 5, "userId": "u"}]}), 400,
         "event has no type: expected one of track, identify, page, screen, group, alias"),
        ("/v1/track", dict(json={"userId": "u"}), 401, "failed to read writekey from header"),
        ("/v1/track", dict(auth=("not-a-key", ""), json={"userId": "u"}), 401, "invalid write key"),
        ("/v1/track", dict(headers={"Authorization": "Basic %%%"}, json={"userId": "u"}), 401, "failed to read writekey from header"),
        ("/v1/track", dict(auth=AUTH, json={"userId": "u", "blob": "x" * 40_000}), 413, None),
        ("/v1/batch", dict(auth=AUTH, data=b"[" * 5_000_000), 413, "request size exceeds max limit"),
        ("/v1/import", dict(auth=AUTH, json={"userId": "u"}), 400, "empty batch payload"),
        ("/v1/merge", dict(auth=AUTH, json={"userId": "u"}), 404, "not found"),
        ("/v2/track", dict(auth=AUTH, json={"userId": "u"}), 404, "not found"),
    ]
    for path, kwargs, status, body in cases:
        r = requests.post(server.url + path, **kwargs)
        assert r.status_code == status, (path, kwargs.keys(), r.status_code, r.text)
        assert r.headers["Content-Type"].startswith("text/plain")
        if body is not None:
            assert r.text == body + "\n", (path, r.text)
        else:
            assert r.text.startswith("event size exceeds max limit")

    # Deep nesting and wrong methods.
    r = requests.post(server.url + "/v1/batch", auth=AUTH, data=b"[" * 100_000 + b"]" * 100_000)
    assert r.status_code == 400 and r.text == "invalid json\n"
    assert requests.get(server.url + "/v1/track").status_code in (404, 405)

    # Still serving, and everything accepted before is still there, once.
    later = str(uuid.uuid4())
    assert track(server, later).status_code == 200
    assert [e["message_id"] for e in server.events()] == accepted + [later]


def test_gzip_bomb_is_refused_without_inflating_it(server):
    bomb = gzip.compress(b"\x20" * (200 * 1024 * 1024), compresslevel=9)
    assert len(bomb) < 300_000
    r = requests.post(server.url + "/v1/batch", auth=AUTH, data=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert r.status_code == 413 and r.text == "request size exceeds max limit\n"
    r = requests.post(server.url + "/v1/batch", auth=AUTH, data=b"\x1f\x8b\x08garbage", headers={"Content-Encoding": "gzip"})
    assert r.status_code == 400 and r.text == "invalid gzip body\n"
    ok = gzip.compress(json.dumps({"batch": [{"type": "track", "userId": "u", "event": "Z", "messageId": "gz-1"}]}).encode())
    r = requests.post(server.url + "/v1/batch", auth=AUTH, data=ok, headers={"Content-Encoding": "gzip"})
    assert r.status_code == 200
    assert [e["message_id"] for e in server.events()] == ["gz-1"]


def test_a_declared_huge_body_is_refused_before_it_is_read(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1000000000\r\n\r\n")
        reply = s.recv(4096).decode()
    assert reply.startswith("HTTP/1.1 413")
    assert "request size exceeds max limit" in reply


def test_slow_and_broken_connections_do_not_stop_others(server):
    # Half-sent requests and abrupt disconnects while others are served.
    socks = []
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", server.port))
        s.sendall(b"POST /v1/track HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"userId\"")
        socks.append(s)
    ids = [str(uuid.uuid4()) for _ in range(50)]
    errors = []

    def send(chunk):
        for m in chunk:
            r = track(server, m)
            if r.status_code != 200:
                errors.append(r.status_code)

    threads = [threading.Thread(target=send, args=(ids[i::5],)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in socks:
        s.close()
    assert errors == []
    assert sorted(e["message_id"] for e in server.events()) == sorted(ids)


BUDGET_CONFIG = one_destination_config(server="limits: { maxRequestBytes: 1048576, maxInflightBytes: 4194304 }")


def test_slow_uploads_together_cannot_hold_more_than_the_memory_budget(make_server):
    server = make_server(config_text=BUDGET_CONFIG).start()
    uploads = []
    answers = []
    for _ in range(6):
        s = socket.create_connection(("127.0.0.1", server.port), timeout=3)
        s.sendall(b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Authorization: Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()) + b"\r\n"
                  b"Content-Length: 1000000\r\n\r\n")
        try:
            s.sendall(b"[" + b" " * 900_000)  # most of the body, never the rest
        except OSError:
            pass  # refused and closed while sending
        uploads.append(s)
    for s in uploads:
        s.settimeout(0.5)
        try:
            answers.append(s.recv(4096).decode(errors="replace"))
        except OSError:
            answers.append("")
    # 6 × 0.9 MB is more than the 4 MiB budget: the uploads past it are answered 503 at once
    # instead of being held (before, all six were kept in memory, waiting for their bodies).
    refused = [a for a in answers if a.startswith("HTTP/1.1 503")]
    assert refused and all("server is busy, retry later" in a for a in refused), answers
    assert len(refused) <= 3, answers
    for s in uploads:
        s.close()
    # What they held is given back.
    assert track(server, str(uuid.uuid4())).status_code == 200
    server.stop()
