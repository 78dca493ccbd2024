"""Peers that stop halfway: a destination that sends its headers and then nothing, a client that
sends half a body. Neither may hold a send slot or a shutdown forever."""
import signal
import socket
import threading
import time

import requests

from conftest import WRITE_KEY, Server, one_destination_config
from test_emulator_and_delivery import wait_for


class StallingDestination:
    """Accepts PutEvents, answers `200` with a body it never sends."""

    def __init__(self):
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen()
        self.port = self.socket.getsockname()[1]
        self.requests = 0
        self.connections = []
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.connections.append(connection)
            threading.Thread(target=self.stall, args=(connection,), daemon=True).start()

    def stall(self, connection):
        try:
            while connection.recv(65536):
                self.requests += 1
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: 1000\r\n\r\n{")
        except OSError:
            pass

    def close(self):
        self.socket.close()
        for connection in self.connections:
            connection.close()


def config(destination_port):
    return one_destination_config(server="shutdownGrace: 2s", endpoint=f"http://127.0.0.1:{destination_port}",
                                  delivery="timeout: 1s, initialBackoff: 100ms, maxBackoff: 200ms, linger: 0ms")


def attempts(server):
    with server.db() as db:
        return db.execute("SELECT error_message FROM delivery_log WHERE kind = 'attempt' ORDER BY id").fetchall()


def test_a_destination_that_stalls_after_its_headers_is_timed_out_and_retried(tmp_path):
    destination = StallingDestination()
    server = Server(tmp_path, config_text=config(destination.port)).start()
    r = requests.post(server.url + "/v1/track", auth=(WRITE_KEY, ""), json={"userId": "u", "event": "e"})
    assert r.status_code == 200
    # Before, the send waited for the body forever: one attempt, never finished, never logged.
    wait_for(lambda: len(attempts(server)) >= 2, timeout=15, what="the stalled send to time out and be tried again")
    assert "did not arrive within the 1.0s timeout" in attempts(server)[0][0]
    started = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - started < 5
    destination.close()


def test_sigterm_with_a_stalled_upload_stops_within_the_grace_period(tmp_path):
    server = Server(tmp_path, config_text=config(9)).start()
    r = requests.post(server.url + "/v1/track", auth=(WRITE_KEY, ""), json={"userId": "u", "event": "kept"})
    assert r.status_code == 200
    with socket.create_connection(("127.0.0.1", server.port)) as upload:
        upload.sendall(b"POST /v1/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"userId\":")
        time.sleep(0.3)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        # The grace period is 2 s; then the upload is cancelled. Before, the server waited for it forever.
        assert server.process.wait(10) == 0
        stopped_in = time.monotonic() - started
    assert 1.5 < stopped_in < 6, f"stopped in {stopped_in:.1f}s"
    server.start()
    assert [e["name"] for e in server.events()] == ["kept"]
    server.stop()
