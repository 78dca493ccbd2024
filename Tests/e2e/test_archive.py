"""The archive in the running server: every acknowledged event, sent with RudderStack's Python SDK,
lands in the archive exactly once as gzip NDJSON (read back here with Python's gzip and json), with
a manifest per file; on a local directory and in an S3 bucket (moto's, signatures checked, through
an IAM user that may only touch objects); and after a kill -9 in the middle of archiving, still
every event exactly once."""
import gzip
import hashlib
import json
import threading
import time
import uuid

import pytest
import requests
from rudderstack.analytics.client import Client as RudderClient

from conftest import ADMIN_TOKEN, WRITE_KEY, Server, free_port
from moto_harness import Moto

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

CONFIG = """
server: {{ host: 127.0.0.1, port: {port}, adminToken: "${{E2E_ADMIN_TOKEN}}" }}
storage: {{ path: {storage}, sync: {sync} }}
archive: ARCHIVE
sources:
  - {{ name: web, writeKeys: ["${{E2E_WEB_KEY}}"] }}
  - {{ name: app, writeKeys: ["app-write-key-e2e"] }}
destinations: []
connections: []
"""


def archived_server(tmp_path, archive):
    return Server(tmp_path, config_text=CONFIG.replace("ARCHIVE", archive.replace("{", "{{").replace("}", "}}")))


def summary(server):
    answer = requests.get(server.url + "/v1/summary", headers=AUTH, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def read_archive(objects, settled=True):
    """`objects`: key → bytes. Each data file's events (checked against its manifest), by key.
    Not `settled`: a file whose manifest is not written yet (a round under way) is passed over."""
    files = {}
    for key, data in objects.items():
        if not key.endswith(".ndjson.gz"):
            continue
        manifest_key = key[: -len(".ndjson.gz")] + ".manifest.json"
        if not settled and manifest_key not in objects:
            continue
        lines = gzip.decompress(data).decode().splitlines()
        events = [json.loads(line) for line in lines]
        manifest = json.loads(objects[manifest_key])
        assert manifest["file"] == key and manifest["count"] == len(events)
        assert manifest["bytes"] == len(data) and manifest["sha256"] == hashlib.sha256(data).hexdigest()
        source, day, hour, _ = key.split("/")
        assert manifest["source"] == source and manifest["window"] == f"{day}/{hour}"
        for event in events:
            assert event["receivedAt"][:13] == f"{day}T{hour}", "an event lies in its receipt hour's window"
        files[key] = events
    return files


def local_objects(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")}


def wait_for(ids, read, timeout=60):
    """Until every id in `ids` is archived; returns the archive's message ids (with repeats)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [e["messageId"] for events in read_archive(read(), settled=False).values() for e in events]
        if set(ids) <= set(found) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    # Every file counted had its manifest; read again, every file must have one.
    return [e["messageId"] for events in read_archive(read()).values() for e in events]


def send_with_sdk(server):
    web = RudderClient(write_key=WRITE_KEY, host=server.url, sync_mode=True)
    app = RudderClient(write_key="app-write-key-e2e", host=server.url, sync_mode=True)
    for n in range(30):
        web.track(user_id=f"user-{n % 7}", event="Order Completed", properties={"total": n, "sku": f"S-{n}"})
    for n in range(10):
        app.identify(user_id=f"user-{n}", traits={"plan": "pro"})
    web.page(user_id="user-1", name="Home")


def test_every_acknowledged_event_is_archived_once_in_a_local_directory(tmp_path):
    root = tmp_path / "archive"
    server = archived_server(tmp_path, f"{{ path: {root}, interval: 200ms }}").start()
    try:
        send_with_sdk(server)
        stored = [e["message_id"] for e in server.events()]
        assert len(stored) == 41
        found = wait_for(stored, lambda: local_objects(root))
        assert sorted(found) == sorted(stored), "every stored event exactly once"
        by_source = {key.split("/")[0] for key in read_archive(local_objects(root))}
        assert by_source == {"web", "app"}
        status = summary(server)["archive"]
        assert status["location"] == str(root) and status["events"] == 41 and status["lastError"] is None
        assert status["behind"] is False
        metrics = requests.get(server.url + "/metrics", headers=AUTH, timeout=10).text
        assert "switchyard_archive_events_total 41" in metrics
        assert "switchyard_archive_lag_seconds" in metrics
    finally:
        server.stop()


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    m = Moto(tmp_path_factory.mktemp("moto"), free_port())
    yield m
    m.stop()


def archive_user(moto):
    """An IAM user that may only write, read, list and delete objects: what the archive needs."""
    iam = moto.client("iam")
    name = f"archive-{uuid.uuid4().hex[:6]}"
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    iam.put_user_policy(UserName=name, PolicyName="objects", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:ListBucket"], "Resource": "*"}]}))
    return key["AccessKeyId"], key["SecretAccessKey"]


def s3_objects(moto, bucket, prefix):
    # Listed whole and filtered here: moto 5 answers SignatureDoesNotMatch to a ListObjectsV2
    # whose prefix holds a "/" (botocore's request, like ours, encodes it as %2F, as AWS signs it).
    s3 = moto.client("s3")
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            if item["Key"].startswith(prefix):
                out[item["Key"][len(prefix):]] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    return out


def test_every_acknowledged_event_is_archived_once_in_s3(tmp_path, moto):
    bucket = f"archive-{uuid.uuid4().hex[:8]}"
    moto.client("s3").create_bucket(Bucket=bucket)
    key_id, secret = archive_user(moto)
    archive = (f"{{ s3: {{ bucket: {bucket}, prefix: events/, region: us-east-1, endpoint: \"{moto.url}\", "
               f"accessKeyID: {key_id}, accessKey: \"${{ARCHIVE_SECRET}}\" }}, interval: 200ms }}")
    server = archived_server(tmp_path, archive)
    server.env["ARCHIVE_SECRET"] = secret
    server.start()
    try:
        send_with_sdk(server)
        stored = [e["message_id"] for e in server.events()]
        found = wait_for(stored, lambda: s3_objects(moto, bucket, "events/"))
        assert sorted(found) == sorted(stored)
        assert summary(server)["archive"]["location"] == f"s3://{bucket}/events/"
    finally:
        server.stop()
    assert secret not in server.log()


def test_a_wrong_secret_is_refused_by_s3_and_shown_without_losing_an_event(tmp_path, moto):
    bucket = f"archive-{uuid.uuid4().hex[:8]}"
    moto.client("s3").create_bucket(Bucket=bucket)
    key_id, _ = archive_user(moto)
    archive = (f"{{ s3: {{ bucket: {bucket}, region: us-east-1, endpoint: \"{moto.url}\", accessKeyID: {key_id}, "
               f"accessKey: not-the-secret }}, interval: 200ms }}")
    server = archived_server(tmp_path, archive).start()
    try:
        RudderClient(write_key=WRITE_KEY, host=server.url, sync_mode=True).track(user_id="u", event="Kept")
        deadline = time.monotonic() + 30
        while summary(server)["archive"]["lastError"] is None and time.monotonic() < deadline:
            time.sleep(0.1)
        status = summary(server)["archive"]
        assert "403" in status["lastError"] and "SignatureDoesNotMatch" in status["lastError"], status
        assert status["position"] is None and status["events"] == 0
        assert "switchyard_archive_failures_total" in requests.get(server.url + "/metrics", headers=AUTH, timeout=10).text
        assert [e["name"] for e in server.events()] == ["Kept"], "the event waits in the store for the archive"
    finally:
        server.stop()


def test_after_a_kill_in_the_middle_of_archiving_every_event_is_archived_once(tmp_path):
    root = tmp_path / "archive"
    server = archived_server(tmp_path, f"{{ path: {root}, interval: 100ms, maxEventsPerFile: 20 }}").start()
    acknowledged, stop = [], threading.Event()

    def send():
        session = requests.Session()
        while not stop.is_set():
            batch = [{"type": "track", "userId": "u", "event": "Load", "messageId": str(uuid.uuid4())} for _ in range(10)]
            try:
                r = session.post(server.url + "/v1/batch", auth=(WRITE_KEY, ""), json={"batch": batch}, timeout=5)
            except requests.RequestException:
                continue
            if r.status_code == 200:
                acknowledged.extend(m["messageId"] for m in batch)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        # Killed three times while the archive is under way (files written, more arriving); the
        # sender keeps going through the restarts.
        for _ in range(3):
            files = len(local_objects(root))
            deadline = time.monotonic() + 60
            while len(local_objects(root)) < files + 20 and time.monotonic() < deadline:
                time.sleep(0.02)
            server.kill()
            server.start()
        stop.set()
        sender.join()
        assert len(acknowledged) > 200
        # Stored is a superset of acknowledged: a request killed after its commit was not answered.
        stored = {e["message_id"] for e in server.events()}
        assert set(acknowledged) <= stored
        found = wait_for(stored, lambda: local_objects(root))
        assert len(found) == len(set(found)), "no event twice"
        assert set(found) == stored
    finally:
        stop.set()
        server.stop()
