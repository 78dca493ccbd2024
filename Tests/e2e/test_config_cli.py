"""`switchyard validate` and `serve` on good and bad configurations."""
import socket
import subprocess

import requests

from conftest import BINARY, ADMIN_TOKEN, WRITE_KEY, Server

BAD = """server:
  port: 8080
sources:
  - name: web
    writeKeys: [k]
destinations:
  - name: bus
    type: eventbrige
    config: { region: us-east-1, detailType: x }
  - name: other
    type: eventbridge
    confg: {}
connections:
  - from: web
    to: [bus]
"""


def run(*args, cwd=None, env=None):
    return subprocess.run([str(BINARY), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=30)


def test_validate_lists_every_problem_with_file_line_and_column(tmp_path):
    path = tmp_path / "switchyard.yaml"
    path.write_text(BAD)
    result = run("validate", "--config", str(path))
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert f'{path}:8:11: destination "bus" has unknown type "eventbrige" (did you mean "eventbridge"?)' in lines
    assert f'{path}:10:5: missing required key "detailType" in destinations[1].config' in lines
    assert f'{path}:12:5: unknown key "confg" in destinations[1] (did you mean "config"?)' in lines
    assert lines[-1] == "configuration has 3 problems"


def test_serve_refuses_an_invalid_config_with_the_same_messages(tmp_path):
    path = tmp_path / "switchyard.yaml"
    path.write_text(BAD)
    result = run("serve", "--config", str(path))
    assert result.returncode != 0
    assert 'unknown type "eventbrige" (did you mean "eventbridge"?)' in result.stderr


def test_validate_print_masks_secrets(tmp_path):
    server = Server(tmp_path)
    result = run("validate", "--config", str(server.config_path), "--print", env=server.env)
    assert result.returncode == 0, result.stderr
    assert "***" in result.stdout
    for secret in (ADMIN_TOKEN, server.env["E2E_WEB_KEY"], server.env["E2E_SEGMENT_KEY"], server.env["E2E_AWS_SECRET"]):
        assert secret not in result.stdout


def test_serve_without_a_config_uses_the_embedded_quickstart(tmp_path):
    result = run("validate", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "<embedded quickstart.yaml>: ok (1 sources, 1 destinations, 1 connections)" in result.stdout
    # The quickstart takes every type with detailType "{{ event }}": a warning says what the others get.
    assert result.stderr.startswith("<embedded quickstart.yaml>:23:19: warning: destination \"orders-bus\": detailType \"{{ event }}\" renders empty for identify, page, screen, group, alias events"), result.stderr
    assert '("identify", "page", "screen", "group", "alias")' in result.stderr


def test_serve_on_a_taken_port_exits_at_once_and_says_why(tmp_path):
    # Before, the queue's background services kept retrying their cancelled work: the process
    # spun on both cores, wrote warnings without end and ignored SIGTERM.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = Server(tmp_path)
        server.config_path.write_text(server.config_path.read_text().replace(f"port: {server.port}", f"port: {port}"))
        result = run("serve", "--config", str(server.config_path), env=server.env)
    assert result.returncode == 69, result.stderr
    output = result.stdout + result.stderr
    assert f"cannot listen on 127.0.0.1:{port}: the address is already in use" in output
    assert "CancellationError" not in output


def test_a_second_server_on_the_same_queue_is_refused(make_server):
    # Both servers get the same folder (make_server shares the test's directory).
    first = make_server().start()
    second = make_server()
    assert second.storage == first.storage
    result = run("serve", "--config", str(second.config_path), env=second.env)
    assert result.returncode == 74, result.stderr
    assert f"the queue is in use by process {first.process.pid}" in result.stderr
    # The first server goes on undisturbed; once it has stopped, the queue opens again.
    r = requests.post(first.url + "/v1/track", auth=(WRITE_KEY, ""), json={"userId": "u", "event": "e"})
    assert r.status_code == 200, r.text
    first.stop()
    second.start()
    assert len(second.events()) == 1
    second.stop()


def test_a_server_on_storage_memory_says_nothing_survives_a_restart_and_delivers(tmp_path):
    from conftest import one_destination_config
    from test_emulator_and_delivery import Emulator, wait_for
    emulator = Emulator(tmp_path)
    text = one_destination_config(endpoint=f"http://127.0.0.1:{emulator.port}").replace(
        "storage: {{ path: {storage}, sync: {sync} }}", "storage: {{ memory: true }}").replace(
        "accessKeyID: AKIDE2E, accessKey: secret", "accessKeyID: AKIDEMULATOR, accessKey: emulator-secret")
    assert "memory: true" in text
    server = Server(tmp_path, config_text=text)
    server.start()
    try:
        answer = requests.post(server.url + "/v1/track", auth=(WRITE_KEY, ""), timeout=10,
                               json={"userId": "u1", "event": "Order Completed", "messageId": "mem-1"})
        assert answer.status_code == 200
        wait_for(lambda: [e for e in emulator.envelopes() if e["detail"]["messageId"] == "mem-1"], timeout=20)
        assert "nothing it holds survives a restart" in server.log()
        assert not (tmp_path / "queue").exists(), "no file is written"
    finally:
        server.stop()
        emulator.stop()


def test_storage_memory_and_postgres_exclude_each_other(tmp_path):
    path = tmp_path / "switchyard.yaml"
    path.write_text("storage:\n  memory: true\n  postgres: { url: \"postgres://u@127.0.0.1:5432/db\" }\n")
    result = run("validate", "--config", str(path))
    assert result.returncode == 78
    assert "storage.memory and storage.postgres exclude each other" in result.stderr
