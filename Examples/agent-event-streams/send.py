"""Sends agents' desktop events to Switchyard with the RudderStack Python SDK: each agent logs
in, changes state and logs out, and the snapshots are those Connect puts in an AgentEvent."""
import json
import os

from rudderstack.analytics.client import Client

ACCOUNT = "123456789012"
INSTANCE = f"arn:aws:connect:us-east-1:{ACCOUNT}:instance/11111111-2222-3333-4444-555555555555"


def snapshot(user, first, last, status):
    return {
        "AgentStatus": {"ARN": f"{INSTANCE}/agent-state/{status.lower()}", "Name": status},
        "Configuration": {
            "FirstName": first, "LastName": last, "UserName": user,
            "RoutingProfile": {"ARN": f"{INSTANCE}/routing-profile/basic", "Name": "Basic Routing Profile"},
            "HierarchyGroups": None,
        },
        "Contacts": [],
    }


AGENTS = [("ana", "Ana", "Alves"), ("ben", "Ben", "Brandt"), ("cy", "Cy", "Castro")]
STATES = ["Available", "On break", "Available"]

events = []
for user, first, last in AGENTS:
    agent = f"{INSTANCE}/agent/{user}"
    base = {"awsAccountId": ACCOUNT, "instanceArn": INSTANCE, "agentArn": agent}
    events.append(("LOGIN", dict(base, currentAgentSnapshot=snapshot(user, first, last, "Offline"))))
    previous = "Offline"
    for state in STATES:
        events.append(("STATE_CHANGE", dict(base, previousAgentSnapshot=snapshot(user, first, last, previous),
                                            currentAgentSnapshot=snapshot(user, first, last, state))))
        previous = state
    events.append(("LOGOUT", dict(base, currentAgentSnapshot=snapshot(user, first, last, "Offline"))))

# The agents' events interleave, as they would from three desktops: each agent's first, then
# each one's second, and so on.
steps = len(events) // len(AGENTS)
ordered = [events[agent * steps + step] for step in range(steps) for agent in range(len(AGENTS))]

failures = []
client = Client(write_key=os.environ["EXAMPLE_WRITE_KEY"], host=os.environ["SWITCHYARD_URL"], max_retries=3,
                on_error=lambda error, batch: failures.append(error))
for event, properties in ordered:
    client.track(user_id=properties["agentArn"].rsplit("/", 1)[1], event=event, properties=properties)
client.flush()
client.join()
if failures:
    raise SystemExit(f"the SDK could not send: {failures}")
print(json.dumps({"sent": len(ordered)}))
