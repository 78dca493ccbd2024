"""moto's server as the AWS peer: signature checking on, IAM users allowed only events:PutEvents
and kinesis:PutRecords for Switchyard, buses whose rule forwards every event to an SQS queue, and
Kinesis streams read back as a consumer reads them."""
import json
import os
import subprocess
import sys
import time
import uuid

import boto3
import requests
from botocore.config import Config

REGION = "us-east-1"


class Moto:
    def __init__(self, workdir, port):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = workdir / "moto.log"
        env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="4", AWS_DEFAULT_REGION=REGION)
        self.process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                        stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(self.url + "/moto-api/", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("moto did not start:\n" + self.log_path.read_text(errors="replace"))
            time.sleep(0.2)
        # The first four calls are free: an admin for the test itself, with its key and policy.
        bootstrap = self.client("iam", "bootstrap", "bootstrap")
        bootstrap.create_user(UserName="test-admin")
        admin_key = bootstrap.create_access_key(UserName="test-admin")["AccessKey"]
        bootstrap.put_user_policy(UserName="test-admin", PolicyName="all", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
        self.admin = (admin_key["AccessKeyId"], admin_key["SecretAccessKey"])
        # From here on every call is signed and checked. Switchyard's user may only put events.
        iam = self.client("iam")
        iam.create_user(UserName="switchyard")
        key = iam.create_access_key(UserName="switchyard")["AccessKey"]
        iam.put_user_policy(UserName="switchyard", PolicyName="put-events", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "events:PutEvents", "Resource": "*"}]}))
        self.switchyard_key = (key["AccessKeyId"], key["SecretAccessKey"])
        # And its Kinesis user may only put records.
        iam.create_user(UserName="switchyard-kinesis")
        key = iam.create_access_key(UserName="switchyard-kinesis")["AccessKey"]
        iam.put_user_policy(UserName="switchyard-kinesis", PolicyName="put-records", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kinesis:PutRecords", "Resource": "*"}]}))
        self.kinesis_key = (key["AccessKeyId"], key["SecretAccessKey"])

    def client(self, service, key_id=None, secret=None):
        key_id, secret = (key_id, secret) if key_id else self.admin
        return boto3.client(service, region_name=REGION, endpoint_url=self.url, aws_access_key_id=key_id,
                            aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}))

    def bus_with_queue(self, bus_name=None):
        """A new bus whose rule sends everything from source `rudderstack` to a new SQS queue."""
        bus_name = bus_name or f"bus-{uuid.uuid4().hex[:8]}"
        events, sqs = self.client("events"), self.client("sqs")
        bus_arn = events.create_event_bus(Name=bus_name)["EventBusArn"]
        queue_url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="all", EventBusName=bus_name, EventPattern=json.dumps({"source": ["rudderstack"]}))
        events.put_targets(Rule="all", EventBusName=bus_name, Targets=[{"Id": "q", "Arn": queue_arn}])
        return bus_name, bus_arn, queue_url

    def drain_queue(self, queue_url, expected, timeout=60):
        """Every message on the queue, waiting until at least `expected` arrived and no more come."""
        sqs = self.client("sqs")
        bodies = []
        deadline = time.monotonic() + timeout
        quiet = 0
        while time.monotonic() < deadline:
            got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            for m in got:
                bodies.append(json.loads(m["Body"]))
            if got:
                sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
            if not got:
                quiet += 1
                if len(bodies) >= expected and quiet >= 3:
                    break
                time.sleep(0.2)
            else:
                quiet = 0
        return bodies

    def user(self, name, actions):
        """An IAM user allowed only `actions`: its (key id, secret, ARN)."""
        iam = self.client("iam")
        iam.create_user(UserName=name)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        iam.put_user_policy(UserName=name, PolicyName="only", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
        return key["AccessKeyId"], key["SecretAccessKey"], iam.get_user(UserName=name)["User"]["Arn"]

    def role(self, name, trusted, actions, web_identity=False):
        """A role that `trusted` (a user's ARN) may assume, allowed only `actions`: its ARN."""
        statements = [{"Effect": "Allow", "Principal": {"AWS": trusted}, "Action": "sts:AssumeRole"}] if trusted else []
        if web_identity:
            statements.append({"Effect": "Allow", "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/oidc.example"},
                               "Action": "sts:AssumeRoleWithWebIdentity"})
        iam = self.client("iam")
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))["Role"]["Arn"]
        iam.put_role_policy(RoleName=name, PolicyName="only", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
        return arn

    def stream(self, shards=4):
        """A new Kinesis data stream of `shards` shards."""
        name = f"stream-{uuid.uuid4().hex[:8]}"
        self.client("kinesis").create_stream(StreamName=name, ShardCount=shards)
        return name

    def read_stream(self, name):
        """Every record of the stream, as (shard id, sequence number, partition key, data bytes), in
        each shard's order, read back with GetShardIterator and GetRecords as a consumer would."""
        kinesis = self.client("kinesis")
        out = []
        for shard in kinesis.list_shards(StreamName=name)["Shards"]:
            iterator = kinesis.get_shard_iterator(StreamName=name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
            while iterator:
                page = kinesis.get_records(ShardIterator=iterator, Limit=10000)
                out += [(shard["ShardId"], r["SequenceNumber"], r["PartitionKey"], r["Data"]) for r in page["Records"]]
                if not page["Records"]:
                    break
                iterator = page.get("NextShardIterator")
        return out

    def stop(self):
        self.process.terminate()
        self.process.wait(10)
