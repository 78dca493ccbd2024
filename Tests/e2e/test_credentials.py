"""AWS credentials as the AWS SDKs find them, each proven by a signature moto checks: instance
metadata and container credentials (through the stand-ins in aws_standins.py, the only places a
stand-in is used) with keys that expire every 15 seconds, web identity, roles assumed from a
profile and per destination, credential_process, a provider failing and recovering, and the
chain's order."""
import json
import os
import re
import subprocess
import sys
import time
import uuid

import pytest
import requests

from aws_standins import ContainerCredentials, InstanceMetadata, KeyRotator, WebIdentityProxy
from conftest import ADMIN_TOKEN, BINARY, WRITE_KEY, Server, free_port
from moto_harness import Moto
from test_drills import Load
from test_emulator_and_delivery import wait_for
from test_eventbridge_moto import wait_settled

# `timeout: 60s`: under CI's load moto can take over 10 s for one PutEvents; a send abandoned
# then is still worked through by moto while its retry queues behind it, and moto fell further
# behind with every retry (a fresh-clone run settled 184 of 387 events in 2 minutes that way).
CONFIG = """
server: {{ host: 127.0.0.1, port: {port}, adminToken: "${{E2E_ADMIN_TOKEN}}" }}
storage: {{ path: {storage}, sync: {sync} }}
sources:
  - {{ name: web, writeKeys: ["${{E2E_WEB_KEY}}"] }}
destinations:
  - name: bus
    type: eventbridge
    config:
      region: us-east-1
      eventBusName: BUS
      detailType: E
      endpoint: MOTO
EXTRA    delivery: {{ initialBackoff: 50ms, maxBackoff: 1s, maxAttempts: 1000, concurrency: 4, timeout: 60s }}
connections:
  - {{ from: web, to: [bus] }}
"""


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    m = Moto(tmp_path_factory.mktemp("moto-credentials"), free_port())
    yield m
    m.stop()


def server_with(tmp_path, moto, bus, env, extra=""):
    """A server whose credentials come only from `env` (no AWS_ variables of the test runner's,
    no ~/.aws, instance metadata off unless `env` turns it on)."""
    server = Server(tmp_path, config_text=CONFIG.replace("BUS", bus).replace("MOTO", moto.url).replace("EXTRA", extra))
    for key in [k for k in server.env if k.startswith("AWS_")]:
        del server.env[key]
    server.env.update(HOME=str(tmp_path), AWS_EC2_METADATA_DISABLED="true", AWS_ENDPOINT_URL_STS=moto.url)
    server.env.update(env)
    return server


def send(server, n):
    ids = [str(uuid.uuid4()) for _ in range(n)]
    for m in ids:
        assert requests.post(server.url + "/v1/track", auth=(WRITE_KEY, ""), json={"userId": "u", "event": "E", "messageId": m}).status_code == 200
    return ids


def delivered(moto, queue, expected, timeout=60):
    return sorted(body["detail"]["messageId"] for body in moto.drain_queue(queue, expected, timeout=timeout))


def failed_attempts(server):
    with server.db() as db:
        return dict(db.execute("SELECT error_code, COUNT(*) FROM delivery_log WHERE kind = 'attempt' AND status <> 'succeeded' GROUP BY error_code").fetchall())


def metric(server, name):
    text = requests.get(server.url + "/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).text
    return sum(float(m) for m in re.findall(rf"^{name}\{{[^}}]*\}} ([\d.]+)$", text, re.M))


def no_secrets_in(log, *secrets):
    for secret in secrets:
        assert secret not in log, "a secret reached the log"


def test_instance_role_keys_expiring_every_15s_under_load_for_two_minutes(tmp_path, moto):
    bus, _, queue = moto.bus_with_queue()
    moto.user("instance-role", "events:PutEvents")
    keys = KeyRotator(moto, "instance-role", lifetime=15)
    imds = InstanceMetadata(keys)
    server = server_with(tmp_path, moto, bus, {"AWS_EC2_METADATA_DISABLED": "false", "AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.url}).start()
    try:
        # A steady trickle: moto's EventBridge takes about 0.1 s per entry it routes to SQS.
        load = Load(server, threads=1, batch=1, pause=0.3)
        time.sleep(120)
        acknowledged = load.stop()
        wait_settled(server, len(acknowledged), timeout=120)
        assert delivered(moto, queue, len(acknowledged), timeout=120) == sorted(acknowledged), "every acknowledged event delivered, once"
        assert failed_attempts(server) == {}, "zero failed sends: no request was signed with an expired (deleted) key"
        with server.db() as db:
            assert db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'dead'").fetchone()[0] == 0
        refreshes = metric(server, "switchyard_credential_refreshes_total")
        print(f"\n{len(acknowledged)} events over 2 minutes, {keys.issued} keys issued, {imds.served} fetched, {refreshes:.0f} refreshes, none failed")
        assert refreshes >= 8 and imds.served >= 8, "refreshed ahead of each expiry"
        assert imds.refused == 0, "IMDSv2: every request carried the session token"
        assert "credentials=instance metadata" in server.log()
        no_secrets_in(server.log(), *[k[1] for k in keys.keys])
    finally:
        server.stop()
        keys.stop()
        imds.close()


def test_container_credentials_failing_for_30s_then_recovering(tmp_path, moto):
    bus, _, queue = moto.bus_with_queue()
    moto.user("task-role", "events:PutEvents")
    keys = KeyRotator(moto, "task-role", lifetime=15)
    token_file = tmp_path / "pod-identity-token"
    token_file.write_text("eks-pod-identity-token-1\n")
    container = ContainerCredentials(keys, token="eks-pod-identity-token-1")
    server = server_with(tmp_path, moto, bus, {"AWS_CONTAINER_CREDENTIALS_FULL_URI": container.url + "/v1/credentials",
                                               "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(token_file)}).start()
    try:
        before = send(server, 10)
        wait_settled(server, 10)
        container.failing = True
        early = send(server, 10)    # the cached credentials still serve these
        time.sleep(20)              # by now they have expired, and were deleted in moto
        late = send(server, 10)
        time.sleep(10)
        container.failing = False
        during = early + late
        after = send(server, 10)
        sent = before + during + after
        wait_settled(server, len(sent), timeout=90)
        assert delivered(moto, queue, len(sent)) == sorted(sent), "delivery resumed by itself; nothing lost"
        with server.db() as db:
            assert db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'dead'").fetchone()[0] == 0, "never dead letters"
        failures = failed_attempts(server)
        assert set(failures) <= {"CredentialsUnavailable"}, f"sends failed only for want of credentials, never with a stale key: {failures}"
        assert failures, "the 30 s outage outlived the credentials"
        assert container.failed > 0 and metric(server, "switchyard_credential_refresh_failures_total") > 0
        log = server.log()
        assert "cannot refresh AWS credentials; the current ones stay in use while they last" in log
        assert "no AWS credentials to sign with: sends are retried until the provider answers again" in log
        assert container.unauthorized == 0, "the token file's token went with every request"
        no_secrets_in(log, "eks-pod-identity-token-1", *[k[1] for k in keys.keys])
    finally:
        server.stop()
        keys.stop()
        container.close()


def test_web_identity_trades_the_token_file_for_the_role_and_rereads_it(tmp_path, moto):
    bus, _, queue = moto.bus_with_queue()
    role = moto.role(f"irsa-{uuid.uuid4().hex[:6]}", None, "events:PutEvents", web_identity=True)
    token_file = tmp_path / "token"
    token_file.write_text("oidc-token-1")
    proxy = WebIdentityProxy(moto.url, moto.admin, expires_in=15)
    server = server_with(tmp_path, moto, bus, {"AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file), "AWS_ROLE_ARN": role,
                                               "AWS_ROLE_SESSION_NAME": "switchyard-irsa", "AWS_ENDPOINT_URL_STS": proxy.url}).start()
    try:
        first = send(server, 5)
        wait_settled(server, 5)
        token_file.write_text("oidc-token-2")   # the kubelet rotates it
        wait_for(lambda: any(c.get("WebIdentityToken") == "oidc-token-2" for c in proxy.calls), timeout=30, what="a refresh with the new token")
        second = send(server, 5)
        wait_settled(server, 10)
        assert delivered(moto, queue, 10) == sorted(first + second)
        assert proxy.problems == [], proxy.problems
        assert {c["RoleArn"] for c in proxy.calls} == {role} and {c["RoleSessionName"] for c in proxy.calls} == {"switchyard-irsa"}
        assert proxy.calls[0]["WebIdentityToken"] == "oidc-token-1"
        assert failed_attempts(server) == {}
        assert f"credentials=web identity ({role}" in server.log()
        no_secrets_in(server.log(), "oidc-token-1", "oidc-token-2")
    finally:
        server.stop()
        proxy.close()


def test_a_profiles_role_is_assumed_with_its_source_profile(tmp_path, moto):
    bus, _, queue = moto.bus_with_queue()
    key_id, secret, arn = moto.user(f"base-{uuid.uuid4().hex[:6]}", "sts:AssumeRole")   # may not put events itself
    role = moto.role(f"publisher-{uuid.uuid4().hex[:6]}", arn, "events:PutEvents")
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text(f"[base]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n")
    (tmp_path / ".aws" / "config").write_text(f"[profile publisher]\nrole_arn = {role}\nsource_profile = base\nexternal_id = ext-42\nrole_session_name = sy-profile\n")
    server = server_with(tmp_path, moto, bus, {"AWS_PROFILE": "publisher"}).start()
    try:
        ids = send(server, 5)
        wait_settled(server, 5)
        assert delivered(moto, queue, 5) == sorted(ids)
        assert failed_attempts(server) == {}
        assert f"credentials=role {role} assumed with profile base" in server.log()
        no_secrets_in(server.log(), secret)
    finally:
        server.stop()


def test_a_destination_assumes_its_own_role_from_what_the_chain_found(tmp_path, moto):
    bus, _, queue = moto.bus_with_queue()
    key_id, secret, arn = moto.user(f"hub-{uuid.uuid4().hex[:6]}", "sts:AssumeRole")
    role = moto.role(f"other-account-{uuid.uuid4().hex[:6]}", arn, "events:PutEvents")
    extra = f"      credentials: {{{{ roleArn: \"{role}\", externalId: ext-7, sessionName: switchyard-bus }}}}\n"
    server = server_with(tmp_path, moto, bus, {"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret}, extra=extra).start()
    try:
        ids = send(server, 5)
        wait_settled(server, 5)
        assert delivered(moto, queue, 5) == sorted(ids)
        assert failed_attempts(server) == {}
        assert f"credentials=role {role} assumed with the environment (AWS_ACCESS_KEY_ID)" in server.log()
    finally:
        server.stop()


def test_credential_process_gives_the_profile_its_keys(tmp_path, moto):
    bus, _, queue = moto.bus_with_queue()
    key_id, secret, _ = moto.user(f"process-{uuid.uuid4().hex[:6]}", "events:PutEvents")
    script = tmp_path / "get-credentials.py"
    script.write_text(f"import json\nprint(json.dumps({{'Version': 1, 'AccessKeyId': '{key_id}', 'SecretAccessKey': '{secret}'}}))\n")
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "config").write_text(f"[default]\ncredential_process = {sys.executable} {script}\n")
    server = server_with(tmp_path, moto, bus, {}).start()
    try:
        ids = send(server, 3)
        wait_settled(server, 3)
        assert delivered(moto, queue, 3) == sorted(ids)
        assert "credentials=credential_process of profile default" in server.log()
        no_secrets_in(server.log(), secret)
    finally:
        server.stop()


def test_the_chains_order_when_several_are_configured(tmp_path, moto):
    bus, _, _ = moto.bus_with_queue()
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text("[default]\naws_access_key_id = PROFILE\naws_secret_access_key = p\n")
    server = server_with(tmp_path, moto, bus, {})

    def provider(env):
        result = subprocess.run([str(BINARY), "validate", "--print", "--config", str(server.config_path)], env=dict(server.env, **env),
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return re.search(r"resolved:\n\s+credentials: (.*)", result.stdout).group(1)

    everything = {"AWS_ACCESS_KEY_ID": "ENV", "AWS_SECRET_ACCESS_KEY": "e", "AWS_WEB_IDENTITY_TOKEN_FILE": str(tmp_path / "t"),
                  "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/web", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/1"}
    assert provider(everything) == "the environment (AWS_ACCESS_KEY_ID)"
    del everything["AWS_ACCESS_KEY_ID"]
    assert provider(everything).startswith("web identity (arn:aws:iam::123456789012:role/web")
    del everything["AWS_WEB_IDENTITY_TOKEN_FILE"]
    assert provider(everything) == "profile default"
    assert provider(dict(everything, HOME="/nonexistent")) == "container credentials (http://169.254.170.2/v2/credentials/1)"
    # Nothing at all: serve refuses to start and lists what it tried.
    result = subprocess.run([str(BINARY), "serve", "--config", str(server.config_path)], env=dict(server.env, HOME="/nonexistent"),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 78
    assert 'destination "bus": no AWS credentials found; tried its configuration' in result.stderr
    assert "instance metadata (AWS_EC2_METADATA_DISABLED=true)" in result.stderr
