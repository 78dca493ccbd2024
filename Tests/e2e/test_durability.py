"""A 200 means on disk: kill -9 the server under load and every acknowledged event is still there."""
import threading
import time
import uuid

import requests

from conftest import WRITE_KEY


def test_every_acknowledged_event_survives_kill_9(make_server):
    server = make_server(sync="full").start()
    acknowledged = []
    lock = threading.Lock()
    stop = threading.Event()

    def produce():
        session = requests.Session()
        while not stop.is_set():
            batch = [{"type": "track", "userId": "u", "event": "Load", "messageId": str(uuid.uuid4())} for _ in range(5)]
            try:
                r = session.post(server.url + "/v1/batch", auth=(WRITE_KEY, ""), json={"batch": batch}, timeout=5)
            except requests.RequestException:
                continue  # the server died mid-request: not acknowledged, so not promised
            if r.status_code == 200:
                with lock:
                    acknowledged.extend(m["messageId"] for m in batch)

    threads = [threading.Thread(target=produce) for _ in range(8)]
    for t in threads:
        t.start()
    for round_ in range(3):
        time.sleep(1.0)
        server.kill()
        server.start()
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()

    assert len(acknowledged) > 100, "the load actually ran"
    stored = [e["message_id"] for e in server.events()]
    assert set(acknowledged) <= set(stored), f"{len(set(acknowledged) - set(stored))} acknowledged events were lost"
    assert len(stored) == len(set(stored)), "no event is stored twice"
    # Every stored event has its jobs: event and jobs are one transaction.
    jobs = server.jobs()
    assert len(jobs) == 2 * len(stored)
    server.stop()


def test_sigterm_stops_cleanly_and_the_queue_reopens(make_server):
    server = make_server().start()
    r = requests.post(server.url + "/v1/identify", auth=(WRITE_KEY, ""), json={"userId": "u", "messageId": "keep-me"})
    assert r.status_code == 200
    assert server.stop() == 0
    server.start()
    assert [e["message_id"] for e in server.events()] == ["keep-me"]
    assert requests.get(server.url + "/ready").text == "ready\n"
    server.stop()
