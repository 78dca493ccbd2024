#!/usr/bin/env python3
"""Runs one example end to end and checks its output.

    python3 Examples/run.py contact-lens-rules      # or ilert-incidents, agent-event-streams

It starts the example's bus (`switchyard emulate eventbridge --rules bus-rules.yaml`) or stream
(`switchyard emulate kinesis`), then `switchyard serve` on the example's `switchyard.yaml`, runs
`send.py` (the real RudderStack Python SDK), waits until Switchyard has delivered everything,
runs `consumer.py` if the example has one, and compares what landed in `out/` with `expected/`,
ids and times aside. Exit 0 when they match; the differences are printed otherwise.

The binary is `.build/debug/switchyard` unless SWITCHYARD_BIN names another.
"""
import argparse
import difflib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
ROOT = EXAMPLES.parent
ADMIN_TOKEN = "example-admin-token"
WRITE_KEY = "example-write-key"

UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")


def normalized(value):
    """The value with ids and times replaced by placeholders: they differ on every run."""
    if isinstance(value, dict):
        return {k: normalized(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalized(v) for v in value]
    if isinstance(value, str):
        if UUID.match(value):
            return "<id>"
        if TIME.match(value):
            return "<time>"
    return value


def read_lines(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get_json(url, token=None):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def wait_for(what, check, timeout=60):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except OSError as error:
            last = error
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what} (last: {last})")


class Process:
    """A child process whose output goes to a log file, stopped with SIGTERM."""

    def __init__(self, name, args, cwd, env, logs):
        self.name = name
        self.log_path = logs / f"{name}.log"
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(args, cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def check_running(self):
        if self.process.poll() is not None:
            raise SystemExit(f"{self.name} exited with {self.process.returncode}:\n{self.log_path.read_text()}")


def run(example, binary, keep_logs=False):
    folder = EXAMPLES / example
    if not (folder / "switchyard.yaml").exists():
        raise SystemExit(f"no example named {example!r}: there is no {folder / 'switchyard.yaml'}")
    out = folder / "out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir()
    work = Path(tempfile.mkdtemp(prefix=f"switchyard-{example}-"))
    ports = {"SWITCHYARD_PORT": free_port(), "EMULATOR_PORT": free_port()}
    env = dict(os.environ, **{k: str(v) for k, v in ports.items()})
    env.update(SWITCHYARD_STORAGE=str(work / "queue"), SWITCHYARD_ADMIN_TOKEN=ADMIN_TOKEN, EXAMPLE_WRITE_KEY=WRITE_KEY,
               SWITCHYARD_URL=f"http://127.0.0.1:{ports['SWITCHYARD_PORT']}",
               EMULATOR_URL=f"http://127.0.0.1:{ports['EMULATOR_PORT']}",
               AWS_ACCESS_KEY_ID="quickstart", AWS_SECRET_ACCESS_KEY="quickstart-secret", AWS_REGION="us-east-1")
    # A heartbeat every 3 s, so the run shows one without waiting the seed's 120 s.
    env.setdefault("HEARTBEAT_EVERY", "3s")
    env.pop("AWS_PROFILE", None)
    processes = []
    try:
        emulate = [str(binary), "emulate"]
        if (folder / "bus-rules.yaml").exists():
            emulate += ["eventbridge", "--rules", "bus-rules.yaml", "--events-out", "out/bus.jsonl"]
        else:
            emulate += ["kinesis", "--records-out", "out/stream.jsonl"]
        emulator = Process("emulator", emulate + ["--port", str(ports["EMULATOR_PORT"])], folder, env, work)
        processes.append(emulator)
        wait_for("the emulator", lambda: (emulator.check_running(), get_json(env["EMULATOR_URL"] + "/stats"))[1])
        server = Process("switchyard", [str(binary), "serve", "--config", "switchyard.yaml"], folder, env, work)
        processes.append(server)
        wait_for("switchyard", lambda: (server.check_running(), urllib.request.urlopen(env["SWITCHYARD_URL"] + "/ready", timeout=2).status == 200)[1])

        sent = subprocess.run([sys.executable, "send.py"], cwd=folder, env=env, capture_output=True, text=True)
        if sent.returncode != 0:
            raise SystemExit(f"send.py failed:\n{sent.stdout}{sent.stderr}")
        count = json.loads(sent.stdout.strip().splitlines()[-1])["sent"]
        print(f"{example}: sent {count} events")

        def delivered(heartbeats=0):
            summary = get_json(env["SWITCHYARD_URL"] + "/v1/summary", ADMIN_TOKEN)
            received = sum(n for source, n in summary["received"].items() if source != "heartbeat")
            waiting = sum(d["queueDepth"] for d in summary["destinations"].values())
            done = received >= count and summary["received"].get("heartbeat", 0) >= heartbeats and waiting == 0
            return summary if done else None
        summary = wait_for("every event to be delivered", delivered)
        if (folder / "consumer.py").exists():
            # The stream's consumer sees one HEART_BEAT once the agents have gone quiet.
            summary = wait_for("a heartbeat", lambda: delivered(heartbeats=1), timeout=30)
            # Stopped before the consumer reads, so no second heartbeat can land meanwhile.
            server.stop()
            consumed = subprocess.run([sys.executable, "consumer.py"], cwd=folder, env=env, capture_output=True, text=True)
            if consumed.returncode != 0:
                raise SystemExit(f"consumer.py failed:\n{consumed.stdout}{consumed.stderr}")
            print(consumed.stdout, end="")
        for name, d in summary["destinations"].items():
            print(f"{example}: {name}: {d['delivered']} entries delivered, {d['deadLettered']} dead-lettered")
    finally:
        for process in reversed(processes):
            process.stop()
        if not keep_logs:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"logs in {work}")
    return compare(folder)


def compare(folder):
    """Each expected file against its output, ids and times aside. Lines are compared in sorted
    order: EventBridge promises no order between events, and the stream consumer numbers each
    agent's records itself."""
    ok = True
    files = sorted((folder / "expected").glob("*.jsonl"))
    if not files:
        print(f"{folder.name}: expected/ holds no .jsonl file to compare with")
        return False
    for expected in files:
        actual = folder / "out" / expected.name
        want = sorted(json.dumps(normalized(v), sort_keys=True) for v in read_lines(expected))
        got = sorted(json.dumps(normalized(v), sort_keys=True) for v in read_lines(actual))
        if got == want:
            print(f"{folder.name}: out/{expected.name} matches expected/{expected.name} ({len(got)} lines)")
            continue
        ok = False
        print(f"{folder.name}: out/{expected.name} differs from expected/{expected.name}:")
        sys.stdout.writelines(line + "\n" for line in difflib.unified_diff(want, got, "expected", "out", lineterm=""))
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("example", help="the example's folder name under Examples/")
    parser.add_argument("--binary", default=os.environ.get("SWITCHYARD_BIN", ROOT / ".build" / "debug" / "switchyard"))
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs and queue")
    args = parser.parse_args()
    binary = Path(args.binary)
    if not binary.exists():
        raise SystemExit(f"{binary} does not exist: build it with `swift build` first")
    sys.exit(0 if run(args.example, binary, args.keep_logs) else 1)


if __name__ == "__main__":
    main()
