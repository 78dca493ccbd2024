"""Reads the agent-events stream as a Kinesis consumer does (boto3: ListShards, GetShardIterator,
GetRecords), checks that each agent's records arrived in order, and writes every record to
out/agent-events.jsonl with its shard and its place in the agent's sequence."""
import json
import os
from pathlib import Path

import boto3

kinesis = boto3.client("kinesis", endpoint_url=os.environ["EMULATOR_URL"], region_name=os.environ.get("AWS_REGION", "us-east-1"))
STREAM = "agent-events"

records = []
for shard in kinesis.list_shards(StreamName=STREAM)["Shards"]:
    iterator = kinesis.get_shard_iterator(StreamName=STREAM, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    while iterator:
        answer = kinesis.get_records(ShardIterator=iterator, Limit=1000)
        for record in answer["Records"]:
            records.append((shard["ShardId"], record["PartitionKey"], json.loads(record["Data"])))
        if not answer["Records"] or answer.get("MillisBehindLatest", 0) == 0 and len(answer["Records"]) < 1000:
            break
        iterator = answer["NextShardIterator"]

# Per agent, in the stream's order: LOGIN first, LOGOUT last, each state change's previous
# snapshot the state before it.
by_agent = {}
for shard, key, event in records:
    by_agent.setdefault(key, []).append((shard, event))
for key, events in by_agent.items():
    if key == "heartbeat":
        continue
    types = [e["EventType"] for _, e in events]
    assert types[0] == "LOGIN" and types[-1] == "LOGOUT", f"{key}: {types}"
    for (_, before), (_, after) in zip(events, events[1:]):
        if after["EventType"] == "STATE_CHANGE":
            assert after["PreviousAgentSnapshot"] == before["CurrentAgentSnapshot"], f"{key}: out of order"
    assert len({shard for shard, _ in events}) == 1, f"{key}: one agent's records are on one shard"

out = Path("out")
out.mkdir(exist_ok=True)
with open(out / "agent-events.jsonl", "w") as f:
    for key in sorted(by_agent):
        for n, (shard, event) in enumerate(by_agent[key], 1):
            f.write(json.dumps({"partitionKey": key, "shard": shard, "n": n, "record": event}) + "\n")
beats = len(by_agent.get("heartbeat", []))
print(f"agent-event-streams: consumer read {len(records)} records, {len(by_agent) - (1 if beats else 0)} agents in order, {beats} HEART_BEAT")
