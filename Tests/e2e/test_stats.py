"""`/v1/stats` and `switchyard top`: per-minute rollups that survive a restart and count every
node of a PostgreSQL cluster once, the last minutes at one-second resolution, and the terminal
overview reading them."""
import subprocess
import uuid

import requests

from conftest import ADMIN_TOKEN, BINARY, WRITE_KEY, Server
from test_emulator_and_delivery import Emulator, wait_for
from test_live_log import AUTH, CONFIG as LIVE_CONFIG, AWS_SECRET
from test_multinode import PG_URL, Node, fresh_database

import pytest

CONFIG = LIVE_CONFIG + "stats: {{ flushInterval: 1s }}\n"


def stats(server, **params):
    r = requests.get(server.url + "/v1/stats", params=params, headers=AUTH, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def totals(server, scope, name, **params):
    return stats(server, **{"from": "15m", **params})[scope].get(name, {}).get("totals", {})


def send(server, n, tag):
    for i in range(n):
        r = requests.post(server.url + "/v1/track", auth=(WRITE_KEY, ""),
                          json={"userId": "u", "event": "Order Completed", "messageId": f"{tag}-{i}"}, timeout=10)
        assert r.status_code == 200, r.text


def test_minutes_survive_a_restart_and_seconds_come_from_memory(tmp_path):
    emulator = Emulator(tmp_path)
    server = Server(tmp_path, config_text=CONFIG.replace("EMULATOR_PORT", str(emulator.port)))
    server.env.update(AWS_ACCESS_KEY_ID="AKIDEMULATOR", AWS_SECRET_ACCESS_KEY=AWS_SECRET)
    server.start()
    try:
        send(server, 12, "before")
        assert requests.post(server.url + "/v1/track", auth=("wrong-key", ""), json={"event": "x", "userId": "u"}).status_code == 401
        wait_for(lambda: totals(server, "destinations", "bus").get("delivered") == 12, timeout=30, what="12 delivered in the minutes")
        web = totals(server, "sources", "web")
        assert web["received"] == 12 and web["refused"] == {}
        assert totals(server, "sources", "(unknown)")["refused"] == {"401": 1}
        latency = totals(server, "destinations", "bus")["latencyMs"]
        assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] < 30_000

        recent = stats(server, **{"from": "2m", "step": "1s"})
        assert recent["resolution"] == "second" and len(recent["times"]) in (120, 121)
        assert sum(recent["sources"]["web"]["received"]) == 12
        assert max(d for d in recent["destinations"]["bus"]["queueDepth"] if d is not None) >= 0

        top = subprocess.run([str(BINARY), "top", "--url", server.url, "--token", ADMIN_TOKEN, "--once", "--window", "5m"],
                             capture_output=True, text=True, timeout=30)
        assert top.returncode == 0, top.stderr
        bus = next(line for line in top.stdout.splitlines() if line.startswith("bus "))
        assert bus.split()[1] == "delivering", top.stdout
        assert any(line.split()[:1] == ["web"] for line in top.stdout.splitlines())

        assert server.stop() == 0
        server.start()
        assert totals(server, "destinations", "bus")["delivered"] == 12, "the minutes before the restart are still there"
        send(server, 5, "after")
        wait_for(lambda: totals(server, "destinations", "bus").get("delivered") == 17, timeout=30, what="17 delivered")
        assert totals(server, "sources", "web")["received"] == 17

        bad = requests.get(server.url + "/v1/stats", params={"from": "2h", "step": "10s"}, headers=AUTH, timeout=10)
        assert bad.status_code == 400 and "stats.recent" in bad.text
        assert requests.get(server.url + "/v1/stats", timeout=10).status_code == 401
    finally:
        server.stop()
        emulator.stop()


@pytest.mark.skipif(not PG_URL, reason="no PostgreSQL cluster: run through .ci/test, which starts one")
def test_two_postgres_nodes_traffic_is_counted_once_by_either(tmp_path):
    emulator = Emulator(tmp_path)
    database = fresh_database()
    nodes = []
    for name in ("node-a", "node-b"):
        node = Node(tmp_path, name, database, emulator)
        node.config_path.write_text(node.config_path.read_text() + "stats: { flushInterval: 1s }\n")
        nodes.append(node.start())
    a, b = nodes
    try:
        send(a, 30, "a-" + uuid.uuid4().hex[:6])
        send(b, 20, "b-" + uuid.uuid4().hex[:6])
        for node in (a, b):
            wait_for(lambda: totals(node, "destinations", "bus").get("delivered") == 50, timeout=60,
                     what=f"{node.name} sees 50 delivered")
            assert totals(node, "sources", "web")["received"] == 50
        # A restarted node keeps what it counted before.
        assert a.stop() == 0
        a.start()
        assert totals(a, "sources", "web")["received"] == 50
    finally:
        for node in nodes:
            node.stop()
        emulator.stop()
